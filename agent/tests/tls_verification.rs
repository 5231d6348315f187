//! TLS verification of the agent's HTTP clients against a real TLS server: a certificate no
//! system root vouches for is refused while verification is on (the default), accepted only
//! with `verify_ssl: false`. The verifying configuration is shared by every client.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use site_agent_sdk::http::{HttpConfig, build_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Self-signed for localhost / 127.0.0.1 (P-256, valid until 2126; a subject no system root
/// has): made for this test only.
const CERT: &str = "
-----BEGIN CERTIFICATE-----
MIICGDCCAb6gAwIBAgIUUhm0i3R/Op6zvDOUvK9IbVUgSP4wCgYIKoZIzj0EAwIw
QjEZMBcGA1UECgwQc2l0ZS1hZ2VudCB0ZXN0czElMCMGA1UEAwwcdGxzIHZlcmlm
aWNhdGlvbiB0ZXN0IHNlcnZlcjAgFw0yNjExMzAxMzE2NThaGA8yMTI2MTEwNjEz
MTY1OFowQjEZMBcGA1UECgwQc2l0ZS1hZ2VudCB0ZXN0czElMCMGA1UEAwwcdGxz
IHZlcmlmaWNhdGlvbiB0ZXN0IHNlcnZlcjBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABFDJBeUIW4fBTa2n/JFLiNvOT4GsU3pB2KVJaYDc6Ca6noPAMJNH7/NZ83ZD
LqEYqdJz7yKuXFsknH9NImpockWjgY8wgYwwHQYDVR0OBBYEFGKUANUpVzPqRsBO
DFi5hPM8x5Z2MB8GA1UdIwQYMBaAFGKUANUpVzPqRsBODFi5hPM8x5Z2MBoGA1Ud
EQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAMBgNVHRMBAf8EAjAAMAsGA1UdDwQEAwIH
gDATBgNVHSUEDDAKBggrBgEFBQcDATAKBggqhkjOPQQDAgNIADBFAiEAzuI3kV67
M+vRNdLihsvfpproOzs2YgVKp9WZInH+1+YCIDDMZfoIxlA/A9nngIdcbaXDssNI
eRIhsZb8Upx4+d2I
-----END CERTIFICATE-----
";
const KEY: &str = "
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyn4+7w2zhRR3CqAh
nev7AEyAR+YOGyzmwISyoqe/8XihRANCAARQyQXlCFuHwU2tp/yRS4jbzk+BrFN6
QdilSWmA3Ogmup6DwDCTR+/zWfN2Qy6hGKnSc+8irlxbJJx/TSJqaHJF
-----END PRIVATE KEY-----
";

/// A TLS server answering every request `200 ok`; returns its https URL.
async fn tls_server() -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}/")
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_unless_verification_is_off() {
    let url = tls_server().await;
    for _ in 0..2 {
        // Twice: the second client reuses the shared configuration and must refuse too.
        let verifying = build_client(&HttpConfig::default()).unwrap();
        let err = verifying.get(&url).send().await.unwrap_err();
        let chain = format!("{err:?}");
        assert!(chain.contains("UnknownIssuer"), "{chain}");
    }
    let trusting = build_client(&HttpConfig {
        verify_tls: false,
        ..HttpConfig::default()
    })
    .unwrap();
    let resp = trusting.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
}
