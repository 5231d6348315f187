//! The console listener: login with an access key pair, a session cookie and CSRF tokens, and
//! the IAM pages' form posts with JSON replies. v0.4 (Flask, under `/ui`): `session` cookie,
//! 302 on login, a failed login re-renders the page (200) and counts against the key (5 in 15
//! minutes lock it), a missing CSRF token is 400 XML `CSRFError`, the login form's token stays
//! valid. v0.5 (axum): `/login`, `myfsio_session` cookie, 303 either way, a fresh session id
//! and CSRF token after login (the login page's token is dead), a bad token is 403.

use super::state::{Generation, Reply, State, User};
use super::{Inner, MyfsioSim, Process, Session};
use axum::Router;
use axum::extract::{Request, State as Sim};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub(super) fn router(sim: MyfsioSim) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

const PY_LOCKOUT: (usize, Duration) = (5, Duration::from_secs(15 * 60));

fn cookie_name(g: Generation) -> &'static str {
    match g {
        Generation::Py => "session",
        Generation::Rs => "myfsio_session",
    }
}

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn redirect(status: u16, to: &str) -> Reply {
    Reply::new(status, "text/html", "").header("location", to)
}

fn html(body: String) -> Reply {
    Reply::new(200, "text/html; charset=utf-8", body)
}

fn err(status: u16, msg: &str) -> Reply {
    Reply::json(status, json!({"error": msg}))
}

fn header<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

fn session_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

async fn handle(Sim(sim): Sim<MyfsioSim>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 1 << 20).await else {
        return Reply::empty(413).into_response();
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut guard = sim.lock();
    let inner = &mut *guard;
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    inner.calls.push(("console", parts.method.to_string(), uri));
    let path = parts.uri.path().to_string();
    let fault = (parts.method == Method::POST)
        .then(|| {
            inner
                .console_faults
                .iter()
                .position(|f| path.contains(&f.path))
        })
        .flatten()
        .map(|i| inner.console_faults.remove(i));
    if let Some(f) = fault.as_ref().filter(|f| !f.lose) {
        return Reply::new(f.status, "text/html", "<h1>Bad Gateway</h1>").into_response();
    }
    let file = inner.enter(Process::Console);
    let reply = page(inner, &parts.method, &path, &parts.headers, &form);
    inner.leave(Process::Console, file);
    match fault {
        Some(f) => Reply::new(f.status, "text/html", "<h1>Bad Gateway</h1>").into_response(),
        None => reply.into_response(),
    }
}

fn page(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    h: &HeaderMap,
    form: &HashMap<String, String>,
) -> Reply {
    let g = inner.st.generation;
    let cookie = session_cookie(h, cookie_name(g)).filter(|c| inner.sessions.contains_key(c));
    let login_path = match g {
        Generation::Py => "/ui/login",
        Generation::Rs => "/login",
    };
    if path == login_path && method == Method::GET {
        let (id, set) = match cookie {
            Some(c) => (c, false),
            None => {
                let c = token();
                inner.sessions.insert(
                    c.clone(),
                    Session {
                        csrf: token(),
                        principal: None,
                    },
                );
                (c, true)
            }
        };
        let csrf = inner.sessions[&id].csrf.clone();
        let page = html(format!(
            "<!doctype html><html><body><form method=\"post\" action=\"{login_path}\"><input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><input name=\"access_key\"><input name=\"secret_key\" type=\"password\"></form></body></html>"
        ));
        return if set {
            page.header(
                "set-cookie",
                &format!("{}={id}; HttpOnly; Path=/; SameSite=Lax", cookie_name(g)),
            )
        } else {
            page
        };
    }
    if method == Method::POST {
        let given = header(h, "x-csrftoken")
            .or_else(|| header(h, "x-csrf-token"))
            .map(str::to_string)
            .or_else(|| form.get("csrf_token").cloned());
        let expected = cookie.as_ref().map(|c| inner.sessions[c].csrf.clone());
        if given.is_none() || given != expected {
            return match g {
                Generation::Py => super::api::s3_error(
                    g,
                    400,
                    "CSRFError",
                    if given.is_none() {
                        "The CSRF token is missing."
                    } else {
                        "The CSRF token is invalid."
                    },
                    path,
                ),
                Generation::Rs if wants_json(g, h) => err(
                    403,
                    "Invalid CSRF token. Send it via the X-CSRF-Token header or a csrf_token field in the form/JSON body.",
                ),
                Generation::Rs => Reply::new(403, "text/html", "<h1>CSRF error</h1>"),
            };
        }
    }
    let logout_path = match g {
        Generation::Py => "/ui/logout",
        Generation::Rs => "/logout",
    };
    if path == logout_path && method == Method::POST {
        if let Some(c) = &cookie {
            inner.sessions.remove(c);
        }
        return redirect(if g == Generation::Py { 302 } else { 303 }, login_path);
    }
    if path == login_path && method == Method::POST {
        let Some(c) = cookie else {
            return redirect(303, login_path);
        };
        return login(inner, &c, form);
    }
    // Everything else needs a logged-in session.
    let principal = cookie
        .as_ref()
        .and_then(|c| inner.sessions[c].principal.clone())
        .and_then(|ak| inner.st.owner_of_key(&ak).map(|i| (ak, i)));
    let Some((_, who)) = principal else {
        return match g {
            Generation::Py => redirect(302, "/ui/login"),
            Generation::Rs => redirect(303, &format!("/login?next={}", path.replace('/', "%2F"))),
        };
    };
    let csrf = cookie
        .as_ref()
        .map(|c| inner.sessions[c].csrf.clone())
        .unwrap_or_default();
    if path == "/ui/iam" && method == Method::GET {
        // v0.5's IAM pages are for admins only.
        if g == Generation::Rs && !State::is_admin(&inner.st.users[who]) {
            return Reply::new(403, "text/html", "<h1>Admin privileges are required</h1>");
        }
        return html(format!(
            "<!doctype html><html><head><meta name=\"csrf-token\" content=\"{csrf}\"></head><body>IAM</body></html>"
        ));
    }
    if method != Method::POST {
        return Reply::new(404, "text/html", "<h1>Not Found</h1>");
    }
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (what, ident) = match seg.as_slice() {
        ["", "ui", "iam", "users"] => ("create", ""),
        ["", "ui", "iam", "users", id] if g == Generation::Rs => ("update", *id),
        ["", "ui", "iam", "users", id, "update"] => ("update", *id),
        ["", "ui", "iam", "users", id, "delete"] => ("delete", *id),
        ["", "ui", "iam", "users", id, "policies"] => ("policies", *id),
        ["", "ui", "iam", "users", id, "expiry"] => ("expiry", *id),
        ["", "ui", "iam", "users", id, "rotate"] => ("rotate", *id),
        ["", "ui", "iam", "users", id, "rotate-secret"] if g == Generation::Rs => ("rotate", *id),
        _ => return Reply::new(404, "text/html", "<h1>Not Found</h1>"),
    };
    let me = inner.st.users[who].clone();
    match g {
        Generation::Rs if !State::is_admin(&me) => {
            return err(403, "Admin privileges are required for this action.");
        }
        Generation::Py => {
            let action = match what {
                "create" | "update" => "iam:create_user",
                "delete" => "iam:delete_user",
                "rotate" => "iam:rotate_key",
                _ => "iam:update_policy",
            };
            if !State::allows(&me, action, None) {
                return err(403, &format!("Access denied for {action}"));
            }
        }
        _ => {}
    }
    let json_reply = wants_json(g, h);
    let r = iam_write(&mut inner.st, &me, what, ident, form, h);
    match r {
        Ok(v) if json_reply => Reply::json(200, v),
        // A browser gets the page again (a new secret is shown there, never to a script).
        Ok(_) | Err((302, _)) => redirect(if g == Generation::Py { 302 } else { 303 }, "/ui/iam"),
        Err((status, msg)) => err(status, &msg),
    }
}

/// v0.4: `best_match(["application/json", "text/html"])` (`*/*` counts as JSON); v0.5: an
/// XHR header or `application/json` anywhere in `Accept`.
fn wants_json(g: Generation, h: &HeaderMap) -> bool {
    let accept = header(h, "accept").unwrap_or("");
    match g {
        Generation::Py => {
            (accept.contains("application/json") || accept.contains("*/*"))
                && !accept.starts_with("text/html")
        }
        Generation::Rs => {
            header(h, "x-requested-with") == Some("XMLHttpRequest")
                || accept.contains("application/json")
        }
    }
}

fn login(inner: &mut Inner, cookie: &str, form: &HashMap<String, String>) -> Reply {
    let g = inner.st.generation;
    let ak = form.get("access_key").cloned().unwrap_or_default();
    let sk = form.get("secret_key").cloned().unwrap_or_default();
    let now = Instant::now();
    let fails = inner.failed_logins.entry(ak.clone()).or_default();
    fails.retain(|t| now.duration_since(*t) < PY_LOCKOUT.1);
    let locked = g == Generation::Py && fails.len() >= PY_LOCKOUT.0;
    if locked || !inner.st.key_works(&ak, &sk) {
        if !locked {
            fails.push(now);
        }
        return match g {
            Generation::Py => html(
                "<!doctype html><html><body>Invalid credentials<form></form></body></html>".into(),
            ),
            Generation::Rs => redirect(303, "/login"),
        };
    }
    match g {
        Generation::Py => {
            if let Some(s) = inner.sessions.get_mut(cookie) {
                s.principal = Some(ak);
            }
            redirect(302, "/ui/")
        }
        Generation::Rs => {
            // A new session id and a new CSRF token: the login page's token is dead now.
            inner.sessions.remove(cookie);
            let id = token();
            inner.sessions.insert(
                id.clone(),
                Session {
                    csrf: token(),
                    principal: Some(ak),
                },
            );
            redirect(303, "/ui/buckets").header(
                "set-cookie",
                &format!("myfsio_session={id}; HttpOnly; Path=/; SameSite=Lax"),
            )
        }
    }
}

type Written = Result<serde_json::Value, (u16, String)>;

fn iam_write(
    st: &mut State,
    me: &User,
    what: &str,
    ident: &str,
    form: &HashMap<String, String>,
    h: &HeaderMap,
) -> Written {
    let g = st.generation;
    let field = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let display = |name: String| -> Result<String, (u16, String)> {
        if name.chars().count() > 64 {
            return Err((400, "Display name must be 64 characters or fewer".into()));
        }
        Ok(if name.is_empty() {
            "Unnamed".into()
        } else {
            name
        })
    };
    if what == "create" {
        let name = display(field("display_name"))?;
        let text = field("policies");
        let policies = st.policies_from(&text).map_err(|m| (400, m))?;
        let mut key = st.new_key();
        let (ak, sk) = (field("access_key"), field("secret_key"));
        if !ak.is_empty() {
            if st.secret_in_use(&ak) {
                return Err((400, format!("Access key '{ak}' already exists")));
            }
            key.access_key = ak;
        }
        if !sk.is_empty() {
            key.secret_key = sk;
        }
        let id = st.user_id();
        let echoed: serde_json::Value = serde_json::from_str(&text).unwrap_or(json!([]));
        let out = match g {
            Generation::Py => json!({"success": true,
                "message": format!("Created user {}", key.access_key),
                "access_key": key.access_key, "secret_key": key.secret_key,
                "display_name": name, "policies": echoed}),
            Generation::Rs => json!({"success": true,
                "message": format!("Created user {}", key.access_key), "user_id": id,
                "access_key": key.access_key, "secret_key": key.secret_key,
                "display_name": name, "expires_at": null,
                "policies": policies.iter().map(|p| json!({"bucket": p.bucket, "actions": p.actions, "prefix": p.prefix})).collect::<Vec<_>>()}),
        };
        st.users.push(User {
            user_id: id,
            display_name: name,
            enabled: true,
            expires_at: None,
            keys: vec![key],
            policies,
        });
        return Ok(out);
    }
    // v0.4 rotates by access key only; everything else takes a user id or any access key.
    let found = if what == "rotate" && g == Generation::Py {
        st.owner_of_key(ident)
    } else {
        st.find(ident)
    };
    let Some(i) = found else {
        return Err(match (what, g) {
            ("rotate", Generation::Py) => (400, "Access key not found".into()),
            (_, Generation::Py) => (400, "User not found".into()),
            (_, Generation::Rs) => (400, format!("User '{ident}' not found")),
        });
    };
    match what {
        "update" => {
            let name = display(field("display_name"))?;
            st.users[i].display_name = name.clone();
            Ok(match g {
                Generation::Py => {
                    json!({"success": true, "message": "Updated user", "display_name": name})
                }
                Generation::Rs => {
                    json!({"success": true, "user_id": st.users[i].user_id, "display_name": name})
                }
            })
        }
        "delete" => {
            if g == Generation::Py {
                if st.users.len() == 1 {
                    return Err((400, "Cannot delete the only user".into()));
                }
                if st.users[i].user_id == me.user_id {
                    return Err((400, "Cannot delete your own account".into()));
                }
            }
            let gone = st.users.remove(i);
            Ok(match g {
                Generation::Py => {
                    json!({"success": true, "message": format!("Deleted user {}", gone.user_id)})
                }
                Generation::Rs => json!({"success": true}),
            })
        }
        "policies" => {
            let text = field("policies");
            let policies = st.policies_from(&text).map_err(|m| (400, m))?;
            st.users[i].policies = policies.clone();
            Ok(match g {
                Generation::Py => json!({"success": true, "message": "Updated policies",
                    "policies": serde_json::from_str::<serde_json::Value>(&text).unwrap_or(json!([]))}),
                Generation::Rs => json!({"success": true, "user_id": st.users[i].user_id,
                    "policies": policies.iter().map(|p| json!({"bucket": p.bucket, "actions": p.actions, "prefix": p.prefix})).collect::<Vec<_>>()}),
            })
        }
        "expiry" => {
            let at = field("expires_at");
            st.users[i].expires_at = (!at.is_empty()).then_some(at.clone());
            Ok(json!({"success": true, "expires_at": st.users[i].expires_at}))
        }
        _ => {
            // rotate: v0.4 the named key; v0.5 only the first key's secret.
            let k = match g {
                Generation::Py => st.users[i].keys.iter().position(|k| k.access_key == ident),
                Generation::Rs => (!st.users[i].keys.is_empty()).then_some(0),
            }
            .ok_or((400, "Access key not found".to_string()))?;
            // v0.4 answers JSON only to `Accept: application/json` alone; anything else is
            // rotated all the same and redirected (the new secret is lost).
            let accept = header(h, "accept").unwrap_or("");
            let fresh = st.new_key().secret_key;
            st.users[i].keys[k].secret_key = fresh.clone();
            let ak = st.users[i].keys[k].access_key.clone();
            if g == Generation::Py && (accept.contains("text/html") || accept.contains("*/*")) {
                return Err((302, "redirected".into()));
            }
            Ok(match g {
                Generation::Py => json!({"access_key": ak, "secret_key": fresh,
                    "message": format!("Secret rotated for {ak}")}),
                Generation::Rs => json!({"success": true, "access_key": ak, "secret_key": fresh}),
            })
        }
    }
}
