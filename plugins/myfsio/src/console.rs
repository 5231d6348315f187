//! MyFSIO's web console, driven as a browser script would: creating and deleting users,
//! setting their policies and display names, and rotating secrets exist nowhere else.
//!
//! Login with the admin key pair: `GET` the login page for the session cookie and the CSRF
//! token, `POST` the form. v0.4 (`/ui/login`, cookie `session`): 302 on success, the page
//! again (200) on failure; the token stays valid. v0.5 (`/login`, cookie `myfsio_session`):
//! 303 either way (to `/login` on failure); the session id and token change at login, so the
//! token is read again from `/ui/iam`'s `<meta name="csrf-token">`. Every write is a form post
//! with the token in `X-CSRF-Token` and `Accept: application/json` alone (v0.4's rotate
//! answers JSON only to exactly that). A post sent back to the login page (the session ended,
//! e.g. a console restart) or refused for its token logs in again once.

use crate::admin::Generation;
use crate::error::classify_admin;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use site_agent_sdk::BackendError;
use site_agent_sdk::http::{MAX_BODY, read_text, transport_error};
use site_agent_sdk::sigv4::encode_pairs;
use tokio::sync::Mutex;

struct Session {
    generation: Generation,
    cookie: SecretString,
    csrf: SecretString,
}

pub struct Console {
    http: reqwest::Client,
    base: String,
    access_key: String,
    secret: SecretString,
    session: Mutex<Option<Session>>,
}

fn cookie_name(g: Generation) -> &'static str {
    match g {
        Generation::V04 => "session",
        Generation::V05 => "myfsio_session",
    }
}

fn login_path(g: Generation) -> &'static str {
    match g {
        Generation::V04 => "/ui/login",
        Generation::V05 => "/login",
    }
}

/// The value of cookie `name` set by a response.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The value of the attribute `attr` of the first tag that has `marker` in it.
fn attribute(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    let len = tag[v..].find('"')?;
    Some(tag[v..v + len].to_string()).filter(|s| !s.is_empty())
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Whether a redirect goes to the login page (not logged in, or the login failed).
fn to_login(loc: &str) -> bool {
    let path = loc.split('?').next().unwrap_or("");
    path.ends_with("/login")
}

impl Console {
    pub fn new(http: reqwest::Client, base: &str, access_key: &str, secret: SecretString) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            access_key: access_key.to_string(),
            secret,
            session: Mutex::new(None),
        }
    }

    async fn get(
        &self,
        what: &str,
        path: &str,
        cookie: Option<(&str, &str)>,
    ) -> Result<reqwest::Response, BackendError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some((n, v)) = cookie {
            req = req.header(reqwest::header::COOKIE, format!("{n}={v}"));
        }
        req.send().await.map_err(|e| transport_error(what, e))
    }

    async fn login(&self, g: Generation) -> Result<Session, BackendError> {
        let what = "MyFSIO console login";
        let name = cookie_name(g);
        let resp = self.get(what, login_path(g), None).await?;
        let status = resp.status().as_u16();
        let cookie = set_cookie(&resp, name);
        let page = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        if status != 200 {
            return Err(classify_admin(what, status, &page));
        }
        let (Some(cookie), Some(token)) =
            (cookie, attribute(&page, "name=\"csrf_token\"", "value"))
        else {
            return Err(BackendError::unexpected(format!(
                "{what}: the login page at {}{} has no {name} cookie or CSRF token (is console_url MyFSIO's console, {}?)",
                self.base,
                login_path(g),
                g.label()
            )));
        };
        let body = encode_pairs([
            ("access_key", self.access_key.as_str()),
            ("secret_key", self.secret.expose_secret()),
            ("csrf_token", token.as_str()),
        ]);
        let resp = self
            .http
            .post(format!("{}{}", self.base, login_path(g)))
            .header(reqwest::header::COOKIE, format!("{name}={cookie}"))
            .header("X-CSRF-Token", &token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = resp.status().as_u16();
        let loc = location(&resp);
        let cookie = set_cookie(&resp, name).unwrap_or(cookie);
        let text = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        match status {
            301..=303 if !to_login(&loc) => {}
            200..=303 => {
                return Err(BackendError::unauthorized(format!(
                    "{what}: MyFSIO's console refused the admin key pair {:?} (v0.4 locks a key out of the console for 15 minutes after 5 failed logins)",
                    self.access_key
                )));
            }
            _ => return Err(classify_admin(what, status, &text)),
        }
        // v0.5 replaced the token at login; both show the current one on the IAM page.
        let resp = self.get(what, "/ui/iam", Some((name, &cookie))).await?;
        let status = resp.status().as_u16();
        let page = read_text(resp, MAX_BODY)
            .await
            .map_err(|e| e.into_backend(what))?;
        let csrf = match (status, attribute(&page, "name=\"csrf-token\"", "content")) {
            (200, Some(t)) => t,
            (200, None) if g == Generation::V04 => token,
            (200, None) => {
                return Err(BackendError::unexpected(format!(
                    "{what}: the IAM page shows no CSRF token"
                )));
            }
            (301..=303, _) | (403, _) => {
                return Err(BackendError::unauthorized(format!(
                    "{what}: the admin key pair {:?} may not manage users in MyFSIO's console (it needs action * on bucket *)",
                    self.access_key
                )));
            }
            _ => return Err(classify_admin(what, status, &page)),
        };
        Ok(Session {
            generation: g,
            cookie: SecretString::from(cookie),
            csrf: SecretString::from(csrf),
        })
    }

    /// A form post to `path`; MyFSIO's JSON answer.
    pub async fn post(
        &self,
        g: Generation,
        what: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, BackendError> {
        let mut session = self.session.lock().await;
        for attempt in 0..2 {
            if session.as_ref().is_none_or(|s| s.generation != g) {
                *session = Some(self.login(g).await?);
            }
            let s = session.as_ref().expect("logged in");
            let body = encode_pairs(
                form.iter()
                    .copied()
                    .chain([("csrf_token", s.csrf.expose_secret())]),
            );
            let resp = self
                .http
                .post(format!("{}{path}", self.base))
                .header(
                    reqwest::header::COOKIE,
                    format!("{}={}", cookie_name(g), s.cookie.expose_secret()),
                )
                .header("X-CSRF-Token", s.csrf.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
                .send()
                .await
                .map_err(|e| transport_error(what, e))?;
            let status = resp.status().as_u16();
            let loc = location(&resp);
            let text = read_text(resp, MAX_BODY)
                .await
                .map_err(|e| e.into_backend(what))?;
            let csrf_refused = (status == 400
                && site_agent_sdk::s3error::xml_code(&text).as_deref() == Some("CSRFError"))
                || (status == 403 && g == Generation::V05);
            if (matches!(status, 301..=303) && to_login(&loc)) || csrf_refused {
                // The session ended (a console restart) or its token went stale: log in
                // again; nothing was written.
                *session = None;
                if attempt == 0 {
                    continue;
                }
                return Err(classify_admin(what, status, &text));
            }
            if matches!(status, 301..=303) {
                return Err(BackendError::unexpected(format!(
                    "{what}: MyFSIO's console redirected to {loc:?} instead of answering JSON"
                )));
            }
            if !(200..300).contains(&status) {
                return Err(classify_admin(what, status, &text));
            }
            return serde_json::from_str(&text).map_err(|e| {
                BackendError::unavailable(format!("{what}: unreadable MyFSIO console answer: {e}"))
            });
        }
        Err(BackendError::unauthorized(format!(
            "{what}: no console session"
        )))
    }

    /// Ends the console session (best effort: it expires by itself).
    pub async fn logout(&self) {
        let Some(s) = self.session.lock().await.take() else {
            return;
        };
        let path = match s.generation {
            Generation::V04 => "/ui/logout",
            Generation::V05 => "/logout",
        };
        let _ = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::COOKIE,
                format!("{}={}", cookie_name(s.generation), s.cookie.expose_secret()),
            )
            .header("X-CSRF-Token", s.csrf.expose_secret())
            .send()
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_the_pages() {
        let login = r#"<form><input type="hidden" name="csrf_token" value="abc123"><input name="access_key"></form>"#;
        assert_eq!(
            attribute(login, "name=\"csrf_token\"", "value").as_deref(),
            Some("abc123")
        );
        let iam = r#"<head><meta name="csrf-token" content="fresh"></head>"#;
        assert_eq!(
            attribute(iam, "name=\"csrf-token\"", "content").as_deref(),
            Some("fresh")
        );
        assert_eq!(
            attribute("<p>none</p>", "name=\"csrf-token\"", "content"),
            None
        );
        assert!(to_login("/login?next=%2Fui%2Fiam") && to_login("/ui/login"));
        assert!(!to_login("/ui/buckets") && !to_login("/ui/"));
    }
}
