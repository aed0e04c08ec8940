//! What another run (or a person) changes while a run waits on Graph: apply's read-back and
//! destroy's purge see it and fail with an error that says so, after enough reads agree (five
//! in a row over twenty seconds, as terraform-provider-azuread trusts a deletion), instead of
//! waiting until `--max-wait` runs out. The reliability suite's races found both waits.

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStderr};

use crate::support::*;

const KEEP: &str = "[[app]]\nunique_name = \"kept-a\"\ndisplay_name = \"Kept A\"\n\n\
[[app]]\nunique_name = \"grows-b\"\ndisplay_name = \"Grows B\"\n\n\
[[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\"]\n";

/// The binary with piped output, signed in as the emulator's admin client.
fn spawn(t: &Tenant, args: &[&str]) -> (Child, Lines<BufReader<ChildStderr>>) {
    let r = &t.emu.ready;
    let mut child = t
        .command(args, &r.client_id, &r.client_secret, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, lines)
}

/// Read stderr lines into `seen` until one satisfies `until`; whether one did.
async fn read_until(
    lines: &mut Lines<BufReader<ChildStderr>>,
    seen: &mut String,
    until: impl Fn(&str) -> bool,
) -> bool {
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
        if until(&line) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_removed_for_good_during_the_read_back_fails_the_apply() {
    let t = Tenant::start().await;
    let m = t.write_manifest("keep.toml", KEEP);
    let first = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));

    // A second API for grows-b: its new grant stays invisible (replication), so apply waits.
    std::fs::write(
        &m,
        format!("{KEEP}\n[[app.api_permissions]]\napi = \"Microsoft Graph\"\ndelegated = [\"User.Read\"]\n"),
    )
    .unwrap();
    t.set_faults(&provision::emulator::Faults {
        replication_lag_ms: 600_000,
        ..Default::default()
    })
    .await;
    // What exists is older than the window: it stays visible; new objects do not.
    t.advance_clock(600_001);

    let (child, mut lines) = spawn(&t, &["apply", m.to_str().unwrap(), "--yes", "--max-wait", "90s"]);
    let mut seen = String::new();
    assert!(
        read_until(&mut lines, &mut seen, |l| l
            .starts_with("Waiting for Microsoft Graph to show what apply wrote"))
        .await,
        "apply did not wait:\n{seen}"
    );

    // Someone deletes kept-a (which apply found as wanted) and purges it: deleted items hold
    // nothing to tell, only its absence over several rounds does.
    let app = t.get("/applications(uniqueName='kept-a')").await;
    let id = app["id"].as_str().expect("kept-a exists").to_owned();
    for path in [
        format!("/applications/{id}"),
        format!("/directory/deletedItems/{id}"),
    ] {
        let (status, body) = t.graph(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(status, 204, "DELETE {path}: {body}");
    }

    read_until(&mut lines, &mut seen, |_| false).await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{seen}");
    assert!(
        seen.contains("error: application kept-a, service principal of kept-a showed in the tenant and then went away while apply waited for Microsoft Graph"),
        "{seen}"
    );
    assert!(
        seen.contains("help: another run or a person changed the tenant meanwhile; run `provision apply` again to put it back"),
        "{seen}"
    );
    assert!(!seen.contains("did not show what apply wrote within"), "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_restored_while_destroy_waits_to_purge_it_fails_the_destroy() {
    let t = Tenant::start().await;
    let m = t.write_manifest("keep.toml", KEEP);
    let first = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let app = t.get("/applications(uniqueName='kept-a')").await;
    let id = app["id"].as_str().expect("kept-a exists").to_owned();

    // Deletes replicate: for a while deleted items answer 404 to purge and restore alike.
    t.set_faults(&provision::emulator::Faults {
        purge_lag_ms: 600_000,
        ..Default::default()
    })
    .await;
    let (child, mut lines) = spawn(
        &t,
        &[
            "destroy",
            m.to_str().unwrap(),
            "--yes",
            "--purge",
            "-v",
            "--max-wait",
            "90s",
        ],
    );
    let mut seen = String::new();
    // Once destroy waits half a second or more before its next purge of kept-a, the delete
    // "replicates" and another run restores the application.
    let waiting = read_until(&mut lines, &mut seen, |l| {
        l.strip_prefix("  purge of application `kept-a`: not in deleted items yet (404); trying again in ")
            .and_then(|rest| rest.trim_end_matches('s').parse::<f64>().ok())
            .is_some_and(|delay| delay >= 0.5)
    })
    .await;
    assert!(waiting, "destroy did not wait to purge:\n{seen}");
    t.advance_clock(600_001);
    let (status, body) = t
        .graph(
            reqwest::Method::POST,
            &format!("/directory/deletedItems/{id}/restore"),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 200, "restore: {body}");

    read_until(&mut lines, &mut seen, |_| false).await;
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{seen}");
    assert!(
        seen.contains("error: destroy of `kept-a` did not finish"),
        "{seen}"
    );
    assert!(
        seen.contains("the application was restored from deleted items while this run waited to purge it (another run or a person restored it); it exists again"),
        "{seen}"
    );
    // The restored application is there; grows-b, untouched by anyone else, is gone for good.
    assert_eq!(t.get(&format!("/applications/{id}")).await["id"], id.as_str());
    let deleted = t.get("/directory/deletedItems/microsoft.graph.application").await;
    let names: Vec<&str> = deleted["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["uniqueName"].as_str())
        .collect();
    assert!(!names.contains(&"grows-b"), "{names:?}");
}
