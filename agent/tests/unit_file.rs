//! The shipped systemd unit: hardened, notify + watchdog, every secret from a credential.

use std::path::Path;

fn unit() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/site-agent.service"),
    )
    .unwrap()
}

#[test]
fn the_unit_is_hardened_and_takes_every_secret_from_a_credential() {
    let u = unit();
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "RestartPreventExitStatus=3",
        "CapabilityBoundingSet=\n",
        "ProtectClock=yes",
        "ProtectKernelLogs=yes",
        "ProtectHostname=yes",
        "RestrictRealtime=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "UMask=0077",
        "StateDirectory=site-agent",
        "NoNewPrivileges=yes",
        "MemoryMax=",
    ] {
        assert!(u.contains(directive), "the unit lacks {directive:?}");
    }
    for credential in [
        "waldur_api_token_credential",
        "token_credential",
        "admin_secret_key_credential",
        "oidc_client_secret_credential",
        "proxy_password_credential",
    ] {
        assert!(
            u.contains(credential),
            "no credential shown for {credential}"
        );
    }
    // Where systemd is installed, its own judgement: exposure at most 2.0 ("OK").
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/site-agent.service");
        let out = std::process::Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=20"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze security: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
