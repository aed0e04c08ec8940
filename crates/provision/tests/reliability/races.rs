//! Scenario 2, races: K concurrent applies of one manifest, and apply against destroy, end in a
//! consistent tenant: one application per unique name, one service principal per application,
//! one grant per client and resource, and never a grant or assignment that names a deleted
//! service principal. Every run either succeeds or fails with a clear error; afterwards a plain
//! apply converges.
//!
//! The racing runs get `--max-wait 60s`. A run cannot always tell a write of its own that has
//! not replicated yet from one another run undid (a fresh application deleted and purged by the
//! destroy): it waits for it within its budget and then fails clearly. The default budget
//! (180 s) is longer than the harness's hang limit (150 s), which would count that honest
//! failure as a hang; a hang here is a run that outlives its own budget.

use std::time::Instant;

use futures::StreamExt;
use futures::future::join_all;
use provision::emulator::Faults;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::generator;
use crate::harness::*;

/// Applies that race each other.
const K: usize = 4;

fn mild(seed: u64) -> Faults {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7ace);
    Faults {
        latency_ms: rng.random_range(5..40),
        throttle_rate: rng.random_range(0.0..0.05),
        replication_lag_ms: rng.random_range(0..500),
        seed: Some(seed),
        ..Faults::default()
    }
}

fn judge(f: &mut Figures, what: &str, run: &Run) {
    if run.panicked() {
        f.panics += 1;
    }
    if run.hung {
        f.hangs += 1;
    }
    if !run.ok() && !run.clear_error() {
        f.problems
            .push(format!("{what}: not a clear error: {}", run.describe()));
    } else if !run.ok() {
        f.add_cause(run);
    }
}

async fn finish(f: &mut Figures, t: &Tenant, runs: &[Run], unique_names: &[String], what: &str) {
    let c = census(&t.state().await, unique_names);
    f.duplicates += c.duplicates.len() as u64;
    f.orphans += c.orphans.len() as u64;
    if !c.clean() {
        f.problems.push(format!("{what}: {c:?}"));
    }
    let refs: Vec<&Run> = runs.iter().collect();
    let leaked = leaks(t, &refs, &[]).await;
    if !leaked.is_empty() {
        f.secrets_leaked += leaked.len() as u64;
        f.problems.push(format!("{what}: leaked {leaked:?}"));
    }
}

async fn concurrent_applies(seed: u64) -> Figures {
    let mut f = Figures::default();
    let t = Tenant::start_faults(mild(seed)).await;
    let g = generator::manifest(seed, "race");
    let m = t.write("manifest.toml", g.text.as_bytes());
    let args = [
        "apply",
        m.to_str().unwrap_or_default(),
        "--yes",
        "-v",
        "--max-wait",
        "60s",
    ];
    let mut runs = join_all((0..K).map(|_| t.run(&args, &Auth::ClientSecret))).await;
    f.add_stats(&t.stats().await);
    let what = format!("{K} concurrent applies, seed {seed}\n{}", g.text);
    f.runs += runs.len() as u64;
    for run in &runs {
        judge(&mut f, &what, run);
    }
    let all_ok = runs.iter().all(Run::ok);
    // Whatever happened, a plain apply afterwards converges.
    t.set_faults(&Faults::default()).await;
    let again = t.run(&args, &Auth::ClientSecret).await;
    match (again.ok(), converged(&t, &m, &g.unique_names).await) {
        (true, Ok(())) if all_ok => f.converged += K as u64,
        (true, Ok(())) => {
            f.converged += runs.iter().filter(|r| r.ok()).count() as u64;
            f.failed_clear += runs.iter().filter(|r| !r.ok()).count() as u64;
        }
        (_, e) => f
            .problems
            .push(format!("{what}: no convergence: {e:?}\n{}", again.describe())),
    }
    runs.push(again);
    finish(&mut f, &t, &runs, &g.unique_names, &what).await;
    t.emu.shutdown().await;
    f
}

async fn apply_against_destroy(seed: u64) -> Figures {
    let mut f = Figures::default();
    let t = Tenant::start_faults(mild(seed)).await;
    let g = generator::manifest(seed, "race");
    let m = t.write("manifest.toml", g.text.as_bytes());
    let path = m.to_str().unwrap_or_default();
    let what = format!("apply against destroy, seed {seed}\n{}", g.text);
    let mut runs = Vec::new();
    // Half the seeds race on an empty tenant, half on one where the apps exist already.
    if seed.is_multiple_of(2) {
        let first = t.run(&["apply", path, "--yes"], &Auth::ClientSecret).await;
        if !first.ok() {
            f.problems
                .push(format!("{what}: the first apply failed: {}", first.describe()));
        }
        runs.push(first);
    }
    let apply_args = ["apply", path, "--yes", "-v", "--max-wait", "60s"];
    let destroy_args = ["destroy", path, "--yes", "--purge", "-v", "--max-wait", "60s"];
    let (apply, destroy) = futures::join!(
        t.run(&apply_args, &Auth::ClientSecret),
        t.run(&destroy_args, &Auth::ClientSecret),
    );
    f.add_stats(&t.stats().await);
    f.runs += 2;
    judge(&mut f, &what, &apply);
    judge(&mut f, &what, &destroy);
    // The race itself must leave nothing dangling.
    let c = census(&t.state().await, &g.unique_names);
    if !c.clean() {
        f.problems.push(format!("{what}: right after the race: {c:?}"));
    }
    let clean_race = [&apply, &destroy].iter().filter(|r| r.ok()).count() as u64;
    runs.push(apply);
    runs.push(destroy);
    // Then apply converges, and destroy leaves nothing of the manifest behind.
    t.set_faults(&Faults::default()).await;
    let again = t.run(&["apply", path, "--yes"], &Auth::ClientSecret).await;
    match (again.ok(), converged(&t, &m, &g.unique_names).await) {
        (true, Ok(())) => {
            f.converged += clean_race;
            f.failed_clear += 2 - clean_race;
        }
        (_, e) => f
            .problems
            .push(format!("{what}: no convergence: {e:?}\n{}", again.describe())),
    }
    runs.push(again);
    let gone = t
        .run(&["destroy", path, "--yes", "--purge"], &Auth::ClientSecret)
        .await;
    let c = census(&t.state().await, &g.unique_names);
    if !gone.ok() || !c.present.is_empty() {
        f.problems.push(format!(
            "{what}: destroy left {:?}: {}",
            c.present,
            gone.describe()
        ));
    }
    runs.push(gone);
    finish(&mut f, &t, &runs, &g.unique_names, &what).await;
    t.emu.shutdown().await;
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_end_in_a_consistent_tenant() {
    let started = Instant::now();
    let n = (seeds(24) / 8).max(3);
    let mut all = Figures::default();
    let mut results = futures::stream::iter(100..100 + n)
        .map(|seed| async move {
            let (a, b) = futures::join!(concurrent_applies(seed), apply_against_destroy(seed));
            let mut f = a;
            f.merge(b);
            f
        })
        .buffer_unordered(3);
    while let Some(f) = results.next().await {
        all.merge(f);
    }
    all.report(
        &format!("Races: {n} seeds, {K} concurrent applies and apply against destroy --purge each"),
        started.elapsed(),
    );
    // The last full run: 141 of 150.
    all.assert_converged_at_least("races", 0.75);
}
