//! Authentication: DRF `TokenAuthentication` (`Token <key>`), OIDC bearer tokens, and the
//! sim's client-credentials token endpoint (`POST /oidc/token`).

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use super::context::Ctx;
use super::reply::Reply;
use super::state::{BearerToken, Principal, State};
use super::util::{b64decode, b64url, hex, parse_pairs};

pub(crate) const TOKEN_LIFETIME_SECS: i64 = 300;

fn unauthorized(msg: &str) -> Reply {
    Reply::detail(401, msg).header("WWW-Authenticate", "Token")
}

/// Resolves the caller or answers 401 exactly like DRF does.
pub(crate) fn authenticate(st: &State, ctx: &Ctx) -> Result<Principal, Reply> {
    let not_provided = || unauthorized("Authentication credentials were not provided.");
    let Some(header) = ctx.authorization.as_deref() else {
        return Err(not_provided());
    };
    let parts: Vec<&str> = header.split_whitespace().collect();
    let Some(keyword) = parts.first().map(|k| k.to_ascii_lowercase()) else {
        return Err(not_provided());
    };
    if keyword != "token" && keyword != "bearer" {
        // No authenticator claims the header: the request is anonymous.
        return Err(not_provided());
    }
    if parts.len() == 1 {
        return Err(unauthorized(
            "Invalid token header. No credentials provided.",
        ));
    }
    if parts.len() > 2 {
        return Err(unauthorized(
            "Invalid token header. Token string should not contain spaces.",
        ));
    }
    let key = parts[1];
    if keyword == "token" {
        if key == st.provider_token {
            Ok(Principal::Agent)
        } else if key == st.staff_token {
            Ok(Principal::Staff)
        } else {
            Err(unauthorized("Invalid token."))
        }
    } else {
        match st.bearer_tokens.iter().find(|t| t.token == key) {
            Some(t) if t.expires > st.now() => Ok(Principal::Agent),
            Some(_) => Err(unauthorized("Token has expired.")),
            None => Err(unauthorized("Invalid token.")),
        }
    }
}

fn oauth_error(status: u16, code: &str) -> Reply {
    Reply::json(status, json!({ "error": code }))
}

/// `POST /oidc/token` with `grant_type=client_credentials` (client credentials in the form
/// or as HTTP Basic). Issued tokens act as the agent user.
pub(crate) fn token_endpoint(st: &mut State, ctx: &Ctx) -> Reply {
    if ctx.method != "POST" {
        return oauth_error(405, "invalid_request").header("Allow", "POST");
    }
    let media = ctx
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/x-www-form-urlencoded" {
        return oauth_error(400, "invalid_request");
    }
    let form = parse_pairs(&String::from_utf8_lossy(&ctx.body));
    let get = |k: &str| {
        form.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    match get("grant_type").as_deref() {
        None | Some("") => return oauth_error(400, "invalid_request"),
        Some("client_credentials") => {}
        Some(_) => return oauth_error(400, "unsupported_grant_type"),
    }
    let basic = ctx.authorization.as_deref().and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(b64decode(rest.trim())?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((id.to_string(), secret.to_string()))
    });
    let (id, secret) = match (basic, get("client_id"), get("client_secret")) {
        (Some(creds), _, _) => creds,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return oauth_error(401, "invalid_client"),
    };
    if !st
        .oidc_clients
        .iter()
        .any(|(i, s)| *i == id && *s == secret)
    {
        return oauth_error(401, "invalid_client");
    }
    let now = st.now();
    let expires = now + Duration::seconds(TOKEN_LIFETIME_SECS);
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": format!("{}/oidc", st.origin),
        "sub": hex(&st.agent.uuid),
        "azp": id,
        "preferred_username": st.agent.username,
        "iat": now.timestamp(),
        "exp": expires.timestamp(),
        "jti": hex(&Uuid::new_v4()),
    });
    let payload = b64url(claims.to_string().as_bytes());
    let mut sig = Uuid::new_v4().as_bytes().to_vec();
    sig.extend_from_slice(Uuid::new_v4().as_bytes());
    let token = format!("{header}.{payload}.{}", b64url(&sig));
    st.bearer_tokens.push(BearerToken {
        token: token.clone(),
        expires,
    });
    Reply::json(
        200,
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
        }),
    )
    .header("Cache-Control", "no-store")
}
