//! Scenario 3, crashes: apply is killed with SIGKILL at a seeded moment (no destructor runs, nothing is
//! flushed), then applied again: it converges, with no duplicate and no orphan, and the output
//! file is never half-written.

use std::time::{Duration, Instant};

use futures::StreamExt;
use provision::emulator::Faults;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::generator;
use crate::harness::*;

/// Whether a file is the temporary file of an output file's atomic write: `.{name}.{random}.tmp`.
fn is_temporary(path: &std::path::Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Whether an output file is whole: it parses in its format.
fn whole(path: &std::path::Path, text: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str::<Value>(text).is_ok(),
        Some("toml") => text.parse::<toml::Table>().is_ok(),
        Some("env") => {
            text.ends_with('\n')
                && text
                    .lines()
                    .all(|l| l.is_empty() || l.starts_with('#') || l.contains('='))
        }
        _ => false,
    }
}

async fn one_crash(seed: u64) -> Figures {
    let mut f = Figures {
        runs: 1,
        ..Figures::default()
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc2a5);
    // Latency spreads an apply over a second or so, so that the kill lands between any two
    // of its writes.
    let faults = Faults {
        latency_ms: rng.random_range(20..80),
        replication_lag_ms: rng.random_range(0..400),
        seed: Some(seed),
        ..Faults::default()
    };
    let kill_at = Duration::from_millis(rng.random_range(0..1600));
    let t = Tenant::start_faults(faults.clone()).await;
    let g = generator::manifest(seed, "crash");
    let m = t.write("manifest.toml", g.text.as_bytes());
    let args = ["apply", m.to_str().unwrap_or_default(), "--yes", "-v"];
    let what = format!(
        "seed {seed}, killed at {kill_at:?}, faults {}\n{}",
        describe_faults(&faults),
        g.text
    );
    let first = t.run_killed_after(&args, &Auth::ClientSecret, kill_at).await;
    if first.killed {
        f.killed += 1;
    } else if first.panicked() {
        f.panics += 1;
    } else if !first.ok() && !first.clear_error() {
        f.problems
            .push(format!("{what}\nnot a clear error: {}", first.describe()));
    }
    // The output file is whole or absent. A kill between the temporary file's creation and its
    // rename may leave the temporary file (`.{name}.{random}.tmp`): the rerun's write removes it.
    for (path, text) in t.output_files() {
        if !is_temporary(&path) && !whole(&path, &text) {
            f.problems.push(format!(
                "{what}\nhalf-written output file {}:\n{text}",
                path.display()
            ));
        }
    }
    f.add_stats(&t.stats().await);
    let census_after_kill = census(&t.state().await, &g.unique_names);
    let again = t.run(&args, &Auth::ClientSecret).await;
    if again.panicked() {
        f.panics += 1;
    }
    match (again.ok(), converged(&t, &m, &g.unique_names).await) {
        // Killed or finished, the rerun converged; a first run that failed on its own is
        // counted apart.
        (true, Ok(())) if first.ok() || first.killed => f.converged += 1,
        (true, Ok(())) => f.failed_clear += 1,
        (_, e) => f.problems.push(format!(
            "{what}\nno convergence after the kill: {e:?}\nafter the kill: {census_after_kill:?}\n{}",
            again.describe()
        )),
    }
    // After the rerun: only whole output files, no temporary file left by the kill.
    for (path, text) in t.output_files() {
        if is_temporary(&path) || !whole(&path, &text) {
            f.problems.push(format!(
                "{what}\nafter the rerun, {} is left:\n{text}",
                path.display()
            ));
        }
    }
    let c = census(&t.state().await, &g.unique_names);
    f.duplicates += c.duplicates.len() as u64;
    f.orphans += c.orphans.len() as u64;
    if !c.clean() {
        f.problems.push(format!("{what}\n{c:?}"));
    }
    let leaked = leaks(&t, &[&first, &again], &[]).await;
    if !leaked.is_empty() {
        f.secrets_leaked += leaked.len() as u64;
        f.problems.push(format!("{what}\nleaked {leaked:?}"));
    }
    t.emu.shutdown().await;
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_killed_anywhere_converges_on_rerun() {
    let started = Instant::now();
    let n = (seeds(24) / 2).max(12);
    let mut all = Figures::default();
    let mut results = futures::stream::iter(1000..1000 + n)
        .map(one_crash)
        .buffer_unordered(6);
    while let Some(f) = results.next().await {
        all.merge(f);
    }
    all.report(
        &format!("Crashes: {n} seeds, SIGKILL between 0 and 1.6 s into apply"),
        started.elapsed(),
    );
}
