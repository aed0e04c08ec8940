//! plan, apply and destroy: the real binary against the in-process emulator.

use serde_json::{Value, json};

use crate::both_profiles;
use crate::support::*;

const MTP: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const INCIDENT_READ: &str = "12c153a4-4204-4224-aa3c-4626e2f47c2b";
const HUNTING_READ: &str = "15f11de4-5113-4268-a2d1-0bad43d781f9";

fn scope_set(s: &str) -> std::collections::BTreeSet<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

async fn app_state(t: &Tenant) -> (Value, Value, Vec<Value>) {
    let app = t.get("/applications(uniqueName='mtp-api-client')").await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let sps = t
        .get(&format!("/servicePrincipals?$filter=appId%20eq%20'{app_id}'"))
        .await;
    assert_eq!(
        sps["value"].as_array().unwrap().len(),
        1,
        "exactly one service principal"
    );
    let sp = sps["value"][0].clone();
    let grants = t
        .get(&format!(
            "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'",
            sp["id"].as_str().unwrap()
        ))
        .await;
    (app, sp, grants["value"].as_array().unwrap().clone())
}

both_profiles!(fresh_apply_builds_the_portal_procedure_and_writes_the_ids);
async fn fresh_apply_builds_the_portal_procedure_and_writes_the_ids(profile: Profile) {
    // Some latency, so that concurrent requests overlap in the log and rounds can be counted.
    let mut config = provision::emulator::Config::local();
    config.faults = profile.faults();
    config.faults.latency_ms = 40;
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes", "-v"]).await;
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let log = t.graph_requests().await;
    let w = writes(&log);
    let app_id = t.get("/applications(uniqueName='mtp-api-client')").await["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    if profile == Profile::Default {
        assert_eq!(
            w,
            [
                "PATCH /v1.0/applications(uniqueName='mtp-api-client')".to_string(),
                format!("PATCH /v1.0/servicePrincipals(appId='{app_id}')"),
                "POST /v1.0/oauth2PermissionGrants".to_string(),
            ],
            "write sequence"
        );
        // Observe, the upsert, the service principal, the grant, one read-back round.
        assert!(
            rounds(&log) <= 5,
            "fresh apply took {} rounds: {log:#?}",
            rounds(&log)
        );
        assert!(!stderr(&out).contains("fallback:"), "{}", stderr(&out));
    } else {
        // The upsert was refused once, then the service principal was created the way mature
        // clients create it; grants are written once however long they take to replicate.
        let sp_upserts = w
            .iter()
            .filter(|x| x.starts_with("PATCH /v1.0/servicePrincipals"))
            .count();
        assert_eq!(sp_upserts, 1, "{w:#?}");
        assert!(w.contains(&"POST /v1.0/servicePrincipals".to_string()), "{w:#?}");
        assert!(
            stderr(&out).contains("fallback: PATCH /servicePrincipals(appId="),
            "{}",
            stderr(&out)
        );
    }

    let (app, sp, grants) = app_state(&t).await;
    assert_eq!(
        app["publicClient"]["redirectUris"],
        json!(["https://portal.azure.com", "http://localhost"])
    );
    assert_eq!(app["isFallbackPublicClient"], json!(true));
    let rra = app["requiredResourceAccess"].as_array().unwrap();
    assert_eq!(rra.len(), 1);
    assert_eq!(rra[0]["resourceAppId"], MTP);
    let ids: std::collections::BTreeSet<&str> = rra[0]["resourceAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [INCIDENT_READ, HUNTING_READ].into());
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["consentType"], "AllPrincipals");
    assert_eq!(
        scope_set(grants[0]["scope"].as_str().unwrap()),
        scope_set("Incident.Read AdvancedHunting.Read")
    );

    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(t.dir.path().join("out/mtp-api-client.json")).unwrap())
            .unwrap();
    let e = &written["mtp-api-client"];
    assert_eq!(e["client_id"], app["appId"]);
    assert_eq!(e["object_id"], app["id"]);
    assert_eq!(e["service_principal_id"], sp["id"]);
    assert_eq!(e["tenant_id"], t.emu.ready.tenant_id.as_str());
    assert_eq!(
        e["authority"],
        format!("{}/{}", t.emu.ready.authority_url, t.emu.ready.tenant_id)
    );
    assert_eq!(e["apis"][0]["resource_url"], "https://api.security.microsoft.com");
    let scopes: Vec<&str> = e["apis"][0]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        scopes.contains(&"https://api.security.microsoft.com/Incident.Read"),
        "{scopes:?}"
    );

    // A second apply writes nothing and reads in two rounds (no read-back: nothing was
    // written); plan finds nothing within two rounds.
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes", "-v"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    t.assert_read_only().await;
    let log = t.graph_requests().await;
    if profile == Profile::Default {
        assert!(
            rounds(&log) <= 2,
            "no-op apply took {} rounds: {log:#?}",
            rounds(&log)
        );
    } else {
        // The refused navigation is tried once per run, then the object-id forms.
        assert!(
            stderr(&out).contains("fallback: GET /servicePrincipals(appId="),
            "{}",
            stderr(&out)
        );
    }
    t.clear_log().await;
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let log = t.graph_requests().await;
    let budget = if profile == Profile::Default { 2 } else { 3 };
    assert!(
        rounds(&log) <= budget,
        "no-op plan took {} rounds: {log:#?}",
        rounds(&log)
    );
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));
}

both_profiles!(drift_made_through_graph_is_planned_and_repaired);
async fn drift_made_through_graph_is_planned_and_repaired(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    assert_eq!(
        code(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await),
        0
    );
    let (app, _sp, grants) = app_state(&t).await;
    let obj = app["id"].as_str().unwrap();
    // Extra redirect URI, one permission removed in the portal, an extra scope in the grant.
    let (s, b) = t
        .graph(
            reqwest::Method::PATCH,
            &format!("/applications/{obj}"),
            Some(json!({
                "publicClient": {"redirectUris": ["https://portal.azure.com", "https://drift.example.com"]},
                "requiredResourceAccess": [{"resourceAppId": MTP, "resourceAccess": [{"id": INCIDENT_READ, "type": "Scope"}]}]
            })),
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let gid = grants[0]["id"].as_str().unwrap();
    let (s, b) = t
        .graph(
            reqwest::Method::PATCH,
            &format!("/oauth2PermissionGrants/{gid}"),
            Some(json!({"scope": "Incident.Read AdvancedHunting.Read Incident.ReadWrite"})),
        )
        .await;
    assert_eq!(s, 204, "{b}");

    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("- https://drift.example.com"), "{text}");
    assert!(
        text.contains("+ Microsoft Threat Protection: AdvancedHunting.Read (delegated)"),
        "{text}"
    );
    assert!(text.contains("- Incident.ReadWrite"), "{text}");

    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (app, _sp, grants) = app_state(&t).await;
    assert_eq!(
        app["publicClient"]["redirectUris"],
        json!(["https://portal.azure.com", "http://localhost"])
    );
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0]["id"].as_str(),
        Some(gid),
        "the grant is patched in place, not re-created"
    );
    assert_eq!(
        scope_set(grants[0]["scope"].as_str().unwrap()),
        scope_set("Incident.Read AdvancedHunting.Read")
    );
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn reader_client_gets_exit_4_with_graphs_message() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let r = t.emu.ready.clone();
    let out = t
        .provision_as(
            &["apply", m.to_str().unwrap(), "--yes"],
            &r.reader_client_id,
            &r.reader_client_secret,
        )
        .await;
    assert_eq!(code(&out), 4, "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("403 Authorization_RequestDenied"), "{err}");
    assert!(err.contains("request-id"), "{err}");
    // The reader may read (plan's permissions): the first write is refused, and named.
    assert!(
        err.contains("lacks the Microsoft Graph permission `Application.ReadWrite.All`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_permission_is_named_with_suggestions() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "typo.toml",
        &text.replace("\"Incident.Read\"", "\"Incident.Raed\""),
    );
    let out = t.provision(&["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("Incident.Raed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("Incident.Read"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_tenant_guard_refuses_before_any_write() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "guarded.toml",
        &format!("tenant = \"contoso.onmicrosoft.com\"\n{text}"),
    );
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("contoso.onmicrosoft.com"),
        "{}",
        stderr(&out)
    );
    t.assert_read_only().await;
    // The right domain passes.
    let m = t.write_manifest(
        "right.toml",
        &format!("tenant = \"{}\"\n{text}", t.emu.ready.tenant_domain),
    );
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

both_profiles!(concurrent_applies_end_with_one_of_each);
async fn concurrent_applies_end_with_one_of_each(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    let args = ["apply", m.to_str().unwrap(), "--yes"];
    let (a, b, c) = tokio::join!(t.provision(&args), t.provision(&args), t.provision(&args));
    for o in [&a, &b, &c] {
        assert_eq!(code(o), 0, "{}\n{}", stdout(o), stderr(o));
    }
    let apps = t
        .get("/applications?$filter=displayName%20eq%20'Threat%20Protection%20API%20client'")
        .await;
    assert_eq!(apps["value"].as_array().unwrap().len(), 1);
    let (_app, _sp, grants) = app_state(&t).await;
    assert_eq!(grants.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_lag_and_throttling_converge_with_visible_retries() {
    let mut config = provision::emulator::Config::local();
    config.faults.replication_lag_ms = 400;
    config.faults.throttle_rate = 0.2;
    config.faults.seed = Some(7);
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes", "-v"]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("retry "), "{}", stderr(&out));
    let stats: Value = t
        .http
        .get(format!("{}/_emulator/stats", base_url(&t.emu)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["retry_after_violations"], 0, "{stats}");
    // Converged: a plan without faults shows nothing to do.
    t.http
        .put(format!("{}/_emulator/faults", base_url(&t.emu)))
        .json(&json!({"replication_lag_ms": 400}))
        .send()
        .await
        .unwrap();
    // No sleep: apply read back what it wrote, so the lag is already behind it.
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

both_profiles!(destroy_removes_the_app_and_purge_frees_the_name);
async fn destroy_removes_the_app_and_purge_frees_the_name(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    assert_eq!(
        code(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await),
        0
    );
    let out = t
        .provision(&["destroy", m.to_str().unwrap(), "--yes", "--purge"])
        .await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let (s, _) = t
        .graph(
            reqwest::Method::GET,
            "/applications(uniqueName='mtp-api-client')",
            None,
        )
        .await;
    assert_eq!(s, 404);
    // The name is free again: a new apply creates the app anew.
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let (s, _) = t
        .graph(
            reqwest::Method::GET,
            "/applications(uniqueName='mtp-api-client')",
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_text_and_json_snapshots() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    provision_snapshot!("plan_fresh_text", &out, &t);
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let _: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    provision_snapshot!("plan_fresh_json", &out, &t);
}

fn without_tenant_guard(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("tenant ="))
        .collect::<Vec<_>>()
        .join("\n")
}

both_profiles!(several_apps_with_application_permissions_converge);
async fn several_apps_with_application_permissions_converge(profile: Profile) {
    let mut config = provision::emulator::Config::local();
    config.faults = profile.faults();
    config.faults.latency_ms = 20;
    let t = Tenant::start_with(config).await;
    let text = std::fs::read_to_string(t.manifest("several-apps.toml")).unwrap();
    // The example guards contoso.onmicrosoft.com; this tenant is the emulator's.
    let m = t.write_manifest(
        "several.toml",
        &without_tenant_guard(&text).replace("grant = \"none\"", "grant = \"admin\""),
    );
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let log = t.graph_requests().await;
    // Two apps reconciled side by side: still five rounds (one of them the read-back), not ten.
    assert!(
        profile == Profile::Strict || rounds(&log) <= 5,
        "took {} rounds: {:#?}",
        rounds(&log),
        writes(&log)
    );
    let auto = t.get("/applications(uniqueName='soc-automation')").await;
    let sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            auto["appId"].as_str().unwrap()
        ))
        .await;
    let assigned = t
        .get(&format!(
            "/servicePrincipals/{}/appRoleAssignments",
            sp["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(assigned["value"].as_array().unwrap().len(), 4, "{assigned}");
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(t.dir.path().join("out/soc.json")).unwrap()).unwrap();
    assert_eq!(written.as_object().unwrap().len(), 2);
    assert_eq!(
        written["soc-automation"]["apis"][0]["roles"],
        json!(["AdvancedHunting.Read.All", "Incident.ReadWrite.All"])
    );
}

both_profiles!(consent_none_prints_the_admin_consent_url_and_grants_nothing);
async fn consent_none_prints_the_admin_consent_url_and_grants_nothing(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "none.toml",
        &text.replace("grant = \"admin\"", "grant = \"none\""),
    );
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let app = t.get("/applications(uniqueName='mtp-api-client')").await;
    let url = format!(
        "{}/{}/adminconsent?client_id={}",
        t.emu.ready.authority_url,
        t.emu.ready.tenant_id,
        app["appId"].as_str().unwrap()
    );
    assert!(stderr(&out).contains(&url), "{}", stderr(&out));
    let (_app, _sp, grants) = app_state(&t).await;
    assert!(grants.is_empty());
}

both_profiles!(a_caller_that_may_not_grant_consent_gets_the_rest_and_the_url);
async fn a_caller_that_may_not_grant_consent_gets_the_rest_and_the_url(profile: Profile) {
    let t = Tenant::start().await;
    // A client with Application.ReadWrite.All only, made through Graph like in the portal.
    let (app_id, secret) = t
        .client_with_role("app writer", "Application.ReadWrite.All")
        .await;
    t.use_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    let out = t
        .provision_as(&["apply", m.to_str().unwrap(), "--yes"], &app_id, &secret)
        .await;
    assert_eq!(code(&out), 4, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("/adminconsent?client_id="),
        "{}",
        stderr(&out)
    );
    // What was done is listed with its ids, the refused step with Graph's answer.
    // Under the strict profile the read-back may also wait for the service principal to show,
    // depending on how the requests interleave with the lag window: its two progress lines are
    // left out (the wait itself is tested in `fallbacks.rs`).
    let text: String = transcript(&out)
        .lines()
        .filter(|l| {
            !l.starts_with("Waiting for Microsoft Graph to show")
                && !l.starts_with("Microsoft Graph shows every change")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::report::snapshot(&t, "partial_apply_text", &text);
    // The application and its service principal are there; only consent is missing.
    let (_app, _sp, grants) = app_state(&t).await;
    assert!(grants.is_empty());
    // An administrator's apply then finishes the job.
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (_app, _sp, grants) = app_state(&t).await;
    assert_eq!(grants.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_file_formats_env_and_toml() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let env = t.write_manifest(
        "env.toml",
        &text
            .replace("format = \"json\"", "format = \"env\"")
            .replace("out/mtp-api-client.json", "out/app.env"),
    );
    let out = t.provision(&["apply", env.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let app = t.get("/applications(uniqueName='mtp-api-client')").await;
    let written = std::fs::read_to_string(t.dir.path().join("out/app.env")).unwrap();
    assert!(
        written.contains(&format!("AZURE_CLIENT_ID={}\n", app["appId"].as_str().unwrap())),
        "{written}"
    );
    assert!(
        written.contains(&format!("AZURE_TENANT_ID={}\n", t.emu.ready.tenant_id)),
        "{written}"
    );
    assert!(
        written.contains("RESOURCE_URL=https://api.security.microsoft.com\n"),
        "{written}"
    );
    assert!(
        written.contains("REDIRECT_URI=https://portal.azure.com\n"),
        "{written}"
    );
    let tm = t.write_manifest(
        "toml.toml",
        &text
            .replace("format = \"json\"", "format = \"toml\"")
            .replace("out/mtp-api-client.json", "out/app.toml"),
    );
    let out = t.provision(&["apply", tm.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let parsed: toml::Table =
        toml::from_str(&std::fs::read_to_string(t.dir.path().join("out/app.toml")).unwrap()).unwrap();
    assert_eq!(
        parsed["mtp-api-client"]["client_id"].as_str(),
        app["appId"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn emulator_flag_keeps_the_tenant_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.json");
    let manifest = dir.path().join("m.toml");
    std::fs::copy(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("manifests/threat-protection.toml"),
        &manifest,
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let (m, s) = (manifest.to_str().unwrap(), state.to_str().unwrap());
    let out = run(&["apply", m, "--emulator", "--emulator-state", s, "--yes"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Apply complete: 3 created"),
        "{}",
        stdout(&out)
    );
    let out = run(&[
        "plan",
        m,
        "--emulator",
        "--emulator-state",
        s,
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let out = run(&["destroy", m, "--emulator", "--emulator-state", s, "--yes"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let out = run(&[
        "plan",
        m,
        "--emulator",
        "--emulator-state",
        s,
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_json_report_snapshot() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t
        .provision(&["apply", m.to_str().unwrap(), "--yes", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["format_version"], "1.0");
    provision_snapshot!("apply_fresh_json", &out, &t);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_over_https_trusting_the_emulator_ca() {
    let mut config = provision::emulator::Config::local();
    config.tls = true;
    let emu = provision::emulator::start(config).await.unwrap();
    let r = emu.ready.clone();
    assert!(r.graph_url.starts_with("https://"), "{}", r.graph_url);
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.toml");
    std::fs::copy(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("manifests/threat-protection.toml"),
        &m,
    )
    .unwrap();
    let run = |ca: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_provision"));
        c.args(["apply", m.to_str().unwrap(), "--yes"])
            .env_clear()
            .env("PROVISION_GRAPH_URL", &r.graph_url)
            .env("PROVISION_AUTHORITY_URL", &r.authority_url)
            .env("AZURE_TENANT_ID", &r.tenant_id)
            .env("AZURE_CLIENT_ID", &r.client_id)
            .env("AZURE_CLIENT_SECRET", &r.client_secret)
            .stdin(std::process::Stdio::null());
        if let Some(ca) = ca {
            c.env("PROVISION_CA_CERT", ca);
        }
        c.output().unwrap()
    };
    // Without the CA the emulator's certificate is not trusted: the sign-in endpoint cannot be
    // reached (exit 1, not a refused sign-in), and the cause says TLS.
    let out = run(None);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the sign-in endpoint at `127.0.0.1:")
            && stderr(&out).contains("TLS: the secure connection failed"),
        "{}",
        stderr(&out)
    );
    let out = run(r.ca_cert.as_deref());
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_of_a_pinned_app_never_touches_the_app_holding_its_unique_name() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    assert_eq!(
        code(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await),
        0
    );
    let (s, legacy) = t
        .graph(
            reqwest::Method::POST,
            "/applications",
            Some(json!({"displayName": "legacy portal app"})),
        )
        .await;
    assert_eq!(s, 201, "{legacy}");
    let pinned = t.write_manifest(
        "pinned.toml",
        &format!(
            "[app]\nunique_name = \"mtp-api-client\"\napp_id = \"{}\"\ndisplay_name = \"legacy portal app\"\n",
            legacy["appId"].as_str().unwrap()
        ),
    );
    let out = t.provision(&["destroy", pinned.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let (s, _) = t
        .graph(
            reqwest::Method::GET,
            &format!("/applications/{}", legacy["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 404, "the pinned app is deleted");
    let (s, _) = t
        .graph(
            reqwest::Method::GET,
            "/applications(uniqueName='mtp-api-client')",
            None,
        )
        .await;
    assert_eq!(s, 200, "the app holding the unique name is untouched");
}

both_profiles!(a_missing_first_party_resource_is_created_as_its_own_step);
async fn a_missing_first_party_resource_is_created_as_its_own_step(profile: Profile) {
    let t = Tenant::start().await;
    let mtp = t.get(&format!("/servicePrincipals(appId='{MTP}')")).await;
    let (s, b) = t
        .graph(
            reqwest::Method::DELETE,
            &format!("/servicePrincipals/{}", mtp["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");
    t.use_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("resource_service_principal[\"Microsoft Threat Protection\"] will be created"),
        "{}",
        stdout(&out)
    );
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let created = t.get(&format!("/servicePrincipals(appId='{MTP}')")).await;
    assert_ne!(created["id"], mtp["id"]);
    let (_app, _sp, grants) = app_state(&t).await;
    assert_eq!(grants[0]["resourceId"], created["id"]);
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn control_characters_from_the_tenant_are_spelled_out_in_plans() {
    let t = Tenant::start().await;
    let (s, b) = t
        .graph(
            reqwest::Method::PATCH,
            "/applications(uniqueName='mtp-api-client')",
            Some(json!({"displayName": "evil\u{1b}[2Jname"})),
        )
        .await;
    // The upsert without Prefer: create-if-missing is an update of a missing app: 404.
    assert_eq!(s, 404, "{b}");
    let token = t.admin_token().await;
    let resp = t
        .http
        .patch(format!(
            "{}/applications(uniqueName='mtp-api-client')",
            t.emu.ready.graph_url
        ))
        .bearer_auth(token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "evil\u{1b}[2Jname"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}'), "raw ESC reached the terminal");
    assert!(text.contains("evil\\u{1b}[2Jname"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_knob_delays_sign_in_like_graph() {
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 150;
    let t = Tenant::start_with(config).await;
    let t0 = std::time::Instant::now();
    let _token = t.admin_token().await;
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(150),
        "{:?}",
        t0.elapsed()
    );
    // Control routes answer at once.
    let t0 = std::time::Instant::now();
    t.http
        .get(format!("{}/_emulator/stats", base_url(&t.emu)))
        .send()
        .await
        .unwrap();
    assert!(
        t0.elapsed() < std::time::Duration::from_millis(150),
        "{:?}",
        t0.elapsed()
    );
}
