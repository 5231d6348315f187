//! `load-components` against waldur-sim: existing components are updated by type, new ones
//! created, `unit_factor` never leaves the agent.

mod common;

use common::*;
use site_agent::retry::RetryPolicy;

#[tokio::test]
async fn configured_components_are_created_or_updated() {
    let env = env().await;
    let yaml = env.usage_config_yaml()
        + "      s3_egress:\n        measured_unit: GB\n        accounting_type: limit\n        label: Egress\n        limit: 500\n        description: Data out\n        unit_factor: 1000000000\n";
    let config = site_agent::config::load_str(&yaml, "t", Vec::<(String, String)>::new()).unwrap();
    let results = site_agent::components::load_components(&config, RetryPolicy::none()).await;
    let verbs: Vec<(String, Result<&str, String>)> =
        results.into_iter().map(|(_, c, r)| (c, r)).collect();
    assert!(
        verbs.contains(&("s3_storage".to_string(), Ok("updated"))),
        "{verbs:?}"
    );
    assert!(
        verbs.contains(&("s3_objects".to_string(), Ok("updated"))),
        "{verbs:?}"
    );
    assert!(
        verbs.contains(&("s3_egress".to_string(), Ok("created"))),
        "{verbs:?}"
    );
    let create = env
        .waldur
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("/create_offering_component/"))
        .expect("a create call");
    assert_eq!(create.body["type"], "s3_egress");
    assert_eq!(create.body["billing_type"], "limit");
    assert_eq!(create.body["name"], "Egress");
    assert_eq!(
        create.body["limit_amount"], 500,
        "an integer, as Waldur requires"
    );
    assert_eq!(create.body["description"], "Data out");
    assert!(
        create.body.get("unit_factor").is_none(),
        "unit_factor stays agent-side"
    );
    // A second run updates everything and creates nothing.
    let again = site_agent::components::load_components(&config, RetryPolicy::none()).await;
    assert!(
        again.iter().all(|(_, _, r)| *r == Ok("updated")),
        "{again:?}"
    );
}
