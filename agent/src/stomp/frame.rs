//! STOMP 1.2 frames: a command, ordered headers, a body.

/// One frame. Repeated headers are kept in order; the first one wins (STOMP 1.2 §Repeated
/// Header Entries).
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a passcode.
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "passcode" {
                        "[REDACTED]"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("Frame")
            .field("command", &self.command)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Frame {
    pub fn new(command: &str) -> Self {
        Self {
            command: command.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn connect(vhost: &str, login: &str, passcode: &str, heartbeat: (u32, u32)) -> Self {
        Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", vhost)
            .header("login", login)
            .header("passcode", passcode)
            .header("heart-beat", format!("{},{}", heartbeat.0, heartbeat.1))
    }

    pub fn subscribe(id: &str, destination: &str, ack: &str) -> Self {
        Frame::new("SUBSCRIBE")
            .header("id", id)
            .header("destination", destination)
            .header("ack", ack)
    }

    /// ACK takes the MESSAGE's `ack` header as `id`.
    pub fn ack(ack_id: &str) -> Self {
        Frame::new("ACK").header("id", ack_id)
    }

    pub fn send(destination: &str, body: impl Into<Vec<u8>>) -> Self {
        Frame::new("SEND")
            .header("destination", destination)
            .header("content-type", "application/json")
            .body(body)
    }

    pub fn disconnect() -> Self {
        Frame::new("DISCONNECT")
    }
}
