//! What the reliability suite adds to the workspace's harness (`crates/test-support`: a fresh
//! in-process emulator per run, the real binary with a timeout): checks of the whole tenant
//! through `GET /_emulator/state`, scans for secrets in everything `provision` and the emulator
//! wrote, and the figures each scenario prints, with the rates it must reach.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use provision::emulator::Faults;
use serde_json::{Value, json};
pub use test_support::{Auth, Run, Tenant, graph_writes};

/// Seeds of the full run (`PROVISION_RELIABILITY_SEEDS`), or `default` for the CI version.
pub fn seeds(default: u64) -> u64 {
    std::env::var("PROVISION_RELIABILITY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether this is the full run (longer replication lag, more seeds).
pub fn full_run() -> bool {
    std::env::var_os("PROVISION_RELIABILITY_SEEDS").is_some()
}

/// Graph requests of any method in a request log.
pub fn graph_requests(log: &[Value]) -> usize {
    log.iter().filter(|r| test_support::log::is_graph(r)).count()
}

// --- secrets ---------------------------------------------------------------------------------

/// Whether `text` holds a JWT (`eyJ…` with two dots: an access token or a client assertion).
pub fn holds_jwt(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("eyJ") {
        let start = i + pos;
        let mut end = start;
        let mut dots = 0;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'-' | b'_' | b'.'))
        {
            if bytes[end] == b'.' {
                dots += 1;
            }
            end += 1;
        }
        if dots >= 2 && end - start > 40 {
            return true;
        }
        i = start + 3;
    }
    false
}

/// The places a secret showed up in: stdout, stderr, output files, the emulator's request log.
pub async fn leaks(t: &Tenant, runs: &[&Run], extra_secrets: &[&str]) -> Vec<String> {
    let r = &t.emu.ready;
    let mut secrets: Vec<&str> = vec![r.client_secret.as_str(), r.reader_client_secret.as_str()];
    secrets.extend(extra_secrets.iter().copied().filter(|s| !s.is_empty()));
    let mut places: Vec<(String, String)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        places.push((format!("stdout of run {i}"), run.stdout.clone()));
        places.push((format!("stderr of run {i}"), run.stderr.clone()));
    }
    for (path, text) in t.output_files() {
        places.push((path.display().to_string(), text));
    }
    places.push(("the request log".into(), t.request_log_text().await));
    let mut found = Vec::new();
    for (place, text) in places {
        if secrets.iter().any(|s| text.contains(s)) {
            found.push(format!("a client secret in {place}"));
        }
        if holds_jwt(&text) {
            found.push(format!("a token or assertion in {place}"));
        }
    }
    found
}

// --- the tenant ------------------------------------------------------------------------------

fn strs<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v[key].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

fn data<'a>(e: &'a Value, key: &str) -> &'a str {
    e["data"][key].as_str().unwrap_or_default()
}

/// What the whole tenant says about a set of unique names.
#[derive(Debug, Default)]
pub struct Census {
    /// More than one application for one unique name, more than one service principal for
    /// one appId, more than one `AllPrincipals` grant per client and resource, the same app
    /// role assigned twice.
    pub duplicates: Vec<String>,
    /// A service principal of no application (and of no first-party API), a grant or an
    /// assignment that names a service principal that does not exist.
    pub orphans: Vec<String>,
    /// Applications of the unique names that exist.
    pub present: BTreeSet<String>,
    /// Present applications without a service principal.
    pub without_sp: Vec<String>,
}

impl Census {
    pub fn clean(&self) -> bool {
        self.duplicates.is_empty() && self.orphans.is_empty()
    }
}

/// Count what exists for `unique_names` and check that every reference holds.
pub fn census(state: &Value, unique_names: &[String]) -> Census {
    let mut c = Census::default();
    let apps = strs(state, "applications");
    let sps = strs(state, "service_principals");
    let grants = strs(state, "grants");
    let assignments = strs(state, "app_role_assignments");
    let first_party: BTreeSet<String> = entra_catalog::known_apis()
        .iter()
        .map(|a| a.app_id.to_ascii_lowercase())
        .collect();
    let app_ids: BTreeSet<String> = apps
        .iter()
        .map(|a| data(a, "appId").to_ascii_lowercase())
        .collect();
    let sp_ids: BTreeSet<&str> = sps.iter().map(|s| data(s, "id")).collect();
    for name in unique_names {
        let mine: Vec<&&Value> = apps
            .iter()
            .filter(|a| data(a, "uniqueName").eq_ignore_ascii_case(name))
            .collect();
        if mine.len() > 1 {
            c.duplicates
                .push(format!("{} applications with uniqueName `{name}`", mine.len()));
        }
        if let Some(app) = mine.first() {
            c.present.insert(name.clone());
            let app_id = data(app, "appId");
            if !sps.iter().any(|s| data(s, "appId").eq_ignore_ascii_case(app_id)) {
                c.without_sp.push(name.clone());
            }
        }
    }
    let mut per_app: BTreeMap<String, usize> = BTreeMap::new();
    for s in &sps {
        let app_id = data(s, "appId").to_ascii_lowercase();
        *per_app.entry(app_id.clone()).or_default() += 1;
        if !app_ids.contains(&app_id) && !first_party.contains(&app_id) && !seeded(s) {
            c.orphans.push(format!(
                "service principal `{}` of appId `{app_id}` without an application",
                data(s, "id")
            ));
        }
    }
    for (app_id, n) in per_app {
        if n > 1 {
            c.duplicates
                .push(format!("{n} service principals for appId `{app_id}`"));
        }
    }
    let mut grant_keys: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for g in &grants {
        for end in ["clientId", "resourceId"] {
            if !sp_ids.contains(data(g, end)) {
                c.orphans.push(format!(
                    "grant `{}` names a missing service principal as {end}",
                    data(g, "id")
                ));
            }
        }
        let key = (
            data(g, "clientId").to_owned(),
            data(g, "resourceId").to_owned(),
            data(g, "consentType").to_owned(),
            data(g, "principalId").to_owned(),
        );
        *grant_keys.entry(key).or_default() += 1;
    }
    for (key, n) in grant_keys {
        if n > 1 {
            c.duplicates.push(format!("{n} grants for {key:?}"));
        }
    }
    let mut assignment_keys: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for a in &assignments {
        for end in ["principalId", "resourceId"] {
            if !sp_ids.contains(data(a, end)) {
                c.orphans.push(format!(
                    "app role assignment `{}` names a missing service principal as {end}",
                    data(a, "id")
                ));
            }
        }
        let key = (
            data(a, "principalId").to_owned(),
            data(a, "resourceId").to_owned(),
            data(a, "appRoleId").to_owned(),
        );
        *assignment_keys.entry(key).or_default() += 1;
    }
    for (key, n) in assignment_keys {
        if n > 1 {
            c.duplicates.push(format!("{n} app role assignments for {key:?}"));
        }
    }
    c
}

/// The seeded tenant's own objects (created at time 0).
fn seeded(e: &Value) -> bool {
    e["created_ms"].as_i64() == Some(0)
}

/// Turn the faults off (replication lag included, so every object is visible) and check that
/// the tenant matches the manifest: `plan --detailed-exitcode` exits 0, one application per
/// unique name, each with its service principal, no duplicate, no orphan.
pub async fn converged(t: &Tenant, manifest: &Path, unique_names: &[String]) -> Result<(), String> {
    t.set_faults(&Faults::default()).await;
    let plan = t
        .run(
            &[
                "plan",
                manifest.to_str().unwrap_or_default(),
                "--detailed-exitcode",
            ],
            &Auth::ClientSecret,
        )
        .await;
    if plan.code() != 0 {
        return Err(format!(
            "plan after apply shows changes or fails: {}",
            plan.describe()
        ));
    }
    let c = census(&t.state().await, unique_names);
    if !c.clean() {
        return Err(format!("duplicates {:?}, orphans {:?}", c.duplicates, c.orphans));
    }
    if c.present.len() != unique_names.len() || !c.without_sp.is_empty() {
        return Err(format!(
            "present {:?} of {unique_names:?}, without a service principal {:?}",
            c.present, c.without_sp
        ));
    }
    Ok(())
}

// --- figures ---------------------------------------------------------------------------------

/// What a scenario counts.
#[derive(Debug, Default)]
pub struct Figures {
    pub runs: u64,
    /// Faults injected by kind, summed over the runs' `/_emulator/stats`.
    pub faults: BTreeMap<String, u64>,
    /// The first apply succeeded and the tenant matched the manifest.
    pub converged: u64,
    /// The first apply failed with a clear error; a rerun without faults converged.
    pub failed_clear: u64,
    pub duplicates: u64,
    pub orphans: u64,
    pub panics: u64,
    pub hangs: u64,
    pub secrets_leaked: u64,
    pub retry_after_violations: u64,
    /// Why first runs failed (the cause line of the error, ids blanked), and how often.
    pub causes: BTreeMap<String, u64>,
    /// Runs the harness killed on purpose before they ended (the crash scenario).
    pub killed: u64,
    /// What went wrong, one line each (an unclear error, no convergence …).
    pub problems: Vec<String>,
}

impl Figures {
    pub fn add_stats(&mut self, stats: &Value) {
        if let Some(faults) = stats["faults"].as_object() {
            for (k, v) in faults {
                if k != "latency" {
                    *self.faults.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                }
            }
        }
        self.retry_after_violations += stats["retry_after_violations"].as_u64().unwrap_or(0);
    }

    pub fn merge(&mut self, other: Figures) {
        self.runs += other.runs;
        for (k, v) in other.faults {
            *self.faults.entry(k).or_default() += v;
        }
        self.converged += other.converged;
        self.failed_clear += other.failed_clear;
        self.duplicates += other.duplicates;
        self.orphans += other.orphans;
        self.panics += other.panics;
        self.hangs += other.hangs;
        self.secrets_leaked += other.secrets_leaked;
        self.retry_after_violations += other.retry_after_violations;
        self.killed += other.killed;
        for (k, v) in other.causes {
            *self.causes.entry(k).or_default() += v;
        }
        self.problems.extend(other.problems);
    }

    /// The Markdown table CONTRIBUTING.md "Reliability" shows.
    pub fn table(&self, scenario: &str, elapsed: Duration) -> String {
        let faults = if self.faults.values().all(|v| *v == 0) {
            "none".to_owned()
        } else {
            self.faults
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "\n#### {scenario}\n\n\
             | runs | converged | failed with a clear error, rerun converged | duplicates | orphans | panics | hangs | secrets leaked | Retry-After violations | problems | time |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s |\n\n\
             Faults injected: {faults}.{}\n",
            self.runs,
            self.converged,
            self.failed_clear,
            self.duplicates,
            self.orphans,
            self.panics,
            self.hangs,
            self.secrets_leaked,
            self.retry_after_violations,
            self.problems.len(),
            elapsed.as_secs_f64(),
            if self.killed > 0 {
                format!(" Killed with SIGKILL before the end: {}.", self.killed)
            } else {
                String::new()
            },
        )
    }

    /// Count why a run failed.
    pub fn add_cause(&mut self, run: &Run) {
        *self.causes.entry(cause(run)).or_default() += 1;
    }

    /// Print the table and fail on anything the issue counts as a failure.
    pub fn report(&self, scenario: &str, elapsed: Duration) {
        println!("{}", self.table(scenario, elapsed));
        if !self.causes.is_empty() {
            println!("Causes of failed runs:\n");
            for (cause, n) in &self.causes {
                println!("- {n} × {cause}");
            }
            println!();
        }
        let problems = self.problems.join("\n\n");
        assert!(
            self.problems.is_empty()
                && self.duplicates == 0
                && self.orphans == 0
                && self.panics == 0
                && self.hangs == 0
                && self.secrets_leaked == 0
                && self.retry_after_violations == 0,
            "{scenario}: {}\n{problems}",
            self.table(scenario, elapsed)
        );
    }
}

impl Figures {
    /// At least `min` of the runs converged on their first try (not only failed with a clear
    /// error and converged on a rerun). Under transient faults that takes retrying what Graph
    /// asks to be retried (5xx, 429 after its `Retry-After`, dropped connections, replication
    /// delay): a client that gives up at the first one fails clearly every time, and fails this.
    pub fn assert_converged_at_least(&self, scenario: &str, min: f64) {
        let share = if self.runs == 0 {
            0.0
        } else {
            self.converged as f64 / self.runs as f64
        };
        assert!(
            share >= min,
            "{scenario}: {} of {} runs converged on the first try ({:.0} %), below the {:.0} % required; \
             causes of the failed runs: {:?}",
            self.converged,
            self.runs,
            share * 100.0,
            min * 100.0,
            self.causes
        );
    }
}

/// `json!` of a `Faults`, for messages.
pub fn describe_faults(f: &Faults) -> Value {
    serde_json::to_value(f).unwrap_or_else(|_| json!(null))
}

/// The cause of a failed run: the first line after `Caused by:` (else the `error:` line), with
/// ids, paths and timings blanked so that equal causes count together.
pub fn cause(run: &Run) -> String {
    let mut lines = run.stderr.lines();
    let line = match lines.by_ref().position(|l| l.starts_with("Caused by:")) {
        Some(_) => lines.next().unwrap_or_default(),
        None => run
            .stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("no error line"),
    };
    line.trim()
        .split(' ')
        .map(|w| {
            let digits = w.chars().filter(char::is_ascii_digit).count();
            if w.contains('(') && w.contains('\'') {
                // `/applications(uniqueName='x')`: keep the collection.
                format!("{}(…)", &w[..w.find('(').unwrap_or(0)])
            } else if digits >= 6 || (w.len() > 20 && w.contains('-') && digits > 0) {
                "…".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace("(request-id: …", "")
}
