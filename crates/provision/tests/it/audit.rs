//! `provision audit` against a seeded tenant (`--seed-tenant`): who holds permissions on the
//! audited APIs, managed or not, drift, `--fail-on`, the three formats through the real binary,
//! and reads that grow with pages, not with apps.

use provision::emulator::{Config, SeedTenant};
use serde_json::Value;

use crate::support::{Tenant, code, rounds, stderr, stdout, transcript};

async fn seeded(apps: usize, seed: u64) -> Tenant {
    let mut config = Config::local();
    config.seed_tenant = Some(SeedTenant { apps, seed });
    Tenant::start_with(config).await
}

/// Filters for what differs between runs: the tenant, the two seeded clients' appIds, and
/// the time their assignments were made (seeded apps' dates come from the seed).
async fn settings(t: &Tenant) -> insta::Settings {
    let r = &t.emu.ready;
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&r.tenant_id), "[TENANT_ID]");
    s.add_filter(&regex_escape(&r.client_id), "[ADMIN_CLIENT_ID]");
    s.add_filter(&regex_escape(&r.reader_client_id), "[READER_CLIENT_ID]");
    s.add_filter(&regex_escape(&t.dir.path().display().to_string()), "[DIR]");
    // Object ids are drawn fresh, as Graph draws them.
    s.add_filter(
        r#""service_principal_id": "[0-9a-f-]{36}""#,
        r#""service_principal_id": "[SP_ID]""#,
    );
    let sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')/appRoleAssignments",
            r.client_id
        ))
        .await;
    for a in sp["value"].as_array().into_iter().flatten() {
        if let Some(at) = a["createdDateTime"].as_str() {
            s.add_filter(&regex_escape(at), "[SEEDED_AT]");
        }
    }
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// Two manifests that manage seeded apps by unique name: one exactly as the tenant holds it,
/// one that differs.
fn manifests(t: &Tenant) -> std::path::PathBuf {
    let dir = t.dir.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    // seeded-app-0002 holds admin consent to Incident.Read on Threat Protection (seed 7).
    std::fs::write(
        dir.join("declared.toml"),
        "[app]\nunique_name = \"seeded-app-0002\"\ndisplay_name = \"Seeded app 0002\"\n\n\
         [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("drifted.toml"),
        "[app]\nunique_name = \"seeded-app-0000\"\ndisplay_name = \"Seeded app 0000\"\n\n\
         [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"AdvancedHunting.Read\", \"Incident.Read\"]\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_formats_snapshots() {
    let t = seeded(12, 7).await;
    let dir = manifests(&t);
    let d = dir.to_str().unwrap();
    let s = settings(&t).await;
    let text = t.provision(&["audit", d]).await;
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    s.bind(|| insta::assert_snapshot!("audit_text", transcript(&text)));
    let md = t.provision(&["audit", d, "--format", "markdown"]).await;
    s.bind(|| insta::assert_snapshot!("audit_markdown", transcript(&md)));
    let json = t.provision(&["audit", d, "--format", "json"]).await;
    s.bind(|| insta::assert_snapshot!("audit_json", transcript(&json)));
    // Versioned as plan's JSON is.
    let plan = t
        .provision(&[
            "plan",
            dir.join("declared.toml").to_str().unwrap(),
            "--format",
            "json",
        ])
        .await;
    let a: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let p: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    assert_eq!(a["format_version"], p["format_version"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_drift_and_fail_on() {
    let t = seeded(12, 7).await;
    let dir = manifests(&t);
    let d = dir.to_str().unwrap();
    let out = t.provision(&["audit", d, "--format", "json"]).await;
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let app = |u: &str| {
        doc["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["unique_name"] == u)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        app("seeded-app-0002")["managed_by"]["unique_name"],
        "seeded-app-0002"
    );
    assert_eq!(app("seeded-app-0002")["drift"], serde_json::json!([]));
    let drift = app("seeded-app-0000")["drift"].clone();
    assert_eq!(drift.as_array().unwrap().len(), 2, "{drift}");
    assert!(app("seeded-app-0003")["managed_by"].is_null());

    // Unmanaged apps hold audited permissions; two manifests, one drifted.
    for (args, want) in [
        (vec!["--fail-on", "unmanaged"], 2),
        (vec!["--fail-on", "drift"], 2),
        (vec![], 0),
    ] {
        let mut a = vec!["audit", d];
        a.extend(args.iter().copied());
        let out = t.provision(&a).await;
        assert_eq!(code(&out), want, "{args:?}: {}", stderr(&out));
    }
    // Only the declared manifest: nothing drifts.
    let declared = dir.join("declared.toml");
    let out = t
        .provision(&["audit", declared.to_str().unwrap(), "--fail-on", "drift"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Nothing on an API the tenant has no holder of: nothing unmanaged.
    let out = t
        .provision(&[
            "audit",
            "--api",
            "Contoso API",
            "--fail-on",
            "unmanaged",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["apis"][0]["in_tenant"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn same_app_in_two_manifests_is_an_error_naming_both() {
    let t = seeded(3, 7).await;
    let dir = manifests(&t);
    std::fs::copy(dir.join("declared.toml"), dir.join("again.toml")).unwrap();
    let out = t.provision(&["audit", dir.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(
        err.contains("unique_name `seeded-app-0002` is in two manifests"),
        "{err}"
    );
    assert!(
        err.contains("again.toml") && err.contains("declared.toml"),
        "{err}"
    );
    assert!(
        t.graph_requests().await.is_empty(),
        "nothing read before the manifests are valid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_is_only_for_audit() {
    let t = seeded(1, 7).await;
    let m = t.manifest("threat-protection.toml");
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--format", "markdown"])
        .await;
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("`--format markdown` is only for `provision audit`"));
}

/// 1,100 apps: every list is paged at 999 with `$select`, grants are filtered on the server by
/// resource, and the rounds are the pages' (not one per app).
#[tokio::test(flavor = "multi_thread")]
async fn reads_grow_with_pages_not_apps() {
    // Rounds are told apart by overlap in time: 100 ms per request makes concurrent reads
    // overlap even on a loaded machine (without it, a slow client start split one round in two).
    let mut config = Config::local();
    config.seed_tenant = Some(SeedTenant { apps: 1100, seed: 3 });
    config.faults.latency_ms = 100;
    let t = Tenant::start_with(config).await;
    t.clear_log().await;
    let out = t.provision(&["audit", "--format", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        doc["summary"]["apps"].as_u64().unwrap() > 300,
        "{}",
        doc["summary"]
    );
    let log = t.graph_requests().await;
    let shown: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}?{}", r["method"], r["path"], r["query"]))
        .collect();
    // 3 resources + 2 pages of service principals + 2 of applications + grants and
    // appRoleAssignedTo pages of 3 APIs (Graph's own: 2 pages of grants).
    assert!(log.len() <= 16, "{} requests:\n{}", log.len(), shown.join("\n"));
    for r in &log {
        let q = r["query"].as_str().unwrap_or_default();
        assert!(q.contains("$select="), "no $select: {r}");
        let p = r["path"].as_str().unwrap_or_default();
        if !p.contains("(appId=") {
            assert!(q.contains("$top=999"), "not the largest page: {r}");
        }
        if p.ends_with("/oauth2PermissionGrants") {
            assert!(q.contains("resourceId"), "grants not filtered on the server: {r}");
        }
    }
    assert!(
        rounds(&log) <= 4,
        "{} rounds:\n{}",
        rounds(&log),
        shown.join("\n")
    );
}

/// Least privilege: a client with only the Graph application permission `Directory.Read.All`
/// audits; one with only `Application.Read.All` cannot read the grants (Graph's 403, exit 4).
#[tokio::test(flavor = "multi_thread")]
async fn directory_read_all_is_enough_and_application_read_all_is_not() {
    let t = seeded(5, 7).await;
    let (app_id, secret) = t.client_with_role("auditor", "Directory.Read.All").await;
    let (apps_only, apps_secret) = t.client_with_role("apps reader", "Application.Read.All").await;
    t.clear_log().await;
    let out = t
        .provision_as(&["audit", "--format", "json"], &app_id, &secret)
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(doc["summary"]["apps"].as_u64().unwrap() > 0);
    // The audit only read.
    let log = t.graph_requests().await;
    assert!(log.iter().all(|r| r["method"] == "GET"), "{log:?}");

    let out = t.provision_as(&["audit"], &apps_only, &apps_secret).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

/// `provision emulator --seed-tenant N --seed S` seeds the same tenant as `Config::seed_tenant`:
/// seeded-app-0000 of seed 7 has the appId the snapshots show.
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_command_seeds_the_same_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.json");
    let run = |args: Vec<String>, env: Vec<(String, String)>| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .envs(env)
            .stdin(std::process::Stdio::null())
            .output()
    };
    let args = [
        "emulator",
        "--seed-tenant",
        "4",
        "--seed",
        "7",
        "--emulator-state",
    ];
    let mut args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    args.extend([state.display().to_string(), "--print-env".into()]);
    let out = run(args, vec![]).await.unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let env: Vec<(String, String)> = stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    let pid = env
        .iter()
        .find(|(k, _)| k == "PROVISION_EMULATOR_PID")
        .map(|(_, v)| v.clone())
        .unwrap();
    let audit = run(
        vec![
            "audit".into(),
            "--api".into(),
            "microsoft-threat-protection".into(),
            "--format".into(),
            "json".into(),
        ],
        env,
    )
    .await
    .unwrap();
    let stopped = std::process::Command::new("kill").arg(&pid).status().unwrap();
    assert!(stopped.success());
    assert_eq!(code(&audit), 0, "{}", stderr(&audit));
    let doc: Value = serde_json::from_str(&stdout(&audit)).unwrap();
    let first = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["unique_name"] == "seeded-app-0000")
        .cloned()
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(first["app_id"], "4a89bc8a-8023-4f4b-9db1-44580e53a951");
}
