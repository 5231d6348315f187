//! Fuzz target: no bytes from a server may make the websocket byte filter panic, whatever
//! way they are split; it never emits much more than it was fed (an oversized message becomes
//! a small stand-in), and the output does not depend on how the input was split.
#![no_main]

#[allow(dead_code)]
#[path = "../../agent/src/stomp/wsfilter.rs"]
mod wsfilter;

use libfuzzer_sys::fuzz_target;
use wsfilter::WsFilter;

const HANDSHAKE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let limit = 256 + data.first().copied().unwrap_or(0) as usize;
    let mut input = HANDSHAKE.to_vec();
    input.extend_from_slice(data);
    let mut whole = Vec::new();
    WsFilter::new(limit).push(&input, &mut whole);
    let step = data.get(1).map(|b| *b as usize % 13 + 1).unwrap_or(1);
    let mut f = WsFilter::new(limit);
    let mut split = Vec::new();
    for c in input.chunks(step) {
        f.push(c, &mut split);
    }
    assert_eq!(whole, split, "the output depends on how the input was split");
    assert!(split.len() <= input.len() + 128 * (f.dropped as usize + 1));
});
