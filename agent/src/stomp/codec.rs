//! STOMP 1.2 wire format: NUL-terminated frames, `\n` or `\r\n` line ends, header escaping
//! (except in CONNECT and CONNECTED), `content-length` bodies, bare EOLs as heart-beats, and a
//! maximum frame size. Decoding never panics on any input.

use super::frame::Frame;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("STOMP frame larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed STOMP frame: {0}")]
    Malformed(String),
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(Frame),
    /// A bare EOL between frames.
    Heartbeat,
}

fn escapes(command: &str) -> bool {
    command != "CONNECT" && command != "CONNECTED"
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' => out.push_str("\\c"),
            c => out.push(c),
        }
    }
    out
}

/// Undefined escape sequences are kept as they are: a message with an odd header must not
/// break the connection it came on (it could never be acknowledged then).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Encodes a frame; a `content-length` header is added for any body.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let esc = escapes(&frame.command);
    let mut out = Vec::with_capacity(64 + frame.body.len());
    out.extend_from_slice(frame.command.as_bytes());
    out.push(b'\n');
    for (k, v) in &frame.headers {
        if k == "content-length" {
            continue;
        }
        let (k, v) = if esc {
            (escape(k), escape(v))
        } else {
            (k.replace(['\n', '\r'], ""), v.replace(['\n', '\r'], ""))
        };
        out.extend_from_slice(k.as_bytes());
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    if !frame.body.is_empty() {
        out.extend_from_slice(format!("content-length:{}\n", frame.body.len()).as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(&frame.body);
    out.push(0);
    out
}

/// An incremental decoder: push bytes as they arrive (split or batched), take items out.
pub struct Decoder {
    buf: Vec<u8>,
    max_frame: usize,
}

impl Decoder {
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_frame,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete item, `Ok(None)` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, CodecError> {
        // Heart-beats: EOLs before a frame.
        if self.buf.first() == Some(&b'\n') {
            self.buf.drain(..1);
            return Ok(Some(Item::Heartbeat));
        }
        if self.buf.starts_with(b"\r\n") {
            self.buf.drain(..2);
            return Ok(Some(Item::Heartbeat));
        }
        if self.buf.first() == Some(&b'\r') && self.buf.len() == 1 {
            return Ok(None);
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        // The header block ends at the first empty line.
        let Some((head_end, body_start)) = find_header_end(&self.buf) else {
            if self.buf.len() > self.max_frame {
                return Err(CodecError::TooLarge(self.max_frame));
            }
            return Ok(None);
        };
        // Lossy: a stray non-UTF-8 byte in a header must not break the connection.
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let command = lines.next().unwrap_or_default().to_string();
        if command.is_empty() || !command.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CodecError::Malformed(format!(
                "bad command {:?}",
                truncate(&command)
            )));
        }
        let esc = escapes(&command);
        let mut headers = Vec::new();
        for line in lines {
            // A line that is no header is skipped (see `unescape` for why not an error).
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = if esc {
                (unescape(k), unescape(v))
            } else {
                (k.to_string(), v.to_string())
            };
            headers.push((k, v));
        }
        let length = match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, v)) => Some(v.trim().parse::<usize>().map_err(|_| {
                CodecError::Malformed(format!("bad content-length {:?}", truncate(v)))
            })?),
            None => None,
        };
        let (body_end, frame_end) = match length {
            Some(n) => {
                if body_start.saturating_add(n) > self.max_frame {
                    return Err(CodecError::TooLarge(self.max_frame));
                }
                if self.buf.len() < body_start + n + 1 {
                    return Ok(None);
                }
                if self.buf[body_start + n] != 0 {
                    return Err(CodecError::Malformed(
                        "body longer than content-length (no NUL after it)".into(),
                    ));
                }
                (body_start + n, body_start + n + 1)
            }
            None => match self.buf[body_start..].iter().position(|b| *b == 0) {
                Some(p) => (body_start + p, body_start + p + 1),
                None => {
                    if self.buf.len() > self.max_frame {
                        return Err(CodecError::TooLarge(self.max_frame));
                    }
                    return Ok(None);
                }
            },
        };
        if frame_end > self.max_frame {
            return Err(CodecError::TooLarge(self.max_frame));
        }
        let body = self.buf[body_start..body_end].to_vec();
        self.buf.drain(..frame_end);
        Ok(Some(Item::Frame(Frame {
            command,
            headers,
            body,
        })))
    }
}

/// (end of the header block, start of the body): the first `\n\n` or `\n\r\n`.
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Item>, CodecError> {
        let mut d = Decoder::new(1 << 20);
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(i) = d.next_item()? {
            out.push(i);
        }
        Ok(out)
    }

    #[test]
    fn rabbitmq_message_with_trailing_eol() {
        let wire = b"MESSAGE\nsubscription:sub-1\ndestination:/amq/queue/q\nmessage-id:T_1\nack:T_1@@1\ncontent-type:application/json\ncontent-length:17\n\n{\"order_uuid\":1}\n\0\n";
        let items = decode_all(wire).unwrap();
        assert_eq!(items.len(), 2);
        let Item::Frame(f) = &items[0] else { panic!() };
        assert_eq!(f.command, "MESSAGE");
        assert_eq!(f.get("ack"), Some("T_1@@1"));
        assert_eq!(f.body, b"{\"order_uuid\":1}\n");
        assert_eq!(items[1], Item::Heartbeat);
    }

    #[test]
    fn escaping_and_connect_exemption() {
        let f = Frame::new("SEND").header("a:b", "line\nbreak\\c");
        let enc = encode(&f);
        assert!(
            std::str::from_utf8(&enc)
                .unwrap()
                .contains("a\\cb:line\\nbreak\\\\c")
        );
        let c = Frame::connect("vhost", "login", "pass:word", (10000, 10000));
        assert!(
            !std::str::from_utf8(&encode(&c)).unwrap().contains("\\c"),
            "CONNECT is never escaped"
        );
        let Item::Frame(back) = decode_all(&encode(&c)).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(back.get("passcode"), Some("pass:word"));
        assert!(
            !format!("{c:?}").contains("pass:word"),
            "Debug hides the passcode"
        );
    }

    #[test]
    fn split_and_batched_input() {
        let a = encode(&Frame::send("/q", b"one".to_vec()));
        let b = encode(&Frame::new("RECEIPT").header("receipt-id", "7"));
        let mut all = a.clone();
        all.extend_from_slice(b"\n\r\n");
        all.extend_from_slice(&b);
        let mut d = Decoder::new(1 << 20);
        let mut got = Vec::new();
        for chunk in all.chunks(3) {
            d.push(chunk);
            while let Some(i) = d.next_item().unwrap() {
                got.push(i);
            }
        }
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[3], Item::Frame(f) if f.command == "RECEIPT"));
    }

    #[test]
    fn odd_headers_never_break_the_stream() {
        let wire = b"MESSAGE\nno-colon\nbad:\\x\nnot-utf8:\xff\nack:A1\n\n{}\0";
        let Item::Frame(f) = decode_all(wire).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(
            f.get("ack"),
            Some("A1"),
            "the ack id survives: the message can be acked"
        );
        assert_eq!(f.get("bad"), Some("\\x"));
        assert_eq!(f.get("not-utf8"), Some("\u{fffd}"));
        assert_eq!(f.body, b"{}");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"lower\n\n\0"[..],
            b"SEND\ncontent-length:zz\n\n\0",
            b"SEND\ncontent-length:1\n\nab\0",
            b"\xff\xfe\n\n\0",
        ] {
            assert!(decode_all(bad).is_err(), "{bad:?}");
        }
        let mut d = Decoder::new(16);
        d.push(&[b'A'; 40]);
        assert_eq!(d.next_item(), Err(CodecError::TooLarge(16)));
        let mut d = Decoder::new(64);
        d.push(b"SEND\ncontent-length:1000\n\n");
        assert_eq!(d.next_item(), Err(CodecError::TooLarge(64)));
    }

    #[test]
    fn body_with_nul_needs_content_length() {
        let f = Frame::send("/q", vec![1, 0, 2]);
        let Item::Frame(back) = decode_all(&encode(&f)).unwrap().remove(0) else {
            panic!()
        };
        assert_eq!(back.body, vec![1, 0, 2]);
    }

    fn header_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9:\\\\\n\r _.-]{0,12}").unwrap()
    }

    proptest! {
        #[test]
        fn roundtrip(cmd in "(SEND|MESSAGE|SUBSCRIBE|ACK|ERROR|RECEIPT)",
                     headers in proptest::collection::vec((header_text(), header_text()), 0..6),
                     body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let headers: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| !k.is_empty() && k != "content-length").collect();
            let f = Frame { command: cmd, headers, body };
            let mut items = decode_all(&encode(&f)).unwrap();
            prop_assert_eq!(items.len(), 1);
            let Some(Item::Frame(mut back)) = items.pop() else { panic!("not a frame") };
            // The encoder adds content-length for a body; everything else round-trips.
            back.headers.retain(|(k, _)| k != "content-length");
            prop_assert_eq!(back, f);
        }

        #[test]
        fn decoder_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
            let mut d = Decoder::new(256);
            for c in chunks {
                d.push(&c);
                while let Ok(Some(_)) = d.next_item() {}
            }
        }
    }
}
