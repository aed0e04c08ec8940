//! plan, apply and destroy: the real binary against the in-process emulator.

use serde_json::{Value, json};

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

#[tokio::test(flavor = "multi_thread")]
async fn fresh_apply_builds_the_portal_procedure_and_writes_the_ids() {
    // Some latency, so that concurrent requests overlap in the log and rounds can be counted.
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 40;
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(
        code(&out),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let log = t.graph_requests().await;
    let w = writes(&log);
    assert_eq!(
        w,
        [
            "PATCH /v1.0/applications(uniqueName='mtp-api-client')".to_string(),
            format!(
                "PATCH /v1.0/servicePrincipals(appId='{}')",
                &t.get("/applications(uniqueName='mtp-api-client')").await["appId"]
                    .as_str()
                    .unwrap()
            ),
            "POST /v1.0/oauth2PermissionGrants".to_string(),
        ],
        "write sequence"
    );
    assert!(
        rounds(&log) <= 4,
        "fresh apply took {} rounds: {log:#?}",
        rounds(&log)
    );

    let (app, sp, grants) = app_state(&t).await;
    assert_eq!(
        app["publicClient"]["redirectUris"],
        json!(["https://portal.azure.com"])
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

    // A second apply writes nothing; plan finds nothing within two rounds.
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(writes(&t.graph_requests().await), Vec::<String>::new());
    t.clear_log().await;
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let log = t.graph_requests().await;
    assert!(
        rounds(&log) <= 2,
        "no-op plan took {} rounds: {log:#?}",
        rounds(&log)
    );
    assert!(stdout(&out).contains("No changes."), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_made_through_graph_is_planned_and_repaired() {
    let t = Tenant::start().await;
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
        json!(["https://portal.azure.com"])
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
    assert_eq!(writes(&t.graph_requests().await), Vec::<String>::new());
    // The right domain passes.
    let m = t.write_manifest(
        "right.toml",
        &format!("tenant = \"{}\"\n{text}", t.emu.ready.tenant_domain),
    );
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_applies_end_with_one_of_each() {
    let t = Tenant::start().await;
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
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_removes_the_app_and_purge_frees_the_name() {
    let t = Tenant::start().await;
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
    let tid = t.emu.ready.tenant_id.clone();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&tid), "[TENANT_ID]");
    settings.bind(|| insta::assert_snapshot!("plan_fresh_text", stdout(&out)));
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--format", "json"])
        .await;
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    settings.bind(|| insta::assert_json_snapshot!("plan_fresh_json", doc, { ".tenant_id" => "[TENANT_ID]" }));
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
