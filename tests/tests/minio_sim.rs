//! minio-sim's own tests: it answers as MinIO does, errors included, and refuses what MinIO
//! refuses (unsigned or mis-signed calls, plain bodies where MinIO wants them encrypted).

use serde_json::{Value, json};
use site_agent_minio::madmin;
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sims::minio::MinioSim;
use std::io::{Read, Write};

const ROOT: &str = "minioadmin";
const ROOT_SECRET: &str = "minio-secret-key-CHANGE-ME";

fn client(ak: &str, sk: &str) -> SignedHttp {
    site_agent_sdk::http::ensure_crypto_provider();
    SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(ak.into(), sk.to_string().into(), "us-east-1".into(), "s3"),
    )
}

struct Call {
    status: u16,
    body: Vec<u8>,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        self.json()["Code"]
            .as_str()
            .map(String::from)
            .or_else(|| site_agent_sdk::s3error::xml_code(&text))
            .unwrap_or_default()
    }
}

async fn call(c: &SignedHttp, method: &str, url: &str, body: Vec<u8>) -> Call {
    let a = c
        .send_raw(
            "t",
            method.parse().unwrap(),
            url,
            Some("application/octet-stream"),
            body,
            site_agent_sdk::http::MAX_BODY,
        )
        .await
        .unwrap();
    Call {
        status: a.status,
        body: a.body,
    }
}

fn admin(sim: &MinioSim, cmd: &str) -> String {
    format!("{}/minio/admin/v3/{cmd}", sim.url())
}

fn sealed(secret: &str, v: Value) -> Vec<u8> {
    madmin::encrypt(secret.as_bytes(), v.to_string().as_bytes()).unwrap()
}

async fn sim() -> (MinioSim, SignedHttp) {
    (
        MinioSim::start(ROOT, ROOT_SECRET).await.unwrap(),
        client(ROOT, ROOT_SECRET),
    )
}

fn vectors() -> std::path::PathBuf {
    std::env::var("SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
        })
        .join("reference/minio-vectors")
}

/// The golden signed `add-user` request (minio-py's signature over PyPI `minio`'s encrypted
/// body) replayed byte for byte: the simulator checks the signature and opens the body as
/// MinIO does, and the user exists with the secret inside.
#[tokio::test]
async fn the_golden_signed_add_user_request_is_accepted_as_sent() {
    let (sim, _) = sim().await;
    let v: Value =
        serde_json::from_slice(&std::fs::read(vectors().join("sigv4_add_user.json")).unwrap())
            .unwrap();
    let body = std::fs::read(vectors().join(v["body_file"].as_str().unwrap())).unwrap();
    let addr = sim.url().trim_start_matches("http://").to_string();
    let url = v["url"].as_str().unwrap();
    let path = &url[url.find("/minio").unwrap()..];
    let mut head = format!("PUT {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, val) in v["headers"].as_object().unwrap() {
        head.push_str(&format!("{k}: {}\r\n", val.as_str().unwrap()));
    }
    head.push_str("\r\n");
    let reply = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let u = sim.user("tenant1").expect("tenant1 made");
    assert_eq!(u.secret, "tenant-secret-0001");
    assert!(u.enabled);
}

#[tokio::test]
async fn calls_must_be_signed_right_and_bodies_sealed_where_minio_wants_them() {
    let (sim, root) = sim().await;
    site_agent_sdk::http::ensure_crypto_provider();
    let plain = reqwest::Client::new()
        .get(admin(&sim, "info"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 403);
    assert_eq!(plain.json::<Value>().await.unwrap()["Code"], "AccessDenied");
    let wrong = client(ROOT, "not-the-secret");
    let r = call(&wrong, "GET", &admin(&sim, "info"), vec![]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let r = call(
        &client("nobody", "whatever1"),
        "GET",
        &admin(&sim, "info"),
        vec![],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "InvalidAccessKeyId"));
    // add-user with a plain JSON body: MinIO cannot open it.
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-user?accessKey=user1"),
        br#"{"secretKey":"12345678","status":"enabled"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioAdminConfigBadJSON")
    );
    // Sealed with another secret: not authentic either.
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-user?accessKey=user1"),
        sealed(
            "another-secret",
            json!({"secretKey": "12345678", "status": "enabled"}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioAdminConfigBadJSON")
    );
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-user?accessKey=user1"),
        sealed(
            ROOT_SECRET,
            json!({"secretKey": "short", "status": "enabled"}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioAdminInvalidSecretKey")
    );
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-user?accessKey=user1"),
        sealed(ROOT_SECRET, json!({"secretKey": "12345678"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        !sim.user("user1").unwrap().enabled,
        "no status: MinIO makes the user disabled"
    );
    let r = call(
        &root,
        "PUT",
        &admin(&sim, &format!("add-user?accessKey={ROOT}")),
        sealed(
            ROOT_SECRET,
            json!({"secretKey": "12345678", "status": "enabled"}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "XMinioInvalidIAMCredentials")
    );
}

#[tokio::test]
async fn users_policies_and_service_accounts_answer_as_minio() {
    let (sim, root) = sim().await;
    let r = call(
        &root,
        "GET",
        &admin(&sim, "user-info?accessKey=ghost"),
        vec![],
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "XMinioAdminNoSuchUser")
    );
    assert_eq!(r.json()["Resource"], "/minio/admin/v3/user-info");
    sim.add_user("alice", "alice-secret", &[]);
    let r = call(
        &root,
        "GET",
        &admin(&sim, "user-info?accessKey=alice"),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "enabled");
    assert!(r.json().get("policyName").is_none() && r.json().get("secretKey").is_none());
    // Policies: unknown → 404 on attach; a bad document is refused; in use → cannot go.
    let r = call(
        &root,
        "PUT",
        &admin(
            &sim,
            "set-user-or-group-policy?policyName=p1&userOrGroup=alice&isGroup=false",
        ),
        vec![],
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "XMinioAdminNoSuchPolicy")
    );
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-canned-policy?name=p1"),
        br#"{"Statement":[]}"#.to_vec(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedPolicy"));
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b1/*"]}]});
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "add-canned-policy?name=p1"),
        doc.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &root,
        "PUT",
        &admin(
            &sim,
            "set-user-or-group-policy?policyName=p1&userOrGroup=alice&isGroup=false",
        ),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &root,
        "DELETE",
        &admin(&sim, "remove-canned-policy?name=p1"),
        vec![],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "XMinioIAMPolicyInUse"));
    let r = call(
        &root,
        "DELETE",
        &admin(&sim, "remove-canned-policy?name=never-was"),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "an unknown policy is no error");
    // Service accounts: made for alice, listed in an encrypted answer, 204 on delete.
    let r = call(&root, "PUT", &admin(&sim, "add-service-account"), sealed(ROOT_SECRET, json!({"targetUser": "alice", "accessKey": "SAKEY0000000000000001", "secretKey": "sa-secret-0001"}))).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioAdminInvalidAccessKey"),
        "21 characters"
    );
    let r = call(&root, "PUT", &admin(&sim, "add-service-account"), sealed(ROOT_SECRET, json!({"targetUser": "alice", "accessKey": "SAKEY000000000000001", "secretKey": "sa-secret-0001"}))).await;
    assert_eq!(r.status, 200);
    let creds: Value =
        serde_json::from_slice(&madmin::decrypt(ROOT_SECRET.as_bytes(), &r.body).unwrap()).unwrap();
    assert_eq!(creds["credentials"]["accessKey"], "SAKEY000000000000001");
    let r = call(&root, "PUT", &admin(&sim, "add-service-account"), sealed(ROOT_SECRET, json!({"targetUser": "alice", "accessKey": "SAKEY000000000000001", "secretKey": "sa-secret-0001"}))).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioIAMServiceAccountNotAllowed")
    );
    let r = call(
        &root,
        "GET",
        &admin(&sim, "list-service-accounts?user=alice"),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "the answer is encrypted"
    );
    let list: Value =
        serde_json::from_slice(&madmin::decrypt(ROOT_SECRET.as_bytes(), &r.body).unwrap()).unwrap();
    assert_eq!(list["accounts"][0]["accessKey"], "SAKEY000000000000001");
    assert_eq!(list["accounts"][0]["impliedPolicy"], true);
    // A disabled parent: its service account authenticates but may do nothing.
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "set-user-status?accessKey=alice&status=disabled"),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(sim.key_authenticates("SAKEY000000000000001", "sa-secret-0001"));
    assert!(!sim.key_allowed("SAKEY000000000000001", "s3:GetObject", "arn:aws:s3:::b1/k"));
    assert!(
        !sim.key_authenticates("alice", "alice-secret"),
        "the user's own key is refused"
    );
    let r = call(
        &client("alice", "alice-secret"),
        "GET",
        &format!("{}/b1?list-type=2", sim.url()),
        vec![],
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "InvalidAccessKeyId"));
    let r = call(
        &root,
        "DELETE",
        &admin(&sim, "delete-service-account?accessKey=NOSUCHKEY"),
        vec![],
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "XMinioInvalidIAMCredentials")
    );
    // remove-user takes its service accounts along.
    let r = call(
        &root,
        "DELETE",
        &admin(&sim, "remove-user?accessKey=alice"),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(sim.service_accounts("alice").is_empty());
    let r = call(
        &root,
        "DELETE",
        &admin(&sim, "remove-user?accessKey=alice"),
        vec![],
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "XMinioAdminNoSuchUser")
    );
}

#[tokio::test]
async fn bucket_quotas_take_every_body_shape_and_bite_after_the_scanner() {
    let (sim, root) = sim().await;
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "set-bucket-quota?bucket=nob"),
        br#"{"size":10,"quota":10,"quotatype":"hard"}"#.to_vec(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    assert_eq!(
        call(&root, "PUT", &format!("{}/qbkt", sim.url()), vec![])
            .await
            .status,
        200
    );
    let r = call(&root, "PUT", &format!("{}/qbkt", sim.url()), vec![]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "BucketAlreadyOwnedByYou")
    );
    let r = call(
        &root,
        "GET",
        &admin(&sim, "get-bucket-quota?bucket=qbkt"),
        vec![],
    )
    .await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"null".as_slice()));
    for (body, want) in [
        (
            json!({"size": 100, "quota": 100, "quotatype": "hard"}),
            Some(100),
        ),
        (json!({"quota": 200, "quotatype": "hard"}), Some(200)),
        (json!({"size": 0}), None),
        (json!({"size": 300, "quotatype": "hard"}), Some(300)),
        (json!({"quota": 0, "quotatype": "hard"}), None),
    ] {
        let r = call(
            &root,
            "PUT",
            &admin(&sim, "set-bucket-quota?bucket=qbkt"),
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{body}");
        assert_eq!(sim.bucket("qbkt").unwrap().quota, want, "{body}");
    }
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "set-bucket-quota?bucket=qbkt"),
        br#"{"size":10,"quotatype":"fifo"}"#.to_vec(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (500, "InternalError"));
    let r = call(
        &root,
        "PUT",
        &admin(&sim, "set-bucket-quota?bucket=qbkt"),
        br#"{"size":100,"quotatype":"hard"}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &root,
        "GET",
        &admin(&sim, "get-bucket-quota?bucket=qbkt"),
        vec![],
    )
    .await;
    assert_eq!(r.json()["size"], 100);
    assert_eq!(r.json()["quotatype"], "hard");
    // With a lagging scanner, writes pass until it has counted them.
    sim.set_scanner_lag(std::time::Duration::from_secs(3600));
    let put = |k: &str| format!("{}/qbkt/{k}", sim.url());
    assert_eq!(
        call(&root, "PUT", &put("big"), vec![0; 100]).await.code(),
        "XMinioAdminBucketQuotaExceeded",
        "one object over the quota is refused at once"
    );
    for i in 0..4 {
        assert_eq!(
            call(&root, "PUT", &put(&format!("k{i}")), vec![0; 30])
                .await
                .status,
            200,
            "not counted yet"
        );
    }
    let usage = call(&root, "GET", &admin(&sim, "datausageinfo"), vec![])
        .await
        .json();
    let before = usage["lastUpdate"].as_str().unwrap().to_string();
    sim.run_scanner();
    let r = call(&root, "PUT", &put("k9"), vec![0; 1]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XMinioAdminBucketQuotaExceeded")
    );
    let usage = call(&root, "GET", &admin(&sim, "datausageinfo"), vec![])
        .await
        .json();
    assert_eq!(usage["bucketsUsageInfo"]["qbkt"]["size"], 120);
    assert_eq!(usage["bucketsUsageInfo"]["qbkt"]["objectsCount"], 4);
    assert_ne!(usage["lastUpdate"].as_str().unwrap(), before);
    let r = call(&root, "DELETE", &format!("{}/qbkt", sim.url()), vec![]).await;
    assert_eq!((r.status, r.code().as_str()), (409, "BucketNotEmpty"));
}

#[tokio::test]
async fn a_user_may_make_its_own_service_account_unless_denied() {
    let (sim, root) = sim().await;
    sim.add_user("bob", "bob-secret-1", &["readwrite"]);
    let bob = client("bob", "bob-secret-1");
    let r = call(
        &bob,
        "PUT",
        &admin(&sim, "add-service-account"),
        sealed("bob-secret-1", json!({})),
    )
    .await;
    assert_eq!(r.status, 200, "MinIO's default for oneself");
    let made: Value =
        serde_json::from_slice(&madmin::decrypt(b"bob-secret-1", &r.body).unwrap()).unwrap();
    assert_eq!(made["credentials"]["accessKey"].as_str().unwrap().len(), 20);
    let r = call(&bob, "GET", &admin(&sim, "datausageinfo"), vec![]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "AccessDenied"),
        "no admin rights"
    );
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["admin:CreateServiceAccount"]}]});
    assert_eq!(
        call(
            &root,
            "PUT",
            &admin(&sim, "add-canned-policy?name=nokeys"),
            deny.to_string().into_bytes()
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &root,
            "PUT",
            &admin(
                &sim,
                "set-user-or-group-policy?policyName=readwrite,nokeys&userOrGroup=bob&isGroup=false"
            ),
            vec![]
        )
        .await
        .status,
        200
    );
    let r = call(
        &bob,
        "PUT",
        &admin(&sim, "add-service-account"),
        sealed("bob-secret-1", json!({})),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
}
