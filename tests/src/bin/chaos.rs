//! `chaos [--iterations N] [--seed S] [--agent PATH] [--report FILE]`: the chaos run (see
//! `site_agent_sims::chaos`). Each iteration places a random mix of Create / Update /
//! Terminate / Restore orders, key rotations and data changes, injects Waldur faults (lost
//! answers, 503s, answers past the agent's timeout) in some iterations, starts the real agent,
//! SIGKILLs it at a random instant, restarts it until every order is final, runs one full
//! cycle, and checks the invariants. Prints `N passed, M failed` and, for each failure, the
//! iteration's seed and what was violated. Exit status 1 if any iteration failed.

use site_agent_sims::chaos::{Agent, Rng, World, check};
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Args {
    iterations: u64,
    seed: u64,
    agent: PathBuf,
    report: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        iterations: 200,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
        agent: std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("site-agent"),
        report: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--iterations" => {
                a.iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--agent" => a.agent = PathBuf::from(value()?),
            "--report" => a.report = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: chaos [--iterations N] [--seed S] [--agent PATH] [--report FILE]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !a.agent.exists() {
        return Err(format!(
            "{} not found: build it (cargo build -p site-agent) or pass --agent",
            a.agent.display()
        ));
    }
    Ok(a)
}

/// Waits until no order is pending, no rotation is in flight and the agent's key ledger is
/// settled (the agent keeps running).
async fn quiesce(world: &World, agent: &mut Agent, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let busy = world.busy() + world.open_ledger_rows();
        if busy == 0 {
            return Ok(());
        }
        if !agent.running() {
            return Err("the agent exited on its own".into());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{busy} orders, rotations or key ledger rows still pending after {limit:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut world = match World::new().await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("cannot start the simulators: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let log = world.dir.path().join("agent.log");
    let mut agent = Agent::new(&args.agent, &world.config, &log);
    println!(
        "chaos: {} iterations, seed {}, against {}, agent {}, log {}",
        args.iterations,
        args.seed,
        world.storage.name(),
        args.agent.display(),
        log.display()
    );
    let started = Instant::now();
    let (mut passed, mut failed, mut kills_mid_work) = (0u64, Vec::new(), 0u64);
    for i in 0..args.iterations {
        let seed = Rng::iteration_seed(args.seed, i);
        let mut rng = Rng::new(seed);
        world.act(&mut rng, i).await;
        let mut faults = world.faults(&mut rng);
        faults.extend(world.store_faults(&mut rng));
        // Some iterations run only the upstream order role: nothing may lean on the others.
        let orders_only = rng.chance(0.3);
        world
            .waldur
            .set_latency(Duration::from_millis(rng.range(5, 60)));
        let mut problems = Vec::new();
        if let Err(e) = agent.start(orders_only) {
            problems.push(format!("cannot start the agent: {e}"));
        }
        // Kill at a random instant: before, during or after the work.
        tokio::time::sleep(Duration::from_millis(rng.range(0, 1500))).await;
        if world.busy() > 0 {
            kills_mid_work += 1;
        }
        agent.kill();
        world.waldur.clear_faults();
        world.waldur.set_latency(Duration::ZERO);
        // Restarted, it must finish everything.
        if let Err(e) = agent.start(orders_only) {
            problems.push(format!("cannot restart the agent: {e}"));
        }
        if let Err(e) = quiesce(&world, &mut agent, Duration::from_secs(120)).await {
            problems.push(e);
        }
        // Orders, users, keys and quotas as the running agent left them; then one full cycle
        // of every role (usage) to completion, and the usage checks.
        agent.kill();
        problems.extend(check::orders_and_keys(&mut world).await);
        match agent.once() {
            Ok(true) => {}
            Ok(false) => problems.push("`site-agent run --once` failed".into()),
            Err(e) => problems.push(format!("cannot run the agent once: {e}")),
        }
        problems.extend(check::usage(&mut world));
        if problems.is_empty() {
            passed += 1;
        } else {
            println!("iteration {i} (seed {seed}) FAILED; faults: {faults:?}");
            for p in &problems {
                println!("  - {p}");
            }
            failed.push((i, seed, problems));
        }
        if (i + 1) % 10 == 0 {
            println!(
                "chaos: {} of {} iterations, {} failed, {:.0} s",
                i + 1,
                args.iterations,
                failed.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    agent.kill();
    if !failed.is_empty() {
        // The run's directory goes with the world: keep what explains a failure.
        let keep = std::env::temp_dir().join(format!("chaos-{}", args.seed));
        let _ = std::fs::create_dir_all(&keep);
        for f in ["agent.log", "state.sqlite3", "config.yaml"] {
            let _ = std::fs::copy(world.dir.path().join(f), keep.join(f));
        }
        println!(
            "chaos: the agent's log and database are kept in {}",
            keep.display()
        );
    }
    let orders = world.placed.len();
    let st = world.stats;
    let summary = format!(
        "{passed} passed, {} failed (seed {}, {} iterations against {}, {orders} orders, {} rotations, {} data changes, {kills_mid_work} kills with work in flight; checked {} keys, {} samples, {} figures (cumulative); {:.0} s)",
        failed.len(),
        args.seed,
        args.iterations,
        world.storage.name(),
        world.rotations_total,
        st.data_changes,
        st.keys_checked,
        st.samples_checked,
        st.figures_checked,
        started.elapsed().as_secs_f64()
    );
    println!("{summary}");
    for (i, seed, _) in &failed {
        println!("  failed: iteration {i}, seed {seed}");
    }
    if let Some(path) = &args.report {
        let _ = std::fs::write(path, format!("{summary}\n"));
    }
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
