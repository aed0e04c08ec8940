//! The emulator through the `provision` binary: `--emulator-state` shared by concurrent applies,
//! and `provision emulator --print-env` (the emulator's own tests, which need no binary, live in
//! `crates/entra-emulator/tests/`).

use serde_json::Value;

use crate::support::{code, stderr, stdout};

/// Four `apply --emulator --emulator-state st.json` runs started at once, each with its own
/// app: every run succeeds and every app is in the tenant afterwards, once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_applies_sharing_a_state_file_keep_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let names: Vec<String> = (0..4).map(|i| format!("shared-state-app-{i}")).collect();
    let manifests: Vec<std::path::PathBuf> = names
        .iter()
        .map(|n| {
            let path = dir.path().join(format!("{n}.toml"));
            std::fs::write(
                &path,
                format!(
                    "[app]\nunique_name = \"{n}\"\ndisplay_name = \"{n}\"\n\n[app.public_client]\nredirect_uris = [\"http://localhost\"]\nallow_public_client_flows = true\n\n[[app.api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\"]\n\n[app.consent]\ngrant = \"admin\"\n\n[output]\npath = \"{n}.json\"\n"
                ),
            )
            .unwrap();
            path
        })
        .collect();
    let run = |args: Vec<String>| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::null())
            .output()
    };
    let s = state.to_str().unwrap().to_owned();
    let outs = futures::future::join_all(manifests.iter().map(|m| {
        run(vec![
            "apply".into(),
            m.to_str().unwrap().into(),
            "--emulator".into(),
            "--emulator-state".into(),
            s.clone(),
            "--yes".into(),
        ])
    }))
    .await;
    for out in outs {
        let out = out.unwrap();
        assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    }
    let tenant: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    for n in &names {
        let apps = tenant["applications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["data"]["uniqueName"] == n.as_str())
            .count();
        assert_eq!(apps, 1, "{n}");
    }
    // And each run's plan sees its app as applied.
    for m in &manifests {
        let out = run(vec![
            "plan".into(),
            m.to_str().unwrap().into(),
            "--emulator".into(),
            "--emulator-state".into(),
            s.clone(),
            "--detailed-exitcode".into(),
        ])
        .await
        .unwrap();
        assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    }
}

/// `provision emulator --print-env` starts the emulator in the background and prints the
/// environment for it; `provision` run with that environment reaches it, and the printed PID
/// stops it. The state flag is spelled as on the other commands.
#[tokio::test(flavor = "multi_thread")]
async fn print_env_starts_a_background_emulator_to_eval() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args([
            "emulator",
            "--emulator-state",
            state.to_str().unwrap(),
            "--print-env",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut env = std::collections::BTreeMap::new();
    for line in stdout(&out).lines() {
        let (name, value) = line
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
            .unwrap_or_else(|| panic!("not an export line: {line}"));
        env.insert(name.to_owned(), value.trim_matches('\'').to_owned());
    }
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AZURE_AUTHORITY_HOST",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "PROVISION_AUTHORITY_URL",
            "PROVISION_EMULATOR_PID",
            "PROVISION_GRAPH_URL"
        ]
    );
    let pid = env.remove("PROVISION_EMULATOR_PID").unwrap();
    let manifest = dir.path().join("m.toml");
    std::fs::write(
        &manifest,
        "[app]\nunique_name = \"print-env-app\"\ndisplay_name = \"print env app\"\n",
    )
    .unwrap();
    let plan = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["plan", manifest.to_str().unwrap(), "--detailed-exitcode"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .envs(&env)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stopped = std::process::Command::new("kill").arg(&pid).status().unwrap();
    assert_eq!(code(&plan), 2, "{}\n{}", stdout(&plan), stderr(&plan));
    assert!(stopped.success(), "kill {pid}");
    // The background emulator kept its tenant in the state file.
    let tenant: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(tenant["identity"]["tenant_id"], env["AZURE_TENANT_ID"].as_str());
}
