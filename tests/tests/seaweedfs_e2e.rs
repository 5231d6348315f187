//! The whole resource lifecycle against a real SeaweedFS, through waldur-sim: the keys the
//! agent hands to Waldur are used over S3 to prove what each order did. The `Granted` model:
//! the agent makes the resource's one bucket; the tenant only uses it.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::json;
use site_agent::orders::Outcome;
use site_agent::rotation::RotationOutcome;
use site_agent::usage::clock::{Clock, ManualClock};
use site_agent_sdk::sigv4::{SignedHttp, Signer};
use site_agent_sims::s3::{S3User, SeaweedPeer};
use site_agent_sims::waldur::ApiKeyRow;
use std::sync::Arc;

fn s3(peer: &SeaweedPeer, k: &ApiKeyRow) -> S3User {
    S3User::new(&peer.endpoint, &peer.region, &k.client_id, &k.api_key)
}

/// Raw signed calls with a tenant's key (for what S3User cannot say: `?seaweedfs-quota`, IAM).
fn signed(peer: &SeaweedPeer, k: &ApiKeyRow, service: &'static str) -> SignedHttp {
    SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            k.client_id.clone(),
            k.api_key.clone().into(),
            peer.region.clone(),
            service,
        ),
    )
}

struct Created {
    env: Env,
    peer: SeaweedPeer,
    res: String,
    uid: String,
    bucket: String,
}

async fn created(purge: bool, attributes: serde_json::Value) -> Created {
    let peer = SeaweedPeer::from_env();
    let env = seaweed_env(&peer, purge).await;
    let placed = env.place_create("Granted", attributes);
    assert_eq!(
        env.app().order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let res = placed.resource_uuid.clone();
    let r = env.resource(&res);
    let uid = r["backend_id"].as_str().unwrap().to_string();
    let bucket = r["backend_metadata"]["s3_bucket"]
        .as_str()
        .expect("the bucket is published")
        .to_string();
    Created {
        env,
        peer,
        res,
        uid,
        bucket,
    }
}

#[tokio::test]
async fn full_lifecycle_on_a_real_seaweedfs() {
    // 8 "GB" with the test's unit_factor of 1024 bytes = an 8 KiB ceiling.
    let c = created(
        false,
        json!({"max_storage_limit": 8, "max_object_limit": 100}),
    )
    .await;
    let (env, peer, res, uid, bucket) = (&c.env, &c.peer, &c.res, &c.uid, &c.bucket);
    let app = env.app();
    let backend = app.processors[0].backend.clone();
    let md = &env.resource(res)["backend_metadata"];
    assert_eq!(md["s3_bucket"], json!(bucket));
    assert_eq!(md["s3_quota_max_size_bytes"], json!(8192));
    assert_eq!(
        md["s3_quota_max_objects"],
        json!(null),
        "no object ceiling is claimed where SeaweedFS has none"
    );
    assert_eq!(
        md["quotas"],
        json!({"bucket_quota": {"enabled": true, "max_size_bytes": 8192, "max_objects": null}}),
        "only the scope SeaweedFS has"
    );

    // The two reported keys work in the resource's bucket.
    let keys = env.waldur.api_keys(res);
    assert_eq!(keys.len(), 2);
    let first = s3(peer, &keys[0]);
    assert!(first.put_object(bucket, "a", vec![1; 3000]).await.ok());
    let second = s3(peer, &keys[1]);
    let r = second.put_object(bucket, "b", vec![2; 3000]).await;
    assert!(r.ok(), "the second key works too: {r:?}");

    // Past the ceiling: SeaweedFS takes the write (it enforces later); the reconcile pass
    // reports the overrun in the log and in the resource's metadata.
    assert!(first.put_object(bucket, "c", vec![3; 4000]).await.ok());
    let reports = app.reconcile_cycle().await;
    assert!(
        reports
            .iter()
            .any(|(_, r)| r.over_ceiling && !r.quota_repaired),
        "{reports:?}"
    );
    assert_eq!(
        env.resource(res)["backend_metadata"]["s3_over_quota"],
        json!(true)
    );

    // An Update raises the ceiling; the overrun is over.
    let upd = env.place_for(
        res,
        "Update",
        json!({}),
        json!({"max_storage_limit": 64, "max_object_limit": 100}),
    );
    assert_eq!(
        app.order_cycle().await,
        vec![(upd.order_uuid, Outcome::Done)]
    );
    assert_eq!(
        backend.quota(uid).await.unwrap().max_size_bytes(),
        Some(64 * 1024)
    );
    let reports = app.reconcile_cycle().await;
    assert!(reports.iter().all(|(_, r)| !r.over_ceiling), "{reports:?}");
    assert_eq!(
        env.resource(res)["backend_metadata"]["s3_over_quota"],
        json!(false)
    );

    // Pause: the keys stop working. Restore: they work again.
    env.waldur.set_resource_field(res, "paused", json!(true));
    app.reconcile_cycle().await;
    let refused = first.put_object(bucket, "d", vec![4; 10]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    env.waldur.set_resource_field(res, "paused", json!(false));
    app.reconcile_cycle().await;
    assert!(first.put_object(bucket, "d", vec![4; 10]).await.ok());

    // Rotation: SeaweedFS generates the new key; exactly two working keys afterwards.
    let old = keys[0].clone();
    env.waldur.rotate_key(&old.uuid).unwrap();
    assert!(matches!(
        &app.key_cycle().await[..],
        [(_, RotationOutcome::Rotated { .. })]
    ));
    let rotated = env.waldur.api_keys(res);
    assert_eq!(rotated.len(), 2);
    assert_eq!(
        backend.user(uid).await.unwrap().unwrap().access_keys.len(),
        2
    );
    for k in &rotated {
        let r = s3(peer, k).put_object(bucket, "rot", vec![5; 10]).await;
        assert!(r.ok(), "key {} works: {r:?}", k.client_id);
    }
    let dead = s3(peer, &old).put_object(bucket, "rot", vec![5; 10]).await;
    assert_eq!(dead.status, 403, "the old key is refused: {dead:?}");

    // Terminate while the bucket holds objects: erred with a clear message; the data stays.
    let term = env.place_for(res, "Terminate", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == term.order_uuid => assert!(
            m.contains(&format!("bucket {bucket:?}"))
                && m.contains("still holds 5 object(s)")
                && m.contains("empty it, then retry the termination"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let user = s3(peer, &rotated[0]);
    assert!(
        user.put_object(bucket, "e", vec![6; 10]).await.ok(),
        "the tenant keeps its access"
    );

    // Empty the bucket; the next Terminate removes bucket, keys and user.
    for key in ["a", "b", "c", "d", "rot", "e"] {
        user.delete_object(bucket, key).await;
    }
    let term2 = env.place_for(res, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term2.order_uuid, Outcome::Done)]
    );
    assert!(backend.user(uid).await.unwrap().is_none());
    let gone = peer.admin().list_objects(bucket).await;
    assert_eq!(gone.code(), Some("NoSuchBucket"), "{gone:?}");
    assert_eq!(env.resource(res)["state"], "Terminated");
}

#[tokio::test]
async fn terminate_with_purge_removes_the_data() {
    let c = created(true, json!({"max_storage_limit": 64})).await;
    let keys = c.env.waldur.api_keys(&c.res);
    let tenant = s3(&c.peer, &keys[0]);
    for i in 0..3 {
        assert!(
            tenant
                .put_object(&c.bucket, &format!("o{i}"), vec![7; 100])
                .await
                .ok()
        );
    }
    let app = c.env.app();
    let term = c.env.place_for(&c.res, "Terminate", json!({}), json!({}));
    assert_eq!(
        app.order_cycle().await,
        vec![(term.order_uuid, Outcome::Done)]
    );
    assert!(
        app.processors[0]
            .backend
            .user(&c.uid)
            .await
            .unwrap()
            .is_none()
    );
    let gone = c.peer.admin().list_objects(&c.bucket).await;
    assert_eq!(gone.code(), Some("NoSuchBucket"), "{gone:?}");
}

#[tokio::test]
async fn a_tenant_key_cannot_change_its_quota_or_policy_nor_touch_another_bucket() {
    let c = created(false, json!({"max_storage_limit": 8})).await;
    let (peer, bucket) = (&c.peer, &c.bucket);
    let key = &c.env.waldur.api_keys(&c.res)[0];
    let tenant = s3(peer, key);
    assert!(tenant.put_object(bucket, "mine", b"ok".to_vec()).await.ok());

    // Its own bucket's quota: neither raised nor read.
    let s3k = signed(peer, key, "s3");
    let quota_url = format!("{}/{bucket}?seaweedfs-quota", peer.endpoint);
    let raise = br#"{"quota_size":100,"quota_unit":"GB","quota_enabled":true}"#.to_vec();
    let a = s3k
        .send(
            "raise",
            reqwest::Method::PUT,
            &quota_url,
            Some("application/json"),
            raise,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    let lift = br#"{"quota_size":0,"quota_unit":"B","quota_enabled":false}"#.to_vec();
    let a = s3k
        .send(
            "lift",
            reqwest::Method::PUT,
            &quota_url,
            Some("application/json"),
            lift,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    let backend = c.env.app().processors[0].backend.clone();
    assert_eq!(
        backend.quota(&c.uid).await.unwrap().max_size_bytes(),
        Some(8192),
        "the quota is unchanged"
    );

    // Its own policy, bucket policy and ACL; its bucket's existence.
    let iam = signed(peer, key, "iam");
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
        "Resource": ["arn:aws:s3:::*"]}]})
    .to_string();
    let form = site_agent_sdk::sigv4::encode_pairs([
        ("Action", "PutUserPolicy"),
        ("Version", "2010-05-08"),
        ("UserName", c.uid.as_str()),
        ("PolicyName", "waldur-bucket"),
        ("PolicyDocument", doc.as_str()),
    ]);
    let a = iam
        .send(
            "iam",
            reqwest::Method::POST,
            &format!("{}/", peer.endpoint),
            Some("application/x-www-form-urlencoded"),
            form.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "IAM is closed to tenants: {}", a.body);
    for (what, url, body) in [
        (
            "bucket policy",
            format!("{}/{bucket}?policy", peer.endpoint),
            doc.clone(),
        ),
        (
            "bucket ACL",
            format!("{}/{bucket}?acl", peer.endpoint),
            "<AccessControlPolicy/>".to_string(),
        ),
    ] {
        let a = s3k
            .send(what, reqwest::Method::PUT, &url, None, body.into_bytes())
            .await
            .unwrap();
        assert_eq!(a.status, 403, "{what}: {}", a.body);
    }
    assert_eq!(tenant.delete_bucket(bucket).await.status, 403);
    // Nor the bucket's ownership tag, nor its own user's tags. (Versioning is refused too,
    // but not reliably while IAM is being written: see the test after this one.)
    for (what, query, body) in [(
        "tagging",
        "tagging",
        "<Tagging><TagSet><Tag><Key>waldur-stamp</Key><Value>x</Value></Tag></TagSet></Tagging>",
    )] {
        let url = format!("{}/{bucket}?{query}", peer.endpoint);
        let a = s3k
            .send(
                what,
                reqwest::Method::PUT,
                &url,
                Some("application/xml"),
                body.into(),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 403, "{what}: {}", a.body);
    }
    let untag = site_agent_sdk::sigv4::encode_pairs([
        ("Action", "UntagUser"),
        ("Version", "2010-05-08"),
        ("UserName", c.uid.as_str()),
        ("TagKeys.member.1", "waldur-stamp"),
    ]);
    let a = iam
        .send(
            "iam",
            reqwest::Method::POST,
            &format!("{}/", peer.endpoint),
            Some("application/x-www-form-urlencoded"),
            untag.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);

    // Anyone else's bucket: no list, read, write; no new bucket of its own.
    let admin = peer.admin();
    let other = format!("{}-other", c.uid.replace('_', "-"));
    assert!(admin.create_bucket(&other).await.ok());
    assert!(
        admin
            .put_object(&other, "secret", b"theirs".to_vec())
            .await
            .ok()
    );
    assert_eq!(tenant.list_objects(&other).await.status, 403);
    assert_eq!(
        tenant.put_object(&other, "x", b"x".to_vec()).await.status,
        403
    );
    assert_eq!(tenant.delete_object(&other, "secret").await.status, 403);
    assert_eq!(
        tenant.create_bucket(&format!("{other}-2")).await.status,
        403
    );
    admin.delete_object(&other, "secret").await;
    admin.delete_bucket(&other).await;
}

#[tokio::test]
async fn usage_figures_are_the_logical_bytes_stored() {
    let peer = SeaweedPeer::from_env();
    let env = seaweed_env(&peer, false).await;
    let start = DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    env.waldur.set_now(start);
    let placed = env.place_create("Billed", json!({"max_storage_limit": 1000}));
    let yaml = env.usage_config_yaml();
    let app = env.usage_app(&yaml, clock.clone());
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let res = placed.resource_uuid;
    let bucket = env.resource(&res)["backend_metadata"]["s3_bucket"]
        .as_str()
        .unwrap()
        .to_string();
    // 12 KiB of very compressible data in 3 objects: SeaweedFS stores far less, the tenant
    // is billed for what it uploaded.
    let tenant = s3(&peer, &env.waldur.api_keys(&res)[0]);
    for i in 0..3 {
        assert!(
            tenant
                .put_object(&bucket, &format!("z{i}"), vec![b'z'; 4096])
                .await
                .ok()
        );
    }
    for i in 0..144 {
        if i > 0 {
            clock.advance(Duration::minutes(10));
            env.waldur.set_now(clock.now());
        }
        app.usage_sample_cycle().await;
    }
    app.usage_report_cycle().await;
    let held = |component: &str| {
        env.waldur
            .component_usages(&res)
            .into_iter()
            .find(|u| u["type"] == component)
            .and_then(|u| u["usage"].as_str().map(str::to_string))
    };
    // 12 "GB" (of 1024 bytes) over 143 ten-minute intervals = 11.9166… GB-days.
    assert_eq!(held("s3_storage").as_deref(), Some("11.92"));
    assert_eq!(
        held("s3_objects").as_deref(),
        Some("3.00"),
        "objects counted by listing"
    );
}

/// SeaweedFS makes the key, so the agent can record it only once the call returns: a crash
/// right after leaves a key nobody holds. The retried order prunes it; exactly the two keys
/// Waldur holds stay, and they work.
#[tokio::test]
async fn a_generated_key_lost_in_a_crash_is_pruned() {
    let peer = SeaweedPeer::from_env();
    let env = seaweed_env(&peer, false).await;
    let placed = env.place_create("Crashy", json!({"max_storage_limit": 8}));
    {
        let app = env.app_with(|inner| Crashing::at(inner, "after_issue_key"));
        let results = app.order_cycle().await;
        assert!(
            matches!(&results[..], [(_, Outcome::Retry(_))]),
            "{results:?}"
        );
    }
    let app = env.app();
    assert_eq!(
        app.order_cycle().await,
        vec![(placed.order_uuid.clone(), Outcome::Done)]
    );
    let res = &placed.resource_uuid;
    let r = env.resource(res);
    let uid = r["backend_id"].as_str().unwrap();
    let bucket = r["backend_metadata"]["s3_bucket"].as_str().unwrap();
    let live = app.processors[0]
        .backend
        .user(uid)
        .await
        .unwrap()
        .unwrap()
        .access_keys;
    let reported = env.waldur.api_keys(res);
    assert_eq!(reported.len(), 2);
    assert_eq!(live.len(), 2, "no orphan: {live:?}");
    for k in &reported {
        assert!(live.contains(&k.client_id));
        assert!(
            s3(&peer, k)
                .put_object(bucket, "x", b"x".to_vec())
                .await
                .ok()
        );
    }
}

/// SeaweedFS lets a tenant's key make more keys for itself: the reconcile pass removes every
/// key Waldur does not hold, and the portal's keys keep working.
#[tokio::test]
async fn keys_a_tenant_makes_itself_are_removed() {
    let c = created(false, json!({"max_storage_limit": 8})).await;
    let keys = c.env.waldur.api_keys(&c.res);
    let form = site_agent_sdk::sigv4::encode_pairs([
        ("Action", "CreateAccessKey"),
        ("Version", "2010-05-08"),
        ("UserName", c.uid.as_str()),
    ]);
    let a = signed(&c.peer, &keys[0], "iam")
        .send(
            "iam",
            reqwest::Method::POST,
            &format!("{}/", c.peer.endpoint),
            Some("application/x-www-form-urlencoded"),
            form.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "SeaweedFS 4.48 allows it: {}", a.body);
    let app = c.env.app();
    let backend = app.processors[0].backend.clone();
    assert_eq!(
        backend
            .user(&c.uid)
            .await
            .unwrap()
            .unwrap()
            .access_keys
            .len(),
        3
    );
    app.reconcile_cycle().await;
    let mut live = backend.user(&c.uid).await.unwrap().unwrap().access_keys;
    live.sort();
    let mut held: Vec<String> = keys.iter().map(|k| k.client_id.clone()).collect();
    held.sort();
    assert_eq!(live, held, "only Waldur's keys remain");
    for k in &keys {
        assert!(
            s3(&c.peer, k)
                .put_object(&c.bucket, "x", b"x".to_vec())
                .await
                .ok()
        );
    }
}

/// SeaweedFS 4.48 refuses a tenant's PutBucketVersioning, except now and then while IAM is
/// being written (seen under concurrent user changes). Old versions must then neither escape
/// billing nor be deleted by a Terminate that keeps data.
#[tokio::test]
async fn versions_a_tenant_keeps_are_billed_and_kept() {
    let c = created(false, json!({"max_storage_limit": 64})).await;
    let admin = c.peer.admin();
    let url = format!("{}/{}?versioning", c.peer.endpoint, c.bucket);
    let on = SignedHttp::new(
        reqwest::Client::new(),
        Signer::new(
            c.peer.admin_access_key.clone(),
            c.peer.admin_secret_key.clone().into(),
            c.peer.region.clone(),
            "s3",
        ),
    )
    .send(
        "versioning",
        reqwest::Method::PUT,
        &url,
        Some("application/xml"),
        b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(on.status, 200, "{}", on.body);
    let keys = c.env.waldur.api_keys(&c.res);
    let tenant = s3(&c.peer, &keys[0]);
    assert!(
        tenant
            .put_object(&c.bucket, "doc", vec![1; 1000])
            .await
            .ok()
    );
    assert!(tenant.put_object(&c.bucket, "doc", vec![2; 500]).await.ok());
    assert_eq!(tenant.delete_object(&c.bucket, "doc").await.status, 204);
    let listed = admin.list_objects(&c.bucket).await;
    assert!(
        !listed.body.contains("<Key>doc</Key>"),
        "the current listing is empty"
    );

    let app = c.env.app();
    let backend = app.processors[0].backend.clone();
    let t = site_agent_sdk::Tenant::new(&c.uid, &c.res).unwrap();
    let u = backend.usage(&t).await.unwrap();
    assert_eq!(
        (u.bytes, u.objects),
        (1500, 2),
        "both old versions are billed: {u:?}"
    );

    let term = c.env.place_for(&c.res, "Terminate", json!({}), json!({}));
    match &app.order_cycle().await[..] {
        [(o, Outcome::Erred(m))] if *o == term.order_uuid => {
            assert!(m.contains("still holds 2 object(s)"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        backend.usage(&t).await.unwrap().bytes,
        1500,
        "nothing was deleted"
    );
    // Purge (an operator's decision) removes every version, then the bucket.
    backend
        .delete_user(&t, site_agent_sdk::DeleteMode::Purge)
        .await
        .unwrap();
    let gone = admin.list_objects(&c.bucket).await;
    assert_eq!(gone.code(), Some("NoSuchBucket"), "{gone:?}");
}
