//! The simulator's event publisher: what Mastermind's `publish_stomp_messages` does, over a
//! plain STOMP 1.2 TCP connection (`RABBITMQ.HOST:STOMP_PORT`) with the admin credentials and
//! `host:<vhost>`, one `SEND` to `/amq/queue/<queue>` per message.
//!
//! One background task owns every connection (one per vhost, kept open and reopened after an
//! error). Messages arrive on a channel in commit order and leave in that order per vhost, hence
//! per queue. A batch counts as accepted once the broker answers a receipt requested after it
//! (an empty transaction's `ABORT` carries the `receipt`, so the messages themselves carry exactly
//! Mastermind's headers). While the broker is unreachable the messages stay queued and are tried
//! again every [`RETRY`]; a batch whose receipt never came is sent again (at least once, as
//! Mastermind's retrying Celery task).

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

/// Pause before a vhost whose broker connection failed is tried again.
pub(crate) const RETRY: Duration = Duration::from_millis(500);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const BATCH: usize = 200;

/// One message to publish: the JSON body goes to `/amq/queue/<queue>` in `vhost`.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub vhost: String,
    pub queue: String,
    pub body: String,
}

/// Shared with the simulator state: what the broker accepted, and how often it failed.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub published: AtomicUsize,
    pub failures: AtomicUsize,
}

/// Where and as whom to publish.
#[derive(Clone)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub login: String,
    pub passcode: String,
}

/// Starts the publisher task on the current tokio runtime; it ends when the sender is dropped
/// and nothing is left to publish.
pub(crate) fn spawn(target: Target, counters: Arc<Counters>) -> mpsc::UnboundedSender<Outgoing> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(target, rx, counters));
    tx
}

#[derive(Default)]
struct Lane {
    pending: VecDeque<Outgoing>,
    conn: Option<Conn>,
    retry_at: Option<Instant>,
}

async fn run(target: Target, mut rx: mpsc::UnboundedReceiver<Outgoing>, counters: Arc<Counters>) {
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    let mut open = true;
    let push = |lanes: &mut BTreeMap<String, Lane>, m: Outgoing| {
        lanes
            .entry(m.vhost.clone())
            .or_default()
            .pending
            .push_back(m);
    };
    loop {
        while let Ok(m) = rx.try_recv() {
            push(&mut lanes, m);
        }
        let now = Instant::now();
        for (vhost, lane) in lanes.iter_mut() {
            if lane.pending.is_empty() || lane.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            match flush(&target, vhost, lane, &counters).await {
                Ok(()) => lane.retry_at = None,
                Err(_) => {
                    lane.conn = None;
                    lane.retry_at = Some(Instant::now() + RETRY);
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let next_retry = lanes
            .values()
            .filter(|l| !l.pending.is_empty())
            .filter_map(|l| l.retry_at)
            .min();
        match (next_retry, open) {
            (None, false) => return,
            (None, true) => match rx.recv().await {
                Some(m) => push(&mut lanes, m),
                None => open = false,
            },
            (Some(at), true) => {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => push(&mut lanes, m),
                        None => open = false,
                    },
                    _ = sleep_until(at) => {}
                }
            }
            (Some(at), false) => sleep_until(at).await,
        }
    }
}

/// Sends everything queued for the vhost. A kept connection that turns out dead is replaced
/// once at once (an idle connection dropped by the broker is no outage).
async fn flush(
    target: &Target,
    vhost: &str,
    lane: &mut Lane,
    counters: &Counters,
) -> Result<(), String> {
    let mut may_reopen = true;
    while !lane.pending.is_empty() {
        let reused = lane.conn.is_some();
        let conn = match lane.conn.as_mut() {
            Some(c) => c,
            None => lane.conn.insert(Conn::open(target, vhost).await?),
        };
        let n = lane.pending.len().min(BATCH);
        match conn.send_batch(lane.pending.range(..n)).await {
            Ok(()) => {
                lane.pending.drain(..n);
                counters.published.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                lane.conn = None;
                if reused && may_reopen {
                    may_reopen = false;
                    continue;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// One STOMP frame as read from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn describe(&self) -> String {
        let message = self.header("message").unwrap_or_default();
        let body = String::from_utf8_lossy(&self.body);
        format!("{} {message} {}", self.command, body.trim())
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u64,
}

impl Conn {
    async fn open(target: &Target, vhost: &str) -> Result<Conn, String> {
        let addr = (target.host.as_str(), target.port);
        let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            seq: 0,
        };
        // CONNECT headers are not escaped in STOMP 1.2.
        let connect = format!(
            "CONNECT\naccept-version:1.2\nhost:{vhost}\nlogin:{}\npasscode:{}\nheart-beat:0,0\n\n\0",
            target.login, target.passcode
        );
        conn.write(connect.as_bytes()).await?;
        let frame = conn.read_frame().await?;
        match frame.command.as_str() {
            "CONNECTED" => Ok(conn),
            _ => Err(frame.describe()),
        }
    }

    async fn send_batch<'a>(
        &mut self,
        batch: impl Iterator<Item = &'a Outgoing>,
    ) -> Result<(), String> {
        let mut out = Vec::new();
        for m in batch {
            encode_send(&mut out, m);
        }
        self.seq += 1;
        let id = format!("sim-flush-{}", self.seq);
        out.extend_from_slice(format!("BEGIN\ntransaction:{id}\n\n\0").as_bytes());
        out.extend_from_slice(format!("ABORT\ntransaction:{id}\nreceipt:{id}\n\n\0").as_bytes());
        self.write(&out).await?;
        loop {
            let frame = self.read_frame().await?;
            match frame.command.as_str() {
                "RECEIPT" if frame.header("receipt-id") == Some(id.as_str()) => return Ok(()),
                "ERROR" => return Err(frame.describe()),
                _ => {}
            }
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), String> {
        timeout(IO_TIMEOUT, write_all(&self.stream, data))
            .await
            .map_err(|_| "write timed out".to_string())?
            .map_err(|e| format!("write: {e}"))
    }

    async fn read_frame(&mut self) -> Result<Frame, String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(f) = parse_frame(&mut self.buf) {
                return Ok(f);
            }
            match timeout(
                deadline.saturating_duration_since(Instant::now()),
                read_some(&self.stream, &mut self.buf),
            )
            .await
            {
                Err(_) => return Err("no answer from the broker".to_string()),
                Ok(Err(e)) => return Err(format!("read: {e}")),
                Ok(Ok(())) => {}
            }
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_some(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// STOMP 1.2 header escaping (every frame but CONNECT/CONNECTED).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
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

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The `SEND` frame Mastermind sends for one message.
pub(crate) fn encode_send(out: &mut Vec<u8>, m: &Outgoing) {
    let message_id = message_id(&m.vhost, &m.queue, &m.body);
    let headers = [
        ("destination", format!("/amq/queue/{}", m.queue)),
        ("persistent", "true".to_string()),
        ("durable", "true".to_string()),
        ("auto-delete", "false".to_string()),
        ("content-type", "application/json".to_string()),
        ("x-message-id", message_id),
        ("content-length", m.body.len().to_string()),
    ];
    out.extend_from_slice(b"SEND\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.push(b':');
        out.extend_from_slice(escape(&v).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(m.body.as_bytes());
    out.push(0);
}

/// Mastermind's dedup id: the first 32 hex digits of `sha256("<vhost>:<queue>:<payload>")`.
pub(crate) fn message_id(vhost: &str, queue: &str, body: &str) -> String {
    let digest = sha256(format!("{vhost}:{queue}:{body}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..32].to_string()
}

/// Takes one complete frame off the front of `buf` (leading EOLs — heart-beats and the
/// broker's `\n` after each NUL — are skipped). `None` until a whole frame is there.
pub(crate) fn parse_frame(buf: &mut Vec<u8>) -> Option<Frame> {
    let start = buf.iter().position(|b| *b != b'\n' && *b != b'\r');
    match start {
        None => {
            buf.clear();
            return None;
        }
        Some(s) => {
            buf.drain(..s);
        }
    }
    let head_end = find(buf, b"\n\n")
        .map(|i| (i, i + 2))
        .or_else(|| find(buf, b"\r\n\r\n").map(|i| (i, i + 4)))?;
    let head = String::from_utf8_lossy(&buf[..head_end.0]).replace('\r', "");
    let mut lines = head.split('\n');
    let command = lines.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut length = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (unescape(k), unescape(v));
            if k == "content-length" {
                length = v.trim().parse::<usize>().ok();
            }
            headers.push((k, v));
        }
    }
    let body_start = head_end.1;
    let body_end = match length {
        Some(n) if buf.len() > body_start + n => body_start + n,
        Some(_) => return None,
        None => body_start + buf[body_start..].iter().position(|b| *b == 0)?,
    };
    if buf.get(body_end) != Some(&0) {
        // A content-length that does not end at a NUL: resynchronise on the next NUL.
        let nul = body_start + buf[body_start..].iter().position(|b| *b == 0)?;
        buf.drain(..=nul);
        return None;
    }
    let body = buf[body_start..body_end].to_vec();
    buf.drain(..=body_end);
    Some(Frame {
        command,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// SHA-256 (FIPS 180-4), for the `x-message-id` header.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(message_id("v", "q", "{}").len(), 32);
    }

    #[test]
    fn frames_parse_with_eols_partial_input_and_escapes() {
        let mut buf = b"\nRECEIPT\nreceipt-id:a\\cb\n\n\0\nCONNECTED\nversion:1.2\n\n".to_vec();
        let f = parse_frame(&mut buf).unwrap();
        assert_eq!(f.command, "RECEIPT");
        assert_eq!(f.header("receipt-id"), Some("a:b"));
        assert_eq!(parse_frame(&mut buf), None);
        buf.extend_from_slice(b"\0");
        assert_eq!(parse_frame(&mut buf).unwrap().command, "CONNECTED");
        assert!(parse_frame(&mut buf).is_none());
        let mut buf = b"ERROR\nmessage:Bad CONNECT\ncontent-length:3\n\na\0b\0".to_vec();
        let f = parse_frame(&mut buf).unwrap();
        assert_eq!(f.body, b"a\0b");
        assert!(buf.is_empty());
    }

    #[test]
    fn send_frame_carries_mastermind_headers() {
        let mut out = Vec::new();
        let m = Outgoing {
            vhost: "v".into(),
            queue: "q_1".into(),
            body: "{\"a\": 1}".into(),
        };
        encode_send(&mut out, &m);
        let mut buf = out.clone();
        let f = parse_frame(&mut buf).unwrap();
        assert_eq!(f.command, "SEND");
        assert_eq!(f.header("destination"), Some("/amq/queue/q_1"));
        assert_eq!(f.header("persistent"), Some("true"));
        assert_eq!(f.header("content-type"), Some("application/json"));
        assert_eq!(
            f.header("x-message-id"),
            Some(message_id("v", "q_1", "{\"a\": 1}").as_str())
        );
        assert_eq!(f.body, b"{\"a\": 1}");
    }
}
