//! `waldur-sim`: runs the Waldur Mastermind simulator as a standalone server for demos.

use std::net::SocketAddr;
use std::process::ExitCode;

use site_agent_sims::waldur::{ComponentSeed, OfferingSeed, SimOptions, WaldurSim};

const HELP: &str = "\
waldur-sim: a strict, stateful simulator of the Waldur Mastermind REST API (the subset
site-agent uses), for demos and manual testing.

USAGE:
    waldur-sim --token <TOKEN> [OPTIONS]

OPTIONS:
    --listen <ADDR>          Address to listen on [default: 127.0.0.1:8080]
    --token <TOKEN>          API token of the agent user (non-staff offering manager)
    --staff-token <TOKEN>    API token of a staff user [default: random, printed on stderr]
    --offering-uuid <HEX>    Seed an offering with this uuid; it gets one component
                             `storage` (billing usage, unit GB-day)
    --offering-name <NAME>   Name of the seeded offering [default: S3 Object Storage]
    --oidc-client <ID:SECRET>
                             Register an OIDC client for POST /oidc/token (repeatable)
    --rabbitmq               Publish events to the RabbitMQ named by RMQ_MGMT_URL,
                             RMQ_ADMIN_USER, RMQ_ADMIN_PASS, RMQ_WS_URL, RMQ_STOMP_HOST,
                             RMQ_STOMP_PORT (as ../shared/peers/start-rabbitmq.sh prints)
    -h, --help               Print this help

Once listening it prints `WALDUR_SIM_URL=http://ADDR/api/` on stdout and runs until
SIGTERM or Ctrl-C. The REST API lives under /api/ (Authorization: Token <TOKEN>); an
unauthenticated control API lives under /sim/:
    POST /sim/offerings              OfferingSeed JSON          -> {\"uuid\"}
    POST /sim/orders                 OrderSeed JSON             -> {\"order_uuid\", \"resource_uuid\"}
    GET  /sim/orders[/{uuid}]        orders as the API renders them
    POST /sim/orders/{uuid}/state    {\"state\": \"...\"}
    GET  /sim/resources[/{uuid}]     resources as the API renders them
    POST /sim/resources/{uuid}/fields  {\"paused\": true, ...}
    GET  /sim/resources/{uuid}/api_keys   stored keys, secrets included
    GET  /sim/resources/{uuid}/usages     component usage rows
    POST /sim/api_keys/{uuid}/rotate      consumer-side rotation
    GET  /sim/events                 {\"published\", \"pending\", \"messages\": [{vhost, queue, body}]}
    GET  /sim/calls                  every recorded /api/ request
    POST /sim/fail_next              {\"n\": 1, \"status\": 500}
    POST /sim/down                   {\"down\": true}
    GET|POST /sim/now                {\"now\": \"2026-11-22T12:00:00Z\"} freezes the clock
    POST /sim/oidc_clients           {\"client_id\": \"...\", \"client_secret\": \"...\"}
";

struct Args {
    listen: SocketAddr,
    token: String,
    staff_token: Option<String>,
    offering_uuid: Option<uuid::Uuid>,
    offering_name: String,
    oidc_clients: Vec<(String, String)>,
    rabbitmq: bool,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut token = None;
    let mut staff_token = None;
    let mut offering_uuid = None;
    let mut offering_name = "S3 Object Storage".to_string();
    let mut oidc_clients = Vec::new();
    let mut rabbitmq = false;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Parsed::Help);
        }
        if flag == "--rabbitmq" && inline.is_none() {
            rabbitmq = true;
            continue;
        }
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: {e} (expected e.g. 127.0.0.1:8080)"))?;
            }
            "--token" => token = Some(value()?),
            "--staff-token" => staff_token = Some(value()?),
            "--offering-uuid" => {
                let v = value()?;
                offering_uuid = Some(
                    uuid::Uuid::try_parse(&v).map_err(|e| format!("--offering-uuid {v:?}: {e}"))?,
                );
            }
            "--offering-name" => offering_name = value()?,
            "--oidc-client" => {
                let v = value()?;
                let (id, secret) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--oidc-client {v:?}: expected ID:SECRET"))?;
                oidc_clients.push((id.to_string(), secret.to_string()));
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let token = token.ok_or("--token is required (try --help)")?;
    if token.trim().is_empty() || token.contains(char::is_whitespace) {
        return Err("--token must be non-empty and contain no whitespace".to_string());
    }
    Ok(Parsed::Run(Args {
        listen,
        token,
        staff_token,
        offering_uuid,
        offering_name,
        oidc_clients,
        rabbitmq,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("waldur-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let rabbitmq = if args.rabbitmq {
        match site_agent_sims::rmq::RmqPeer::try_from_env() {
            Ok(peer) => Some(peer),
            Err(e) => {
                eprintln!("waldur-sim: --rabbitmq: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let defaults = SimOptions::default();
    let staff_generated = args.staff_token.is_none();
    let opts = SimOptions {
        bind: args.listen,
        provider_token: args.token,
        staff_token: args.staff_token.unwrap_or(defaults.staff_token),
        agent_user_uuid: defaults.agent_user_uuid,
        rabbitmq,
    };
    let sim = match WaldurSim::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("waldur-sim: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    for (id, secret) in args.oidc_clients {
        sim.add_oidc_client(id, secret);
    }
    if let Some(uuid) = args.offering_uuid {
        let seed = OfferingSeed {
            uuid: Some(uuid),
            name: args.offering_name,
            components: vec![ComponentSeed::usage("storage", "Storage", "GB-day")],
            ..OfferingSeed::default()
        };
        let hex = sim.add_offering(seed);
        eprintln!("waldur-sim: seeded offering {hex}");
    }
    if staff_generated {
        eprintln!("waldur-sim: staff token {}", sim.staff_token());
    }
    println!("WALDUR_SIM_URL={}", sim.api_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    site_agent_sims::shutdown_signal().await;
    eprintln!("waldur-sim: shutting down");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Parsed, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags_and_rejects_garbage() {
        let Ok(Parsed::Run(a)) = args(&[
            "--listen",
            "127.0.0.1:9999",
            "--token=abc",
            "--offering-uuid",
            "0ff00000000000000000000000000001",
            "--oidc-client",
            "agent:s3cret",
        ]) else {
            panic!("expected a run configuration");
        };
        assert_eq!(a.listen.port(), 9999);
        assert_eq!(a.token, "abc");
        assert_eq!(a.offering_name, "S3 Object Storage");
        assert_eq!(
            a.oidc_clients,
            vec![("agent".to_string(), "s3cret".to_string())]
        );
        assert!(a.offering_uuid.is_some());
        assert!(matches!(args(&["--help"]), Ok(Parsed::Help)));
        assert!(args(&[]).is_err());
        assert!(args(&["--token"]).is_err());
        assert!(args(&["--token", "t", "--listen", "nowhere"]).is_err());
        assert!(args(&["--token", "t", "--bogus"]).is_err());
        assert!(args(&["--token", "t", "--offering-uuid", "xyz"]).is_err());
    }
}
