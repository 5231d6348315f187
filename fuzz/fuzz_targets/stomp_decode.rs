//! Fuzz target: no input may make the STOMP decoder panic, and whatever it decodes must
//! re-encode to something that decodes to the same frame.
#![no_main]

// The agent's codec, compiled in directly (`super::frame` resolves to the crate root here).
#[allow(dead_code)]
#[path = "../../agent/src/stomp/frame.rs"]
mod frame;
#[allow(dead_code)]
#[path = "../../agent/src/stomp/codec.rs"]
mod codec;

use codec::{Decoder, Item, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Split the input at a data-driven point to exercise partial frames.
    let cut = data.first().map(|b| *b as usize % (data.len() + 1)).unwrap_or(0);
    let mut d = Decoder::new(1 << 16);
    d.push(&data[..cut]);
    let mut frames = Vec::new();
    let mut ok = true;
    loop {
        match d.next_item() {
            Ok(Some(Item::Frame(f))) => frames.push(f),
            Ok(Some(Item::Heartbeat)) => {}
            Ok(None) => break,
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        d.push(&data[cut..]);
        while let Ok(Some(item)) = d.next_item() {
            if let Item::Frame(f) = item {
                frames.push(f);
            }
        }
    }
    for f in frames {
        let mut again = Decoder::new(1 << 20);
        again.push(&encode(&f));
        match again.next_item() {
            Ok(Some(Item::Frame(mut back))) => {
                back.headers.retain(|(k, _)| k != "content-length");
                let mut want = f.clone();
                want.headers.retain(|(k, _)| k != "content-length");
                // Header names and values survive escaping; CONNECT/CONNECTED lose raw EOLs by design.
                if f.command != "CONNECT" && f.command != "CONNECTED" {
                    assert_eq!(back, want, "re-encoding changed the frame");
                }
            }
            other => panic!("a decoded frame did not re-decode: {other:?}"),
        }
    }
});
