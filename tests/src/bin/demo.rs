//! The README demo: starts waldur-sim and croit-sim, places a Create order, runs the real
//! `site-agent` binary once against them, and shows the result. Needs no external service.

use serde_json::json;
use site_agent_sims::croit::{CroitAuth, CroitSim};
use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, OrderSeed, SimOptions, WaldurSim};
use std::path::PathBuf;
use std::process::Command;

const WALDUR_TOKEN: &str = "demo0000000000000000000000000000000token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let agent = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/debug/site-agent"));
    let config = root.join("config/demo.yaml");
    let _ = std::fs::remove_dir_all(root.join("target/demo"));

    let waldur = WaldurSim::start(SimOptions {
        bind: "127.0.0.1:18080".parse()?,
        provider_token: WALDUR_TOKEN.into(),
        ..SimOptions::default()
    })
    .await?;
    let croit = CroitSim::start_on(
        "127.0.0.1:18081".parse()?,
        CroitAuth::Bearer("croit-demo-token".into()),
    )
    .await?;
    let offering = waldur.add_offering(OfferingSeed {
        uuid: Some("0ff00000000000000000000000000001".parse()?),
        name: "Demo S3".into(),
        components: vec![ComponentSeed::s3_storage()],
        ..OfferingSeed::default()
    });
    let placed = waldur.place_order(OrderSeed {
        offering_uuid: offering,
        order_type: "Create".into(),
        resource_name: "Acme backups".into(),
        project_slug: "acme-ml".into(),
        customer_slug: "acme".into(),
        attributes: json!({"name": "Acme backups", "max_storage_limit": 500, "max_object_limit": 1000000}),
        ..OrderSeed::default()
    });
    let state = |w: &WaldurSim| {
        w.order(&placed.order_uuid)
            .map(|o| o["state"].clone())
            .unwrap_or_default()
    };
    println!(
        "== waldur-sim: {}   croit-sim: {}",
        waldur.api_url(),
        croit.base_url()
    );
    println!(
        "== order {} placed: state {}",
        placed.order_uuid,
        state(&waldur)
    );
    println!(
        "== running: {} run --once -c {}\n",
        agent.display(),
        config.display()
    );

    let status = tokio::task::spawn_blocking(move || {
        Command::new(&agent)
            .args(["run", "--once", "--log-format", "text", "-c"])
            .arg(&config)
            .current_dir(&root)
            .status()
    })
    .await??;
    println!();
    println!("== agent exited: {status}");
    println!("== order state: {}", state(&waldur));
    let resource = waldur.resource(&placed.resource_uuid).unwrap_or_default();
    println!(
        "== resource: state {}, backend_id {}",
        resource["state"], resource["backend_id"]
    );
    println!("   metadata: {}", resource["backend_metadata"]);
    let uid = resource["backend_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(user) = croit.user(&uid) {
        println!("== croit S3 user {:?} (email {})", user.uid, user.email);
        println!("   user quota:   {:?}", user.user_quota);
        println!("   bucket quota: {:?}", user.bucket_quota);
        for (ak, _) in &user.keys {
            println!("   key: {ak} (secret held by Waldur, not shown)");
        }
    }
    for k in waldur.api_keys(&placed.resource_uuid) {
        println!(
            "== Waldur resource API key {} state {} client_id {}",
            k.uuid, k.state, k.client_id
        );
    }
    if state(&waldur) != "done" {
        anyhow::bail!("the order did not complete");
    }
    println!("\nDemo complete: the order went from pending-provider to done.");
    Ok(())
}
