//! A filter on the bytes coming from the web-stomp server, below the websocket library, so
//! that no single message can break the connection it arrives on.
//!
//! Why: tungstenite refuses a text message that is not UTF-8 (and one over its size limit)
//! with an error that ends the stream, so the message can never be acknowledged and the
//! broker redelivers it on every reconnect, forever, ahead of every event behind it. The
//! filter therefore
//! - turns text frames into binary ones (the STOMP layer reads bytes; its body may be any
//!   bytes), and
//! - replaces a data frame larger than the limit by a STOMP frame with the original headers
//!   (so the message can still be acknowledged) and a `site-agent-dropped:<bytes>` header,
//!   without ever holding more than a few KiB of it.
//!
//! Everything else (the HTTP upgrade answer, control frames, masked frames a server must not
//! send) passes unchanged, so the websocket library still enforces the protocol. The stream
//! adapter that applies the filter is `transport::Filtered`.

/// The header the replacement of an oversized message carries (its original length).
pub const DROPPED_HEADER: &str = "site-agent-dropped";
/// How much of an oversized message is kept to find its STOMP headers.
const HEAD_KEEP: usize = 16 * 1024;

#[derive(Debug)]
enum State {
    /// The HTTP answer to the upgrade; `matched` bytes of the closing `\r\n\r\n` seen.
    Handshake { matched: usize },
    /// Collecting a frame header.
    Header { buf: Vec<u8> },
    /// Passing `remaining` payload bytes through.
    Pass { remaining: u64 },
    /// Swallowing an oversized payload, keeping its first bytes.
    Oversize {
        first: u8,
        remaining: u64,
        total: u64,
        head: Vec<u8>,
    },
    /// Taking in `remaining` payload bytes of a fragment of a split message; `fin`: its last.
    Collect { remaining: u64, fin: bool },
}

/// A message that arrives in fragments, put back together (up to the limit: beyond it only
/// its first bytes are kept, and it is replaced like any oversized message).
#[derive(Debug, Default)]
struct Fragmented {
    data: Vec<u8>,
    total: u64,
}

/// The byte transformer (pure; see the module docs).
#[derive(Debug)]
pub struct WsFilter {
    state: State,
    limit: u64,
    fragmented: Option<Fragmented>,
    /// How many oversized messages were replaced (for logs and tests).
    pub dropped: u64,
}

impl WsFilter {
    /// A filter for a fresh connection (starting with the HTTP upgrade answer) that replaces
    /// data frames larger than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::Handshake { matched: 0 },
            limit: limit as u64,
            fragmented: None,
            dropped: 0,
        }
    }

    /// Feeds bytes from the server; appends what the websocket library should see to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            match &mut self.state {
                State::Handshake { matched } => {
                    let mut used = 0;
                    for b in input {
                        used += 1;
                        *matched = match (*matched, *b) {
                            (0 | 2, b'\r') => *matched + 1,
                            (1 | 3, b'\n') => *matched + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if *matched == 4 {
                            break;
                        }
                    }
                    out.extend_from_slice(&input[..used]);
                    if *matched == 4 {
                        self.state = State::Header { buf: Vec::new() };
                    }
                    input = &input[used..];
                }
                State::Header { buf } => {
                    buf.push(input[0]);
                    input = &input[1..];
                    let Some(h) = parse_header(buf) else { continue };
                    let mut header = std::mem::take(buf);
                    let data = matches!(h.opcode, 0x0..=0x2);
                    let fin = header[0] & 0x80 != 0;
                    // A split message is put back together: its size is the sum of its parts.
                    let starts_split = matches!(h.opcode, 0x1 | 0x2) && !fin;
                    let continues = h.opcode == 0x0 && self.fragmented.is_some();
                    if !h.masked && ((starts_split && self.fragmented.is_none()) || continues) {
                        self.fragmented.get_or_insert_with(Fragmented::default);
                        self.state = State::Collect {
                            remaining: h.len,
                            fin,
                        };
                        self.finish_fragment_if_done(out);
                        continue;
                    }
                    if data && !h.masked && h.len > self.limit {
                        self.state = State::Oversize {
                            first: header[0],
                            remaining: h.len,
                            total: h.len,
                            head: Vec::new(),
                        };
                        self.finish_oversize_if_done(out);
                        continue;
                    }
                    if h.opcode == 0x1 {
                        header[0] = (header[0] & 0xF0) | 0x2;
                    }
                    out.extend_from_slice(&header);
                    self.state = if h.len == 0 {
                        State::Header { buf: Vec::new() }
                    } else {
                        State::Pass { remaining: h.len }
                    };
                }
                State::Pass { remaining } => {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::Header { buf: Vec::new() };
                    }
                }
                State::Collect { remaining, .. } => {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= n as u64;
                    if let Some(f) = self.fragmented.as_mut() {
                        f.total += n as u64;
                        if f.total <= self.limit {
                            f.data.extend_from_slice(&input[..n]);
                        } else {
                            f.data.truncate(HEAD_KEEP);
                            let keep = n.min(HEAD_KEEP.saturating_sub(f.data.len()));
                            f.data.extend_from_slice(&input[..keep]);
                        }
                    }
                    input = &input[n..];
                    self.finish_fragment_if_done(out);
                }
                State::Oversize {
                    remaining, head, ..
                } => {
                    let n = (*remaining).min(input.len() as u64) as usize;
                    let keep = n.min(HEAD_KEEP.saturating_sub(head.len()));
                    head.extend_from_slice(&input[..keep]);
                    input = &input[n..];
                    *remaining -= n as u64;
                    self.finish_oversize_if_done(out);
                }
            }
        }
    }

    /// At the end of a fragment: wait for the next one, or emit the whole message as one
    /// binary frame (or its stand-in, when it grew past the limit).
    fn finish_fragment_if_done(&mut self, out: &mut Vec<u8>) {
        let State::Collect { remaining: 0, fin } = self.state else {
            return;
        };
        self.state = State::Header { buf: Vec::new() };
        if !fin {
            return;
        }
        let f = self.fragmented.take().unwrap_or_default();
        if f.total <= self.limit {
            emit_frame(out, 0x82, &f.data);
        } else {
            emit_frame(out, 0x82, &replacement(&f.data, f.total));
            self.dropped += 1;
        }
    }

    fn finish_oversize_if_done(&mut self, out: &mut Vec<u8>) {
        let State::Oversize {
            first,
            remaining: 0,
            total,
            head,
        } = &self.state
        else {
            return;
        };
        let payload = replacement(head, *total);
        // FIN as the original; a text frame becomes binary; continuation stays continuation.
        let opcode = match first & 0x0F {
            0x1 => 0x2,
            o => o,
        };
        emit_frame(out, (first & 0x80) | opcode, &payload);
        self.dropped += 1;
        self.state = State::Header { buf: Vec::new() };
    }
}

/// Writes an unmasked frame with this first byte (FIN and opcode) and payload.
fn emit_frame(out: &mut Vec<u8>, first: u8, payload: &[u8]) {
    out.push(first);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

struct FrameHeader {
    opcode: u8,
    masked: bool,
    len: u64,
}

/// The header in `buf` once it is complete.
fn parse_header(buf: &[u8]) -> Option<FrameHeader> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (ext, len7) = match buf[1] & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let need = 2 + ext + if masked { 4 } else { 0 };
    if buf.len() < need {
        return None;
    }
    let len = len7.unwrap_or_else(|| {
        buf[2..2 + ext]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    Some(FrameHeader {
        opcode: buf[0] & 0x0F,
        masked,
        len,
    })
}

/// The STOMP frame that stands in for an oversized one: its command and headers (without
/// `content-length`), plus the dropped marker, and no body. Without a readable header block
/// the stand-in carries only the marker (it cannot be acknowledged then, but it cannot break
/// the connection either).
fn replacement(head: &[u8], total: u64) -> Vec<u8> {
    let end = find(head, b"\n\n")
        .map(|i| (i, 1))
        .into_iter()
        .chain(find(head, b"\r\n\r\n").map(|i| (i, 2)))
        .min_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(head.len().min(HEAD_KEEP) + 64);
    match end {
        Some((i, _)) => {
            for line in head[..i].split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.starts_with(b"content-length:") || line.is_empty() {
                    continue;
                }
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        None => out.extend_from_slice(b"MESSAGE\n"),
    }
    out.extend_from_slice(format!("{DROPPED_HEADER}:{total}\n\n").as_bytes());
    out.push(0);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDSHAKE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xFFFF => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    /// Runs the filter over `input` fed in chunks of `chunk` bytes.
    fn run(input: &[u8], chunk: usize, limit: usize) -> (Vec<u8>, u64) {
        let mut f = WsFilter::new(limit);
        let mut out = Vec::new();
        for c in input.chunks(chunk.max(1)) {
            f.push(c, &mut out);
        }
        (out, f.dropped)
    }

    #[test]
    fn text_becomes_binary_and_everything_else_passes() {
        let body = b"MESSAGE\nack:1\n\n\xff\xfe not utf-8\0";
        let mut input = HANDSHAKE.to_vec();
        input.extend(frame(0x81, body));
        input.extend(frame(0x89, b"ping"));
        input.extend(frame(0x82, b"\n"));
        let mut want = HANDSHAKE.to_vec();
        want.extend(frame(0x82, body));
        want.extend(frame(0x89, b"ping"));
        want.extend(frame(0x82, b"\n"));
        for chunk in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(run(&input, chunk, 1024), (want.clone(), 0), "chunk {chunk}");
        }
    }

    #[test]
    fn an_oversized_message_becomes_its_headers_and_a_marker() {
        let mut big =
            b"MESSAGE\r\nsubscription:q\r\nack:T_q@@s@@7\r\ncontent-length:300000\r\n\r\n".to_vec();
        big.extend(vec![b'x'; 300_000]);
        big.push(0);
        let mut input = HANDSHAKE.to_vec();
        input.extend(frame(0x81, &big));
        input.extend(frame(0x81, b"MESSAGE\nack:8\n\n{}\0"));
        let mut want = HANDSHAKE.to_vec();
        let stand_in = format!(
            "MESSAGE\nsubscription:q\nack:T_q@@s@@7\nsite-agent-dropped:{}\n\n\0",
            big.len()
        );
        want.extend(frame(0x82, stand_in.as_bytes()));
        want.extend(frame(0x82, b"MESSAGE\nack:8\n\n{}\0"));
        for chunk in [1, 13, 4096, 1 << 20] {
            assert_eq!(
                run(&input, chunk, 64 * 1024),
                (want.clone(), 1),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn an_oversized_message_without_headers_still_leaves_the_stream_intact() {
        let mut input = HANDSHAKE.to_vec();
        input.extend(frame(0x82, &vec![b'y'; 70_000]));
        input.extend(frame(0x82, b"\n"));
        let (out, dropped) = run(&input, 999, 1000);
        let mut want = HANDSHAKE.to_vec();
        want.extend(frame(0x82, b"MESSAGE\nsite-agent-dropped:70000\n\n\0"));
        want.extend(frame(0x82, b"\n"));
        assert_eq!((out, dropped), (want, 1));
    }

    #[test]
    fn a_split_message_is_put_together_and_bounded_as_a_whole() {
        let msg = b"MESSAGE\nack:9\n\n{\"order_uuid\": 1}\0";
        let (a, b) = msg.split_at(10);
        let mut input = HANDSHAKE.to_vec();
        input.extend(frame(0x01, a)); // text, not final
        input.extend(frame(0x89, b"ping")); // a control frame in between
        input.extend(frame(0x80, b)); // continuation, final
        let mut want = HANDSHAKE.to_vec();
        want.extend(frame(0x89, b"ping"));
        want.extend(frame(0x82, msg));
        for chunk in [1, 5, 4096] {
            assert_eq!(run(&input, chunk, 1024), (want.clone(), 0), "chunk {chunk}");
        }
        // Fragments each under the limit, together over it: replaced as a whole.
        let mut big = b"MESSAGE\nack:A\ncontent-length:3000\n\n".to_vec();
        big.extend(vec![b'z'; 3000]);
        big.push(0);
        let mut input = HANDSHAKE.to_vec();
        let parts: Vec<&[u8]> = big.chunks(800).collect();
        for (i, p) in parts.iter().enumerate() {
            let first = if i == 0 { 0x01 } else { 0x00 };
            let fin = if i + 1 == parts.len() { 0x80 } else { 0 };
            input.extend(frame(first | fin, p));
        }
        let (out, dropped) = run(&input, 97, 1000);
        let mut want = HANDSHAKE.to_vec();
        let stand_in = format!("MESSAGE\nack:A\nsite-agent-dropped:{}\n\n\0", big.len());
        want.extend(frame(0x82, stand_in.as_bytes()));
        assert_eq!((out, dropped), (want, 1));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x9E3779B97F4A7C15u64;
        for _ in 0..2000 {
            let len = (seed % 300) as usize;
            let mut input = HANDSHAKE.to_vec();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.push(seed as u8);
            }
            let _ = run(&input, (seed % 17) as usize + 1, 100);
        }
    }
}
