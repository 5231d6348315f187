//! A STOMP session over a websocket that never gives up: connect (with login, passcode and
//! virtual host), subscribe with client-individual acks, send heart-beats and detect a dead
//! connection from missed ones, and on any failure reconnect with jittered exponential
//! backoff and subscribe again. Messages are handed out with an [`Acker`]; a message is
//! acknowledged only when its consumer says so.

use super::codec::{Decoder, Item, encode};
use super::frame::Frame;
use super::wsfilter::DROPPED_HEADER;
use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::retry::Backoff;

/// The largest message read whole. Waldur's events are a few hundred bytes; a bigger one is
/// replaced (headers kept, so it can be acknowledged) before it reaches memory.
pub const MAX_MESSAGE: usize = 1 << 20;
const MAX_FRAME: usize = MAX_MESSAGE + (64 << 10);
/// A connection that lived this long was healthy: the backoff starts over after it.
const STABLE_AFTER: Duration = Duration::from_secs(30);
#[derive(Clone)]
pub struct SessionConfig {
    /// `ws://` or `wss://` URL of the web-stomp endpoint.
    pub url: String,
    pub vhost: String,
    pub login: String,
    pub passcode: SecretString,
    /// Heart-beat we offer and ask for, in milliseconds (0 turns it off).
    pub heartbeat_ms: u32,
    /// (subscription id, destination).
    pub subscriptions: Vec<(String, String)>,
    /// TLS for `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// A name for logs.
    pub name: String,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("url", &self.url)
            .field("vhost", &self.vhost)
            .field("login", &self.login)
            .field("passcode", &"[REDACTED]")
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

/// One delivered message.
#[derive(Debug)]
pub struct Delivery {
    pub subscription: String,
    pub destination: String,
    pub body: Vec<u8>,
    /// The message was larger than [`MAX_MESSAGE`] (its size): its body was not read.
    pub dropped: Option<u64>,
    pub acker: Acker,
}

/// Acknowledges one message on the connection it came from (a message whose connection is
/// gone is redelivered by the broker instead).
#[derive(Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Frame>,
    ack_id: Option<String>,
}

impl Acker {
    pub fn ack(self) {
        if let Some(id) = self.ack_id {
            let _ = self.tx.send(Frame::ack(&id));
        }
    }
}

/// The reconnect attempt after a failure. Only a connection that lasted starts the backoff
/// over: one that fails right after CONNECT (a broker refusing us, a message that kills the
/// socket) must not turn into a reconnect every second.
fn next_attempt(attempt: u32, was_connected: bool, lived: Duration) -> u32 {
    if was_connected && lived >= STABLE_AFTER {
        1
    } else {
        attempt.saturating_add(1)
    }
}

/// Where the session is (for observers: health views, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Connecting { attempt: u32 },
    Connected,
    Stopped,
}

/// Runs the session until `shutdown` turns true. Never returns early on broker trouble.
/// `state` follows the session's state (the supervisor shows it to systemd).
pub async fn run(
    cfg: SessionConfig,
    deliveries: mpsc::Sender<Delivery>,
    mut shutdown: watch::Receiver<bool>,
    state: watch::Sender<SessionState>,
) {
    // send_replace: the state is kept even while nobody watches.
    let connected_before = std::sync::atomic::AtomicBool::new(false);
    let report = |s: SessionState| {
        if s == SessionState::Connected {
            let again = connected_before.swap(true, std::sync::atomic::Ordering::Relaxed);
            crate::metrics::get().stomp(&cfg.name, true, again);
        }
        state.send_replace(s);
    };
    let mut attempt: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        report(SessionState::Connecting { attempt });
        let started = Instant::now();
        match connect_once(&cfg, &deliveries, &mut shutdown, &report).await {
            Ok(()) => break,
            Err((e, was_connected)) => {
                attempt = next_attempt(attempt, was_connected, started.elapsed());
                let delay = cfg.backoff.delay(attempt);
                if attempt <= 3 {
                    tracing::warn!(stomp = %cfg.name, error = %e, retry_in_ms = delay.as_millis() as u64, "STOMP connection lost; reconnecting");
                } else {
                    tracing::error!(stomp = %cfg.name, error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "STOMP broker still unreachable; reconnecting");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
    report(SessionState::Stopped);
}

type WsError = (String, bool);

async fn connect_once(
    cfg: &SessionConfig,
    deliveries: &mpsc::Sender<Delivery>,
    shutdown: &mut watch::Receiver<bool>,
    report: &impl Fn(SessionState),
) -> Result<(), WsError> {
    let fail = |e: String| (e, false);
    let ws = tokio::time::timeout(Duration::from_secs(15), super::transport::connect(cfg))
        .await
        .map_err(|_| fail("websocket connect timed out".into()))?
        .map_err(fail)?;
    let (mut sink, mut stream) = ws.split();
    let hb = cfg.heartbeat_ms;
    let connect = Frame::connect(
        &cfg.vhost,
        &cfg.login,
        cfg.passcode.expose_secret(),
        (hb, hb),
    );
    sink.send(to_message(&connect))
        .await
        .map_err(|e| fail(format!("send CONNECT: {e}")))?;

    let mut decoder = Decoder::new(MAX_FRAME);
    let connected = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match next_frame(&mut stream, &mut decoder).await? {
                Some(f) if f.command == "CONNECTED" => return Ok(f),
                Some(f) if f.command == "ERROR" => {
                    return Err(format!(
                        "broker refused the connection: {} {}",
                        f.get("message").unwrap_or(""),
                        String::from_utf8_lossy(&f.body).trim()
                    ));
                }
                Some(_) | None => continue,
            }
        }
    })
    .await
    .map_err(|_| fail("no CONNECTED frame".into()))?
    .map_err(fail)?;

    // Heart-beat negotiation: we send every max(cx, sy), expect something every max(sx, cy).
    let (sx, sy) = parse_heartbeat(connected.get("heart-beat").unwrap_or("0,0"));
    let send_every = (hb > 0 && sy > 0).then(|| Duration::from_millis(u64::from(hb.max(sy))));
    let expect_every = (sx > 0 && hb > 0).then(|| Duration::from_millis(u64::from(sx.max(hb))));

    for (id, dest) in &cfg.subscriptions {
        let f = Frame::subscribe(id, dest, "client-individual");
        sink.send(to_message(&f))
            .await
            .map_err(|e| fail(format!("send SUBSCRIBE: {e}")))?;
    }
    report(SessionState::Connected);
    tracing::info!(stomp = %cfg.name, subscriptions = cfg.subscriptions.len(), "STOMP connected");

    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Frame>();
    let mut last_rx = Instant::now();
    let mut last_tx = Instant::now();
    let tick = Duration::from_millis(u64::from(hb.clamp(200, 5000)) / 2);
    let lost = |e: String| (e, true);
    loop {
        tokio::select! {
            msg = stream.next() => {
                let msg = match msg {
                    None => return Err(lost("connection closed by the broker".into())),
                    Some(Err(e)) => return Err(lost(format!("websocket error: {e}"))),
                    Some(Ok(m)) => m,
                };
                last_rx = Instant::now();
                let data = match msg {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(c) => return Err(lost(format!("websocket closed: {}", c.map(|c| c.reason.to_string()).unwrap_or_default()))),
                    _ => continue,
                };
                decoder.push(&data);
                loop {
                    match decoder.next_item() {
                        Ok(Some(Item::Heartbeat)) => {}
                        Ok(Some(Item::Frame(f))) => match f.command.as_str() {
                            "MESSAGE" => {
                                tracing::debug!(stomp = %cfg.name, ack = ?f.get("ack"), redelivered = ?f.get("redelivered"), bytes = f.body.len(), "STOMP message");
                                let d = Delivery {
                                    subscription: f.get("subscription").unwrap_or_default().to_string(),
                                    destination: f.get("destination").unwrap_or_default().to_string(),
                                    dropped: f.get(DROPPED_HEADER).and_then(|v| v.parse().ok()),
                                    acker: Acker { tx: ack_tx.clone(), ack_id: f.get("ack").map(str::to_string) },
                                    body: f.body,
                                };
                                if deliveries.send(d).await.is_err() {
                                    return Ok(());
                                }
                            }
                            "ERROR" => {
                                return Err(lost(format!("broker error: {} {}", f.get("message").unwrap_or(""), String::from_utf8_lossy(&f.body).trim())));
                            }
                            _ => {}
                        },
                        Ok(None) => break,
                        // A corrupt stream cannot be resynchronised: start over.
                        Err(e) => return Err(lost(e.to_string())),
                    }
                }
            }
            Some(frame) = ack_rx.recv() => {
                tracing::debug!(stomp = %cfg.name, id = ?frame.get("id"), "STOMP ack");
                sink.send(to_message(&frame)).await.map_err(|e| lost(format!("send ACK: {e}")))?;
                last_tx = Instant::now();
            }
            _ = tokio::time::sleep(tick) => {
                if let Some(every) = send_every
                    && last_tx.elapsed() >= every
                {
                    sink.send(Message::text("\n")).await.map_err(|e| lost(format!("send heart-beat: {e}")))?;
                    last_tx = Instant::now();
                }
                // Dead-connection detection: nothing heard for twice the agreed interval.
                if let Some(every) = expect_every
                    && last_rx.elapsed() > every * 2
                {
                    return Err(lost(format!("no heart-beat from the broker for {} s", last_rx.elapsed().as_secs())));
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    let _ = sink.send(to_message(&Frame::disconnect())).await;
                    let _ = sink.close().await;
                    return Ok(());
                }
            }
        }
    }
}

fn to_message(f: &Frame) -> Message {
    Message::text(String::from_utf8_lossy(&encode(f)).into_owned())
}

async fn next_frame<S>(stream: &mut S, decoder: &mut Decoder) -> Result<Option<Frame>, String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match decoder.next_item() {
            Ok(Some(Item::Frame(f))) => return Ok(Some(f)),
            Ok(Some(Item::Heartbeat)) => continue,
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        match stream.next().await {
            None => return Err("connection closed".into()),
            Some(Err(e)) => return Err(format!("websocket error: {e}")),
            Some(Ok(Message::Text(t))) => decoder.push(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => decoder.push(&b),
            Some(Ok(Message::Close(_))) => return Err("connection closed".into()),
            Some(Ok(_)) => {}
        }
    }
}

fn parse_heartbeat(v: &str) -> (u32, u32) {
    let mut it = v.split(',').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_header_is_parsed_leniently() {
        assert_eq!(parse_heartbeat("10000,5000"), (10000, 5000));
        assert_eq!(parse_heartbeat("junk"), (0, 0));
    }

    #[test]
    fn backoff_keeps_growing_while_connections_die_young() {
        let mut attempt = 0;
        for _ in 0..6 {
            // Connected, then dropped a moment later: still growing.
            attempt = next_attempt(attempt, true, Duration::from_millis(50));
        }
        assert_eq!(attempt, 6);
        let backoff = Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(120),
        };
        assert_eq!(backoff.delay_with(attempt, 0.0), Duration::from_secs(32));
        assert_eq!(next_attempt(attempt, false, Duration::from_secs(600)), 7);
        assert_eq!(
            next_attempt(attempt, true, STABLE_AFTER),
            1,
            "a lasting one starts over"
        );
    }
}
