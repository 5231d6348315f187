//! myfsio-sim answers as MyFSIO does, in each generation (reference `other-backends.md` §6,
//! research `docs/research/myfsio.md`): these tests pin on the wire what a backend must cope
//! with, so the simulator cannot drift into accepting anything.

use secrecy::SecretString;
use serde_json::{Value, json};
use site_agent_sdk::sigv4::{Answer, SignedHttp, Signer};
use site_agent_sims::myfsio::{Generation, MyfsioSim, Policy};
use std::time::Duration;

const ADMIN: (&str, &str) = ("localadmin", "admin-secret");

async fn sim(g: Generation) -> MyfsioSim {
    site_agent_sdk::http::ensure_crypto_provider();
    let s = MyfsioSim::start(g, ADMIN.0, ADMIN.1).await.unwrap();
    s.set_admin_rate_limit(10_000, Duration::from_secs(60));
    s
}

/// A SigV4-signed call with `(access key, secret)`.
async fn signed(
    sim: &MyfsioSim,
    who: (&str, &str),
    method: reqwest::Method,
    path: &str,
    body: &[u8],
) -> Answer {
    SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            who.0.into(),
            SecretString::from(who.1.to_string()),
            "us-east-1".into(),
            "s3",
        ),
    )
    .send(
        "test",
        method,
        &format!("{}{path}", sim.url()),
        None,
        body.to_vec(),
    )
    .await
    .unwrap()
}

async fn admin(sim: &MyfsioSim, method: reqwest::Method, path: &str, body: &[u8]) -> Answer {
    signed(sim, ADMIN, method, path, body).await
}

fn json_of(a: &Answer) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body))
}

fn code(a: &Answer) -> Option<String> {
    site_agent_sdk::s3error::xml_code(&a.body)
}

fn prefix(g: Generation) -> &'static str {
    match g {
        Generation::Py => "/admin",
        Generation::Rs => "/myfsio/admin",
    }
}

fn tenant_policy(bucket: &str) -> Vec<Policy> {
    vec![Policy {
        bucket: bucket.into(),
        actions: ["list", "read", "write", "delete"]
            .map(String::from)
            .to_vec(),
        prefix: "*".into(),
    }]
}

#[tokio::test]
async fn health_and_admin_routes_per_generation() {
    for g in [Generation::Py, Generation::Rs] {
        let s = sim(g).await;
        let h = reqwest::get(format!("{}/myfsio/health", s.url()))
            .await
            .unwrap();
        let v: Value = h.json().await.unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v.get("version").is_some(), g == Generation::Rs, "{v}");
        let a = admin(
            &s,
            reqwest::Method::GET,
            &format!("{}/iam/users", prefix(g)),
            b"",
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let u = &json_of(&a)["users"][0];
        assert_eq!(u["display_name"], "Local Admin");
        match g {
            Generation::Py => {
                assert_eq!(u["access_key"], ADMIN.0, "v0.4 lists the first key");
                assert!(u["policies"].is_array());
                assert_eq!(u["user_id"].as_str().unwrap().len(), 2 + 16);
            }
            Generation::Rs => {
                assert_eq!(u["policy_count"], 1, "v0.5 counts policies");
                assert!(u.get("policies").is_none() && u.get("access_key").is_none());
                assert_eq!(u["user_id"].as_str().unwrap().len(), 2 + 32);
            }
        }
        // The other generation's prefix is an S3 path: a bucket that does not exist.
        let other = match g {
            Generation::Py => "/myfsio/admin/iam/users",
            Generation::Rs => "/admin/iam/users",
        };
        let a = admin(&s, reqwest::Method::GET, other, b"").await;
        assert_eq!((a.status, code(&a).as_deref()), (404, Some("NoSuchBucket")));
        let a = admin(
            &s,
            reqwest::Method::GET,
            &format!("{}/iam/users/nobody", prefix(g)),
            b"",
        )
        .await;
        assert_eq!(a.status, 404);
        assert_eq!(json_of(&a)["error"]["code"], "NotFound");
    }
}

#[tokio::test]
async fn auth_errors_per_generation() {
    for g in [Generation::Py, Generation::Rs] {
        let s = sim(g).await;
        let (_, ak, sk) = s.add_user("t", tenant_policy("b1"));
        let r = reqwest::get(format!("{}/b1", s.url())).await.unwrap();
        assert_eq!(r.status(), 403, "unsigned");
        let r = reqwest::Client::new()
            .get(format!("{}/", s.url()))
            .header("x-access-key", ADMIN.0)
            .header("x-secret-key", ADMIN.1)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        match g {
            Generation::Py => assert_eq!(status, 200, "v0.4 takes the header pair"),
            Generation::Rs => {
                assert_eq!(status, 403);
                assert!(
                    body.contains("Legacy header authentication is disabled"),
                    "{body}"
                );
            }
        }
        let unknown = signed(&s, ("NOSUCHKEY", "x"), reqwest::Method::GET, "/", b"").await;
        let wrong = signed(&s, (&ak, "wrong"), reqwest::Method::GET, "/b1", b"").await;
        let want = match g {
            Generation::Py => ("AccessDenied", "AccessDenied"),
            Generation::Rs => ("InvalidAccessKeyId", "SignatureDoesNotMatch"),
        };
        assert_eq!((unknown.status, wrong.status), (403, 403));
        assert_eq!(
            (code(&unknown).unwrap(), code(&wrong).unwrap()),
            (want.0.to_string(), want.1.to_string())
        );
        assert!(s.key_works(&ak, &sk));
        // v0.5 adds a HostId to its S3 errors.
        assert_eq!(wrong.body.contains("<HostId>"), g == Generation::Rs);
    }
}

#[tokio::test]
async fn the_quota_api_per_generation() {
    for g in [Generation::Py, Generation::Rs] {
        let s = sim(g).await;
        let put = |body: Value| {
            let s = s.clone();
            async move {
                admin(
                    &s,
                    reqwest::Method::PUT,
                    "/qbk?quota",
                    body.to_string().as_bytes(),
                )
                .await
            }
        };
        assert_eq!(
            admin(&s, reqwest::Method::PUT, "/qbk", b"").await.status,
            200
        );
        let a = admin(&s, reqwest::Method::PUT, "/qbk", b"").await;
        let again = match g {
            Generation::Py => "BucketAlreadyExists",
            Generation::Rs => "BucketAlreadyOwnedByYou",
        };
        assert_eq!((a.status, code(&a).as_deref()), (409, Some(again)));
        let a = admin(&s, reqwest::Method::GET, "/qbk?quota", b"").await;
        match g {
            Generation::Py => {
                assert_eq!(a.status, 200, "v0.4 answers nulls without a quota");
                assert!(json_of(&a)["quota"]["max_bytes"].is_null());
            }
            Generation::Rs => assert_eq!((a.status, code(&a).as_deref()), (404, Some("NoSuchKey"))),
        }
        // The documented field name is refused: only `max_size_bytes` is read.
        let a = put(json!({"max_bytes": 2048})).await;
        assert_eq!(
            (a.status, code(&a).as_deref()),
            (400, Some("InvalidArgument"))
        );
        assert!(
            a.body
                .contains("At least one of max_size_bytes or max_objects is required")
        );
        let a = put(json!({})).await;
        let want = if g == Generation::Py {
            "MalformedRequest"
        } else {
            "InvalidArgument"
        };
        assert_eq!((a.status, code(&a).as_deref()), (400, Some(want)));
        let a = put(json!({"max_size_bytes": -5})).await;
        assert_eq!(
            a.status, 400,
            "negative: refused (v0.4) or ignored, leaving nothing (v0.5)"
        );
        let a = put(json!({"max_size_bytes": 3000, "max_objects": 5})).await;
        assert_eq!(a.status, if g == Generation::Py { 204 } else { 200 });
        let a = admin(&s, reqwest::Method::GET, "/qbk?quota", b"").await;
        let q = json_of(&a);
        let name = if g == Generation::Py {
            "max_bytes"
        } else {
            "max_size_bytes"
        };
        assert_eq!(q["quota"][name], 3000, "{q}");
        assert_eq!(q["usage"], json!({"bytes": 0, "objects": 0}));
        // A PUT replaces both fields.
        put(json!({"max_objects": 9})).await;
        let q = json_of(&admin(&s, reqwest::Method::GET, "/qbk?quota", b"").await);
        assert!(q["quota"][name].is_null(), "{q}");
        assert_eq!(
            admin(&s, reqwest::Method::DELETE, "/qbk?quota", b"")
                .await
                .status,
            204
        );
        let a = admin(&s, reqwest::Method::GET, "/nosuch?quota", b"").await;
        assert_eq!(code(&a).as_deref(), Some("NoSuchBucket"));
    }
}

#[tokio::test]
async fn quotas_bite_exactly_on_a_tenants_write() {
    let s = sim(Generation::Py).await;
    admin(&s, reqwest::Method::PUT, "/tbk", b"").await;
    admin(
        &s,
        reqwest::Method::PUT,
        "/tbk?quota",
        br#"{"max_size_bytes": 3000, "max_objects": 5}"#,
    )
    .await;
    let (_, ak, sk) = s.add_user("t", tenant_policy("tbk"));
    for k in ["a", "b", "c"] {
        let a = signed(
            &s,
            (&ak, &sk),
            reqwest::Method::PUT,
            &format!("/tbk/{k}"),
            &[1; 1000],
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let a = signed(&s, (&ak, &sk), reqwest::Method::PUT, "/tbk/d", &[1; 1000]).await;
    assert_eq!(
        (a.status, code(&a).as_deref()),
        (403, Some("QuotaExceeded"))
    );
    assert!(
        a.body.contains(
            "adding 1000 bytes would result in 4000 bytes, exceeding limit of 3000 bytes"
        ),
        "{}",
        a.body
    );
    // The tenant cannot see or change the quota, nor list every bucket.
    for (m, p) in [
        (reqwest::Method::GET, "/tbk?quota"),
        (reqwest::Method::PUT, "/tbk?quota"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::DELETE, "/tbk"),
    ] {
        let a = signed(&s, (&ak, &sk), m, p, br#"{"max_size_bytes": 1}"#).await;
        assert_eq!(
            (a.status, code(&a).as_deref()),
            (403, Some("AccessDenied")),
            "{p}"
        );
    }
    let a = signed(
        &s,
        (&ak, &sk),
        reqwest::Method::GET,
        "/admin/iam/users",
        b"",
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(json_of(&a)["error"]["code"], "AccessDenied");
}

#[tokio::test]
async fn admin_key_routes_and_switches() {
    for g in [Generation::Py, Generation::Rs] {
        let s = sim(g).await;
        let (id, ak, sk) = s.add_user("t", tenant_policy("b1"));
        let p = prefix(g);
        let a = admin(
            &s,
            reqwest::Method::POST,
            &format!("{p}/iam/users/{id}/keys"),
            b"",
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let k2 = json_of(&a);
        let ak2 = k2["access_key"].as_str().unwrap().to_string();
        assert_eq!(ak2.starts_with("AK"), g == Generation::Rs, "{ak2}");
        let a = admin(
            &s,
            reqwest::Method::POST,
            &format!("{p}/iam/users/{id}/access-keys"),
            b"",
        )
        .await;
        // v0.4 has no `access-keys` route: that path is an object of a bucket named `admin`.
        assert_eq!(
            a.status,
            if g == Generation::Rs { 201 } else { 404 },
            "{}",
            a.body
        );
        if g == Generation::Py {
            assert_eq!(code(&a).as_deref(), Some("NoSuchBucket"));
        }
        // The user segment is ignored: the access key decides.
        let a = admin(
            &s,
            reqwest::Method::DELETE,
            &format!("{p}/iam/users/whoever/keys/{ak2}"),
            b"",
        )
        .await;
        assert_eq!(a.status, 204);
        assert!(!s.key_works(&ak2, k2["secret_key"].as_str().unwrap()));
        let keys: Vec<String> = s.users_named("t")[0]
            .keys
            .iter()
            .map(|k| k.access_key.clone())
            .collect();
        for k in keys.iter().skip(1) {
            admin(
                &s,
                reqwest::Method::DELETE,
                &format!("{p}/iam/users/{id}/keys/{k}"),
                b"",
            )
            .await;
        }
        let a = admin(
            &s,
            reqwest::Method::DELETE,
            &format!("{p}/iam/users/{id}/keys/{ak}"),
            b"",
        )
        .await;
        assert_eq!(a.status, 400, "the last key stays");
        assert_eq!(json_of(&a)["error"]["code"], "InvalidRequest");
        let a = admin(
            &s,
            reqwest::Method::POST,
            &format!("{p}/iam/users/nobody/keys"),
            b"",
        )
        .await;
        assert_eq!(a.status, 400, "an unknown user is 400 on the write routes");
        let a = admin(
            &s,
            reqwest::Method::POST,
            &format!("{p}/iam/users/{ak}/disable"),
            b"",
        )
        .await;
        assert_eq!(json_of(&a), json!({"status": "disabled"}));
        assert!(!s.key_works(&ak, &sk));
        let a = signed(&s, (&ak, &sk), reqwest::Method::GET, "/b1", b"").await;
        assert_eq!(a.status, 403);
        let a = admin(
            &s,
            reqwest::Method::POST,
            &format!("{p}/iam/users/{id}/enable"),
            b"",
        )
        .await;
        assert_eq!(json_of(&a), json!({"status": "enabled"}));
        assert!(s.key_works(&ak, &sk));
    }
}

#[tokio::test]
async fn an_encrypted_iam_file_breaks_only_v05s_admin_writes() {
    for g in [Generation::Py, Generation::Rs] {
        let s = sim(g).await;
        s.set_encrypted_iam(true);
        let (id, _, _) = s.add_user("t", tenant_policy("b1"));
        let p = prefix(g);
        for (m, route) in [
            (reqwest::Method::POST, format!("{p}/iam/users/{id}/keys")),
            (reqwest::Method::POST, format!("{p}/iam/users/{id}/disable")),
            (reqwest::Method::POST, format!("{p}/iam/users/{id}/enable")),
        ] {
            let a = admin(&s, m, &route, b"").await;
            match g {
                Generation::Py => assert!((200..300).contains(&a.status), "{route}: {}", a.body),
                Generation::Rs => {
                    assert_eq!(a.status, 400, "{route}");
                    assert!(a.body.contains("Failed to parse IAM config"), "{}", a.body);
                }
            }
        }
        let a = admin(
            &s,
            reqwest::Method::GET,
            &format!("{p}/iam/users/{id}"),
            b"",
        )
        .await;
        assert_eq!(a.status, 200, "reads are unaffected");
    }
}

/// A browser without redirects, keeping one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie_name: &'static str,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    location: String,
    body: String,
}

impl Browser {
    fn new(s: &MyfsioSim) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.console_url(),
            cookie_name: if s.generation() == Generation::Py {
                "session"
            } else {
                "myfsio_session"
            },
            cookie: None,
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("{}={c}", self.cookie_name)),
            None => req,
        };
        let r = req.send().await.unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix(&format!("{}=", self.cookie_name)) {
                self.cookie = Some(rest.split(';').next().unwrap().to_string());
            }
        }
        Page {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        accept: &str,
        token: Option<&str>,
    ) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("accept", accept)
            .form(form);
        if let Some(t) = token {
            req = req.header("X-CSRF-Token", t);
        }
        self.send(req).await
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).unwrap() + start.len();
    &s[i..i + s[i..].find(end).unwrap()]
}

#[tokio::test]
async fn v04_console_login_csrf_and_users() {
    let s = sim(Generation::Py).await;
    let mut b = Browser::new(&s);
    let p = b.get("/ui/login").await;
    assert_eq!(p.status, 200);
    let token = between(&p.body, "name=\"csrf_token\" value=\"", "\"").to_string();
    let p = b
        .post(
            "/ui/login",
            &[("access_key", ADMIN.0), ("secret_key", ADMIN.1)],
            "text/html",
            None,
        )
        .await;
    assert_eq!(p.status, 400, "no token");
    assert!(p.body.contains("<Code>CSRFError</Code>"), "{}", p.body);
    let p = b
        .post(
            "/ui/login",
            &[("access_key", ADMIN.0), ("secret_key", "wrong")],
            "text/html",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 200, "a failed login renders the page again");
    let p = b
        .post(
            "/ui/login",
            &[("access_key", ADMIN.0), ("secret_key", ADMIN.1)],
            "text/html",
            Some(&token),
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (302, "/ui/"));
    // v0.4's login token stays valid. No user id in the reply; `[]` means broad access.
    let p = b
        .post(
            "/ui/iam/users",
            &[("display_name", "t1"), ("policies", "[]")],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let v: Value = serde_json::from_str(&p.body).unwrap();
    assert!(
        v.get("user_id").is_none() && v["access_key"].is_string(),
        "{v}"
    );
    assert_eq!(s.users_named("t1")[0].policies[0].bucket, "*");
    let ak = v["access_key"].as_str().unwrap().to_string();
    let id = s.users_named("t1")[0].user_id.clone();
    // Rotate takes the access key only, and answers JSON only to exactly `application/json`.
    let p = b
        .post(
            &format!("/ui/iam/users/{id}/rotate"),
            &[],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 400);
    let p = b
        .post(
            &format!("/ui/iam/users/{ak}/rotate"),
            &[],
            "*/*",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 302, "rotated, and the new secret lost");
    assert!(!s.key_works(&ak, v["secret_key"].as_str().unwrap()));
    let p = b
        .post(
            &format!("/ui/iam/users/{id}/delete"),
            &[],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let p = b
        .post(
            &format!("/ui/iam/users/{id}/delete"),
            &[],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 400, "again: User not found");
    // Five failed logins lock the key out of the console.
    let mut c = Browser::new(&s);
    let t = between(&c.get("/ui/login").await.body, "value=\"", "\"").to_string();
    for _ in 0..5 {
        c.post(
            "/ui/login",
            &[("access_key", ADMIN.0), ("secret_key", "no")],
            "text/html",
            Some(&t),
        )
        .await;
    }
    let p = c
        .post(
            "/ui/login",
            &[("access_key", ADMIN.0), ("secret_key", ADMIN.1)],
            "text/html",
            Some(&t),
        )
        .await;
    assert_eq!(p.status, 200, "locked out even with the right secret");
    // A console restart: the signed cookie (and its token) survive, the login does not.
    s.restart_console();
    let p = b
        .post(
            "/ui/iam/users",
            &[("display_name", "t2")],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (302, "/ui/login"));
    assert!(s.users_named("t2").is_empty());
}

#[tokio::test]
async fn v05_console_login_rotates_the_session_and_token() {
    let s = sim(Generation::Rs).await;
    let mut b = Browser::new(&s);
    let p = b.get("/ui/iam").await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/login?next=%2Fui%2Fiam")
    );
    let p = b.get("/login").await;
    let token = between(&p.body, "name=\"csrf_token\" value=\"", "\"").to_string();
    let p = b
        .post(
            "/login",
            &[("access_key", ADMIN.0), ("secret_key", "wrong")],
            "text/html",
            Some(&token),
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/login"));
    let before = b.cookie.clone();
    let p = b
        .post(
            "/login",
            &[("access_key", ADMIN.0), ("secret_key", ADMIN.1)],
            "text/html",
            Some(&token),
        )
        .await;
    assert_eq!((p.status, p.location.as_str()), (303, "/ui/buckets"));
    assert_ne!(b.cookie, before, "a new session id");
    let p = b
        .post(
            "/ui/iam/users",
            &[("display_name", "t1")],
            "application/json",
            Some(&token),
        )
        .await;
    assert_eq!(p.status, 403, "the login page's token is dead after login");
    assert!(p.body.contains("Invalid CSRF token"), "{}", p.body);
    let page = b.get("/ui/iam").await.body;
    let fresh = between(&page, "name=\"csrf-token\" content=\"", "\"").to_string();
    let policies = json!([{"bucket": "b1", "actions": ["list"]}]).to_string();
    let p = b
        .post(
            "/ui/iam/users",
            &[
                ("display_name", "t1"),
                ("policies", &policies),
                ("access_key", "MYKEY1"),
                ("secret_key", "MYSECRET1"),
            ],
            "application/json",
            Some(&fresh),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let v: Value = serde_json::from_str(&p.body).unwrap();
    assert!(v["user_id"].as_str().unwrap().starts_with("u-"), "{v}");
    assert_eq!(v["access_key"], "MYKEY1");
    assert!(s.key_works("MYKEY1", "MYSECRET1"));
    let id = v["user_id"].as_str().unwrap().to_string();
    let p = b
        .post(
            &format!("/ui/iam/users/{id}/policies"),
            &[("policies", "[]")],
            "application/json",
            Some(&fresh),
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(
        s.users_named("t1")[0].policies.is_empty(),
        "v0.5: an empty list grants nothing"
    );
    let p = b
        .post(
            &format!("/ui/iam/users/{id}/rotate-secret"),
            &[],
            "application/json",
            Some(&fresh),
        )
        .await;
    let v: Value = serde_json::from_str(&p.body).unwrap();
    assert_eq!(
        v["access_key"], "MYKEY1",
        "only the first key's secret changes"
    );
    assert!(!s.key_works("MYKEY1", "MYSECRET1"));
    let long = "x".repeat(65);
    let p = b
        .post(
            "/ui/iam/users",
            &[("display_name", &long)],
            "application/json",
            Some(&fresh),
        )
        .await;
    assert_eq!(p.status, 400, "display names are at most 64 characters");
    let dup = b
        .post(
            "/ui/iam/users",
            &[("display_name", "t2"), ("access_key", "MYKEY1")],
            "application/json",
            Some(&fresh),
        )
        .await;
    assert_eq!(dup.status, 400, "an access key in use");
    // A key without admin rights may log in but not manage users.
    let (_, ak, sk) = s.add_user("tenant", tenant_policy("b1"));
    let mut t = Browser::new(&s);
    let tok = between(&t.get("/login").await.body, "value=\"", "\"").to_string();
    t.post(
        "/login",
        &[("access_key", &ak), ("secret_key", &sk)],
        "text/html",
        Some(&tok),
    )
    .await;
    assert_eq!(
        t.get("/ui/iam").await.status,
        403,
        "the IAM pages are for admins"
    );
    let p = t
        .post(
            "/ui/iam/users",
            &[("display_name", "x")],
            "application/json",
            Some(&tok),
        )
        .await;
    assert_eq!(p.status, 403);
}

#[tokio::test]
async fn the_admin_rate_limit_answers_per_generation() {
    for (g, status) in [
        (Generation::Py, 429),
        (Generation::Rs, 503),
        (Generation::Rs, 429),
    ] {
        let s = sim(g).await;
        s.set_admin_rate_limit(2, Duration::from_secs(60));
        s.set_rate_limit_status(status);
        let route = format!("{}/iam/users", prefix(g));
        for _ in 0..2 {
            assert_eq!(
                admin(&s, reqwest::Method::GET, &route, b"").await.status,
                200
            );
        }
        let a = admin(&s, reqwest::Method::GET, &route, b"").await;
        assert_eq!(a.status, status, "{g:?}");
        match g {
            Generation::Py => {
                assert!(a.body.contains("per 1 minute"), "{}", a.body);
                assert_eq!(a.retry_after, None, "Flask-Limiter's page names no wait");
            }
            Generation::Rs => {
                assert_eq!(code(&a).as_deref(), Some("SlowDown"));
                assert!(a.retry_after.is_some_and(|s| (1..=60).contains(&s)));
            }
        }
        // S3 calls are not admin calls.
        assert_eq!(
            admin(&s, reqwest::Method::PUT, "/free", b"").await.status,
            200
        );
        assert_eq!(s.rate_limited(), 1);
    }
}

#[tokio::test]
async fn v04s_two_processes_undo_each_others_writes_from_stale_copies() {
    let s = sim(Generation::Py).await;
    let (id, _, _) = s.add_user("t", tenant_policy("b1"));
    s.set_py_reload_lag(Duration::from_millis(400));
    let mut b = Browser::new(&s);
    let t = between(&b.get("/ui/login").await.body, "value=\"", "\"").to_string();
    b.post(
        "/ui/login",
        &[("access_key", ADMIN.0), ("secret_key", ADMIN.1)],
        "text/html",
        Some(&t),
    )
    .await;
    // The console's copy now predates this admin write...
    let a = admin(
        &s,
        reqwest::Method::POST,
        &format!("/admin/iam/users/{id}/keys"),
        b"",
    )
    .await;
    assert_eq!(a.status, 201);
    let ak = json_of(&a)["access_key"].as_str().unwrap().to_string();
    assert_eq!(s.users_named("t")[0].keys.len(), 2);
    // ...and a console write within the lag writes that copy back: the new key is gone.
    let p = b
        .post(
            "/ui/iam/users",
            &[("display_name", "t2"), ("policies", "[]")],
            "application/json",
            Some(&t),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(
        s.users_named("t")[0].keys.len(),
        1,
        "the stale copy undid the key"
    );
    assert!(
        !s.users()
            .iter()
            .any(|u| u.keys.iter().any(|k| k.access_key == ak))
    );
    // The API does not see the console's user until it re-reads the file.
    let new_ak = serde_json::from_str::<Value>(&p.body).unwrap()["access_key"]
        .as_str()
        .unwrap()
        .to_string();
    let a = admin(
        &s,
        reqwest::Method::GET,
        &format!("/admin/iam/users/{new_ak}"),
        b"",
    )
    .await;
    assert_eq!(a.status, 404, "not yet");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let a = admin(
        &s,
        reqwest::Method::GET,
        &format!("/admin/iam/users/{new_ak}"),
        b"",
    )
    .await;
    assert_eq!(a.status, 200, "after the reload");
}

#[tokio::test]
async fn v04_sub_resource_details() {
    let s = sim(Generation::Py).await;
    admin(&s, reqwest::Method::PUT, "/sub", b"").await;
    // Tags and versioning are XML, typed as such.
    let tagging = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>";
    let a = admin(&s, reqwest::Method::PUT, "/sub?tagging", tagging).await;
    assert_eq!(a.status, 400, "untyped: {}", a.body);
    let a = SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            ADMIN.0.into(),
            SecretString::from(ADMIN.1.to_string()),
            "us-east-1".into(),
            "s3",
        ),
    )
    .send(
        "t",
        reqwest::Method::PUT,
        &format!("{}/sub?tagging", s.url()),
        Some("application/xml"),
        tagging.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 204);
    let a = admin(&s, reqwest::Method::GET, "/nosuch?tagging", b"").await;
    assert_eq!(code(&a).as_deref(), Some("NoSuchBucket"));
    admin(&s, reqwest::Method::PUT, "/bare", b"").await;
    let a = admin(&s, reqwest::Method::GET, "/bare?tagging", b"").await;
    assert_eq!((a.status, code(&a).as_deref()), (404, Some("NoSuchTagSet")));
    // Python's int() truncates a float quota.
    let a = admin(
        &s,
        reqwest::Method::PUT,
        "/sub?quota",
        br#"{"max_size_bytes": 1000.9}"#,
    )
    .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        s.bucket("sub").unwrap().quota.unwrap().max_bytes,
        Some(1000)
    );
}
