//! Issue 12: the fallbacks for uncertain Graph forms, apply's read-back, and deleted items that
//! never lock a name; with the emulator knobs that make each of them necessary.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_profiles;
use crate::support::*;

const MTP: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";

fn ok(out: &std::process::Output) {
    assert_eq!(code(out), 0, "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

fn requests_matching<'a>(log: &'a [Value], method: &str, part: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|r| r["method"] == method && r["path"].as_str().is_some_and(|p| p.contains(part)))
        .collect()
}

// --- the emulator's knobs, with Graph's errors -------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn strict_knobs_refuse_the_uncertain_forms_with_400() {
    let t = Tenant::start().await;
    let sp = format!("/servicePrincipals(appId='{MTP}')");
    // Served by default.
    for nav in ["oauth2PermissionGrants", "appRoleAssignments"] {
        let (s, b) = t.graph(Method::GET, &format!("{sp}/{nav}"), None).await;
        assert_eq!(s, 200, "{b}");
    }
    t.set_faults(&provision::emulator::Faults {
        alternate_key_navigations: false,
        service_principal_upsert: false,
        ..Default::default()
    })
    .await;
    for nav in ["oauth2PermissionGrants", "appRoleAssignments"] {
        let (s, b) = t.graph(Method::GET, &format!("{sp}/{nav}"), None).await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["error"]["code"], "Request_BadRequest", "{b}");
        assert_eq!(
            b["error"]["message"],
            format!("Resource not found for the segment '{nav}'."),
        );
    }
    // The object-id forms stay served.
    let id = t.get(&sp).await["id"].as_str().unwrap().to_owned();
    t.get(&format!("/servicePrincipals/{id}/appRoleAssignments"))
        .await;
    t.get(&format!("/oauth2PermissionGrants?$filter=clientId%20eq%20'{id}'"))
        .await;
    let (s, b) = t.graph(Method::PATCH, &sp, Some(json!({}))).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "Request_BadRequest", "{b}");
    // The knobs read back in snake_case; a knob left out of a PUT is Graph's default.
    let faults: Value = t
        .http
        .get(format!("{}/_emulator/faults", base_url(&t.emu)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["alternate_key_navigations"], false);
    assert_eq!(faults["service_principal_upsert"], false);
    t.set_faults(&provision::emulator::Faults::default()).await;
    let (s, _) = t
        .graph(Method::GET, &format!("{sp}/appRoleAssignments"), None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_items_wait_out_the_purge_lag_and_follow_the_restore_rules() {
    let t = Tenant::start().await;
    t.set_faults(&provision::emulator::Faults {
        purge_lag_ms: 10_000,
        clock_step_ms: 4_000,
        ..Default::default()
    })
    .await;
    let (s, app) = t
        .graph(
            Method::PATCH,
            "/applications(uniqueName='held')",
            Some(json!({"displayName": "held"})),
        )
        .await;
    // Without Prefer: create-if-missing the upsert is an update of nothing.
    assert_eq!(s, 404, "{app}");
    let token = t.admin_token().await;
    let app: Value = t
        .http
        .patch(format!(
            "{}/applications(uniqueName='held')",
            t.emu.ready.graph_url
        ))
        .bearer_auth(&token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "held"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = app["id"].as_str().unwrap().to_owned();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let (s, sp) = t
        .graph(Method::POST, "/servicePrincipals", Some(json!({"appId": app_id})))
        .await;
    assert_eq!(s, 201, "{sp}");
    let sp_id = sp["id"].as_str().unwrap().to_owned();
    let (s, _) = t
        .graph(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(s, 204);
    // The delete replicates: neither restore nor purge finds the item yet (404), and the list
    // does not show it. The name stays reserved meanwhile.
    let (s, b) = t
        .graph(
            Method::POST,
            &format!("/directory/deletedItems/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    let (s, _) = t
        .graph(Method::DELETE, &format!("/directory/deletedItems/{id}"), None)
        .await;
    assert_eq!(s, 404);
    // 12 s later on the emulator's clock (three requests) it is there.
    let list = t.get("/directory/deletedItems/microsoft.graph.application").await;
    assert!(
        list["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "{list}"
    );
    // A service principal cannot come back while its application is deleted.
    let (s, b) = t
        .graph(
            Method::POST,
            &format!("/directory/deletedItems/{sp_id}/restore"),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["error"]["details"][0]["code"], "NoBackingApplicationObject",
        "{b}"
    );
    // The application can, and then its service principal.
    let (s, b) = t
        .graph(
            Method::POST,
            &format!("/directory/deletedItems/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["@odata.type"], "#microsoft.graph.application");
    assert_eq!(b["appId"], app_id.as_str());
    let (s, b) = t
        .graph(
            Method::POST,
            &format!("/directory/deletedItems/{sp_id}/restore"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // Deleted again: purged once that delete has replicated.
    let (s, _) = t
        .graph(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(s, 204);
    t.advance_clock(8_000);
    let (s, _) = t
        .graph(Method::DELETE, &format!("/directory/deletedItems/{id}"), None)
        .await;
    assert_eq!(s, 204, "purged once the delete replicated");
}

// --- apply's read-back ------------------------------------------------------------------------

/// Issue 12 §2: with replication lag up to 10 s, `apply` followed at once by `plan
/// --detailed-exitcode` exits 0. The emulator's clock moves 5 s with each Graph request while
/// apply runs, then stands still for the plan ("at once"); without the read-back (`--no-wait`)
/// the same plan sees the grant missing.
#[tokio::test(flavor = "multi_thread")]
async fn apply_then_plan_at_once_under_ten_seconds_of_lag() {
    let lagging = provision::emulator::Faults {
        replication_lag_ms: 10_000,
        clock_step_ms: 5_000,
        ..provision::emulator::Faults::strict()
    };
    let frozen = provision::emulator::Faults {
        clock_step_ms: 0,
        ..lagging.clone()
    };
    for (no_wait, expected) in [(true, 2), (false, 0)] {
        let t = Tenant::start().await;
        t.set_faults(&lagging).await;
        let m = t.manifest("threat-protection.toml");
        let mut args = vec!["apply", m.to_str().unwrap(), "--yes"];
        if no_wait {
            args.push("--no-wait");
        }
        let out = t.provision(&args).await;
        ok(&out);
        t.set_faults(&frozen).await;
        let out = t
            .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
            .await;
        assert_eq!(
            code(&out),
            expected,
            "--no-wait {no_wait}:\n{}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn read_back_gives_up_after_max_wait_with_the_writes_named() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    ok(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await);
    // Consent revoked in the portal; from now on a new object takes an hour to show (the
    // clock moves past the window first, so that what exists stays visible).
    let sp = t.get("/applications(uniqueName='mtp-api-client')").await["appId"].clone();
    let sp = t
        .get(&format!("/servicePrincipals(appId='{}')", sp.as_str().unwrap()))
        .await;
    let grants = t
        .get(&format!(
            "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'",
            sp["id"].as_str().unwrap()
        ))
        .await;
    let gid = grants["value"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = t
        .graph(Method::DELETE, &format!("/oauth2PermissionGrants/{gid}"), None)
        .await;
    assert_eq!(s, 204);
    t.set_faults(&provision::emulator::Faults {
        replication_lag_ms: 3_600_000,
        ..Default::default()
    })
    .await;
    t.advance_clock(3_600_000);
    let out = t
        .provision(&["apply", m.to_str().unwrap(), "--yes", "--max-wait", "1s"])
        .await;
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    // Progress in plain words, then the limit.
    assert!(
        err.contains("Waiting for Microsoft Graph to show what apply wrote (consent of mtp-api-client on Microsoft Threat Protection)."),
        "{err}"
    );
    assert!(err.contains("within 1s"), "{err}");
    assert!(
        err.contains("consent of mtp-api-client on Microsoft Threat Protection"),
        "{err}"
    );
    // The grant was written: it shows once replicated.
    t.advance_clock(3_600_000);
    ok(&t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await);
    let out = t
        .provision(&["apply", m.to_str().unwrap(), "--yes", "--max-wait", "3d"])
        .await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`d` is not a unit of time"),
        "{}",
        stderr(&out)
    );
}

// --- fallbacks --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn each_fallback_is_taken_once_per_run_and_shown_with_v() {
    let t = Tenant::start().await;
    t.set_faults(&provision::emulator::Faults {
        alternate_key_navigations: false,
        service_principal_upsert: false,
        latency_ms: 20,
        ..Default::default()
    })
    .await;
    let text = std::fs::read_to_string(t.manifest("several-apps.toml")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("tenant ="))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("grant = \"none\"", "grant = \"admin\"");
    let m = t.write_manifest("several.toml", &text);
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes", "-v"]).await;
    ok(&out);
    let err = stderr(&out);
    assert_eq!(
        err.matches("fallback: PATCH /servicePrincipals(appId=").count(),
        1,
        "{err}"
    );
    let log = t.graph_requests().await;
    // Both apps' upserts went out side by side before the first answer; none after it.
    let refused = requests_matching(&log, "PATCH", "/servicePrincipals(appId=");
    assert!(
        refused.len() <= 2 && refused.iter().all(|r| r["status"] == 400),
        "{refused:#?}"
    );
    let posts = log
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/v1.0/servicePrincipals")
        .count();
    assert_eq!(posts, 2, "one POST per app");

    // A no-op run: the navigations are refused once (side by side for both apps), then read
    // through the object id.
    t.clear_log().await;
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode", "-v"])
        .await;
    ok(&out);
    let err = stderr(&out);
    assert_eq!(
        err.matches("fallback: GET /servicePrincipals(appId=").count(),
        1,
        "{err}"
    );
    let log = t.graph_requests().await;
    let navs: Vec<&Value> = requests_matching(&log, "GET", "')/");
    assert!(
        navs.len() <= 4 && navs.iter().all(|r| r["status"] == 400),
        "{navs:#?}"
    );
    assert!(
        log.iter().any(|r| r["path"] == "/v1.0/oauth2PermissionGrants"),
        "{log:#?}"
    );
    // One round more than the two of a no-op plan.
    assert!(rounds(&log) <= 3, "{} rounds", rounds(&log));
}

/// Issue 12 §1: an application upsert that meets "uniqueName already exists" while its create
/// replicates reads the application back and carries on. The emulator's clock moves 4 s per
/// request and the create lags 18 s: apply's observe (3 requests) and upsert (1) run inside the
/// window, its first read-back request after it.
#[tokio::test(flavor = "multi_thread")]
async fn an_upsert_meeting_a_replicating_create_reads_it_back_and_carries_on() {
    let t = Tenant::start().await;
    t.set_faults(&provision::emulator::Faults {
        replication_lag_ms: 18_000,
        clock_step_ms: 4_000,
        ..Default::default()
    })
    .await;
    let token = t.admin_token().await;
    let created = t
        .http
        .patch(format!(
            "{}/applications(uniqueName='mtp-api-client')",
            t.emu.ready.graph_url
        ))
        .bearer_auth(&token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "Threat Protection API client"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.unwrap();
    let m = t.manifest("threat-protection.toml");
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes", "-v"]).await;
    ok(&out);
    let log = t.graph_requests().await;
    let upserts = requests_matching(&log, "PATCH", "/applications(uniqueName=");
    assert_eq!(upserts.len(), 1, "{upserts:#?}");
    assert_eq!(upserts[0]["status"], 400, "the upsert met the name: {upserts:#?}");
    assert!(stderr(&out).contains("its create replicated"), "{}", stderr(&out));
    // One application, the one created first, now as the manifest says.
    let apps = t
        .get("/applications?$filter=displayName%20eq%20'Threat%20Protection%20API%20client'")
        .await;
    assert_eq!(apps["value"].as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(apps["value"][0]["appId"], created["appId"]);
    assert_eq!(apps["value"][0]["isFallbackPublicClient"], true);
}

// --- deleted items ----------------------------------------------------------------------------

both_profiles!(apply_after_destroy_restores_the_app_and_keeps_its_client_id);
async fn apply_after_destroy_restores_the_app_and_keeps_its_client_id(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    ok(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await);
    let first = t.get("/applications(uniqueName='mtp-api-client')").await;
    let app_id = first["appId"].as_str().unwrap().to_owned();
    // destroy without --purge: the app and its service principal go to deleted items.
    ok(&t.provision(&["destroy", m.to_str().unwrap(), "--yes"]).await);
    if profile == Profile::Strict {
        // Past the purge window, so that the plan sees the deleted items.
        t.advance_clock(12_000);
    }
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
    let tid = t.emu.ready.tenant_id.clone();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&tid, "[TENANT_ID]");
    settings.add_filter(&app_id, "[APP_ID]");
    settings.set_snapshot_suffix(format!("{profile:?}").to_lowercase());
    settings.bind(|| {
        insta::assert_snapshot!(
            "plan_restore_text",
            format!(
                "exit {}\n--- stdout\n{}--- stderr\n{}",
                code(&out),
                stdout(&out),
                stderr(&out)
            )
        )
    });
    let json_out = t
        .provision(&["plan", m.to_str().unwrap(), "--format", "json"])
        .await;
    let doc: Value = serde_json::from_str(&stdout(&json_out)).unwrap();
    assert_eq!(doc["changes"][0]["action"], "restore", "{doc}");
    assert_eq!(doc["changes"][1]["action"], "restore", "{doc}");
    assert_eq!(doc["summary"]["restore"], 2, "{doc}");

    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    ok(&out);
    assert!(
        stdout(&out).contains("restored from deleted items"),
        "{}",
        stdout(&out)
    );
    let again = t.get("/applications(uniqueName='mtp-api-client')").await;
    assert_eq!(again["appId"], app_id.as_str(), "the client ID survives");
    assert_eq!(again["id"], first["id"]);
    let sp = t.get(&format!("/servicePrincipals(appId='{app_id}')")).await;
    let grants = t
        .get(&format!(
            "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'",
            sp["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(grants["value"].as_array().unwrap().len(), 1, "{grants}");
    ok(&t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await);
}

both_profiles!(destroy_purge_also_purges_what_an_earlier_destroy_left);
async fn destroy_purge_also_purges_what_an_earlier_destroy_left(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let m = t.manifest("threat-protection.toml");
    ok(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await);
    let app_id = t.get("/applications(uniqueName='mtp-api-client')").await["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&t.provision(&["destroy", m.to_str().unwrap(), "--yes"]).await);
    if profile == Profile::Strict {
        t.advance_clock(12_000);
    }
    let out = t
        .provision(&["destroy", m.to_str().unwrap(), "--yes", "--purge"])
        .await;
    ok(&out);
    assert!(
        stdout(&out).contains("app.mtp-api-client.deleted_item.application will be deleted"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("- app.mtp-api-client.deleted_item.application: deleted"),
        "{}",
        stdout(&out)
    );
    let deleted = t.get("/directory/deletedItems/microsoft.graph.application").await;
    assert!(
        deleted["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["appId"] != app_id.as_str()),
        "{deleted}"
    );
    // The name is free: a new registration, not a restore.
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    ok(&out);
    assert!(!stdout(&out).contains("restored"), "{}", stdout(&out));
    let new_id = t.get("/applications(uniqueName='mtp-api-client')").await["appId"].clone();
    assert_ne!(new_id, app_id.as_str());
}

/// `provision emulator --strict` plays the stricter Graph; each knob can be set on its own.
#[tokio::test(flavor = "multi_thread")]
async fn emulator_command_takes_the_strict_profile_and_each_knob() {
    use tokio::io::AsyncBufReadExt;
    for (args, expected) in [
        (
            vec!["--strict"],
            json!({"alternate_key_navigations": false, "service_principal_upsert": false,
                   "replication_lag_ms": 2000, "purge_lag_ms": 2000, "clock_step_ms": 0}),
        ),
        (
            vec![
                "--alternate-key-navigations",
                "false",
                "--purge-lag-ms",
                "500",
                "--clock-step-ms",
                "100",
            ],
            json!({"alternate_key_navigations": false, "service_principal_upsert": true,
                   "replication_lag_ms": 0, "purge_lag_ms": 500, "clock_step_ms": 100}),
        ),
        (
            vec![
                "--strict",
                "--service-principal-upsert",
                "true",
                "--replication-lag-ms",
                "0",
            ],
            json!({"alternate_key_navigations": false, "service_principal_upsert": true,
                   "replication_lag_ms": 0, "purge_lag_ms": 2000, "clock_step_ms": 0}),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
            .arg("emulator")
            .args(&args)
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let base = ready["authority_url"].as_str().unwrap();
        let faults: Value = reqwest::get(format!("{base}/_emulator/faults"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(&faults[k], v, "{args:?}: {k} in {faults}");
        }
        child.kill().await.unwrap();
    }
}

/// An apply right after a destroy whose delete has not replicated: the plan does not see the
/// app in deleted items (create), the upsert meets the reserved name, and apply restores the
/// app rather than fail. Purge lag 20 s on a clock moving 4 s per request: observe's three
/// requests and the upsert run inside it, the first read-back after it.
#[tokio::test(flavor = "multi_thread")]
async fn apply_meeting_a_name_reserved_by_a_fresh_delete_restores_it() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    ok(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await);
    let app_id = t.get("/applications(uniqueName='mtp-api-client')").await["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    t.set_faults(&provision::emulator::Faults {
        purge_lag_ms: 20_000,
        clock_step_ms: 4_000,
        ..Default::default()
    })
    .await;
    ok(&t.provision(&["destroy", m.to_str().unwrap(), "--yes"]).await);
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    ok(&out);
    assert!(
        stdout(&out).contains("+ app.mtp-api-client: created"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "`mtp-api-client` is held by a deleted application (appId {app_id}): restoring it"
        )),
        "{}",
        stderr(&out)
    );
    let again = t.get("/applications(uniqueName='mtp-api-client')").await;
    assert_eq!(again["appId"], app_id.as_str());
    ok(&t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await);
}
