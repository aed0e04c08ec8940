//! What a run reports is what happened (issue 13): the tenant guard on every command that
//! writes, reports and exit codes that are true, partial applies shown, flags `--emulator`
//! cannot honour refused, tokens kept on their endpoint, trust and the env output dialect.

use std::path::Path;
use std::process::Output;

use crate::support::*;
// Other test files reach the transcript here (it lives in crates/test-support).
pub(crate) use crate::support::transcript;

/// The real binary with a clean environment (no tenant, no credentials), in `dir`.
fn bare(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run provision")
}

fn repo_manifest(name: &str) -> std::path::PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("manifests")
        .join(name)
}

#[test]
fn emulator_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let m = repo_manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let state = dir.path().join("tenant.json");
    let s = state.to_str().unwrap();
    for (flag, value) in [
        ("--tenant", "contoso.onmicrosoft.com"),
        ("--graph-url", "https://graph.microsoft.com/v1.0"),
        ("--authority-url", "https://login.microsoftonline.com"),
    ] {
        let out = bare(
            &["plan", m, "--emulator", "--emulator-state", s, flag, value],
            dir.path(),
            &[],
        );
        assert_eq!(code(&out), 1, "{flag}: {}", transcript(&out));
        assert!(
            stderr(&out).contains(&format!("error: `--emulator` cannot be combined with `{flag}`")),
            "{}",
            stderr(&out)
        );
        assert!(!state.exists(), "no emulator was started for {flag}");
    }
    let out = bare(
        &[
            "apply",
            m,
            "--emulator",
            "--emulator-state",
            s,
            "--yes",
            "--tenant",
            "x",
            "--graph-url",
            "https://graph.microsoft.com/v1.0",
        ],
        dir.path(),
        &[],
    );
    insta::assert_snapshot!("emulator_refuses_flags", transcript(&out));
}

/// The platform's trust store, as `SSL_CERT_FILE` names it, is trusted: the emulator's `--tls`
/// CA given only that way (no `--ca-cert`) lets a plan through; without it the TLS failure is
/// said in plain words and exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_ca_in_ssl_cert_file_is_trusted() {
    let mut config = provision::emulator::Config::local();
    let dir = tempfile::tempdir().unwrap();
    config.tls = true;
    config.state = Some(dir.path().join("tenant.json"));
    let t = Tenant::start_with(config).await;
    let r = &t.emu.ready;
    let ca = r.ca_cert.clone().expect("a CA under --tls");
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let base = [
        ("PROVISION_GRAPH_URL", r.graph_url.as_str()),
        ("PROVISION_AUTHORITY_URL", r.authority_url.as_str()),
        ("AZURE_TENANT_ID", r.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", r.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", r.client_secret.as_str()),
        ("PROVISION_AUTH", "client-secret"),
    ];
    let mut trusted = base.to_vec();
    trusted.push(("SSL_CERT_FILE", ca.as_str()));
    let out = bare(&["plan", m, "--detailed-exitcode"], t.dir.path(), &trusted);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    assert!(stdout(&out).contains("Plan: 3 to create"), "{}", transcript(&out));

    // Not trusted: the platform's store (pointed at an empty folder) does not hold the CA.
    let empty = tempfile::tempdir().unwrap();
    let mut untrusted = base.to_vec();
    untrusted.push(("SSL_CERT_DIR", empty.path().to_str().unwrap()));
    untrusted.push(("SSL_CERT_FILE", "/dev/null"));
    let out = bare(&["plan", m], t.dir.path(), &untrusted);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(stderr(&out).contains("TLS"), "{}", transcript(&out));
}

/// A port where nothing listens.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// An endpoint that cannot be reached is an error (exit 1), not a refused sign-in (exit 4):
/// the host and the cause in words, not the HTTP library's chain.
#[tokio::test(flavor = "multi_thread")]
async fn unreachable_endpoints_exit_1_with_host_and_cause() {
    let t = Tenant::start().await;
    let r = &t.emu.ready;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let port = closed_port().await;
    let nowhere = format!("http://127.0.0.1:{port}");
    let creds = [
        ("AZURE_TENANT_ID", r.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", r.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", r.client_secret.as_str()),
        ("PROVISION_AUTH", "client-secret"),
    ];

    // The sign-in endpoint refuses the connection.
    let mut env = creds.to_vec();
    env.push(("PROVISION_GRAPH_URL", r.graph_url.as_str()));
    env.push(("PROVISION_AUTHORITY_URL", nowhere.as_str()));
    let out = bare(&["plan", m], t.dir.path(), &env);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    let shown = transcript(&out).replace(&port.to_string(), "[PORT]");
    insta::assert_snapshot!("unreachable_sign_in", shown);

    // Microsoft Graph refuses the connection, after a sign-in that worked.
    let graph = format!("{nowhere}/v1.0");
    let mut env = creds.to_vec();
    env.push(("PROVISION_GRAPH_URL", graph.as_str()));
    env.push(("PROVISION_AUTHORITY_URL", r.authority_url.as_str()));
    let out = bare(&["plan", m], t.dir.path(), &env);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains(&format!(
            "error: cannot reach Microsoft Graph at `127.0.0.1:{port}`: connection refused"
        )),
        "{}",
        transcript(&out)
    );
    assert!(!stderr(&out).contains("Caused by"), "{}", transcript(&out));

    // A host name that does not resolve (`.invalid` never does, RFC 6761).
    let mut env = creds.to_vec();
    env.push(("PROVISION_GRAPH_URL", r.graph_url.as_str()));
    env.push(("PROVISION_AUTHORITY_URL", "https://login.provision-test.invalid"));
    let out = bare(&["plan", m], t.dir.path(), &env);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains(
            "error: cannot reach the sign-in endpoint at `login.provision-test.invalid:443`: the host name could not be resolved (DNS)"
        ),
        "{}",
        transcript(&out)
    );
}

/// Snapshot `text` with the run's random values replaced: GUIDs, Graph's grant ids (43
/// URL-safe base64 characters), the tenant, the emulator's address, the test folder.
pub(crate) fn snapshot(t: &Tenant, name: &str, text: &str) {
    let text = text
        .replace(&t.emu.ready.tenant_id, "[TENANT_ID]")
        .replace(&t.emu.ready.authority_url, "[AUTHORITY]")
        .replace(t.dir.path().to_str().unwrap(), "[DIR]");
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[ID]"),
        (r"\b[A-Za-z0-9_-]{43}\b", "[ID]"),
        (r"request-id [0-9a-zA-Z-]+", "request-id [REQUEST_ID]"),
        (r"\(\d+(\.\d+)?s\)", "([DURATION])"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

/// destroy goes through the tenant guard like apply: a manifest for another tenant deletes
/// nothing, and exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_refuses_another_tenant_before_any_write() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = std::fs::read_to_string(&m).unwrap();
    let guarded = t.write_manifest(
        "guarded.toml",
        &format!("tenant = \"someone-else.onmicrosoft.com\"\n{text}"),
    );
    t.clear_log().await;
    for args in [
        vec!["destroy", guarded.to_str().unwrap(), "--yes"],
        vec!["plan", guarded.to_str().unwrap(), "--destroy"],
    ] {
        let out = t.provision(&args).await;
        assert_eq!(code(&out), 1, "{}", transcript(&out));
        assert!(
            stderr(&out).contains("the manifest is for tenant `someone-else.onmicrosoft.com`"),
            "{}",
            transcript(&out)
        );
    }
    t.assert_read_only().await;
    // The app is still there.
    t.get("/applications(uniqueName='mtp-api-client')").await;
}

/// `plan --destroy` is destroy's dry run: the Delete steps, named, with `--detailed-exitcode`;
/// destroy shows the same plan, streams each step, removes the output file; afterwards
/// nothing is left to destroy (exit 0).
#[tokio::test(flavor = "multi_thread")]
async fn destroy_plans_deletes_then_executes_them_and_removes_the_output_file() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    assert_eq!(code(&t.provision(&["apply", m, "--yes"]).await), 0);
    let out_file = t.dir.path().join("out/mtp-api-client.json");
    assert!(out_file.exists());

    t.clear_log().await;
    let dry = t
        .provision(&["plan", m, "--destroy", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&dry), 2, "{}", transcript(&dry));
    t.assert_read_only().await;
    snapshot(&t, "destroy_dry_run_text", &transcript(&dry));

    let json = t.provision(&["plan", m, "--destroy", "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["format_version"], provision::render::FORMAT_VERSION);
    let kinds: Vec<(&str, &str)> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("application", "delete"),
            ("service_principal", "delete"),
            ("delegated_grant", "delete")
        ]
    );
    assert_eq!(
        doc["changes"][2]["address"],
        "app.mtp-api-client.consent[\"Microsoft Threat Protection\"]"
    );

    let out = t.provision(&["destroy", m, "--yes", "--format", "json"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["destroyed"], true);
    assert_eq!(doc["summary"]["deleted"], 3);
    assert!(
        doc["result"]["apps"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done" && s["id"].is_string()),
        "{doc}"
    );
    assert_eq!(doc["output_file"]["exists"], false);
    assert!(!out_file.exists(), "the output file named deleted apps");

    let out = t
        .provision(&["plan", m, "--destroy", "--detailed-exitcode"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        stdout(&out).starts_with("Nothing to destroy"),
        "{}",
        transcript(&out)
    );
}

/// A text destroy: the plan, the confirmation, each step as it ends with its id, the file.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_text_snapshot() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    assert_eq!(code(&t.provision(&["apply", m, "--yes"]).await), 0);
    let out = t.provision(&["destroy", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    // Steps of one phase end in any order: sort the step lines for the snapshot.
    snapshot(&t, "destroy_text", &transcript(&out));
}

/// A failed apply says per step what was done, what failed (Graph's code, message and
/// request-id) and what was not attempted; `applied` is false; the output file it did not
/// rewrite is named out of date.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_apply_reports_each_step_and_never_says_applied() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m_s = m.to_str().unwrap();
    assert_eq!(code(&t.provision(&["apply", m_s, "--yes"]).await), 0);
    // A change, tried by a client that may only read.
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replacen(
            "\"https://portal.azure.com\"",
            "\"https://portal.azure.com\", \"https://login.microsoftonline.com/common/oauth2/nativeclient\"",
            1,
        ),
    )
    .unwrap();
    let r = t.emu.ready.clone();
    let out = t
        .provision_as(
            &["apply", m_s, "--yes", "--format", "json"],
            &r.reader_client_id,
            &r.reader_client_secret,
        )
        .await;
    assert_eq!(code(&out), 4, "{}", transcript(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["applied"], false, "{doc}");
    assert_eq!(doc["summary"]["failed"], 1, "{doc}");
    let step = &doc["result"]["apps"][0]["steps"][0];
    assert_eq!(step["address"], "app.mtp-api-client");
    assert_eq!(step["action"], "update");
    assert_eq!(step["status"], "failed");
    assert_eq!(step["error"]["status"], 403);
    assert_eq!(step["error"]["code"], "Authorization_RequestDenied");
    assert!(step["error"]["request_id"].is_string(), "{doc}");
    assert!(step["error"]["message"].as_str().unwrap().len() > 10, "{doc}");
    assert_eq!(doc["output_file"]["written"], false);
    assert_eq!(doc["output_file"]["up_to_date"], false);
    assert!(
        stderr(&out).contains("mtp-api-client.json` was not updated and is out of date"),
        "{}",
        transcript(&out)
    );

    // The same run in text: the failed step with Graph's answer, before the error.
    let out = t
        .provision_as(
            &["apply", m_s, "--yes"],
            &r.reader_client_id,
            &r.reader_client_secret,
        )
        .await;
    snapshot(&t, "failed_apply_text", &transcript(&out));
}

/// The output file must be writable before the first write to the tenant: a run that could
/// not write it changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_output_file_that_cannot_be_written_stops_apply_before_any_write() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    // `out` is a file, so `out/mtp-api-client.json` cannot be made (root ignores modes).
    std::fs::write(t.dir.path().join("out"), "not a folder").unwrap();
    t.clear_log().await;
    for format in ["text", "json"] {
        let out = t
            .provision(&["apply", m.to_str().unwrap(), "--yes", "--format", format])
            .await;
        assert_eq!(code(&out), 1, "{}", transcript(&out));
        assert!(
            stderr(&out).contains("error: cannot write the output file `")
                && stderr(&out).contains("nothing was changed in the tenant"),
            "{}",
            transcript(&out)
        );
    }
    t.assert_read_only().await;
}

/// `output.path` naming the manifest itself (or another manifest being read) is a manifest
/// error with its position, not an overwrite.
#[tokio::test(flavor = "multi_thread")]
async fn an_output_path_that_is_the_manifest_is_a_manifest_error() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "self.toml",
        &text.replace("path = \"out/mtp-api-client.json\"", "path = \"./self.toml\""),
    );
    assert!(std::fs::read_to_string(&m).unwrap().contains("./self.toml"));
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(t.graph_requests().await.is_empty());
    let before = std::fs::read_to_string(&m).unwrap();
    assert!(before.contains("./self.toml"), "the manifest is untouched");
    snapshot(&t, "output_path_is_the_manifest", &transcript(&out));

    // validate of a set: one manifest's output is another manifest of the set.
    let other = t.write_manifest(
        "other.toml",
        &text.replace("path = \"out/mtp-api-client.json\"", "path = \"self.toml\""),
    );
    let out = bare(
        &["validate", other.to_str().unwrap(), m.to_str().unwrap()],
        t.dir.path(),
        &[],
    );
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(
        stderr(&out).contains("`output.path` `self.toml` is the manifest `"),
        "{}",
        transcript(&out)
    );
}

/// `import --set-unique-name` writes: with a token of one tenant and `--tenant` naming
/// another, it refuses before the write.
#[tokio::test(flavor = "multi_thread")]
async fn import_set_unique_name_refuses_another_tenant() {
    let t = Tenant::start().await;
    let (s, app) = t
        .graph(
            reqwest::Method::POST,
            "/applications",
            Some(serde_json::json!({"displayName": "Portal made"})),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let id = app["appId"].as_str().unwrap();
    let token = t.admin_token().await;
    let r = &t.emu.ready;
    let env = [
        ("PROVISION_GRAPH_URL", r.graph_url.as_str()),
        ("PROVISION_AUTHORITY_URL", r.authority_url.as_str()),
        ("PROVISION_AUTH", "access-token"),
        ("PROVISION_ACCESS_TOKEN", token.as_str()),
    ];
    let args = |tenant: &'static str| {
        vec![
            "import",
            "--app-id",
            id,
            "--set-unique-name",
            "portal-made",
            "--yes",
            "--tenant",
            tenant,
        ]
    };
    t.clear_log().await;
    let out = bare(&args("someone-else.onmicrosoft.com"), t.dir.path(), &env);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains("--tenant is `someone-else.onmicrosoft.com`, but the signed-in tenant is"),
        "{}",
        transcript(&out)
    );
    t.assert_read_only().await;
    assert_eq!(
        t.get(&format!("/applications(appId='{id}')")).await["uniqueName"],
        serde_json::Value::Null
    );
    // The tenant it is: the write goes through.
    let domain: &'static str = Box::leak(r.tenant_domain.clone().into_boxed_str());
    let out = bare(&args(domain), t.dir.path(), &env);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert_eq!(
        t.get(&format!("/applications(appId='{id}')")).await["uniqueName"],
        "portal-made"
    );
}

/// A manifest of `n` small apps (no output file), for runs that take a while.
fn many_apps(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[app]]\nunique_name = \"bulk-{i}\"\ndisplay_name = \"Bulk {i}\"\n\n\
                 [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\"]\n\n"
            )
        })
        .collect()
}

/// Ctrl-C (SIGINT) during apply: what was done so far is printed, with ids, and the exit code
/// is 130. The signal is sent once the first result line has streamed out, which also shows
/// that results stream as steps end.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_apply_prints_what_was_done_and_exits_130() {
    use tokio::io::AsyncBufReadExt;
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 800;
    let t = Tenant::start_with(config).await;
    let m = t.write_manifest("bulk.toml", &many_apps(3));
    let r = &t.emu.ready;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["apply", m.to_str().unwrap(), "--yes"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", t.dir.path())
        .env("PROVISION_GRAPH_URL", &r.graph_url)
        .env("PROVISION_AUTHORITY_URL", &r.authority_url)
        .env("AZURE_TENANT_ID", &r.tenant_id)
        .env("AZURE_CLIENT_ID", &r.client_id)
        .env("AZURE_CLIENT_SECRET", &r.client_secret)
        .env("PROVISION_AUTH", "client-secret")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("  + app.") {
            break;
        }
    }
    assert!(
        seen.contains(": created (id "),
        "no result line streamed:\n{seen}"
    );
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
    }
    let out = child.wait_with_output().await.unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "stdout:\n{seen}\nstderr:\n{err}");
    assert!(
        err.contains("error: interrupted: apply stopped before it finished"),
        "{err}"
    );
    assert!(seen.contains("Apply did not finish: "), "{seen}");
    assert!(seen.contains("not attempted"), "{seen}");
}

/// Without a terminal, a run that takes a while says how far it is on stderr, at a bounded
/// rate, and ends with the count.
#[tokio::test(flavor = "multi_thread")]
async fn progress_lines_without_a_terminal_are_bounded() {
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 700;
    let t = Tenant::start_with(config).await;
    let m = t.write_manifest("bulk.toml", &many_apps(4));
    let started = std::time::Instant::now();
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("progress: ")).collect();
    assert!(
        took.as_secs_f64() > 2.5,
        "the run was too fast to need progress: {took:?}"
    );
    assert_eq!(lines.last(), Some(&"progress: 4 of 4 apps done"), "{err}");
    // At most one line per interval, plus the final count.
    let bound = (took.as_secs_f64() / provision::output::PROGRESS_INTERVAL.as_secs_f64()) as usize + 1;
    assert!(lines.len() <= bound, "{} lines in {took:?}:\n{err}", lines.len());
    // Every app's result is on stdout.
    assert_eq!(
        stdout(&out).matches(": created (id ").count(),
        4 * 3,
        "{}",
        stdout(&out)
    );
}

/// Grants, assignments and permissions on an API the manifest does not name are shown by
/// name: the resource service principal is read and its names used, never the GUIDs.
#[tokio::test(flavor = "multi_thread")]
async fn plans_name_what_the_manifest_does_not() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    assert_eq!(
        code(&t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await),
        0
    );
    let app = t.get("/applications(uniqueName='mtp-api-client')").await;
    let sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            app["appId"].as_str().unwrap()
        ))
        .await;
    let graph_sp = t
        .get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        .await;
    let user_read = graph_sp["oauth2PermissionScopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == "User.Read")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Made by hand, outside the manifest: a Graph permission, its consent, an app role.
    let mut rra = app["requiredResourceAccess"].as_array().unwrap().clone();
    rra.push(serde_json::json!({
        "resourceAppId": "00000003-0000-0000-c000-000000000000",
        "resourceAccess": [{"id": user_read, "type": "Scope"}]
    }));
    let (s, b) = t
        .graph(
            reqwest::Method::PATCH,
            &format!("/applications/{}", app["id"].as_str().unwrap()),
            Some(serde_json::json!({"requiredResourceAccess": rra})),
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let (s, b) = t
        .graph(
            reqwest::Method::POST,
            "/oauth2PermissionGrants",
            Some(serde_json::json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = t
        .graph(
            reqwest::Method::POST,
            &format!("/servicePrincipals/{}/appRoleAssignments", sp["id"].as_str().unwrap()),
            Some(serde_json::json!({"principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    let out = t.provision(&["plan", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("- Microsoft Graph: User.Read (delegated)"),
        "{text}"
    );
    assert!(
        text.contains("app.mtp-api-client.consent[\"Microsoft Graph\"] will be deleted"),
        "{text}"
    );
    assert!(
        text.contains(
            "app.mtp-api-client.app_role[\"Microsoft Graph\"][\"Application.ReadWrite.All\"] will be deleted"
        ),
        "{text}"
    );
    for guid in [
        user_read.as_str(),
        graph_sp["id"].as_str().unwrap(),
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    ] {
        assert!(!text.contains(guid), "{guid} shown in:\n{text}");
    }
    // destroy's plan names them too.
    let out = t.provision(&["plan", m.to_str().unwrap(), "--destroy"]).await;
    assert!(
        stdout(&out).contains("consent[\"Microsoft Graph\"]"),
        "{}",
        stdout(&out)
    );
}

/// The variables of an env file as GitHub Actions reads `$GITHUB_ENV` (actions/runner's
/// `SetEnvFileCommand`: `NAME=value`, the value everything after the first `=`, literally;
/// `NAME<<DELIMITER` starts a multi-line value).
fn github_env(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_owned(), line[e + 1..].to_owned()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
                out.push((name.to_owned(), value.join("\n")));
            }
            _ => panic!("GitHub rejects the line `{line}`"),
        }
    }
    out
}

/// The env dialect is read the same by `source` (bash, with `set -a` to export), by GitHub's
/// `$GITHUB_ENV` rules, and by the docker CLI's `--env-file` parser (run for real against a
/// stand-in engine that records the container it is asked to create).
#[tokio::test(flavor = "multi_thread")]
async fn env_output_reads_the_same_in_bash_github_and_docker() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(repo_manifest("several-apps.toml")).unwrap();
    let text = text
        .lines()
        .filter(|l| !l.starts_with("tenant = "))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("path = \"out/soc.json\"", "path = \"ci.env\"");
    let m = t.write_manifest("several.toml", &text);
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let file = t.dir.path().join("ci.env");
    let written = std::fs::read_to_string(&file).unwrap();
    let expected = github_env(&written);
    assert!(expected.len() >= 12, "{written}");
    let scopes = expected
        .iter()
        .find(|(k, _)| k == "SOC_ANALYST_CLIENT_SCOPES")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(
        scopes,
        "https://api.security.microsoft.com/AdvancedHunting.Read,https://api.security.microsoft.com/Incident.Read"
    );

    // bash: `set -a; source`, then the environment a child process sees.
    let bash = std::process::Command::new("bash")
        .args(["-c", "set -a; source \"$1\"; set +a; env -0", "bash"])
        .arg(&file)
        .env_clear()
        .output()
        .unwrap();
    assert!(bash.status.success(), "{}", stderr(&bash));
    let seen: std::collections::BTreeMap<String, String> = String::from_utf8(bash.stdout)
        .unwrap()
        .split('\0')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    for (k, v) in &expected {
        assert_eq!(seen.get(k), Some(v), "bash reads `{k}` differently");
    }

    // docker: the CLI parses --env-file itself and sends the result to the engine.
    let Ok(docker) = which("docker") else {
        // Only the CLI is needed (it parses --env-file itself), not an engine.
        eprintln!("no docker CLI on PATH: the docker reading of the env file is not checked here");
        return;
    };
    let created = std::sync::Arc::new(std::sync::Mutex::new(None::<serde_json::Value>));
    let seen_body = created.clone();
    let engine = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen_body = seen_body.clone();
        async move {
            use axum::response::IntoResponse;
            let path = req.uri().path().to_owned();
            let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            if path.ends_with("/containers/create") {
                *seen_body.lock().unwrap() = serde_json::from_slice(&bytes).ok();
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({"message": "stand-in engine"})),
                )
                    .into_response();
            }
            ([("API-Version", "1.41"), ("Content-Type", "text/plain")], "OK").into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, engine).await });
    let out = tokio::process::Command::new(docker)
        .args(["run", "--pull", "never", "--env-file"])
        .arg(&file)
        .arg("stand-in-image")
        .env_clear()
        .env("HOME", t.dir.path())
        .env("DOCKER_HOST", format!("tcp://{addr}"))
        .output()
        .await
        .unwrap();
    let body = created
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| panic!("docker sent no container: {}", transcript(&out)));
    let env: Vec<(String, String)> = body["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| {
            v.as_str()?
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    assert_eq!(env, expected, "docker reads the file differently");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

/// A value the env dialect cannot carry stops apply before any write.
#[tokio::test(flavor = "multi_thread")]
async fn env_output_refuses_a_value_a_shell_would_misread_before_any_write() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "amp.toml",
        &text
            .replace("format = \"json\"", "format = \"env\"")
            .replace("out/mtp-api-client.json", "out/app.env")
            .replacen(
                "redirect_uris = [\"https://portal.azure.com\"",
                "redirect_uris = [\"https://portal.azure.com/cb?a=1&b=2\"",
                1,
            ),
    );
    t.clear_log().await;
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains("the env output file cannot hold `REDIRECT_URI`"),
        "{}",
        transcript(&out)
    );
    t.assert_read_only().await;
}

/// Every example manifest runs with `--emulator`: the embedded emulator takes a manifest's
/// `tenant` domain as one of its verified domains, and a `tenant` GUID as the id of a new state.
#[test]
fn every_example_manifest_runs_on_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        let m = dir.path().join(name);
        std::fs::copy(repo_manifest(name), &m).unwrap();
        let state = dir.path().join(format!("{name}.state.json"));
        let (m, s) = (m.to_str().unwrap(), state.to_str().unwrap());
        let out = bare(
            &["apply", m, "--emulator", "--emulator-state", s, "--yes"],
            dir.path(),
            &[],
        );
        assert_eq!(code(&out), 0, "{name}: {}", transcript(&out));
        let out = bare(
            &[
                "plan",
                m,
                "--emulator",
                "--emulator-state",
                s,
                "--detailed-exitcode",
            ],
            dir.path(),
            &[],
        );
        assert_eq!(code(&out), 0, "{name}: {}", transcript(&out));
        let out = bare(
            &["destroy", m, "--emulator", "--emulator-state", s, "--yes"],
            dir.path(),
            &[],
        );
        assert_eq!(code(&out), 0, "{name}: {}", transcript(&out));
    }

    // A tenant GUID: a new state gets it; a state of another tenant is refused.
    let guid = "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    let text = std::fs::read_to_string(repo_manifest("threat-protection.toml")).unwrap();
    let m = dir.path().join("guid.toml");
    std::fs::write(&m, format!("tenant = \"{guid}\"\n{text}")).unwrap();
    let fresh = dir.path().join("guid-state.json");
    let out = bare(
        &[
            "apply",
            m.to_str().unwrap(),
            "--emulator",
            "--emulator-state",
            fresh.to_str().unwrap(),
            "--yes",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        stdout(&out).contains(&format!("Tenant {guid}")),
        "{}",
        transcript(&out)
    );
    let other = dir.path().join("threat-protection.toml.state.json");
    let out = bare(
        &[
            "plan",
            m.to_str().unwrap(),
            "--emulator",
            "--emulator-state",
            other.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the manifest is for tenant `{guid}`, but the emulator state"
        )),
        "{}",
        transcript(&out)
    );
}

/// On a terminal, apply draws a progress bar of apps done (here under `script`, which gives the
/// command a pseudo-terminal), and prints no plain `progress:` lines.
#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_a_progress_bar() {
    let Ok(script) = which("script") else {
        eprintln!("no `script` on PATH to make a pseudo-terminal: the bar is not checked here");
        return;
    };
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 400;
    let t = Tenant::start_with(config).await;
    let m = t.write_manifest("bulk.toml", &many_apps(2));
    let r = &t.emu.ready;
    let typescript = t.dir.path().join("typescript");
    let command = format!(
        "'{}' apply '{}' --yes",
        env!("CARGO_BIN_EXE_provision"),
        m.to_str().unwrap()
    );
    let out = tokio::process::Command::new(script)
        .args(["-qec", &command])
        .arg(&typescript)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", t.dir.path())
        .env("TERM", "xterm")
        .env("PROVISION_GRAPH_URL", &r.graph_url)
        .env("PROVISION_AUTHORITY_URL", &r.authority_url)
        .env("AZURE_TENANT_ID", &r.tenant_id)
        .env("AZURE_CLIENT_ID", &r.client_id)
        .env("AZURE_CLIENT_SECRET", &r.client_secret)
        .env("PROVISION_AUTH", "client-secret")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(screen.contains("of 2 apps done"), "{screen}");
    assert!(!screen.contains("progress: "), "{screen}");
    assert!(screen.contains("Apply complete: 6 created"), "{screen}");
}

/// `HTTPS_PROXY` is used for every request (the proxy is asked to CONNECT to the endpoint), and
/// `NO_PROXY` exempts hosts from it.
#[tokio::test(flavor = "multi_thread")]
async fn https_proxy_is_used_and_no_proxy_exempts() {
    let mut config = provision::emulator::Config::local();
    let dir = tempfile::tempdir().unwrap();
    config.tls = true;
    config.state = Some(dir.path().join("tenant.json"));
    let t = Tenant::start_with(config).await;
    let r = &t.emu.ready;
    let ca = r.ca_cert.clone().unwrap();
    // A stand-in proxy that records what it is asked and refuses to tunnel.
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = asked.clone();
    let proxy = axum::Router::new().fallback(move |req: axum::extract::Request| {
        seen.lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.uri()));
        async { axum::http::StatusCode::FORBIDDEN }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, proxy).await });
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let mut env = vec![
        ("PROVISION_GRAPH_URL", r.graph_url.as_str()),
        ("PROVISION_AUTHORITY_URL", r.authority_url.as_str()),
        ("AZURE_TENANT_ID", r.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", r.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", r.client_secret.as_str()),
        ("PROVISION_AUTH", "client-secret"),
        ("SSL_CERT_FILE", ca.as_str()),
        ("HTTPS_PROXY", proxy_url.as_str()),
    ];
    let out = bare(&["plan", m], t.dir.path(), &env);
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    let host = r.authority_url.trim_start_matches("https://").to_owned();
    assert_eq!(
        asked.lock().unwrap().first().cloned(),
        Some(format!("CONNECT {host}")),
        "{}",
        transcript(&out)
    );
    env.push(("NO_PROXY", "127.0.0.1"));
    asked.lock().unwrap().clear();
    let out = bare(&["plan", m, "--detailed-exitcode"], t.dir.path(), &env);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    assert!(asked.lock().unwrap().is_empty());
}

/// What is waited for is said in words on the progress lines, not as Graph's status and code.
#[tokio::test(flavor = "multi_thread")]
async fn waits_are_said_in_words() {
    let mut config = provision::emulator::Config::local();
    config.faults.replication_lag_ms = 4000;
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let err = stderr(&out);
    let waits: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: waiting "))
        .collect();
    assert!(
        waits
            .iter()
            .any(|l| l.ends_with(": an object this run just created has not replicated across Entra yet")),
        "{err}"
    );
    assert!(
        waits.iter().all(|l| !l.contains("404") && !l.contains("_")),
        "{err}"
    );
}
