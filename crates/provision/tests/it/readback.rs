//! apply's read-back when what it waits for cannot come: an application deleted by someone else
//! while apply waits for Graph to show its new consent is reported at once, as a failure, rather
//! than waited for until `--max-wait` runs out.

use tokio::io::AsyncBufReadExt as _;

use crate::support::*;

const ONE_API: &str = "[app]\nunique_name = \"gone-meanwhile\"\ndisplay_name = \"Gone meanwhile\"\n\n\
[[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn an_application_deleted_during_the_read_back_fails_the_apply_at_once() {
    let t = Tenant::start().await;
    let m = t.write_manifest("gone.toml", ONE_API);
    let first = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));

    // A second API: its new grant stays invisible (replication) so apply waits for it.
    std::fs::write(
        &m,
        format!(
            "{ONE_API}\n[[app.api_permissions]]\napi = \"Microsoft Graph\"\ndelegated = [\"User.Read\"]\n"
        ),
    )
    .unwrap();
    let faults = provision::emulator::Faults {
        replication_lag_ms: 600_000,
        ..Default::default()
    };
    t.set_faults(&faults).await;
    // The app made above is older than the window: it stays visible; new objects do not.
    t.advance_clock(600_001);

    let r = &t.emu.ready;
    let mut child = t
        .command(
            &["apply", m.to_str().unwrap(), "--yes", "--max-wait", "60s"],
            &r.client_id,
            &r.client_secret,
            &[],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    while let Some(line) = err_lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("Waiting for Microsoft Graph to show what apply wrote") {
            break;
        }
    }
    assert!(
        seen.contains("Waiting for Microsoft Graph"),
        "apply did not wait:\n{seen}"
    );

    // Someone deletes the application meanwhile.
    let app = t.get("/applications(uniqueName='gone-meanwhile')").await;
    let id = app["id"].as_str().expect("the app exists").to_owned();
    let (status, _) = t
        .graph(reqwest::Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(status, 204);

    while let Some(line) = err_lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
    }
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{seen}");
    assert!(
        seen.contains(
            "error: the application `gone-meanwhile` was deleted while apply waited for Microsoft Graph to show it"
        ),
        "{seen}"
    );
    assert!(
        seen.contains("help: another run or a person deleted it"),
        "{seen}"
    );
}
