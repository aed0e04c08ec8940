//! GitHub Actions read natively (`GITHUB_ACTIONS=true`): diagnostics as `::error` workflow
//! commands, plan, apply and audit summaries appended to `$GITHUB_STEP_SUMMARY`, apply's IDs in
//! `$GITHUB_OUTPUT`. The variables point at files in the test folder.

use serde_json::Value;

use crate::support::{Tenant, code, stderr};
use test_support::provision_snapshot;

/// Run the binary as the administrator inside a simulated GitHub Actions step.
async fn in_actions(t: &Tenant, args: &[&str]) -> (std::process::Output, String, String) {
    let summary = t.dir.path().join("step-summary.md");
    let output = t.dir.path().join("step-output.txt");
    let r = &t.emu.ready;
    let out = t
        .provision_env(
            args,
            &r.client_id.clone(),
            &r.client_secret.clone(),
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ],
        )
        .await;
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    (out, read(&summary), read(&output))
}

#[tokio::test(flavor = "multi_thread")]
async fn diagnostics_become_error_annotations() {
    let t = Tenant::start().await;
    let m = t.write_manifest(
        "bad.toml",
        "[app]\nunique_name = \"ok\"\ndisplay_name = \"X\"\nsign_in_audience = \"Everyone\"\n",
    );
    let (out, _, _) = in_actions(&t, &["validate", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in:\n{err}"));
    assert!(line.contains("file="), "{line}");
    provision_snapshot!("github_annotation_validate", &out, &t);
    // plan stops at the same diagnostic, annotated too, before any Graph request.
    let (out, _, _) = in_actions(&t, &["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("::error file="), "{}", stderr(&out));
    // Outside Actions: no workflow commands.
    let out = t.provision(&["validate", m.to_str().unwrap()]).await;
    assert!(!stderr(&out).contains("::error"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_and_audit_write_summary_and_outputs() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let (out, summary, outputs) = in_actions(&t, &["plan", m]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(summary.starts_with("### provision plan `"), "{summary}");
    assert!(
        summary.contains("```text\n") && summary.contains("mtp-api-client"),
        "{summary}"
    );
    assert!(outputs.is_empty(), "plan writes no outputs: {outputs}");

    let (out, summary, outputs) = in_actions(&t, &["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(summary.contains("### provision apply `"), "{summary}");
    assert!(summary.contains("Apply complete"), "{summary}");
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(t.dir.path().join("out/mtp-api-client.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let app = &file["mtp-api-client"];
    let client = app["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("output file: {file}"));
    let tenant = &t.emu.ready.tenant_id;
    assert_eq!(
        outputs,
        format!(
            "mtp-api-client_client_id={client}\nmtp-api-client_tenant_id={tenant}\ntenant_id={tenant}\nclient_id={client}\n"
        )
    );

    let (out, summary, _) = in_actions(&t, &["audit", m]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(summary.contains("### provision audit"), "{summary}");
    assert!(
        summary.contains("| app | appId | managed by | permissions | drift |"),
        "{summary}"
    );
    assert!(summary.contains("`mtp-api-client` in "), "{summary}");

    // Without GITHUB_ACTIONS the variables are ignored.
    let path = t.dir.path().join("elsewhere.md");
    let r = &t.emu.ready;
    let out = t
        .provision_env(
            &["plan", m],
            &r.client_id.clone(),
            &r.client_secret.clone(),
            &[("GITHUB_STEP_SUMMARY", path.to_str().unwrap())],
        )
        .await;
    assert_eq!(code(&out), 0);
    assert!(!path.exists());
}
