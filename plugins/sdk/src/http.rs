//! The one HTTP client builder and transport-error classifier, for backends and the agent's
//! Waldur client alike: one rustls stack, timeouts, TLS verification switch, optional
//! authenticated proxy, bounded bodies.

use crate::BackendError;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Installs the process-wide rustls crypto provider (ring). Safe to call many times.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP(S) proxy, optionally with basic auth.
#[derive(Clone)]
pub struct ProxyConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub verify_tls: bool,
    pub proxy: Option<ProxyConfig>,
    pub user_agent: String,
    /// Who the client talks to, for the warning when verification is off ("backend S3").
    pub peer: String,
    /// Follow redirects (off for a web console, whose redirects are answers: "log in").
    pub follow_redirects: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            verify_tls: true,
            proxy: None,
            user_agent: format!("site-agent/{}", env!("CARGO_PKG_VERSION")),
            peer: "backend".into(),
            follow_redirects: true,
        }
    }
}

/// Builds a reqwest client from the shared settings.
pub fn build_client(cfg: &HttpConfig) -> Result<reqwest::Client, BackendError> {
    ensure_crypto_provider();
    let mut b = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
        .user_agent(cfg.user_agent.clone());
    if !cfg.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if !cfg.verify_tls {
        tracing::warn!(peer = %cfg.peer, "TLS certificate verification is OFF (verify_ssl: false)");
        b = b.tls_danger_accept_invalid_certs(true);
    } else if let Ok(shared) = verifying_config() {
        // The system's roots, loaded once for every client (reqwest would load them again
        // for each). With none found, reqwest's own verifier reports it at the handshake.
        b = b.tls_backend_preconfigured(shared.as_ref().clone());
    }
    match &cfg.proxy {
        Some(p) => {
            let mut proxy = reqwest::Proxy::all(&p.url).map_err(|e| {
                BackendError::invalid(format!(
                    "invalid proxy URL {:?}: {e}",
                    crate::scrub::redact_url(&p.url)
                ))
            })?;
            if let (Some(u), Some(pw)) = (&p.username, &p.password) {
                proxy = proxy.basic_auth(u, pw.expose_secret());
            }
            b = b.proxy(proxy);
        }
        None => b = b.no_proxy(),
    }
    b.build()
        .map_err(|e| BackendError::invalid(format!("cannot build HTTP client: {e}")))
}

/// The largest response body any client of the agent reads. Everything it talks to answers
/// in kilobytes; a bigger answer (a broken proxy, a hostile endpoint) must not take the
/// process past its memory limit.
pub const MAX_BODY: usize = 16 << 20;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge { limit: usize },
    Transport(reqwest::Error),
}

impl BodyError {
    /// As a backend error (both are transient: the next try may get a sane answer).
    pub fn into_backend(self, what: &str) -> BackendError {
        match self {
            BodyError::TooLarge { limit } => BackendError::unavailable(format!(
                "{what}: the answer is larger than {} MiB; not read",
                limit >> 20
            )),
            BodyError::Transport(e) => transport_error(what, e),
        }
    }
}

/// Reads a response body, refusing more than `limit` bytes without buffering them: the
/// declared length is checked first, then every chunk.
pub async fn read_bytes(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// As [`read_bytes`], as text (invalid UTF-8 replaced).
pub async fn read_text(resp: reqwest::Response, limit: usize) -> Result<String, BodyError> {
    Ok(text_of(read_bytes(resp, limit).await?))
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text_of(buf: Vec<u8>) -> String {
    match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Classifies a transport error: everything at this level is worth a retry.
pub fn transport_error(what: &str, err: reqwest::Error) -> BackendError {
    if err.is_timeout() {
        BackendError::unavailable(format!("{what}: request timed out"))
    } else if err.is_connect() {
        BackendError::unavailable(format!("{what}: connection failed"))
    } else {
        // Without the URL: it may carry secrets in its query string.
        BackendError::unavailable(format!("{what}: request failed: {}", err.without_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_debug_hides_password() {
        let p = ProxyConfig {
            url: "http://proxy:3128".into(),
            username: Some("u".into()),
            password: Some(SecretString::from("pw-canary")),
        };
        assert!(!format!("{p:?}").contains("pw-canary"));
    }

    /// A server that answers each connection with the next canned response.
    async fn serve(responses: Vec<Vec<u8>>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for r in responses {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(&r).await;
                let _ = sock.shutdown().await;
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn bodies_larger_than_the_limit_are_refused_unread() {
        ensure_crypto_provider();
        let limit = 64 * 1024;
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..4 {
            chunked.extend_from_slice(format!("{:x}\r\n", 32 * 1024).as_bytes());
            chunked.extend(vec![b'x'; 32 * 1024]);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let url = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 400000000\r\n\r\nxx".to_vec(),
            chunked,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nh\xffllo".to_vec(),
        ])
        .await;
        let http = reqwest::Client::new();
        for declared in [true, false] {
            let resp = http.get(&url).send().await.unwrap();
            match read_text(resp, limit).await {
                Err(BodyError::TooLarge { limit: l }) => assert_eq!(l, limit),
                other => panic!("declared={declared}: {other:?}"),
            }
        }
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(read_text(resp, limit).await.unwrap(), "h\u{fffd}llo");
        let e = BodyError::TooLarge { limit: MAX_BODY }.into_backend("croit GET users");
        assert!(e.is_retryable());
        assert!(e.message().contains("larger than 16 MiB"), "{e}");
    }

    #[test]
    fn builds_with_proxy_and_without_verification() {
        let cfg = HttpConfig {
            verify_tls: false,
            proxy: Some(ProxyConfig {
                url: "http://127.0.0.1:3128".into(),
                username: Some("u".into()),
                password: Some(SecretString::from("p")),
            }),
            ..HttpConfig::default()
        };
        assert!(build_client(&cfg).is_ok());
        let leaky = HttpConfig {
            proxy: Some(ProxyConfig {
                url: "http://u:pw-canary@[::1".into(),
                username: None,
                password: None,
            }),
            ..HttpConfig::default()
        };
        let e = build_client(&leaky).unwrap_err();
        assert!(!e.message().contains("pw-canary"), "{e}");
        let bad = HttpConfig {
            proxy: Some(ProxyConfig {
                url: "::nope".into(),
                username: None,
                password: None,
            }),
            ..HttpConfig::default()
        };
        assert!(build_client(&bad).is_err());
    }

    #[test]
    fn the_system_roots_are_loaded_once_and_shared() {
        let a = tls_config(true).expect("this machine has CA certificates");
        let b = tls_config(true).unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&a, &b),
            "one configuration per process"
        );
        assert!(build_client(&HttpConfig::default()).is_ok());
        let insecure = tls_config(false).unwrap();
        assert!(!std::sync::Arc::ptr_eq(&a, &insecure));
    }
}

/// A rustls client configuration for non-HTTP TLS (the STOMP websocket): the system's roots,
/// or — only when verification is switched off — any certificate.
pub fn tls_config(verify: bool) -> Result<std::sync::Arc<rustls::ClientConfig>, BackendError> {
    if verify {
        return verifying_config();
    }
    ensure_crypto_provider();
    tracing::warn!("TLS certificate verification is OFF for a websocket (verify_ssl: false)");
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(insecure::AcceptAny))
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// The verifying configuration (the system's roots, as `SSL_CERT_FILE` / `SSL_CERT_DIR` or
/// the distribution's store name them), built once per process: loading the roots opens and
/// parses every file in `/etc/ssl/certs`, which took the agent's start-up three times over
/// before its first request.
fn verifying_config() -> Result<std::sync::Arc<rustls::ClientConfig>, BackendError> {
    static SHARED: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            ensure_crypto_provider();
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no trusted CA certificates found on this system".to_string());
            }
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(std::sync::Arc::new(config))
        })
        .clone()
        .map_err(BackendError::invalid)
}

mod insecure {
    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    /// For lab set-ups with `verify_ssl: false` only.
    #[derive(Debug)]
    pub struct AcceptAny;

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}
