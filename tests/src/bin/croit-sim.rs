//! `croit-sim`: run the croit management API simulator for a demo.
//!
//! ```text
//! croit-sim --listen 127.0.0.1:8081 --token <bearer>
//! croit-sim --listen 127.0.0.1:8081 --username <u> --password <p>
//! ```
//! Prints `CROIT_SIM_URL=http://…` once listening; runs until SIGTERM or
//! ctrl-c.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use site_agent_sims::croit::{CroitAuth, CroitSim};

const USAGE: &str = "\
croit-sim: a strict simulator of the croit management API (S3 subset)

USAGE:
    croit-sim [--listen ADDR] (--token TOKEN | --username USER --password PASS)

OPTIONS:
    --listen ADDR      address to bind [default: 127.0.0.1:8081]
    --token TOKEN      accept `Authorization: Bearer TOKEN`
    --username USER    with --password: accept HTTP Basic USER:PASS
    --password PASS
    -h, --help         print this help

Prints CROIT_SIM_URL=http://HOST:PORT on stdout once listening.
Control API (no auth): GET /sim/users, GET /sim/users/{uid},
POST /sim/users/{uid}/buckets {\"bucket\",\"size\",\"objects\"}, GET /sim/calls.";

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    auth: CroitAuth,
}

/// `Ok(None)` means `--help`.
fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8081));
    let (mut token, mut username, mut password) = (None, None, None);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v}: not an address ({e})"))?;
            }
            "--token" => token = Some(value("--token")?),
            "--username" => username = Some(value("--username")?),
            "--password" => password = Some(value("--password")?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    let auth = match (token, username, password) {
        (Some(t), None, None) if !t.is_empty() => CroitAuth::Bearer(t),
        (None, Some(username), Some(password)) => CroitAuth::Basic { username, password },
        (None, None, None) => {
            return Err("one of --token or --username/--password is required".into());
        }
        _ => {
            return Err("give either a non-empty --token or both --username and --password".into());
        }
    };
    Ok(Some(Args { listen, auth }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("croit-sim: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sim = match CroitSim::start_on(args.listen, args.auth).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("croit-sim: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("CROIT_SIM_URL={}", sim.base_url());
    let _ = std::io::stdout().flush();
    site_agent_sims::shutdown_signal().await;
    eprintln!("croit-sim: stopping");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_token_and_listen() {
        let a = parse(&["--listen", "0.0.0.0:9000", "--token", "t"])
            .unwrap()
            .unwrap();
        assert_eq!(a.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(a.auth, CroitAuth::Bearer("t".into()));
    }

    #[test]
    fn parses_basic_and_help() {
        let a = parse(&["--username", "u", "--password", "p"])
            .unwrap()
            .unwrap();
        assert_eq!(a.listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(
            a.auth,
            CroitAuth::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_args() {
        for bad in [
            &[][..],
            &["--token"],
            &["--token", ""],
            &["--token", "t", "--username", "u", "--password", "p"],
            &["--username", "u"],
            &["--listen", "nowhere", "--token", "t"],
            &["--bogus"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
