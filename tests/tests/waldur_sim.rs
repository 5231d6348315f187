//! Tests of waldur-sim itself, over real HTTP: the order state machine and its resource side
//! effects, pagination, auth, API keys, usage validation, failure injection, identities and
//! the control API.

use chrono::{TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use site_agent_sims::waldur::{
    ComponentSeed, OfferingSeed, OrderSeed, PlacedOrder, SimOptions, WaldurSim,
};

struct T {
    sim: WaldurSim,
    http: reqwest::Client,
    offering: String,
    token: String,
    staff: String,
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl T {
    async fn new() -> T {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = WaldurSim::start(SimOptions::default()).await.unwrap();
        let offering = sim.add_offering(OfferingSeed::new(
            "S3 Object Storage",
            vec![
                ComponentSeed::usage("storage", "Storage", "GB-day"),
                ComponentSeed::limit("quota", "Quota", "GB", Some(10_000)),
                ComponentSeed::usage("flat", "Flat fee", "month").with_billing_type("fixed"),
            ],
        ));
        T {
            token: sim.provider_token(),
            staff: sim.staff_token(),
            sim,
            http: reqwest::Client::new(),
            offering,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<String>,
        body: Option<Value>,
    ) -> Resp {
        let url = format!("{}{}", self.sim.base_url(), path);
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(format!("Token {}", self.token)), None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(format!("Token {}", self.token)),
            Some(body),
        )
        .await
    }

    async fn staff_post(&self, path: &str, body: Value) -> Resp {
        self.send(
            "POST",
            path,
            Some(format!("Token {}", self.staff)),
            Some(body),
        )
        .await
    }

    fn create(&self, name: &str) -> PlacedOrder {
        self.sim
            .place_order(OrderSeed::create(&self.offering, name).with_project("acme", "acme-ml"))
    }

    /// A provisioned resource: Create order done, backend_id set.
    fn provisioned(&self, name: &str) -> PlacedOrder {
        let p = self.sim.place_order(
            OrderSeed::create(&self.offering, name)
                .with_limits(json!({"quota": 500}))
                .with_state("done"),
        );
        self.sim.set_resource_field(
            &p.resource_uuid,
            "backend_id",
            json!(format!("waldur-{name}")),
        );
        p
    }

    fn order_state(&self, order: &str) -> String {
        self.sim.order(order).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn resource_state(&self, resource: &str) -> String {
        self.sim.resource(resource).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn order_path(uuid: &str, action: &str) -> String {
    format!("/api/marketplace-orders/{uuid}/{action}/")
}

fn header(r: &Resp, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_order_lifecycle_with_exact_409_texts() {
    let t = T::new().await;
    let p = t.create("acme-buckets");

    let r = t
        .get(&format!("/api/marketplace-orders/{}/", p.order_uuid))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "pending-provider");
    assert_eq!(r.body["type"], "Create");
    assert_eq!(
        r.body["marketplace_resource_uuid"],
        p.resource_uuid.as_str()
    );
    assert_eq!(r.body["resource_uuid"], Value::Null);
    assert_eq!(r.body["offering_type"], "Marketplace.Slurm");
    assert_eq!(r.body["project_slug"], "acme-ml");
    assert_eq!(r.body["customer_slug"], "acme");
    assert_eq!(r.body["attributes"]["name"], "acme-buckets");
    for key in [
        "completed_at",
        "provider_reviewed_at",
        "termination_comment",
        "error_message",
        "plan_uuid",
    ] {
        assert!(r.body.get(key).is_some(), "OrderDetails lacks {key}");
    }
    let res = t.sim.resource(&p.resource_uuid).unwrap();
    assert_eq!(
        (res["state"].as_str(), res["backend_id"].as_str()),
        (Some("Creating"), Some(""))
    );
    assert_eq!(res["slug"], "acme-bucke");

    // Wrong-state transitions are 409 with the allowed states listed.
    let r = t
        .post(&order_path(&p.order_uuid, "set_state_done"), json!({}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: executing."})
    );

    let r = t
        .post(&order_path(&p.order_uuid, "approve_by_provider"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"detail": "Order has been approved and is being processed."})
    );
    assert_eq!(t.order_state(&p.order_uuid), "executing");
    assert_eq!(t.resource_state(&p.resource_uuid), "Creating");

    let r = t
        .post(&order_path(&p.order_uuid, "approve_by_provider"), json!({}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: pending-provider."})
    );

    let r = t
        .post(&order_path(&p.order_uuid, "set_state_done"), json!({}))
        .await;
    assert_eq!((r.status, r.body.clone()), (200, Value::Null));
    let order = t.sim.order(&p.order_uuid).unwrap();
    assert_eq!(order["state"], "done");
    assert!(order["completed_at"].is_string());
    assert_eq!(t.resource_state(&p.resource_uuid), "OK");

    let r = t
        .post(&order_path(&p.order_uuid, "set_state_executing"), json!({}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: pending-consumer, pending-provider, erred."})
    );
    let r = t
        .post(&order_path(&p.order_uuid, "set_state_erred"), json!({}))
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: pending-provider, executing."})
    );
    assert_eq!(t.order_state(&p.order_uuid), "done");
}

#[tokio::test]
async fn rejection_side_effects() {
    let t = T::new().await;
    let create = t.create("rejected");
    let r = t
        .post(
            &order_path(&create.order_uuid, "reject_by_provider"),
            json!({"provider_rejection_comment": "no"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.order_state(&create.order_uuid), "rejected");
    assert_eq!(t.resource_state(&create.resource_uuid), "Terminated");
    let r = t
        .post(
            &order_path(&create.order_uuid, "reject_by_provider"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: pending-provider."})
    );

    let live = t.provisioned("live");
    let update = t.sim.place_order(OrderSeed::update(
        &live.resource_uuid,
        json!({"quota": 900}),
    ));
    assert_eq!(
        t.resource_state(&live.resource_uuid),
        "Updating",
        "Update moves the resource at creation"
    );
    t.post(
        &order_path(&update.order_uuid, "reject_by_provider"),
        json!({}),
    )
    .await;
    assert_eq!(t.resource_state(&live.resource_uuid), "OK");
    assert_eq!(
        t.sim.resource(&live.resource_uuid).unwrap()["limits"],
        json!({"quota": 500})
    );

    let term = t.sim.place_order(OrderSeed::terminate(&live.resource_uuid));
    assert_eq!(t.resource_state(&live.resource_uuid), "Terminating");
    t.post(
        &order_path(&term.order_uuid, "reject_by_provider"),
        json!({}),
    )
    .await;
    assert_eq!(t.resource_state(&live.resource_uuid), "OK");
}

#[tokio::test]
async fn erred_side_effects() {
    let t = T::new().await;
    // Create that never got a backend id: resource Terminated.
    let a = t.create("never");
    t.post(&order_path(&a.order_uuid, "approve_by_provider"), json!({}))
        .await;
    let r = t
        .post(
            &order_path(&a.order_uuid, "set_state_erred"),
            json!({"error_message": "boom", "error_traceback": "tb"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let order = t.sim.order(&a.order_uuid).unwrap();
    assert_eq!(
        (order["state"].as_str(), order["error_message"].as_str()),
        (Some("erred"), Some("boom"))
    );
    assert_eq!(order["error_traceback"], "tb");
    assert_eq!(t.resource_state(&a.resource_uuid), "Terminated");

    // Create with a backend id: resource Erred.
    let b = t.create("half");
    t.post(&order_path(&b.order_uuid, "approve_by_provider"), json!({}))
        .await;
    let r = t
        .post(
            &format!(
                "/api/marketplace-provider-resources/{}/set_backend_id/",
                b.resource_uuid
            ),
            json!({"backend_id": "waldur-half"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"status": "Resource backend_id has been changed."})
    );
    t.post(&order_path(&b.order_uuid, "set_state_erred"), json!({}))
        .await;
    assert_eq!(t.resource_state(&b.resource_uuid), "Erred");

    // Erred straight from pending-provider is allowed.
    let live = t.provisioned("live");
    let update = t
        .sim
        .place_order(OrderSeed::update(&live.resource_uuid, json!({"quota": 1})));
    let r = t
        .post(
            &order_path(&update.order_uuid, "set_state_erred"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.resource_state(&live.resource_uuid), "Erred");

    // Terminate erred: back to OK.
    t.sim
        .set_resource_field(&live.resource_uuid, "state", json!("OK"));
    let term = t
        .sim
        .place_order(OrderSeed::terminate(&live.resource_uuid).with_state("executing"));
    t.post(
        &order_path(&term.order_uuid, "set_state_erred"),
        json!({"error_message": "buckets left"}),
    )
    .await;
    assert_eq!(t.resource_state(&live.resource_uuid), "OK");

    // Wrong body type is a DRF field error; the order is untouched.
    let c = t.create("typed");
    let r = t
        .post(
            &order_path(&c.order_uuid, "set_state_erred"),
            json!({"error_message": {"x": 1}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"error_message": ["Not a valid string."]}));
    assert_eq!(t.order_state(&c.order_uuid), "pending-provider");
}

#[tokio::test]
async fn update_copies_limits_and_terminate_removes_keys() {
    let t = T::new().await;
    let live = t.provisioned("bucket");
    let update = t.sim.place_order(OrderSeed::update(
        &live.resource_uuid,
        json!({"quota": 1000}),
    ));
    let order = t.sim.order(&update.order_uuid).unwrap();
    assert_eq!(order["attributes"]["old_limits"], json!({"quota": 500}));
    assert_eq!(order["limits"], json!({"quota": 1000}));
    assert_eq!(order["resource_name"], "bucket");
    t.post(
        &order_path(&update.order_uuid, "approve_by_provider"),
        json!({}),
    )
    .await;
    assert_eq!(t.resource_state(&live.resource_uuid), "Updating");
    t.post(&order_path(&update.order_uuid, "set_state_done"), json!({}))
        .await;
    let res = t.sim.resource(&live.resource_uuid).unwrap();
    assert_eq!(
        (res["state"].clone(), res["limits"].clone()),
        (json!("OK"), json!({"quota": 1000}))
    );

    for (client, secret) in [("AK1", "s1"), ("AK2", "s2")] {
        let r = t
            .post(
                "/api/marketplace-resource-api-keys/report_created/",
                json!({"resource": live.resource_uuid, "client_id": client, "api_key": secret}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    assert_eq!(
        t.sim.resource(&live.resource_uuid).unwrap()["has_api_keys"],
        true
    );
    let term = t.sim.place_order(OrderSeed::terminate(&live.resource_uuid));
    t.post(
        &order_path(&term.order_uuid, "approve_by_provider"),
        json!({}),
    )
    .await;
    t.post(&order_path(&term.order_uuid, "set_state_done"), json!({}))
        .await;
    assert_eq!(t.resource_state(&live.resource_uuid), "Terminated");
    assert!(t.sim.api_keys(&live.resource_uuid).is_empty());
    let r = t
        .get(&format!(
            "/api/marketplace-resource-api-keys/?resource_uuid={}",
            live.resource_uuid
        ))
        .await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn order_list_filters_and_path_errors() {
    let t = T::new().await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    t.sim.set_now(t0);
    let a = t.create("alpha");
    let b = t.create("beta");
    t.sim.set_now(t0 + chrono::Duration::minutes(5));
    t.post(&order_path(&b.order_uuid, "approve_by_provider"), json!({}))
        .await;
    assert_eq!(
        t.sim.order(&b.order_uuid).unwrap()["modified"],
        "2026-11-22T10:05:00Z"
    );

    let base = format!("/api/marketplace-orders/?offering_uuid={}", t.offering);
    let uuids = |r: &Resp| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["uuid"].as_str().unwrap().to_string())
            .collect()
    };
    let r = t.get(&base).await;
    assert_eq!(
        uuids(&r),
        vec![a.order_uuid.clone(), b.order_uuid.clone()],
        "ordered by created"
    );
    let r = t.get(&format!("{base}&state=executing")).await;
    assert_eq!(uuids(&r), vec![b.order_uuid.clone()]);
    let r = t
        .get(&format!(
            "{base}&state=executing&state=pending-provider&type=Create"
        ))
        .await;
    assert_eq!(uuids(&r).len(), 2);
    let r = t
        .get(&format!("{base}&modified_before=2026-11-22T10:01:00Z"))
        .await;
    assert_eq!(uuids(&r), vec![a.order_uuid.clone()]);
    let dashed = uuid::Uuid::parse_str(&a.resource_uuid)
        .unwrap()
        .hyphenated()
        .to_string();
    let r = t
        .get(&format!("/api/marketplace-orders/?resource_uuid={dashed}"))
        .await;
    assert_eq!(uuids(&r), vec![a.order_uuid.clone()]);

    let r = t.get("/api/marketplace-orders/?state=bogus").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"state": ["Select a valid choice. bogus is not one of the available choices."]})
    );
    let r = t.get("/api/marketplace-orders/?offering_uuid=xyz").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"offering_uuid": ["Enter a valid UUID."]}))
    );
    let r = t
        .get("/api/marketplace-orders/?modified_before=yesterday")
        .await;
    assert_eq!(
        r.body,
        json!({"modified_before": ["Enter a valid date/time."]})
    );

    let r = t.get("/api/marketplace-orders/not-a-uuid/").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"detail": "Not found."}))
    );
    let r = t
        .get(&format!(
            "/api/marketplace-orders/{}/",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    assert_eq!(r.status, 404);
    let dashed = uuid::Uuid::parse_str(&a.order_uuid)
        .unwrap()
        .hyphenated()
        .to_string();
    let r = t
        .get(&format!(
            "/api/marketplace-orders/{dashed}/?field=uuid&field=state"
        ))
        .await;
    assert_eq!(
        r.body,
        json!({"uuid": a.order_uuid, "state": "pending-provider"})
    );
}

#[tokio::test]
async fn pagination_headers_and_field_restriction() {
    let t = T::new().await;
    for i in 0..25 {
        t.create(&format!("bucket-{i}"));
    }
    let r = t
        .get("/api/marketplace-orders/?page_size=10&page=2&field=uuid")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "X-Result-Count"), "25");
    let items = r.body.as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(
        items
            .iter()
            .all(|o| o.as_object().unwrap().keys().eq(["uuid"].iter()))
    );
    let base = format!("{}/api/marketplace-orders/", t.sim.base_url());
    assert_eq!(
        header(&r, "Link"),
        format!(
            "<{base}?field=uuid&page_size=10>; rel=\"first\", <{base}?field=uuid&page_size=10>; rel=\"prev\", \
             <{base}?field=uuid&page=3&page_size=10>; rel=\"next\", <{base}?field=uuid&page=3&page_size=10>; rel=\"last\""
        )
    );
    let r = t.get("/api/marketplace-orders/?page_size=10&page=3").await;
    assert_eq!(r.body.as_array().unwrap().len(), 5);
    assert!(!header(&r, "Link").contains("rel=\"next\""));
    let r = t.get("/api/marketplace-orders/?page_size=10&page=4").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"detail": "Invalid page."}))
    );
    let r = t.get("/api/marketplace-orders/").await;
    assert_eq!(r.body.as_array().unwrap().len(), 10, "default page size");

    let r = t
        .send(
            "HEAD",
            "/api/marketplace-orders/",
            Some(format!("Token {}", t.token)),
            None,
        )
        .await;
    assert_eq!(
        (r.status, header(&r, "X-Result-Count")),
        (200, "25".to_string())
    );

    let r = t
        .get("/api/marketplace-provider-resources/?state=Creating&page_size=300")
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn authentication_and_routing_errors() {
    let t = T::new().await;
    let r = t.send("GET", "/api/users/me/", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    assert_eq!(header(&r, "WWW-Authenticate"), "Token");
    let r = t
        .send("GET", "/api/users/me/", Some("Token nope".into()), None)
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (401, json!({"detail": "Invalid token."}))
    );
    let r = t
        .send(
            "GET",
            "/api/users/me/",
            Some("Basic dXNlcjpwYXNz".into()),
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    let r = t
        .send("GET", "/api/users/me/", Some("token".into()), None)
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Invalid token header. No credentials provided."})
    );
    let r = t
        .send(
            "GET",
            "/api/users/me/",
            Some(format!("tOkEn {}", t.token)),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "keyword is case-insensitive");
    assert_eq!(r.body["is_staff"], false);
    assert_eq!(r.body["uuid"], t.sim.agent_user_uuid().as_str());
    assert_eq!(r.body["permissions"][0]["role_name"], "OFFERING.MANAGER");

    let r = t.get("/api/version/").await;
    assert_eq!(r.status, 403);
    let r = t
        .send(
            "GET",
            "/api/version/",
            Some(format!("Token {}", t.staff)),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"version": "8.1.3"}))
    );

    // Unknown routes are 404 even unauthenticated (URL resolution comes first).
    let r = t.send("GET", "/api/nothing-here/", None, None).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({"detail": "Not found."}))
    );
    let r = t.get("/api/marketplace-orders").await;
    assert_eq!(r.status, 404, "trailing slash is required");
    // Wrong method: 401 first when anonymous, then 405.
    let r = t
        .send("DELETE", "/api/marketplace-orders/", None, None)
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .send(
            "DELETE",
            "/api/marketplace-orders/",
            Some(format!("Token {}", t.token)),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (405, json!({"detail": "Method \"DELETE\" not allowed."}))
    );
    let p = t.create("x");
    let r = t
        .get(&order_path(&p.order_uuid, "approve_by_provider"))
        .await;
    assert_eq!(r.body, json!({"detail": "Method \"GET\" not allowed."}));

    // Malformed JSON is a 400 and changes nothing.
    let resp = t
        .http
        .post(format!(
            "{}{}",
            t.sim.base_url(),
            order_path(&p.order_uuid, "approve_by_provider")
        ))
        .header("Authorization", format!("Token {}", t.token))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - ")
    );
    assert_eq!(t.order_state(&p.order_uuid), "pending-provider");
}

#[tokio::test]
async fn oidc_client_credentials_and_bearer_expiry() {
    let t = T::new().await;
    t.sim.add_oidc_client("agent", "s3cret");
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    t.sim.set_now(t0);
    let token_url = t.sim.oidc_token_url();
    let bad = t
        .http
        .post(&token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=agent&client_secret=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client"})
    );
    let ok: Value = t
        .http
        .post(&token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=agent&client_secret=s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (ok["token_type"].clone(), ok["expires_in"].clone()),
        (json!("Bearer"), json!(300))
    );
    let jwt = ok["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt.split('.').count(), 3);
    let r = t
        .send("GET", "/api/users/me/", Some(format!("Bearer {jwt}")), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["username"], "site-agent");
    t.sim.set_now(t0 + chrono::Duration::seconds(301));
    let r = t
        .send("GET", "/api/users/me/", Some(format!("Bearer {jwt}")), None)
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (401, json!({"detail": "Token has expired."}))
    );
    let r = t
        .send(
            "GET",
            "/api/users/me/",
            Some("Bearer forged.jwt.value".into()),
            None,
        )
        .await;
    assert_eq!(r.body, json!({"detail": "Invalid token."}));
}

#[tokio::test]
async fn provider_resource_actions() {
    let t = T::new().await;
    let p = t.create("acme-buckets");
    let path = |a: &str| {
        format!(
            "/api/marketplace-provider-resources/{}/{a}/",
            p.resource_uuid
        )
    };

    let r = t
        .post(
            &path("set_backend_id"),
            json!({"backend_id": "waldur-acme-bucke"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"status": "Resource backend_id has been changed."})
    );
    let r = t
        .post(
            &path("set_backend_id"),
            json!({"backend_id": "waldur-acme-bucke"}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"status": "Resource backend_id is not changed."})
    );
    let r = t.post(&path("set_backend_id"), json!({})).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"backend_id": ["This field is required."]}))
    );

    let r = t
        .post(
            &path("set_backend_metadata"),
            json!({"backend_metadata": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"backend_metadata": ["Expected a dictionary of items but got type \"list\"."]})
    );
    let r = t
        .post(
            &path("set_backend_metadata"),
            json!({"backend_metadata": {"s3_endpoint": "https://s3"}}),
        )
        .await;
    assert_eq!(r.body, json!({"status": "The backend metadata is updated"}));
    t.post(
        &path("set_backend_metadata"),
        json!({"backend_metadata": {"s3_region": "eu"}}),
    )
    .await;

    let r = t
        .post(&path("set_limits"), json!({"limits": {"quota": "many"}}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"limits": {"quota": ["A valid number is required."]}})
        )
    );
    assert_eq!(
        t.post(&path("set_limits"), json!({"limits": {"quota": 1000}}))
            .await
            .status,
        200
    );

    let r = t
        .post(
            &path("set_endpoints"),
            json!({"endpoints": [{"name": "S3"}]}),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"endpoints": [{"url": ["This field is required."]}]})
    );
    let r = t
        .post(
            &path("set_endpoints"),
            json!({"endpoints": [{"name": "S3", "url": "https://s3.test"}]}),
        )
        .await;
    assert_eq!(r.status, 200);

    let res = t.sim.resource(&p.resource_uuid).unwrap();
    assert_eq!(res["backend_id"], "waldur-acme-bucke");
    assert_eq!(
        res["backend_metadata"],
        json!({"s3_region": "eu"}),
        "metadata is replaced, not merged"
    );
    assert_eq!(res["limits"], json!({"quota": 1000}));
    assert_eq!(res["endpoints"][0]["url"], "https://s3.test");
    assert!(res["endpoints"][0]["uuid"].is_string());

    let r = t.get(&path("team")).await;
    assert_eq!((r.status, r.body.clone()), (200, json!([])));
    let r = t
        .post(&path("set_as_erred"), json!({"error_message": "x"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t.resource_state(&p.resource_uuid), "Erred");
    t.post(&path("set_as_ok"), json!({})).await;
    let res = t.sim.resource(&p.resource_uuid).unwrap();
    assert_eq!(
        (res["state"].clone(), res["error_message"].clone()),
        (json!("OK"), json!(""))
    );

    let r = t.get("/api/marketplace-provider-resources/?backend_id=waldur-acme-bucke&state=OK&state=Erred").await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = t
        .get("/api/marketplace-provider-resources/?state=Gone")
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn api_key_idempotency_and_state_rules() {
    let t = T::new().await;
    let p = t.create("keys");
    let report = |client: &str, secret: &str| json!({"resource": p.resource_uuid, "client_id": client, "api_key": secret});
    let url = "/api/marketplace-resource-api-keys/report_created/";

    let r = t.post(url, report("AK1", "secret-1")).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["state"], "OK");
    assert!(
        r.body.get("api_key").is_none(),
        "the secret is never returned"
    );
    let key = r.body["uuid"].as_str().unwrap().to_string();

    let again = t.post(url, report("AK1", "secret-1")).await;
    assert_eq!(
        (again.status, again.body["uuid"].as_str()),
        (201, Some(key.as_str()))
    );
    let changed = t.post(url, report("AK1", "secret-1b")).await;
    assert_eq!(changed.body["uuid"], key.as_str());
    t.post(url, report("AK2", "secret-2")).await;
    let rows = t.sim.api_keys(&p.resource_uuid);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].api_key, "secret-1b");

    let r = t.post(url, json!({"resource": p.resource_uuid})).await;
    assert_eq!(
        r.body,
        json!({"client_id": ["This field is required."], "api_key": ["This field is required."]})
    );
    let r = t.post(url, json!({"resource": uuid::Uuid::new_v4().simple().to_string(), "client_id": "a", "api_key": "b"})).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["resource"][0]
            .as_str()
            .unwrap()
            .starts_with("Object with uuid=")
    );

    let list = t
        .get(&format!(
            "/api/marketplace-resource-api-keys/?resource_uuid={}",
            p.resource_uuid
        ))
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    assert!(
        !list.body.to_string().contains("secret-"),
        "listing leaks a secret"
    );

    let key_path = |a: &str| format!("/api/marketplace-resource-api-keys/{key}/{a}/");
    let r = t
        .post(&key_path("set_key"), json!({"api_key": "new"}))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            409,
            json!({"detail": "Valid states for operation: Updating, Erred."})
        )
    );
    let r = t
        .post(&key_path("set_erred"), json!({"error_message": "stale"}))
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Valid states for operation: Creating, Updating."})
    );

    // Consumer rotation: REST is consumer-only (403 for the provider), the hook always works.
    let r = t.post(&key_path("rotate"), json!({})).await;
    assert_eq!(r.status, 403);
    t.sim.rotate_key(&key).unwrap();
    assert!(
        t.sim.rotate_key(&key).is_err(),
        "Updating cannot be rotated again"
    );
    let r = t
        .get(&format!(
            "/api/marketplace-resource-api-keys/?state=Updating&offering_uuid={}",
            t.offering
        ))
        .await;
    assert_eq!(r.body[0]["uuid"], key.as_str());
    assert_eq!(r.body[0]["pending_action"], "rotate");

    let r = t
        .post(
            &key_path("set_key"),
            json!({"api_key": "rotated", "client_id": "AK2"}),
        )
        .await;
    assert_eq!(r.status, 400, "client_id held by a sibling");
    assert!(r.body["client_id"].is_array());
    let r = t
        .post(
            &key_path("set_erred"),
            json!({"error_message": "croit: 503"}),
        )
        .await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("Erred")));
    let r = t
        .post(
            &key_path("set_key"),
            json!({"api_key": "rotated", "client_id": "AK3"}),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["state"].as_str(),
            r.body["client_id"].as_str()
        ),
        (200, Some("OK"), Some("AK3"))
    );
    assert_eq!(t.sim.api_keys(&p.resource_uuid)[0].api_key, "rotated");
    let r = t.staff_post(&key_path("rotate"), json!({})).await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (202, Some("Updating"))
    );

    // Terminating resources accept no new keys.
    t.sim.place_order(OrderSeed::terminate(&p.resource_uuid));
    let r = t.post(url, report("AK9", "late")).await;
    assert_eq!(r.status, 400);
    assert!(r.body["resource"].is_array());
}

#[tokio::test]
async fn set_usage_validations() {
    let t = T::new().await;
    t.sim
        .set_now(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap());
    let creating = t.create("creating");
    let url = "/api/marketplace-component-usages/set_usage/";
    let usage = |resource: &str, date: &str, items: Value| json!({"resource": resource, "date": date, "usages": items});
    let now = "2026-11-22T11:00:00+00:00";

    let r = t
        .post(
            url,
            usage(
                &creating.resource_uuid,
                now,
                json!([{"type": "storage", "amount": "1"}]),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({"resource": ["Resource is not in valid state."]})
        )
    );

    let live = t.provisioned("live");
    let rid = live.resource_uuid.as_str();
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "storage", "amount": "1.234"}])),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"usages": [{"amount": ["Ensure that there are no more than 2 decimal places."]}]})
    );
    let r = t
        .post(
            url,
            usage(
                rid,
                now,
                json!([{"type": "storage", "amount": "1"}, {"type": "quota", "amount": "-5"}]),
            ),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"usages": [{}, {"amount": ["Ensure this value is greater than or equal to 0."]}]})
    );
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "objects", "amount": "1"}])),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["These components are invalid: objects."]})
    );
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "flat", "amount": "1"}])),
        )
        .await;
    assert_eq!(r.status, 400, "fixed components take no usage");
    let r = t
        .post(
            url,
            usage(
                rid,
                "2026-11-23T00:00:00Z",
                json!([{"type": "storage", "amount": "1"}]),
            ),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"date": ["Cannot submit usage for future dates."]})
    );
    let r = t
        .post(
            url,
            usage(
                rid,
                "2026-10-31T23:00:00Z",
                json!([{"type": "storage", "amount": "1"}]),
            ),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"date": ["Service providers can only specify date for limit-based or prepaid billing components when backfilling past billing periods."]})
    );
    let r = t
        .post(url, json!({"usages": [{"type": "storage", "amount": "1"}]}))
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Either plan_period or resource should be provided."]})
    );
    assert!(
        t.sim.component_usages(rid).is_empty(),
        "rejected reports store nothing"
    );

    // Accepted: limit backfill by the provider, usage backfill by staff, current month.
    let r = t
        .post(
            url,
            usage(
                rid,
                "2026-10-15T00:00:00Z",
                json!([{"type": "quota", "amount": 500}]),
            ),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (201, Value::Null));
    let r = t
        .staff_post(
            url,
            usage(
                rid,
                "2026-10-15T00:00:00Z",
                json!([{"type": "storage", "amount": "99.5"}]),
            ),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "storage", "amount": "12.3"}])),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "storage", "amount": 3100.25}])),
        )
        .await;
    assert_eq!(r.status, 201, "a resubmission overwrites");

    let r = t
        .get(&format!(
            "/api/marketplace-component-usages/?resource_uuid={rid}&billing_period=2026-11-01"
        ))
        .await;
    let rows = r.body.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["usage"], "3100.25");
    assert_eq!(rows[0]["type"], "storage");
    assert_eq!(rows[0]["billing_period"], "2026-11-01");
    assert_eq!(rows[0]["measured_unit"], "GB-day");
    assert_eq!(rows[0]["modified_by"], 17);
    assert_eq!(t.sim.component_usages(rid).len(), 3);
    assert_eq!(
        t.sim.resource(rid).unwrap()["current_usages"],
        json!({"storage": 3100.25})
    );
    let r = t
        .get("/api/marketplace-component-usages/?billing_period=11-2026")
        .await;
    assert_eq!(r.body, json!({"billing_period": ["Enter a valid date."]}));

    t.sim.set_resource_field(rid, "state", json!("Terminated"));
    let r = t
        .post(
            url,
            usage(rid, now, json!([{"type": "storage", "amount": "1"}])),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"resource": ["Resource is not in valid state."]})
    );
}

#[tokio::test]
async fn fail_next_and_down_change_nothing() {
    let t = T::new().await;
    let p = t.create("fragile");
    let approve = order_path(&p.order_uuid, "approve_by_provider");

    t.sim.fail_next(2, 500);
    for _ in 0..2 {
        let r = t.post(&approve, json!({})).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (500, json!({"detail": "Simulated failure"}))
        );
    }
    assert_eq!(t.order_state(&p.order_uuid), "pending-provider");
    t.sim.set_down(true);
    let r = t.post(&approve, json!({})).await;
    assert_eq!(r.status, 503);
    let r = t.send("GET", "/api/users/me/", None, None).await;
    assert_eq!(r.status, 503, "down beats auth");
    assert_eq!(t.order_state(&p.order_uuid), "pending-provider");
    t.sim.set_down(false);
    assert_eq!(t.post(&approve, json!({})).await.status, 200);

    let statuses: Vec<u16> = t.sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![500, 500, 503, 503, 200]);
    assert_eq!(t.sim.count_calls("POST", "/approve_by_provider/"), 4);
    assert_eq!(t.sim.calls()[0].body, json!({}));
}

#[tokio::test]
async fn agent_identity_registration() {
    let t = T::new().await;
    let name = format!("agent-{}", t.offering);
    let r = t
        .get(&format!(
            "/api/marketplace-site-agent-identities/?name={name}"
        ))
        .await;
    assert_eq!(
        (r.status, r.body.clone(), header(&r, "X-Result-Count")),
        (200, json!([]), "0".to_string())
    );
    let body = json!({
        "offering": t.offering, "name": name, "version": "1.2.0",
        "dependencies": [{"package": "site-agent", "version": "1.2.0"}],
        "last_restarted": "2026-11-22T10:00:00+00:00", "config_file_path": "", "config_file_content": "",
    });
    let r = t
        .post("/api/marketplace-site-agent-identities/", body.clone())
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["created_by"], t.sim.agent_user_uuid().as_str());
    assert_eq!(r.body["last_restarted"], "2026-11-22T10:00:00Z");
    assert_eq!(r.body["compatibility"]["status"], "compatible");
    let identity = r.body["uuid"].as_str().unwrap().to_string();

    let mut newer = body.clone();
    newer["version"] = json!("1.3.0");
    let r = t
        .send(
            "PUT",
            &format!("/api/marketplace-site-agent-identities/{identity}/"),
            Some(format!("Token {}", t.token)),
            Some(newer),
        )
        .await;
    assert_eq!((r.status, r.body["version"].as_str()), (200, Some("1.3.0")));

    let svc_url = format!("/api/marketplace-site-agent-identities/{identity}/register_service/");
    let svc = json!({"name": "event_process-order", "mode": "event_process"});
    let first = t.post(&svc_url, svc.clone()).await;
    let second = t.post(&svc_url, svc).await;
    assert_eq!((first.status, second.status), (201, 200));
    assert_eq!(first.body["uuid"], second.body["uuid"]);
    assert_eq!(first.body["identity_name"], name.as_str());
    let service = first.body["uuid"].as_str().unwrap().to_string();

    let proc_url = format!("/api/marketplace-site-agent-services/{service}/register_processor/");
    let proc_body =
        json!({"name": "OfferingOrderProcessor", "backend_type": "s3", "backend_version": "1"});
    assert_eq!(t.post(&proc_url, proc_body.clone()).await.status, 201);
    let r = t.post(&proc_url, proc_body).await;
    assert_eq!(
        (r.status, r.body["service_name"].as_str()),
        (200, Some("event_process-order"))
    );

    let r = t
        .get(&format!(
            "/api/marketplace-site-agent-identities/?name={name}"
        ))
        .await;
    assert_eq!(
        r.body[0]["services"][0]["processors"][0]["name"],
        "OfferingOrderProcessor"
    );
    let r = t
        .post(
            "/api/marketplace-site-agent-identities/",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, json!({"offering": ["This field is required."]}))
    );
    let r = t
        .send(
            "PATCH",
            &format!("/api/marketplace-site-agent-identities/{identity}/"),
            Some(format!("Token {}", t.token)),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn control_api_and_slug_collisions() {
    let t = T::new().await;
    let seed = json!({"name": "Demo", "components": [{"type": "storage", "billing_type": "usage", "measured_unit": "GB-day"}]});
    let r = t.send("POST", "/sim/offerings", None, Some(seed)).await;
    assert_eq!(r.status, 201);
    let offering = r.body["uuid"].as_str().unwrap().to_string();
    let mut created = Vec::new();
    for _ in 0..3 {
        let order =
            json!({"offering_uuid": offering, "type": "Create", "resource_name": "Test Project"});
        let r = t.send("POST", "/sim/orders", None, Some(order)).await;
        assert_eq!(r.status, 201);
        created.push(r.body.clone());
    }
    let slugs: Vec<Value> = created
        .iter()
        .map(|p| {
            t.sim
                .resource(p["resource_uuid"].as_str().unwrap())
                .unwrap()["slug"]
                .clone()
        })
        .collect();
    assert_eq!(
        slugs,
        vec![
            json!("test-proje"),
            json!("test-proje-2"),
            json!("test-proje-3")
        ]
    );

    let order_uuid = created[0]["order_uuid"].as_str().unwrap();
    let r = t
        .send("GET", &format!("/sim/orders/{order_uuid}"), None, None)
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("pending-provider"))
    );
    let r = t
        .send(
            "POST",
            "/sim/orders",
            None,
            Some(json!({"offering_uuid": offering, "type": "Explode"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let resource = created[0]["resource_uuid"].as_str().unwrap();
    let r = t
        .send(
            "GET",
            &format!("/sim/resources/{resource}/api_keys"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body, json!([]));
    let r = t.send("GET", "/sim/calls", None, None).await;
    assert_eq!(r.body, json!([]), "control calls are not recorded");
    t.get("/api/users/me/").await;
    let r = t.send("GET", "/sim/calls", None, None).await;
    assert_eq!(r.body[0]["path"], "/api/users/me/");
    assert_eq!(r.body[0]["status"], 200);
}

/// The reads the Python agent makes at start and per order, shaped as Waldur renders them
/// (its generated client refuses a null where Waldur omits a field).
#[tokio::test]
async fn service_providers_plans_and_offering_account_lists() {
    let t = T::new().await;
    let offering = t
        .get(&format!(
            "/api/marketplace-provider-offerings/{}/",
            t.offering
        ))
        .await;
    let customer = offering.body["customer_uuid"].as_str().unwrap().to_string();

    // One service provider per customer that owns an offering; `customer_uuid` filters.
    let all = t.get("/api/marketplace-service-providers/").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    let sp = t
        .get(&format!(
            "/api/marketplace-service-providers/?customer_uuid={customer}&field=uuid"
        ))
        .await;
    let row = &sp.body.as_array().unwrap()[0];
    assert_eq!(row.as_object().unwrap().len(), 1, "field=uuid: {row}");
    let sp_uuid = row["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        all.body[0]["customer_uuid"], customer,
        "the provider is the offering's customer"
    );
    let other = t
        .get(&format!(
            "/api/marketplace-service-providers/?customer_uuid={}",
            "0".repeat(32)
        ))
        .await;
    assert_eq!(other.body, json!([]));
    let bad = t
        .get("/api/marketplace-service-providers/?customer_uuid=nope")
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);

    // Its SSH keys, and the offering's service / course accounts: empty for S3, 404 for
    // an unknown owner.
    let keys = t
        .get(&format!(
            "/api/marketplace-service-providers/{sp_uuid}/keys/"
        ))
        .await;
    assert_eq!((keys.status, keys.body.clone()), (200, json!([])));
    let unknown = t
        .get(&format!(
            "/api/marketplace-service-providers/{}/keys/",
            "1".repeat(32)
        ))
        .await;
    assert_eq!(unknown.status, 404);
    for list in ["list_project_service_accounts", "list_course_accounts"] {
        let r = t
            .get(&format!(
                "/api/marketplace-provider-offerings/{}/{list}/?page_size=100",
                t.offering
            ))
            .await;
        assert_eq!((r.status, r.body.clone()), (200, json!([])), "{list}");
        assert_eq!(header(&r, "x-result-count"), "0");
        let r = t
            .get(&format!(
                "/api/marketplace-provider-offerings/{}/{list}/",
                "2".repeat(32)
            ))
            .await;
        assert_eq!(r.status, 404, "{list}");
    }

    // The plan has the fields Waldur's ProviderPlanDetails requires.
    let plan_uuid = offering.body["plans"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = t.get(&format!("/api/marketplace-plans/{plan_uuid}/")).await;
    for field in [
        "url",
        "uuid",
        "name",
        "is_active",
        "init_price",
        "switch_price",
        "organization_groups",
        "components",
        "offering",
        "prices",
        "future_prices",
        "quotas",
        "resources_count",
        "plan_type",
        "minimal_price",
    ] {
        assert!(plan.body.get(field).is_some(), "plan lacks {field}");
    }
    assert_eq!(plan.body["components"].as_array().unwrap().len(), 3);

    // A resource of an offering with no parent or scope: those fields are absent, not null.
    let placed = t.create("Shape check");
    let r = t
        .get(&format!(
            "/api/marketplace-provider-resources/{}/",
            placed.resource_uuid
        ))
        .await;
    for absent in [
        "parent_uuid",
        "parent_name",
        "parent_offering_uuid",
        "service_settings_uuid",
    ] {
        assert!(
            r.body.get(absent).is_none(),
            "{absent} present: {}",
            r.body[absent]
        );
    }
    assert_eq!(r.body["usage_limit_restriction"], "");
}

/// Bulk seeding (benchmarks): OK resources with their backend ids and slugs as one-by-one
/// seeding would give them.
#[tokio::test]
async fn bulk_resources_get_the_slugs_one_by_one_seeding_gives() {
    let t = T::new().await;
    let one = t
        .sim
        .add_resource_ok(&t.offering, "bench-1234", "b-0", json!({}));
    let many: Vec<(String, String)> = (1..4)
        .map(|i| ("bench-1234".to_string(), format!("b-{i}")))
        .collect();
    let uuids = t.sim.add_resources_ok(&t.offering, &many);
    let slugs: Vec<String> = std::iter::once(&one)
        .chain(&uuids)
        .map(|u| {
            let r = t.sim.resource(u).unwrap();
            assert_eq!(r["state"], "OK");
            r["slug"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        slugs,
        ["bench-1234", "bench-1234-2", "bench-1234-3", "bench-1234-4"]
    );
    assert_eq!(t.sim.resource(&uuids[2]).unwrap()["backend_id"], "b-3");
}
