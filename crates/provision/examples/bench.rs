//! Benchmarks (issue 8): round trips, wall time, scale and start-up, side by side with the Azure
//! CLI. Runs the release binary against in-process emulators with injected latency and reads
//! the emulator's request log for request counts and sequential rounds.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench            # full run
//! cargo run --release --example bench -- --quick                           # fewer runs, no 500 apps
//! cargo run --release --example bench -- --audit                           # the audit row only
//! ```
//!
//! Writes a table to stdout and `target/bench/results.json`. The Azure CLI part runs when
//! `AZ` (or `~/.cache/provision/azure-cli-venv/bin/az`, what `crates/entra-emulator/tests/peers/azure-cli.sh`
//! installs) exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use provision::emulator::{self, Config, Running};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
struct Row {
    scenario: String,
    latency_ms: u64,
    runs: usize,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    /// Graph requests (sign-in excluded) of one run.
    graph_requests: usize,
    /// Sequential rounds of Graph requests of one run (sign-in excluded).
    rounds: Option<usize>,
    /// (rounds + 1 for sign-in) × latency.
    ideal_ms: Option<f64>,
    ratio_to_ideal: Option<f64>,
    peak_rss_kb: Option<u64>,
    note: String,
}

fn bin() -> PathBuf {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let release = root.join("target/release/provision");
    if release.exists() {
        release
    } else {
        root.join("target/debug/provision")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

struct Emu {
    running: Running,
    http: reqwest::Client,
    base: String,
}

impl Emu {
    async fn start(latency_ms: u64, tls: bool) -> Emu {
        Self::start_seeded(latency_ms, tls, None).await
    }

    async fn start_seeded(latency_ms: u64, tls: bool, seed: Option<emulator::SeedTenant>) -> Emu {
        let mut config = Config::local();
        config.seed_tenant = seed;
        config.faults.latency_ms = latency_ms;
        config.tls = tls;
        let running = emulator::start(config).await.expect("emulator starts");
        let base = running.ready.authority_url.trim_end_matches('/').to_owned();
        let mut http = reqwest::Client::builder();
        if let Some(ca) = &running.ready.ca_cert {
            let pem = std::fs::read(ca).expect("ca");
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"));
        }
        Emu {
            running,
            http: http.build().expect("client"),
            base,
        }
    }

    async fn reset(&self) {
        self.http
            .post(format!("{}/_emulator/reset", self.base))
            .send()
            .await
            .expect("reset");
    }

    async fn log(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/requests", self.base))
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        match v {
            Value::Array(a) => a,
            Value::Object(mut o) => o
                .remove("requests")
                .and_then(|r| r.as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// 429s the emulator answered from Graph's directory budget so far.
    async fn budget_throttles(&self) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/stats", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        v["faults"]["throttle_budget"].as_u64().unwrap_or(0)
    }

    fn provision(&self, args: &[&str]) -> (Duration, std::process::Output) {
        self.provision_with(Command::new(bin()), args)
    }

    /// Peak resident memory of one run of `args`, through `/usr/bin/time -f %M`.
    fn peak_rss(&self, args: &[&str]) -> Option<u64> {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-f").arg("%M").arg(bin());
        let (_, out) = self.provision_with(cmd, args);
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()?
            .trim()
            .parse()
            .ok()
    }

    fn provision_with(&self, mut cmd: Command, args: &[&str]) -> (Duration, std::process::Output) {
        let r = &self.running.ready;
        let t0 = Instant::now();
        let out = cmd
            .args(args)
            .env("PROVISION_GRAPH_URL", &r.graph_url)
            .env("PROVISION_AUTHORITY_URL", &r.authority_url)
            .env("AZURE_TENANT_ID", &r.tenant_id)
            .env("AZURE_CLIENT_ID", &r.client_id)
            .env("AZURE_CLIENT_SECRET", &r.client_secret)
            .env("PROVISION_AUTH", "client-secret")
            .stdin(Stdio::null())
            .output()
            .expect("run provision");
        let took = t0.elapsed();
        assert!(
            out.status.success(),
            "provision {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (took, out)
    }
}

fn graph_only(log: &[Value], from: usize) -> Vec<Value> {
    log.iter()
        .skip(from)
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/v1.0")))
        .cloned()
        .collect()
}

fn rounds(log: &[Value]) -> usize {
    emulator::log::sequential_rounds(log.iter().map(|r| {
        (
            r["started_at"].as_str().unwrap_or_default(),
            r["finished_at"].as_str().unwrap_or_default(),
        )
    }))
}

/// Run `args` `runs` times; `before` prepares each run (reset for fresh applies).
async fn measure(emu: &Emu, name: &str, latency: u64, runs: usize, fresh: bool, args: &[&str]) -> Row {
    let mut times = Vec::new();
    let mut requests = 0;
    let mut r = 0;
    for _ in 0..runs {
        if fresh {
            emu.reset().await;
        }
        let mark = emu.log().await.len();
        let (took, _) = emu.provision(args);
        times.push(took.as_secs_f64() * 1000.0);
        let log = graph_only(&emu.log().await, mark);
        requests = log.len();
        r = rounds(&log);
    }
    let (min, max) = (
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max),
    );
    let med = median(&mut times);
    let measurable = latency > 0;
    // The floor: every sequential round (plus sign-in) at the injected latency, and no faster
    // than MAX_IN_FLIGHT requests per latency period.
    let in_flight = provision::graph::client::MAX_IN_FLIGHT;
    let by_rounds = (r + 1) as u64 * latency;
    let by_bound = requests.div_ceil(in_flight) as u64 * latency;
    let ideal = measurable.then(|| by_rounds.max(by_bound) as f64);
    Row {
        scenario: name.into(),
        latency_ms: latency,
        runs,
        median_ms: med,
        min_ms: min,
        max_ms: max,
        graph_requests: requests,
        rounds: measurable.then_some(r),
        ideal_ms: ideal,
        ratio_to_ideal: ideal.map(|i| med / i),
        peak_rss_kb: None,
        note: String::new(),
    }
}

/// A manifest of `n` apps, each with two APIs (Threat Protection and Microsoft Graph).
fn many_apps(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[app]]\nunique_name = \"bench-{i:04}\"\ndisplay_name = \"Bench app {i}\"\n\
             [app.public_client]\nredirect_uris = [\"https://portal.azure.com\"]\n\
             [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\", \"AdvancedHunting.Read\"]\n\
             [[app.api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\"]\n\n"
        ));
    }
    let path = dir.join(format!("apps-{n}.toml"));
    std::fs::write(&path, text).expect("write manifest");
    path
}

fn peak_rss(args: &[&str]) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(bin())
        .args(args)
        .stdout(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn startup(name: &str, args: &[&str], runs: usize) -> Row {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let _ = Command::new(bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let (min, max) = (
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max),
    );
    Row {
        scenario: name.into(),
        latency_ms: 0,
        runs,
        median_ms: median(&mut times),
        min_ms: min,
        max_ms: max,
        graph_requests: 0,
        rounds: None,
        ideal_ms: None,
        ratio_to_ideal: None,
        peak_rss_kb: peak_rss(args),
        note: String::new(),
    }
}

fn az_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AZ") {
        return Some(PathBuf::from(p));
    }
    let p = dirs::cache_dir()?.join("provision/azure-cli-venv/bin/az");
    p.exists().then_some(p)
}

/// The portal procedure the Azure CLI way against a TLS emulator, timed after login.
async fn azure_cli(latency: u64, dir: &Path, runs: usize) -> Option<(Row, Row)> {
    let az = az_path()?;
    let emu = Emu::start(latency, true).await;
    let r = emu.running.ready.clone();
    let cfg = dir.join("azure");
    let run_az = |args: &[&str]| -> bool {
        Command::new(&az)
            .args(args)
            .env("AZURE_CONFIG_DIR", &cfg)
            .env("AZURE_CORE_COLLECT_TELEMETRY", "no")
            .env("AZURE_CORE_ONLY_SHOW_ERRORS", "1")
            .env("REQUESTS_CA_BUNDLE", r.ca_cert.as_deref().unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let setup = run_az(&[
        "cloud",
        "register",
        "--name",
        "ProvisionBench",
        "--endpoint-resource-manager",
        &r.authority_url,
    ]) && run_az(&["cloud", "set", "--name", "ProvisionBench"])
        && run_az(&["config", "set", "core.instance_discovery=false"])
        && run_az(&[
            "login",
            "--service-principal",
            "--username",
            &r.client_id,
            "--password",
            &r.client_secret,
            "--tenant",
            &r.tenant_id,
            "--allow-no-subscriptions",
        ]);
    if !setup {
        eprintln!("azure cli setup failed; skipping the comparison");
        return None;
    }
    let mut az_times = Vec::new();
    let mut az_requests = 0;
    for i in 0..runs {
        emu.reset().await;
        let mark = emu.log().await.len();
        let name = format!("az-bench-{i}");
        let t0 = Instant::now();
        let out = Command::new(&az)
            .args([
                "ad",
                "app",
                "create",
                "--display-name",
                &name,
                "--query",
                "appId",
                "-o",
                "tsv",
            ])
            .env("AZURE_CONFIG_DIR", &cfg)
            .env("REQUESTS_CA_BUNDLE", r.ca_cert.as_deref().unwrap_or_default())
            .output()
            .ok()?;
        let app_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let mtp = "8ee8fdad-f234-4243-8f3b-15c294843740";
        let ok = run_az(&["ad", "sp", "create", "--id", &app_id])
            && run_az(&[
                "ad",
                "app",
                "update",
                "--id",
                &app_id,
                "--public-client-redirect-uris",
                "https://portal.azure.com",
            ])
            && run_az(&[
                "ad",
                "app",
                "permission",
                "add",
                "--id",
                &app_id,
                "--api",
                mtp,
                "--api-permissions",
                "12c153a4-4204-4224-aa3c-4626e2f47c2b=Scope",
                "15f11de4-5113-4268-a2d1-0bad43d781f9=Scope",
            ])
            && run_az(&[
                "ad",
                "app",
                "permission",
                "grant",
                "--id",
                &app_id,
                "--api",
                mtp,
                "--scope",
                "Incident.Read AdvancedHunting.Read",
            ]);
        if !ok {
            eprintln!("an az command failed; skipping the comparison");
            return None;
        }
        az_times.push(t0.elapsed().as_secs_f64() * 1000.0);
        az_requests = emu.log().await.len() - mark;
    }
    let manifest = dir.join("tp.toml");
    std::fs::copy(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests/threat-protection.toml"),
        &manifest,
    )
    .ok()?;
    let mut p_times = Vec::new();
    let mut p_requests = 0;
    for _ in 0..runs {
        emu.reset().await;
        let mark = emu.log().await.len();
        let t0 = Instant::now();
        let out = Command::new(bin())
            .args(["apply", manifest.to_str()?, "--yes"])
            .env("PROVISION_GRAPH_URL", &r.graph_url)
            .env("PROVISION_AUTHORITY_URL", &r.authority_url)
            .env("PROVISION_CA_CERT", r.ca_cert.as_deref().unwrap_or_default())
            .env("AZURE_TENANT_ID", &r.tenant_id)
            .env("AZURE_CLIENT_ID", &r.client_id)
            .env("AZURE_CLIENT_SECRET", &r.client_secret)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "provision apply over TLS failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        p_times.push(t0.elapsed().as_secs_f64() * 1000.0);
        p_requests = emu.log().await.len() - mark;
    }
    let row = |name: &str, times: &mut Vec<f64>, requests: usize, note: &str| Row {
        scenario: name.into(),
        latency_ms: latency,
        runs,
        min_ms: times.iter().cloned().fold(f64::MAX, f64::min),
        max_ms: times.iter().cloned().fold(0.0, f64::max),
        median_ms: median(times),
        graph_requests: requests,
        rounds: None,
        ideal_ms: None,
        ratio_to_ideal: None,
        peak_rss_kb: None,
        note: note.into(),
    };
    let az_row = row(
        "azure-cli: 5 commands (app, sp, redirect, permission add, grant)",
        &mut az_times,
        az_requests,
        "all requests incl. sign-in",
    );
    let mut p = row(
        "provision apply (same job, same TLS emulator)",
        &mut p_times,
        p_requests,
        "all requests incl. sign-in",
    );
    p.note = format!(
        "{} ; az/provision = {:.1}x",
        p.note,
        az_row.median_ms / p.median_ms.max(0.001)
    );
    Some((az_row, p))
}

/// The longest chain of requests in which each starts after the previous one finished: the
/// sequential depth a run cannot go below, whatever runs beside it.
fn longest_chain(log: &[Value]) -> usize {
    let mut spans: Vec<(&str, &str)> = log
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap_or_default(),
                r["finished_at"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    spans.sort();
    let mut depth = vec![1usize; spans.len()];
    for i in 0..spans.len() {
        for j in 0..i {
            if spans[j].1 <= spans[i].0 {
                depth[i] = depth[i].max(depth[j] + 1);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
}

/// `provision audit` of a seeded tenant: 2,000 apps, 2,000 service principals, 4,000 grants.
async fn audit_row(runs: usize) -> Row {
    let (apps, latency) = (2000, 50);
    let emu = Emu::start_seeded(latency, false, Some(emulator::SeedTenant { apps, seed: 7 })).await;
    let mut row = measure(
        &emu,
        &format!(
            "audit, seeded tenant of {apps} apps / {apps} SPs / {} grants",
            2 * apps
        ),
        latency,
        runs,
        false,
        &["audit", "--format", "json"],
    )
    .await;
    // Requests overlap across collections, so `rounds` (overlapping requests merged) says 1;
    // what bounds the time is the longest chain of requests each waiting for the one before.
    let mark = emu.log().await.len();
    emu.provision(&["audit", "--format", "json"]);
    let chain = longest_chain(&graph_only(&emu.log().await, mark));
    row.rounds = Some(chain);
    let ideal = ((chain + 1) as u64 * latency) as f64;
    row.ideal_ms = Some(ideal);
    row.ratio_to_ideal = Some(row.median_ms / ideal);
    row.peak_rss_kb = emu.peak_rss(&["audit", "--format", "json"]);
    let (_, out) = emu.provision(&["audit", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    row.note = format!(
        "{} apps reported ({} unmanaged); rounds = longest chain of dependent requests",
        doc["summary"]["apps"], doc["summary"]["unmanaged"]
    );
    emu.running.shutdown().await;
    row
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--audit") {
        let row = audit_row(5).await;
        print_rows(std::slice::from_ref(&row));
        write_json("results-audit.json", &[row]);
        return;
    }
    let runs = if quick { 3 } else { 7 };
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = dir.path().join("threat-protection.toml");
    std::fs::copy(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests/threat-protection.toml"),
        &tp,
    )
    .expect("copy");
    let tp = tp.to_str().expect("utf-8 path").to_owned();
    let mut rows = Vec::new();

    for latency in [0u64, 20, 100] {
        let emu = Emu::start(latency, false).await;
        rows.push(
            measure(
                &emu,
                "fresh apply, threat-protection.toml",
                latency,
                runs,
                true,
                &["apply", &tp, "--yes"],
            )
            .await,
        );
        rows.push(
            measure(
                &emu,
                "no-op plan, threat-protection.toml",
                latency,
                runs,
                false,
                &["plan", &tp],
            )
            .await,
        );
        emu.running.shutdown().await;
    }

    let sizes: &[usize] = if quick { &[1, 10, 100] } else { &[1, 10, 100, 500] };
    for &n in sizes {
        let m = many_apps(dir.path(), n);
        let m = m.to_str().expect("utf-8 path");
        let emu = Emu::start(20, false).await;
        let mut fresh = measure(
            &emu,
            &format!("fresh apply, {n} apps x 2 APIs"),
            20,
            1,
            true,
            &["apply", m, "--yes"],
        )
        .await;
        let after_apply = emu.budget_throttles().await;
        let mut noop = measure(
            &emu,
            &format!("no-op plan, {n} apps x 2 APIs"),
            20,
            1,
            false,
            &["plan", m],
        )
        .await;
        let after_plan = emu.budget_throttles().await;
        for (row, throttled) in [(&mut fresh, after_apply), (&mut noop, after_plan - after_apply)] {
            row.note = format!(
                "{:.1} ms per app; {throttled} budget 429s",
                row.median_ms / n as f64
            );
            if n > 1 {
                // Overlapping requests of many apps chain into one "round": not meaningful here.
                row.rounds = None;
            }
        }
        rows.push(fresh);
        rows.push(noop);
        emu.running.shutdown().await;
    }

    let manifests: Vec<String> =
        std::fs::read_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests"))
            .expect("manifests")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.display().to_string())
            .collect();
    rows.push(startup("start-up: provision --version", &["--version"], 20));
    let mut validate = vec!["validate"];
    validate.extend(manifests.iter().map(String::as_str));
    rows.push(startup(
        "start-up: provision validate manifests/*.toml",
        &validate,
        20,
    ));

    if let Some((az, p)) = azure_cli(20, dir.path(), if quick { 1 } else { 3 }).await {
        rows.push(az);
        rows.push(p);
    }
    rows.push(audit_row(if quick { 3 } else { 5 }).await);
    print_rows(&rows);
    write_json("results.json", &rows);
}

fn print_rows(rows: &[Row]) {
    println!(
        "| scenario | latency | runs | median ms | min–max ms | Graph requests | rounds | ideal ms | ratio | peak RSS | note |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into());
        println!(
            "| {} | {} ms | {} | {:.0} | {:.0}–{:.0} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.latency_ms,
            r.runs,
            r.median_ms,
            r.min_ms,
            r.max_ms,
            r.graph_requests,
            r.rounds.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
            opt(r.ideal_ms),
            r.ratio_to_ideal
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "–".into()),
            r.peak_rss_kb
                .map(|k| format!("{} MiB", k / 1024))
                .unwrap_or_else(|| "–".into()),
            r.note
        );
    }
}

/// `target/bench/NAME`: the rows as JSON.
fn write_json(name: &str, rows: &[Row]) {
    let out = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let json = serde_json::json!({ "format_version": "1.0", "rows": rows });
    let _ = std::fs::write(
        out.join(name),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
}
