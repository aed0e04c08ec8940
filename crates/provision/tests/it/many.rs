//! Several manifests at once (issue 16): `plan`, `apply` and `destroy` over files and folders,
//! one observation, changes attributed to their manifest, `--target`, tenant guards that must
//! agree, each manifest's own output file, and the GitHub Actions outputs of such a run.

use serde_json::Value;

use crate::report::transcript;
use crate::support::*;

const A: &str = r#"[app]
unique_name = "app-a"
display_name = "App A"
[app.public_client]
redirect_uris = ["http://localhost"]
[[app.api_permissions]]
api = "microsoft-threat-protection"
delegated = ["Incident.Read"]
[output]
path = "out/a.json"
"#;

const B: &str = r#"[[app]]
unique_name = "app-b"
display_name = "App B"
[[app.api_permissions]]
api = "microsoft-threat-protection"
delegated = ["AdvancedHunting.Read"]
[[app]]
unique_name = "app-c"
display_name = "App C"
[output]
path = "out/b.json"
"#;

const D: &str = r#"[app]
unique_name = "app-d"
display_name = "App D"
"#;

/// `a.toml`, and the folder `team/` holding `b.toml` and `d.toml`: four apps in three files.
fn write_set(t: &Tenant) {
    t.write_manifest("a.toml", A);
    std::fs::create_dir_all(t.dir.path().join("team")).unwrap();
    t.write_manifest("team/b.toml", B);
    t.write_manifest("team/d.toml", D);
}

fn settings(t: &Tenant) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&t.emu.ready.tenant_id, "[TENANT_ID]");
    s.add_filter(r"127\.0\.0\.1:\d+", "[EMULATOR]");
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[GUID]",
    );
    s
}

async fn app_exists(t: &Tenant, unique_name: &str) -> bool {
    let (status, _) = t
        .graph(
            reqwest::Method::GET,
            &format!("/applications(uniqueName='{unique_name}')"),
            None,
        )
        .await;
    status == 200
}

fn read_json(t: &Tenant, path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(t.dir.path().join(path)).unwrap_or_default())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_of_two_manifests_and_a_folder_attributes_each_change() {
    let t = Tenant::start().await;
    write_set(&t);
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    settings(&t).bind(|| insta::assert_snapshot!("many_plan_text", transcript(&out)));

    let out = t
        .provision_here(&["plan", "a.toml", "team", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["format_version"], "1.0");
    for c in doc["changes"].as_array().unwrap() {
        let address = c["address"].as_str().unwrap();
        let want = if address.starts_with("app.app-a") {
            "a.toml"
        } else if address.starts_with("app.app-b") || address.starts_with("app.app-c") {
            "team/b.toml"
        } else if address.starts_with("app.app-d") {
            "team/d.toml"
        } else {
            // The resource service principal is shared; none is missing on the emulator.
            panic!("unexpected change {c}")
        };
        assert_eq!(c["manifest"], want, "{c}");
    }
    settings(&t).bind(|| insta::assert_snapshot!("many_plan_json", transcript(&out)));
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_of_several_writes_each_output_file_then_plans_no_changes_and_destroys_them_all() {
    let t = Tenant::start().await;
    write_set(&t);
    let out = t
        .provision_here(&["apply", "a.toml", "team", "--yes", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let mut s = settings(&t);
    s.add_filter(r#""id": "[A-Za-z0-9_-]{40,}""#, r#""id": "[GRANT_ID]""#);
    s.bind(|| insta::assert_snapshot!("many_apply_json", transcript(&out)));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["output_file"], Value::Null);
    let files = doc["output_files"].as_array().unwrap();
    let shown: Vec<(&str, &str, bool)> = files
        .iter()
        .map(|f| {
            (
                f["manifest"].as_str().unwrap(),
                f["path"].as_str().unwrap(),
                f["written"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("a.toml", "out/a.json", true),
            ("team/b.toml", "team/out/b.json", true)
        ]
    );
    let by_app: Vec<(&str, &str)> = doc["result"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["unique_name"].as_str().unwrap(),
                a["manifest"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_app,
        [
            ("app-a", "a.toml"),
            ("app-b", "team/b.toml"),
            ("app-c", "team/b.toml"),
            ("app-d", "team/d.toml")
        ]
    );
    // Each file holds its own manifest's apps, and only those.
    let a = read_json(&t, "out/a.json");
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(keys(&a), ["app-a"]);
    assert_eq!(keys(&read_json(&t, "team/out/b.json")), ["app-b", "app-c"]);
    for name in ["app-a", "app-b", "app-c", "app-d"] {
        assert!(app_exists(&t, name).await, "{name}");
    }

    let out = t
        .provision_here(&["plan", "a.toml", "team", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        stdout(&out).starts_with("No changes. Tenant ") && stdout(&out).contains("matches the manifests."),
        "{}",
        stdout(&out)
    );

    // Drift in one manifest's app: exit 2, and the change is that manifest's.
    let (s, _) = t
        .graph(
            reqwest::Method::PATCH,
            "/applications(uniqueName='app-c')",
            Some(serde_json::json!({"displayName": "Renamed"})),
        )
        .await;
    assert_eq!(s, 204);
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Manifest team/b.toml:\n\n  # app.app-c will be updated in place"),
        "{text}"
    );
    assert!(
        text.contains("  a.toml: no changes.\n  team/b.toml: 0 to create, 1 to update, 0 to delete.\n  team/d.toml: no changes.\n"),
        "{text}"
    );

    // destroy of several: every app goes, and so does each output file.
    let out = t.provision_here(&["destroy", "a.toml", "team", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    // Steps end in the order Graph answers: their lines are sorted for the snapshot.
    let text = transcript(&out);
    let is_result = |l: &&str| {
        let l = l.trim_start();
        (l.starts_with("- app.") || l.starts_with("+ app.")) && l.contains(": ")
    };
    let mut results: Vec<&str> = text.lines().filter(is_result).collect();
    results.sort_unstable();
    let mut sorted = results.into_iter();
    let shown: Vec<&str> = text
        .lines()
        .map(|l| {
            if is_result(&l) {
                sorted.next().unwrap_or(l)
            } else {
                l
            }
        })
        .collect();
    let mut s = settings(&t);
    s.add_filter(r"\(id [^)]+\)", "(id [ID])");
    s.bind(|| insta::assert_snapshot!("many_destroy_text", shown.join("\n")));
    for name in ["app-a", "app-b", "app-c", "app-d"] {
        assert!(!app_exists(&t, name).await, "{name} still exists");
    }
    assert!(!t.dir.path().join("out/a.json").exists());
    assert!(!t.dir.path().join("team/out/b.json").exists());
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--destroy", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        stdout(&out).starts_with("Nothing to destroy: no app of the manifests exists"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_unique_name_in_two_manifests_is_refused_naming_both() {
    let t = Tenant::start().await;
    write_set(&t);
    t.write_manifest("again.toml", &D.replace("App D", "App D again"));
    t.clear_log().await;
    for args in [&["plan"][..], &["apply", "--yes"], &["destroy", "--yes"]] {
        let command = args[0];
        let out = t.provision_here(&[args, &["team", "again.toml"]].concat()).await;
        assert_eq!(code(&out), 3, "{command}: {}", transcript(&out));
        if command == "plan" {
            insta::assert_snapshot!("many_duplicate_unique_name", transcript(&out));
        }
    }
    // An output file that is another manifest of the run would be overwritten by apply.
    t.write_manifest("again.toml", &A.replace("out/a.json", "team/d.toml"));
    let out = t.provision_here(&["apply", "again.toml", "team", "--yes"]).await;
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(
        stderr(&out).contains("error: `output.path` `team/d.toml` is the manifest `team/d.toml`"),
        "{}",
        stderr(&out)
    );
    assert!(t.graph_requests().await.is_empty(), "no Graph request");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_for_two_tenants_are_refused_before_any_request() {
    let t = Tenant::start().await;
    let tid = t.emu.ready.tenant_id.clone();
    t.write_manifest("a.toml", &format!("tenant = \"{tid}\"\n{A}"));
    t.write_manifest(
        "b.toml",
        &format!("tenant = \"00000000-0000-0000-0000-00000000beef\"\n{D}"),
    );
    t.clear_log().await;
    let out = t.provision_here(&["apply", "a.toml", "b.toml", "--yes"]).await;
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(
        stderr(&out).contains(&format!(
            "error: the manifests are for different tenants: `a.toml` is for `{tid}`, `b.toml` for `00000000-0000-0000-0000-00000000beef`"
        )),
        "{}",
        stderr(&out)
    );
    assert!(t.graph_requests().await.is_empty(), "no Graph request");

    // A domain is resolved at sign-in: one that is not the signed-in tenant's stops the run
    // before any write, naming its manifest.
    t.write_manifest("b.toml", &format!("tenant = \"fabrikam.example\"\n{D}"));
    let out = t.provision_here(&["apply", "a.toml", "b.toml", "--yes"]).await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains(
            "error: the manifest `b.toml` is for tenant `fabrikam.example`, but the signed-in tenant is"
        ),
        "{}",
        stderr(&out)
    );
    assert!(writes(&t.graph_requests().await).is_empty());
    assert!(!app_exists(&t, "app-a").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn target_limits_reads_and_writes_to_the_named_apps() {
    let t = Tenant::start().await;
    write_set(&t);
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--target", "app-bb"])
        .await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    insta::assert_snapshot!("many_unknown_target", transcript(&out));

    t.clear_log().await;
    let out = t
        .provision_here(&[
            "apply", "a.toml", "team", "--target", "app-b", "--target", "APP-D", "--yes",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Partial run (--target): only `app-b`, `app-d`; no other app is read or changed.\n"),
        "{text}"
    );
    let log = t.graph_requests().await;
    // No request names an app left out, and no write goes to one.
    for r in &log {
        let path = r["path"].as_str().unwrap_or_default();
        assert!(
            !path.contains("app-a") && !path.contains("app-c"),
            "request for an untargeted app: {path}"
        );
    }
    let app_id = |v: Value| v["appId"].as_str().unwrap_or_default().to_owned();
    let b_app = app_id(t.get("/applications(uniqueName='app-b')").await);
    let d_app = app_id(t.get("/applications(uniqueName='app-d')").await);
    let b_sp = t.get(&format!("/servicePrincipals(appId='{b_app}')")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for r in log.iter().filter(|r| r["method"] != "GET") {
        let path = r["path"].as_str().unwrap_or_default();
        let ok = path.contains("uniqueName='app-b'")
            || path.contains("uniqueName='app-d'")
            || path.contains(&format!("appId='{b_app}'"))
            || path.contains(&format!("appId='{d_app}'"))
            || (path.ends_with("/oauth2PermissionGrants") && r["body"]["clientId"] == b_sp.as_str());
        assert!(ok, "write outside the targets: {r}");
    }
    assert!(app_exists(&t, "app-b").await && app_exists(&t, "app-d").await);
    assert!(!app_exists(&t, "app-a").await && !app_exists(&t, "app-c").await);
    // team/b.toml lost app-c to --target: its output file is left alone, and it says so.
    assert!(!t.dir.path().join("team/out/b.json").exists());
    assert!(
        stderr(&out).contains("`team/out/b.json` was left as it is: --target left out apps of `team/b.toml`"),
        "{}",
        stderr(&out)
    );

    // The rest of the manifests is still to do; a targeted plan of what was applied is clean.
    let out = t
        .provision_here(&[
            "plan",
            "a.toml",
            "team",
            "--target",
            "app-d",
            "--detailed-exitcode",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 2, "{}", transcript(&out));

    // A targeted destroy deletes only its target.
    let out = t
        .provision_here(&["destroy", "a.toml", "team", "--target", "app-d", "--yes"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(!app_exists(&t, "app-d").await);
    assert!(app_exists(&t, "app-b").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_manifests_are_observed_in_the_rounds_of_one() {
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 40;
    let t = Tenant::start_with(config).await;
    write_set(&t);
    let out = t.provision_here(&["apply", "a.toml", "team", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));

    t.clear_log().await;
    let out = t.provision_here(&["plan", "a.toml", "--detailed-exitcode"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let one = t.graph_requests().await;

    t.clear_log().await;
    let out = t
        .provision_here(&["plan", "a.toml", "team", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let all = t.graph_requests().await;
    // Four apps in three files are read side by side: the rounds of one manifest (the apps and
    // the API, then each app's service principal, grants and assignments), not three runs.
    assert_eq!(rounds(&one), 2, "{one:#?}");
    assert_eq!(rounds(&all), rounds(&one), "{all:#?}");
    // One read of deleted items and of the API for all of them.
    let count = |p: &str| {
        all.iter()
            .filter(|r| r["path"].as_str().unwrap_or_default().contains(p))
            .count()
    };
    assert_eq!(count("deletedItems"), 1, "{all:#?}");
    assert_eq!(count("servicePrincipals(appId='8ee8fdad"), 1, "{all:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_actions_summary_and_outputs_cover_every_manifest() {
    let t = Tenant::start().await;
    write_set(&t);
    let summary = t.dir.path().join("summary.md");
    let output = t.dir.path().join("output.txt");
    let r = &t.emu.ready;
    let a = t.dir.path().join("a.toml");
    let team = t.dir.path().join("team");
    let out = t
        .provision_env(
            &["apply", a.to_str().unwrap(), team.to_str().unwrap(), "--yes"],
            &r.client_id.clone(),
            &r.client_secret.clone(),
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let summary = std::fs::read_to_string(&summary).unwrap();
    let first = summary.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("### provision apply `")
            && first.contains("a.toml`, `")
            && first.contains("b.toml`, `")
            && first.ends_with("d.toml`"),
        "{summary}"
    );
    assert!(
        summary.contains("Manifest ") && summary.contains("Apply complete"),
        "{summary}"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    let tenant = &r.tenant_id;
    for name in ["app-a", "app-b", "app-c", "app-d"] {
        let client = t.get(&format!("/applications(uniqueName='{name}')")).await["appId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            outputs.contains(&format!("{name}_client_id={client}\n")),
            "{outputs}"
        );
        assert!(
            outputs.contains(&format!("{name}_tenant_id={tenant}\n")),
            "{outputs}"
        );
    }
    assert!(outputs.contains(&format!("tenant_id={tenant}\n")), "{outputs}");
    assert!(
        !outputs.contains("\nclient_id="),
        "several apps: no lone client_id: {outputs}"
    );
}

#[test]
fn emulator_takes_the_tenant_the_manifests_name() {
    let dir = tempfile::tempdir().unwrap();
    let tid = "6c1b7a0e-3f7a-4d0e-9a55-0c3e2b1d4f5a";
    std::fs::write(dir.path().join("a.toml"), format!("tenant = \"{tid}\"\n{A}")).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        format!("tenant = \"contoso.example\"\n{D}"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args([
            "apply",
            "a.toml",
            "b.toml",
            "--emulator",
            "--emulator-state",
            "tenant.json",
            "--yes",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        stdout(&out).contains(&format!("tenant_id  = {tid}")),
        "{}",
        stdout(&out)
    );
    let state = std::fs::read_to_string(dir.path().join("tenant.json")).unwrap();
    assert!(
        state.contains(tid),
        "the state is seeded with the manifests' tenant"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_one_manifest_holds_back_only_its_own_output_file() {
    let t = Tenant::start().await;
    write_set(&t);
    let out = t.provision_here(&["apply", "a.toml", "team", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    // a.toml changes; team/b.toml does not (its file is gone, to see it written again).
    t.write_manifest("a.toml", &A.replace("App A", "App A renamed"));
    std::fs::remove_file(t.dir.path().join("team/out/b.json")).unwrap();
    let before_a = std::fs::read_to_string(t.dir.path().join("out/a.json")).unwrap();
    // A client that may read but not write: a.toml's update is refused.
    let r = t.emu.ready.clone();
    let out = t
        .command(
            &["apply", "a.toml", "team", "--yes", "--format", "json"],
            &r.reader_client_id,
            &r.reader_client_secret,
            &[],
        )
        .current_dir(t.dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 4, "{}", transcript(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["applied"], false);
    let files: Vec<(&str, bool)> = doc["output_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["manifest"].as_str().unwrap(), f["written"].as_bool().unwrap()))
        .collect();
    assert_eq!(files, [("a.toml", false), ("team/b.toml", true)]);
    assert_eq!(
        std::fs::read_to_string(t.dir.path().join("out/a.json")).unwrap(),
        before_a
    );
    assert!(
        stderr(&out).contains("`out/a.json` was not updated and is out of date"),
        "{}",
        stderr(&out)
    );
    let b = read_json(&t, "team/out/b.json");
    assert!(
        b["app-b"]["client_id"].is_string() && b["app-c"]["client_id"].is_string(),
        "{b}"
    );
}
