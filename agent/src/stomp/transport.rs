//! The connection under a STOMP session: TCP, TLS for `wss://`, then the byte filter that
//! shields the session from poison messages (see `wsfilter`), then the websocket handshake.

use super::session::{MAX_MESSAGE, SessionConfig};
use super::wsfilter::WsFilter;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Plain TCP or TLS over it.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

pub type Socket = WebSocketStream<Filtered<Conn>>;

/// Opens the websocket of `cfg.url`.
pub async fn connect(cfg: &SessionConfig) -> Result<Socket, String> {
    let url = url::Url::parse(&cfg.url).map_err(|e| format!("bad websocket URL: {e}"))?;
    let host = url
        .host_str()
        .ok_or("the websocket URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = match url.scheme() {
        "ws" => false,
        "wss" => true,
        other => return Err(format!("unsupported websocket scheme {other:?}")),
    };
    let port = url.port().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("websocket connect failed: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let conn = if tls {
        let config = cfg
            .tls
            .clone()
            .ok_or("a wss:// URL needs a TLS configuration")?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("bad TLS server name {host:?}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        Conn::Tls(Box::new(stream))
    } else {
        Conn::Plain(tcp)
    };
    // The filter keeps any one message at MAX_MESSAGE; the library's own limits sit above it
    // only as a backstop.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE + (1 << 20)))
        .max_frame_size(Some(MAX_MESSAGE + (1 << 20)));
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        cfg.url.as_str(),
        Filtered::new(conn, MAX_MESSAGE),
        Some(ws_config),
    )
    .await
    .map_err(|e| format!("websocket handshake failed: {e}"))?;
    Ok(ws)
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, data),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A stream whose incoming bytes pass through a [`WsFilter`]; writes pass unchanged.
pub struct Filtered<S> {
    inner: S,
    filter: WsFilter,
    out: Vec<u8>,
    pos: usize,
    scratch: Box<[u8]>,
}

impl<S> Filtered<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        Self {
            inner,
            filter: WsFilter::new(limit),
            out: Vec::new(),
            pos: 0,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    /// Oversized messages replaced so far.
    pub fn dropped(&self) -> u64 {
        self.filter.dropped
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Filtered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.out.len() {
                let n = (this.out.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.out[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.out.len() {
                    this.out.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
            let Self {
                filter,
                scratch,
                out,
                ..
            } = this;
            filter.push(&scratch[..n], out);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Filtered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
