//! What a run reports is what happened (issue 13): the tenant guard on every command that
//! writes, reports and exit codes that are true, partial applies shown, flags `--emulator`
//! cannot honour refused, tokens kept on their endpoint, trust and the env output dialect.

use std::path::Path;
use std::process::Output;

use crate::support::*;

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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests").join(name)
}

/// Exit code, stdout and stderr together, for snapshots.
fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        stdout(o),
        stderr(o)
    )
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
