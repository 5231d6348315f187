//! Waldur authentication: a static token, or an OIDC client-credentials bearer token cached
//! until 30 s before it expires.

use super::error::WaldurError;
use crate::config::WaldurAuth;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct Authenticator {
    auth: WaldurAuth,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authenticator {
    pub fn new(auth: WaldurAuth) -> Self {
        Self {
            auth,
            cached: Mutex::new(None),
        }
    }

    /// The `Authorization` header value.
    pub async fn header(&self, http: &reqwest::Client) -> Result<SecretString, WaldurError> {
        match &self.auth {
            WaldurAuth::Token(t) => Ok(SecretString::from(format!("Token {}", t.expose_secret()))),
            WaldurAuth::Oidc {
                token_url,
                client_id,
                client_secret,
            } => {
                let mut cached = self.cached.lock().await;
                if let Some((tok, valid_until)) = cached.as_ref()
                    && Instant::now() < *valid_until
                {
                    return Ok(SecretString::from(format!(
                        "Bearer {}",
                        tok.expose_secret()
                    )));
                }
                let what = "OIDC token request";
                let resp = http
                    .post(token_url)
                    .timeout(Duration::from_secs(30))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.expose_secret()),
                    ])
                    .send()
                    .await
                    .map_err(|e| WaldurError::transport(what, e))?;
                let status = resp.status().as_u16();
                let body = site_agent_sdk::http::read_text(resp, 64 << 10)
                    .await
                    .map_err(|e| WaldurError::body(what, e))?;
                if !(200..300).contains(&status) {
                    let mut e = WaldurError::from_status(what, status, &body);
                    if status == 400 || status == 401 {
                        e.message =
                            format!("{}: check oidc_client_id / oidc_client_secret", e.message);
                    }
                    return Err(e);
                }
                let parsed: TokenResponse = serde_json::from_str(&body).map_err(|_| {
                    WaldurError::decode(what, "the token response has no access_token")
                })?;
                let tok = SecretString::from(parsed.access_token);
                let header = SecretString::from(format!("Bearer {}", tok.expose_secret()));
                *cached = Some((tok, valid_until(Instant::now(), parsed.expires_in)));
                Ok(header)
            }
        }
    }
}

/// When a token stops being used: 30 s before it expires, never later than a day from now
/// (`expires_in` is a network input: u64::MAX must not overflow the clock).
fn valid_until(now: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = expires_in
        .unwrap_or(300)
        .saturating_sub(30)
        .min(24 * 60 * 60);
    now.checked_add(Duration::from_secs(lifetime))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetime_saturates() {
        let now = Instant::now();
        assert_eq!(
            valid_until(now, Some(u64::MAX)),
            now + Duration::from_secs(86_400)
        );
        assert_eq!(valid_until(now, Some(10)), now);
        assert_eq!(valid_until(now, None), now + Duration::from_secs(270));
    }
}
