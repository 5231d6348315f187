//! Configuration: upstream YAML accepted unchanged, broken files refused with messages that name
//! the offering and key, unknown keys warned about by name, environment overrides.

use site_agent::config::{WaldurAuth, load, load_str};
use std::path::Path;

const GOOD: &str = r#"
timezone: Europe/Tallinn
offerings:
  - name: S3
    waldur_api_url: https://waldur.example.com/api/
    waldur_api_token: 0123456789abcdef
    waldur_offering_uuid: 0ff00000-0000-0000-0000-000000000001
    backend_type: CEPH_S3
    order_processing_backend: ceph_s3
    mqtt_enabled: true
    backend_settings:
      api_url: https://croit.example.com
      token: croit
      s3_endpoint: https://s3.example.com
      user_prefix: old_
      colour: blue
    backend_components:
      s3_storage:
        backend_name: storage
        measured_unit: GB-day
        accounting_type: usage
        label: Storage
        unit_factor: 1000000000
        article_code: X1
"#;

fn no_env() -> Vec<(String, String)> {
    vec![]
}

#[test]
fn upstream_config_loads_with_warnings_for_unknown_keys() {
    let c = load_str(GOOD, "good.yaml", no_env()).unwrap();
    let o = &c.offerings[0];
    assert_eq!(c.timezone, chrono_tz::Europe::Tallinn);
    assert_eq!(
        o.offering_uuid.simple().to_string(),
        "0ff00000000000000000000000000001"
    );
    assert_eq!(o.backend_type, "ceph_s3");
    assert_eq!(o.api_base, "https://waldur.example.com");
    assert_eq!(o.storage_component().unwrap().0, "s3_storage");
    assert_eq!(o.components["s3_storage"].extra["article_code"], "X1");
    let w = c.warnings.join("\n");
    assert!(
        w.contains(r#"offering "S3" (#1): `mqtt_enabled`: unknown key"#),
        "{w}"
    );
    assert!(w.contains("`backend_settings.colour`: unknown key"), "{w}");
    assert!(
        w.contains("`backend_settings.user_prefix` has no effect with the `slug` naming policy"),
        "{w}"
    );
}

/// The croit-s3 plugin's page example, as an operator would copy it: it loads, plays every
/// role, names users as that plugin did and bills its components with their old meaning.
#[test]
fn the_croit_s3_plugin_example_loads_and_plays_every_role() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/croit-s3-plugin-example.yaml");
    let c = load(&path).unwrap();
    let o = &c.offerings[0];
    assert_eq!(o.backend_type, "croit_s3");
    assert_eq!(o.order_processing_backend.as_deref(), Some("croit_s3"));
    assert_eq!(o.membership_sync_backend.as_deref(), Some("croit_s3"));
    assert_eq!(o.reporting_backend.as_deref(), Some("croit_s3"));
    assert_eq!(
        o.components["s3_storage"].usage,
        Some(site_agent::config::UsageKind::StorageLatest)
    );
    assert_eq!(
        o.components["s3_objects"].usage,
        Some(site_agent::config::UsageKind::ObjectsLatest)
    );
    // Only needed to publish the components: defaulted.
    assert_eq!(o.components["s3_objects"].measured_unit, "objects");
    assert_eq!(o.components["s3_storage"].label, "s3_storage");
    assert_eq!(o.components["s3_storage"].enforce_limits, Some(true));
    assert!(o.enforces("storage") && o.enforces("objects"));
    let summary = o.backend.summary();
    assert!(
        summary.contains("users named by policy croit_s3"),
        "{summary}"
    );
    let w = c.warnings.join("\n");
    assert!(w.contains("no role is named"), "{w}");
    assert!(
        w.contains("`backend_settings.s3_endpoint` is not set"),
        "{w}"
    );
    assert!(!w.contains("unknown key"), "{w}");
}

#[test]
fn every_offering_and_component_problem_is_reported_at_once() {
    let yaml = r#"
offerings:
  - name: A
    waldur_api_url: https://waldur.example.com/api/
    waldur_api_token: t
    waldur_offering_uuid: 0ff00000000000000000000000000001
    backend_type: ceph_s3
    backend_settings: {api_url: "https://croit", token: x, s3_endpoint: "https://s3"}
    backend_components:
      s3_storage: {accounting_type: usage, backend_name: storage, unit_factor: "big"}
      s3_objects: {backend_name: objects, enforce_limits: "yes"}
  - name: B
    waldur_api_url: 17
    waldur_offering_uuid: 0ff00000000000000000000000000002
    backend_type: ceph_s3
  - name: C
    waldur_api_url: https://waldur.example.com/api/
    waldur_api_token: t
    waldur_offering_uuid: 0ff00000000000000000000000000003
    backend_type: ceph_s3
    order_processing_backend: ""
    membership_sync_backend: ""
    reporting_backend: ""
    backend_settings: {api_url: "https://croit", token: x, s3_endpoint: "https://s3"}
"#;
    let errs = load_str(yaml, "many.yaml", no_env())
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains(r#"offering "A" (#1): `backend_components.s3_storage.unit_factor`"#),
        "{errs}"
    );
    assert!(
        errs.contains(
            r#"offering "A" (#1): `backend_components.s3_objects`: missing field `accounting_type`"#
        ),
        "{errs}"
    );
    assert!(
        errs.contains(r#"offering "B" (#2): `waldur_api_url`"#),
        "{errs}"
    );
    let ok = yaml
        .replace("unit_factor: \"big\"", "unit_factor: 1000000000")
        .replace(
            "s3_objects: {backend_name: objects, enforce_limits: \"yes\"}",
            "s3_objects: {accounting_type: usage, backend_name: objects, enforce_limits: \"yes\"}",
        )
        .replace(
            "waldur_api_url: 17",
            "waldur_api_url: https://w/api/\n    waldur_api_token: t\n    backend_settings: {api_url: \"https://croit\", token: x, s3_endpoint: \"https://s3\"}",
        );
    let errs = load_str(&ok, "many.yaml", no_env())
        .unwrap_err()
        .to_string();
    assert!(
        errs.contains("`backend_components.s3_objects.enforce_limits`: must be true or false"),
        "{errs}"
    );
    let fine = ok.replace("enforce_limits: \"yes\"", "enforce_limits: false");
    let c = load_str(&fine, "many.yaml", no_env()).unwrap();
    assert!(c.offerings[0].enforces("storage") && !c.offerings[0].enforces("objects"));
    let w = c.warnings.join("\n");
    assert!(
        w.contains(r#"offering "C" (#3): THIS OFFERING DOES NOTHING"#),
        "{w}"
    );
}

#[test]
fn every_example_in_config_dir_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml") {
            load(&p).unwrap_or_else(|e| panic!("{} rejected: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn broken_examples_are_refused_naming_the_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/broken");
    for (file, needle) in [
        (
            "missing-offering-uuid.yaml",
            r#"offering "No UUID" (#1): missing field `waldur_offering_uuid`"#,
        ),
        (
            "unit-factor-one.yaml",
            "`backend_components.s3_storage.unit_factor`: must be greater than 1",
        ),
        (
            "bad-timezone.yaml",
            r#"`timezone`: "Mars/Base" is not an IANA time zone"#,
        ),
        (
            "flavour-mixed.yaml",
            "`admin_access_key`, `admin_secret_key`",
        ),
    ] {
        let e = load(&dir.join(file)).unwrap_err().to_string();
        assert!(e.contains(needle), "{file}: {e}");
    }
}

fn with(replace: &str, by: &str) -> String {
    assert!(GOOD.contains(replace), "{replace}");
    GOOD.replace(replace, by)
}

#[test]
fn semantic_errors_name_offering_and_key() {
    let cases = [
        (
            with("waldur_api_token: 0123456789abcdef", ""),
            "`waldur_api_token` is required",
        ),
        (
            with(
                "waldur_api_token: 0123456789abcdef",
                "oidc_token_url: https://sso/token",
            ),
            "OIDC needs all three",
        ),
        (
            with("https://waldur.example.com/api/", "ftp://waldur"),
            "`waldur_api_url`: \"ftp://waldur\" must be an http",
        ),
        (
            with("0ff00000-0000-0000-0000-000000000001", "not-a-uuid"),
            "`waldur_offering_uuid`: \"not-a-uuid\" is not a UUID",
        ),
        (
            with("backend_type: CEPH_S3", "backend_type: slurm"),
            "`backend_type`: \"slurm\" is not supported",
        ),
        (
            with("unit_factor: 1000000000", ""),
            "`backend_components.s3_storage.unit_factor`: is required",
        ),
        (
            with("accounting_type: usage", "accounting_type: monthly"),
            "must be one of usage, limit, one",
        ),
        (
            with("timezone: Europe/Tallinn", "reporting_periods: 13"),
            "`reporting_periods`: must be between 1 and 12",
        ),
        (
            with("timezone: Europe/Tallinn", "log_level: LOUD"),
            "`log_level`",
        ),
        (
            with("s3_endpoint: https://s3.example.com", "s3_endpoint: s3"),
            "backend_settings: `s3_endpoint` must be an http(s) URL",
        ),
        (with("name: S3", "name: 5"), "`name`"),
        ("offerings: 3".to_string(), "`offerings`"),
        (
            "- just a list".to_string(),
            "the top level must be a mapping",
        ),
        ("offerings: [".to_string(), "not valid YAML"),
    ];
    for (yaml, needle) in cases {
        let e = load_str(&yaml, "t.yaml", no_env()).unwrap_err().to_string();
        assert!(e.contains(needle), "expected {needle:?} in:\n{e}");
        if needle.starts_with('`')
            && yaml.contains("name: S3")
            && !needle.contains("timezone")
            && !needle.contains("reporting")
            && !needle.contains("log_level")
        {
            assert!(
                e.contains(r#"offering "S3" (#1)"#),
                "offering not named in:\n{e}"
            );
        }
    }
}

#[test]
fn environment_overrides_and_token_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("token");
    std::fs::write(&tok, "file-token-canary\n").unwrap();
    let yaml = with(
        "waldur_api_token: 0123456789abcdef",
        &format!("waldur_api_token_file: {}", tok.display()),
    );
    let env = vec![
        ("SITE_AGENT__TIMEZONE".to_string(), "UTC".to_string()),
        (
            "SITE_AGENT__OFFERINGS__0__VERIFY_SSL".to_string(),
            "false".to_string(),
        ),
    ];
    let c = load_str(&yaml, "t.yaml", env).unwrap();
    assert_eq!(c.timezone, chrono_tz::UTC);
    assert!(!c.offerings[0].verify_ssl);
    assert_eq!(c.env_overrides.len(), 2);
    match &c.offerings[0].auth {
        WaldurAuth::Token(t) => {
            assert_eq!(secrecy::ExposeSecret::expose_secret(t), "file-token-canary")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !format!("{c:?}").contains("file-token-canary"),
        "Debug output leaks the token"
    );
    assert!(
        !format!("{c:?}").contains("croit\""),
        "Debug output leaks the croit token"
    );
}

#[test]
fn api_base_keeps_hosts_ending_in_a_p_or_i() {
    let c = load_str(
        &with("https://waldur.example.com/api/", "https://waldur.ai/api/"),
        "t",
        no_env(),
    )
    .unwrap();
    assert_eq!(c.offerings[0].api_base, "https://waldur.ai");
}

#[test]
fn usage_configuration_is_checked_at_start_up() {
    let reporting = with(
        "order_processing_backend: ceph_s3",
        "order_processing_backend: ceph_s3\n    reporting_backend: ceph_s3",
    );
    let billed = reporting.replace(
        "        article_code: X1",
        "        article_code: X1\n        usage: gb_days",
    );
    let quiet = load_str(&reporting, "t", no_env()).unwrap();
    assert!(quiet.warnings.iter().any(|w| w.contains(
        "`reporting_backend: ceph_s3` with no component that has `usage:` reports nothing"
    )));
    let c = load_str(&billed, "t", no_env()).unwrap();
    let o = &c.offerings[0];
    assert_eq!(o.reported_components().count(), 1);
    assert_eq!(c.usage.schedule_text, "*/10 * * * *");
    assert_eq!(c.usage.close_lead, chrono::Duration::minutes(5));

    let cases = [
        (billed.replace("usage: gb_days", "usage: gigabytes"), "`backend_components.s3_storage.usage`: \"gigabytes\" must be one of gb_days"),
        (billed.replace("unit_factor: 1000000000", "unit_factor: 1.5"), "needs a whole number of bytes per unit above 1"),
        (billed.replace("usage: gb_days", "usage: objects_peak\n        usage_source: croit_series"), "croit_series only feeds `usage: gb_days`"),
        (
            with("order_processing_backend: ceph_s3", "order_processing_backend: ceph_s3\n    reporting_backend: croit_usage")
                .replace("        backend_name: storage\n", ""),
            "`reporting_backend` is set but no component says how it is billed",
        ),
        (format!("usage_sampling_schedule: \"every ten minutes\"\n{billed}"), "`usage_sampling_schedule`: \"every ten minutes\" is not a cron expression"),
        (format!("usage_sampling_schedule: \"0 0 */10 * * * *\"\n{billed}"), "must have 5 fields"),
        (format!("usage_close_minutes: 0\n{billed}"), "`usage_close_minutes`: must be between 1 and 1440"),
        (
            billed.replace("      api_url: https://croit.example.com\n      token: croit\n", "      flavour: radosgw\n      admin_access_key: AK\n      admin_secret_key: SK\n").replace("usage: gb_days", "usage: gb_days\n        usage_source: croit_series"),
            "`backend_components.s3_storage.usage_source`: the backend keeps no usage series of its own",
        ),
    ];
    for (yaml, needle) in cases {
        let e = load_str(&yaml, "t.yaml", no_env()).unwrap_err().to_string();
        assert!(e.contains(needle), "expected {needle:?} in:\n{e}");
    }
    // Upstream's croit_usage bills GB-days of the storage component from croit's series.
    let upstream = with(
        "order_processing_backend: ceph_s3",
        "order_processing_backend: ceph_s3\n    reporting_backend: croit_usage",
    );
    let c = load_str(&upstream, "t", no_env()).unwrap();
    let (key, comp) = c.offerings[0].reported_components().next().unwrap();
    assert_eq!(key, "s3_storage");
    assert_eq!(comp.usage, Some(site_agent::config::UsageKind::GbDays));
    assert_eq!(
        comp.usage_source,
        site_agent::config::UsageSource::MeteredSeries
    );
}

#[test]
fn values_that_would_panic_spin_or_lose_the_journal_are_refused() {
    let top = |line: &str| format!("{line}\n{GOOD}");
    let cases = [
        (
            top("database_path: \"\""),
            "`database_path` must name a file",
        ),
        (top("database_path: \":memory:\""), "is not a file path"),
        (
            top("database_path: \"file::memory:?cache=shared\""),
            "is not a file path",
        ),
        (
            top("global_proxy: socks5://u:pw-canary@proxy:1080"),
            "SOCKS proxies are not supported",
        ),
        (
            top("history_months: 0"),
            "`history_months`: must be between 1 and 120",
        ),
        (
            top("metrics_listen: \"localhost:9847\""),
            "`metrics_listen`: \"localhost:9847\" is not an address and port",
        ),
        (top("metrics_listen: \"127.0.0.1\""), "`metrics_listen`"),
        (
            top("waldur_timeout: 1e20"),
            "`waldur_timeout`: must be between 1 and 600",
        ),
        (
            top("waldur_timeout: 1e-300"),
            "`waldur_timeout`: must be between 1 and 600",
        ),
        (
            with(
                "      token: croit\n",
                "      token: croit\n      timeout: 1e20\n",
            ),
            "`timeout` must be a number between 0.5 and 600",
        ),
        (
            with(
                "      token: croit\n",
                "      token: croit\n      timeout: 1e-12\n",
            ),
            "`timeout` must be a number between 0.5 and 600",
        ),
    ];
    for (yaml, needle) in cases {
        let e = load_str(&yaml, "t.yaml", no_env()).unwrap_err().to_string();
        assert!(e.contains(needle), "expected {needle:?} in:\n{e}");
        assert!(!e.contains("pw-canary"), "a proxy password leaked: {e}");
    }
    // The heartbeat lives beside the database by default (readable outside PrivateTmp=).
    let c = load_str(
        &top("database_path: /var/lib/x/state.sqlite3"),
        "t.yaml",
        no_env(),
    )
    .unwrap();
    assert_eq!(c.heartbeat_file, Path::new("/var/lib/x/heartbeat"));
    assert_eq!(c.history_months, 13);
    assert_eq!(c.metrics_listen, None, "no endpoint unless asked for");
    let c = load_str(
        &top("metrics_listen: \"127.0.0.1:9847\""),
        "t.yaml",
        no_env(),
    )
    .unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9847".parse().unwrap()));
}

#[test]
fn the_oidc_client_secret_can_come_from_a_file_or_credential() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oidc"), "oidc-secret-canary\n").unwrap();
    let yaml = with(
        "waldur_api_token: 0123456789abcdef",
        &format!(
            "oidc_token_url: https://sso.example/token\n    oidc_client_id: agent\n    oidc_client_secret_file: {}",
            dir.path().join("oidc").display()
        ),
    );
    let c = load_str(&yaml, "t.yaml", no_env()).unwrap();
    match &c.offerings[0].auth {
        WaldurAuth::Oidc { client_secret, .. } => assert_eq!(
            secrecy::ExposeSecret::expose_secret(client_secret),
            "oidc-secret-canary"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{c:?}").contains("oidc-secret-canary"));
}
