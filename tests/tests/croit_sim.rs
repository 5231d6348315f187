//! Behaviour of the croit simulator over HTTP, as the agent will see it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use site_agent_sims::croit::{CroitAuth, CroitSim, SimQuota};

const TOKEN: &str = "test-token";

struct Api {
    sim: CroitSim,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        Self::start_with(CroitAuth::Bearer(TOKEN.into())).await
    }

    async fn start_with(auth: CroitAuth) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = CroitSim::start(auth).await.expect("sim starts");
        Api {
            sim,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// An authenticated request; `body` is sent as JSON when given.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request sent")).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn create(&self, uid: &str, email: &str) -> (StatusCode, Value) {
        let body = json!({"uid": uid, "name": format!("User {uid}"), "email": email});
        self.call(Method::POST, "/api/s3/users", Some(body)).await
    }

    /// The C1 entry for `uid`.
    async fn listed(&self, uid: &str) -> Value {
        let (status, body) = self.get("/api/s3/users").await;
        assert_eq!(status, StatusCode::OK);
        body.as_array()
            .and_then(|a| a.iter().find(|u| u["uid"] == uid))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// Status and body (JSON, or null when empty).
async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body: {text}"))
    };
    (status, body)
}

fn err(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn is_access_key(s: &str) -> bool {
    s.len() == 20
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[tokio::test]
async fn create_answers_201_with_one_auto_generated_key() {
    let api = Api::start().await;
    let body = json!({
        "uid": "waldur-u1", "name": "Photos", "email": "waldur-abc-waldur-u1@invalid",
        "defaultPlacement": "default-placement",
    });
    let (status, user) = api.call(Method::POST, "/api/s3/users", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["uid"], "waldur-u1");
    assert_eq!(user["name"], "Photos");
    assert_eq!(user["email"], "waldur-abc-waldur-u1@invalid");
    assert_eq!(user["suspended"], false);
    assert_eq!(user["tenant"], "");
    assert_eq!(user["defaultPlacement"], "default-placement");
    assert_eq!(user["defaultStorageClass"], "");
    let unset = json!({"enabled": false, "maxSize": -1, "maxObjects": -1});
    assert_eq!(user["userQuota"], unset);
    assert_eq!(user["bucketQuota"], unset);

    let keys = user["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), 1);
    let access = keys[0]["access_key"]
        .as_str()
        .expect("snake_case access_key");
    let secret = keys[0]["secret_key"]
        .as_str()
        .expect("snake_case secret_key");
    assert!(is_access_key(access), "{access}");
    assert_eq!(secret.len(), 40);
    assert_eq!(keys[0]["user"], "waldur-u1");

    // C1 and C4 show the same user and key; the snapshot agrees.
    assert_eq!(api.listed("waldur-u1").await, user);
    let (status, listed_keys) = api.get("/api/s3/users/waldur-u1/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed_keys,
        json!([{"user": "waldur-u1", "access_key": access, "secret_key": secret}])
    );
    let snap = api.sim.user("waldur-u1").expect("snapshot");
    assert_eq!(snap.keys, vec![(access.to_string(), secret.to_string())]);
    assert_eq!(snap.user_quota, SimQuota::unset());
    assert_eq!(api.sim.users(), vec!["waldur-u1".to_string()]);
}

#[tokio::test]
async fn create_refuses_malformed_bodies() {
    let api = Api::start().await;
    for body in [
        json!({"name": "n"}),
        json!({"uid": "u"}),
        json!({"uid": 7, "name": "n"}),
        json!({"uid": "u", "name": ["n"]}),
        json!({"uid": "", "name": "n"}),
        json!({"uid": "u", "name": "n", "email": 3}),
        json!(["u", "n"]),
    ] {
        let (status, resp) = api
            .call(Method::POST, "/api/s3/users", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp["code"], 400, "{body}");
        assert!(resp["message"].is_string());
    }
    // Not JSON at all, and JSON without its content type.
    let resp = api
        .http
        .post(api.url("/api/s3/users"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{uid:")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = api
        .http
        .post(api.url("/api/s3/users"))
        .bearer_auth(TOKEN)
        .body(r#"{"uid":"u","name":"n"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(resp).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            err(415, "Unsupported Media Type")
        )
    );
    assert!(api.sim.users().is_empty());
}

#[tokio::test]
async fn duplicate_uid_and_duplicate_email_are_409() {
    let api = Api::start().await;
    assert_eq!(
        api.create("a", "waldur-1-a@invalid").await.0,
        StatusCode::CREATED
    );

    let (status, body) = api.create("a", "other@invalid").await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, err(409, "User already exists"))
    );

    let (status, body) = api.create("b", "waldur-1-a@invalid").await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, err(409, "Email already in use"))
    );
    // RGW lowercases emails, so the clash is case-insensitive.
    let (status, body) = api.create("b", "WALDUR-1-A@invalid").await;
    assert_eq!(
        (status, body),
        (StatusCode::CONFLICT, err(409, "Email already in use"))
    );

    // Users without an email never clash with each other.
    let no_email = |uid: &str| json!({"uid": uid, "name": uid});
    assert_eq!(
        api.call(Method::POST, "/api/s3/users", Some(no_email("c")))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call(Method::POST, "/api/s3/users", Some(no_email("d")))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(api.sim.users(), vec!["a", "c", "d"]);
    assert_eq!(api.sim.user("a").unwrap().email, "waldur-1-a@invalid");
}

#[tokio::test]
async fn stored_email_is_lowercased_like_rgw() {
    let api = Api::start().await;
    let (status, user) = api.create("MixedCase", "waldur-X-MixedCase@invalid").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "waldur-x-mixedcase@invalid");
    assert_eq!(user["uid"], "MixedCase");
}

#[tokio::test]
async fn delete_user_204_404_and_500_with_buckets() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;
    api.sim.add_bucket("u", "photos", 10, 1);

    let (status, body) = api.call(Method::DELETE, "/api/s3/users/u", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            err(500, "Unable to remove user with buckets.")
        )
    );
    assert!(api.sim.user("u").is_some(), "refused delete keeps the user");

    api.sim.remove_bucket("u", "photos");
    let (status, body) = api.call(Method::DELETE, "/api/s3/users/u", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(api.sim.user("u").is_none());

    let (status, body) = api.call(Method::DELETE, "/api/s3/users/u", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
}

#[tokio::test]
async fn keys_put_rewrite_and_delete() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;
    let auto = api.sim.user("u").unwrap().keys[0].0.clone();

    let put = |ak: &str, secret: Option<&str>| {
        let mut req = api
            .http
            .put(api.url(&format!("/api/s3/users/u/keys/{ak}")))
            .bearer_auth(TOKEN);
        if let Some(s) = secret {
            req = req.query(&[("secretKey", s)]);
        }
        async move { read(req.send().await.unwrap()).await }
    };

    assert_eq!(
        put("AKIAAAAAAAAAAAAAAAA1", Some("s1")).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        put("AKIAAAAAAAAAAAAAAAA1", Some("s2")).await.0,
        StatusCode::NO_CONTENT
    );
    let keys = api.sim.user("u").unwrap().keys;
    assert_eq!(
        keys,
        vec![
            (auto.clone(), keys[0].1.clone()),
            ("AKIAAAAAAAAAAAAAAAA1".to_string(), "s2".to_string())
        ],
        "re-sending an access key rewrites its secret"
    );
    let (_, listed) = api.get("/api/s3/users/u/keys").await;
    assert_eq!(
        listed[1],
        json!({"user": "u", "access_key": "AKIAAAAAAAAAAAAAAAA1", "secret_key": "s2"})
    );

    // The secret travels in the query and is logged there.
    let last_put = api
        .sim
        .calls()
        .into_iter()
        .rfind(|c| c.method == "PUT")
        .unwrap();
    assert_eq!(last_put.query, "secretKey=s2");
    assert_eq!(last_put.status, 204);

    let (status, body) = put("AKIAAAAAAAAAAAAAAAA2", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 400);
    let (status, _) = put("AKIAAAAAAAAAAAAAAAA2", Some("")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Someone else's access key.
    api.sim.add_user("stranger", "stranger@example.com");
    let theirs = api.sim.user("stranger").unwrap().keys[0].0.clone();
    let (status, body) = put(&theirs, Some("x")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], 409);
    assert_eq!(api.sim.user("stranger").unwrap().keys.len(), 1);

    // Unknown user.
    let resp = api
        .http
        .put(api.url("/api/s3/users/ghost/keys/AK"))
        .bearer_auth(TOKEN)
        .query(&[("secretKey", "s")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(resp).await,
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );

    // Delete: 204, then croit's 500 for the absent key.
    let del = |path: String| {
        let api = &api;
        async move { api.call(Method::DELETE, &path, None).await }
    };
    assert_eq!(
        del(format!("/api/s3/users/u/keys/{auto}")).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        del(format!("/api/s3/users/u/keys/{auto}")).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            err(500, "Unable to find access key")
        )
    );
    // A key held by another user is absent for this one.
    assert_eq!(
        del(format!("/api/s3/users/u/keys/{theirs}")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        del("/api/s3/users/ghost/keys/AK".into()).await,
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
    assert_eq!(
        api.get("/api/s3/users/ghost/keys").await,
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
    assert_eq!(
        api.sim.user("u").unwrap().keys,
        vec![("AKIAAAAAAAAAAAAAAAA1".to_string(), "s2".to_string())]
    );
    assert_eq!(api.sim.count_calls("DELETE", "/keys/AK"), 1);
}

#[tokio::test]
async fn quotas_round_to_kib_and_default_to_unlimited() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;

    let (status, body) = api
        .call(
            Method::PUT,
            "/api/s3/users/u/quota",
            Some(json!({"enabled": true, "maxSize": 5_000_000_000u64})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/s3/users/u/bucket-quota",
            Some(json!({"enabled": true, "maxObjects": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let user = api.listed("u").await;
    assert_eq!(
        user["userQuota"],
        json!({"enabled": true, "maxSize": 5_000_000_512u64, "maxObjects": -1})
    );
    assert_eq!(
        user["bucketQuota"],
        json!({"enabled": true, "maxSize": -1, "maxObjects": 1000})
    );
    let snap = api.sim.user("u").unwrap();
    assert_eq!(
        snap.user_quota,
        SimQuota {
            enabled: true,
            max_size: 5_000_000_512,
            max_objects: -1
        }
    );

    // A second write replaces the whole quota: omitted means unlimited again.
    api.call(
        Method::PUT,
        "/api/s3/users/u/quota",
        Some(json!({"enabled": true, "maxObjects": 0})),
    )
    .await;
    assert_eq!(
        api.sim.user("u").unwrap().user_quota,
        SimQuota {
            enabled: true,
            max_size: -1,
            max_objects: 0
        }
    );

    for body in [
        json!({"maxSize": 1024}),
        json!({"enabled": 1}),
        json!({"enabled": true, "maxSize": -5}),
        json!({"enabled": true, "maxObjects": 2.5}),
        json!({"enabled": true, "maxObjects": null}),
    ] {
        let (status, resp) = api
            .call(Method::PUT, "/api/s3/users/u/quota", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp["code"], 400);
    }
    assert_eq!(
        api.sim.user("u").unwrap().user_quota.max_objects,
        0,
        "refused writes change nothing"
    );

    let (status, body) = api
        .call(
            Method::PUT,
            "/api/s3/users/ghost/bucket-quota",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
}

#[tokio::test]
async fn buckets_list_with_null_usage_for_empty_buckets() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;
    api.sim.add_bucket("u", "full", 2048, 3);
    api.sim.add_bucket("u", "empty", 0, 0);
    let (status, body) = api.get("/api/s3/users/u/buckets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([
            {"bucket": "full", "owner": "u", "usageSum": {"size": 2048, "numObjects": 3}},
            {"bucket": "empty", "owner": "u", "usageSum": null},
        ])
    );
    // Updating usage keeps one entry.
    api.sim.add_bucket("u", "full", 4096, 4);
    assert_eq!(
        api.sim.user("u").unwrap().buckets[0],
        ("full".to_string(), 4096, 4)
    );
    assert_eq!(
        api.get("/api/s3/users/ghost/buckets").await,
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
}

#[tokio::test]
async fn suspension_is_patched_and_listed() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;
    let (status, body) = api
        .call(
            Method::PATCH,
            "/api/s3/users/u",
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(api.listed("u").await["suspended"], true);
    assert!(api.sim.user("u").unwrap().suspended);

    let (status, _) = api
        .call(
            Method::PATCH,
            "/api/s3/users/u",
            Some(json!({"suspended": "no"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .call(
            Method::PATCH,
            "/api/s3/users/ghost",
            Some(json!({"suspended": false})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, err(404, "User not found"))
    );
}

#[tokio::test]
async fn bearer_auth_is_required_on_every_api_route() {
    let api = Api::start().await;
    let unauthorized = (StatusCode::UNAUTHORIZED, err(401, "Unauthorized"));
    let no_auth = api.http.get(api.url("/api/s3/users")).send().await.unwrap();
    assert_eq!(read(no_auth).await, unauthorized);
    let wrong = api
        .http
        .get(api.url("/api/s3/users"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(read(wrong).await, unauthorized);
    let basic = api
        .http
        .get(api.url("/api/s3/users"))
        .basic_auth("admin", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(read(basic).await, unauthorized);
    // A write without auth changes nothing.
    let resp = api
        .http
        .post(api.url("/api/s3/users"))
        .json(&json!({"uid": "u", "name": "n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(resp).await, unauthorized);
    assert!(api.sim.users().is_empty());
    // Unknown /api routes are behind auth too; then 404.
    let resp = api.http.get(api.url("/api/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/api/nothing").await,
        (StatusCode::NOT_FOUND, err(404, "Not Found"))
    );
    assert_eq!(api.get("/elsewhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/api/s3/users/u/quota").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(api.sim.count_calls("GET", "/api/s3/users"), 3);
}

#[tokio::test]
async fn basic_auth_accepts_only_the_configured_pair() {
    let api = Api::start_with(CroitAuth::Basic {
        username: "admin".into(),
        password: "pw".into(),
    })
    .await;
    let ok = api
        .http
        .get(api.url("/api/s3/users"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(read(ok).await, (StatusCode::OK, json!([])));
    for (u, p) in [("admin", "bad"), ("root", "pw")] {
        let resp = api
            .http
            .get(api.url("/api/s3/users"))
            .basic_auth(u, Some(p))
            .send()
            .await
            .unwrap();
        assert_eq!(
            read(resp).await,
            (StatusCode::UNAUTHORIZED, err(401, "Unauthorized"))
        );
    }
    let bearer = api
        .http
        .get(api.url("/api/s3/users"))
        .bearer_auth("pw")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
}

async fn stats(api: &Api, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = api
        .http
        .get(api.url("/api/stats"))
        .bearer_auth(TOKEN)
        .query(params)
        .send()
        .await
        .unwrap();
    read(resp).await
}

fn stats_params<'a>(
    uid: &'a str,
    start: &'a str,
    end: &'a str,
    max: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("graph", "s3-user-data"),
        ("template-s3-user-name", uid),
        ("startTime", start),
        ("endTime", end),
        ("maxDataPoints", max),
    ]
}

#[tokio::test]
async fn stats_filter_the_window_oldest_first() {
    let api = Api::start().await;
    // Given out of order; the window is inclusive at both ends.
    api.sim.set_series(
        "u",
        vec![
            (1300, Some(30)),
            (1000, Some(0)),
            (1100, Some(10)),
            (1200, None),
            (1400, Some(40)),
        ],
    );
    let (status, body) = stats(&api, &stats_params("u", "1100", "1300", "2000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"axis1": {"unit": "BYTES", "graphs": [{"datapoints": [
            {"t": 1100, "v": 10}, {"t": 1200, "v": null}, {"t": 1300, "v": 30},
        ]}]}})
    );
    // An empty window still has its graph.
    let (_, body) = stats(&api, &stats_params("u", "1", "2", "2000")).await;
    assert_eq!(body["axis1"]["graphs"], json!([{"datapoints": []}]));
    // No series for this uid: no graphs at all.
    let (status, body) = stats(&api, &stats_params("ghost", "1000", "2000", "2000")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["axis1"]["graphs"], json!([]));
}

#[tokio::test]
async fn stats_average_down_to_max_data_points() {
    let api = Api::start().await;
    let series = vec![
        (0, Some(100)),
        (180, Some(300)),
        (360, None),
        (540, None),
        (720, Some(5)),
        (900, Some(6)),
    ];
    api.sim.set_series("u", series);
    let (_, body) = stats(&api, &stats_params("u", "0", "900", "3")).await;
    assert_eq!(
        body["axis1"]["graphs"][0]["datapoints"],
        json!([{"t": 0, "v": 200}, {"t": 360, "v": null}, {"t": 720, "v": 5.5}])
    );
    // 6 points into at most 4: buckets of 2 give 3 points.
    let (_, body) = stats(&api, &stats_params("u", "0", "900", "4")).await;
    assert_eq!(
        body["axis1"]["graphs"][0]["datapoints"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn stats_refuse_bad_queries_and_unknown_graphs() {
    let api = Api::start().await;
    api.sim.set_series("u", vec![(0, Some(1))]);
    let mut p = stats_params("u", "0", "10", "2000");
    p[0].1 = "s3-user-bytes";
    assert_eq!(
        stats(&api, &p).await,
        (StatusCode::NOT_FOUND, err(404, "Graph not found"))
    );
    for drop in 0..5 {
        let mut p = stats_params("u", "0", "10", "2000");
        p.remove(drop);
        let (status, body) = stats(&api, &p).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{p:?}");
        assert_eq!(body["code"], 400);
    }
    assert_eq!(
        stats(&api, &stats_params("u", "zero", "10", "2000"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        stats(&api, &stats_params("u", "0", "10", "many")).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn fail_next_answers_n_requests_and_changes_nothing() {
    let api = Api::start().await;
    api.sim.fail_next(2, 503, "Service Unavailable");
    let (status, body) = api.create("u", "u@invalid").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            err(503, "Service Unavailable")
        )
    );
    // Even an unauthenticated request consumes an injected failure.
    let resp = api.http.get(api.url("/api/s3/users")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.sim.users().is_empty(), "the failed create did nothing");

    assert_eq!(api.create("u", "u@invalid").await.0, StatusCode::CREATED);
    let statuses: Vec<(String, u16)> = api
        .sim
        .calls()
        .into_iter()
        .map(|c| (c.method, c.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("POST".to_string(), 503),
            ("GET".to_string(), 503),
            ("POST".to_string(), 201)
        ]
    );
    assert_eq!(api.sim.count_calls("post", "/s3/users"), 2);

    // n == 0 cancels a pending injection.
    api.sim.fail_next(5, 500, "boom");
    api.sim.fail_next(0, 500, "boom");
    assert_eq!(api.get("/api/s3/users").await.0, StatusCode::OK);
}

#[tokio::test]
async fn control_api_shows_users_and_adds_buckets() {
    let api = Api::start().await;
    api.create("u", "u@invalid").await;
    let resp = api
        .http
        .post(api.url("/sim/users/u/buckets"))
        .json(&json!({"bucket": "b1", "size": 7, "objects": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, user) = read(api.http.get(api.url("/sim/users/u")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["buckets"], json!([["b1", 7, 1]]));
    assert_eq!(
        user["user_quota"],
        json!({"enabled": false, "max_size": -1, "max_objects": -1})
    );
    let (status, _) = read(
        api.http
            .get(api.url("/sim/users/ghost"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Control calls are not part of the /api call log.
    assert_eq!(api.sim.calls().len(), 1);
}

/// Bulk seeding (benchmarks) makes what `add_user` / `add_bucket` make, and refuses the same
/// conflicts.
#[tokio::test]
async fn bulk_seeding_matches_one_by_one_and_refuses_the_same_conflicts() {
    let sim = CroitSim::start(CroitAuth::Bearer("t".into()))
        .await
        .unwrap();
    sim.add_user("one", "one@example.org");
    let users: Vec<(String, String)> = (0..3)
        .map(|i| (format!("u{i}"), format!("U{i}@Example.org")))
        .collect();
    sim.add_users(&users);
    sim.add_buckets(&[
        ("u0".into(), "b0".into(), 10, 2),
        ("u1".into(), "b1".into(), 20, 1),
        ("u0".into(), "b0".into(), 30, 3),
    ]);
    let u0 = sim.user("u0").unwrap();
    assert_eq!(
        u0.email, "u0@example.org",
        "stored lower-case, as create_user does"
    );
    assert_eq!(u0.keys.len(), 1);
    assert_eq!(
        u0.buckets,
        vec![("b0".to_string(), 30, 3)],
        "a repeat updates"
    );
    let keys: std::collections::HashSet<String> = ["one", "u0", "u1", "u2"]
        .iter()
        .map(|u| sim.user(u).unwrap().keys[0].0.clone())
        .collect();
    assert_eq!(keys.len(), 4, "every key unique");

    let dup_email = {
        let sim = sim.clone();
        std::panic::catch_unwind(move || sim.add_users(&[("x".into(), "ONE@example.org".into())]))
    };
    assert!(dup_email.is_err(), "an e-mail in use is refused");
    assert!(sim.user("x").is_none());
    let dup_uid = {
        let sim = sim.clone();
        std::panic::catch_unwind(move || sim.add_users(&[("u1".into(), "new@example.org".into())]))
    };
    assert!(dup_uid.is_err(), "an existing uid is refused");
    let taken_bucket = {
        let sim = sim.clone();
        std::panic::catch_unwind(move || sim.add_buckets(&[("u2".into(), "b1".into(), 1, 1)]))
    };
    assert!(taken_bucket.is_err(), "another user's bucket is refused");
    assert!(sim.user("u2").unwrap().buckets.is_empty());
}
