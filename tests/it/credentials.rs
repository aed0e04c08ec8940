//! Issue 17: `[[app.passwords]]` and `[[app.certificates]]` through the real binary on the
//! emulator: created once, planned by name, keyId and dates, rotated, removed; the password's
//! value only in the output file (mode 0600), never on stdout, stderr, in `--trace` or JSON;
//! `token` as the confidential app with its password or its certificate, `--verify` on `roles`.

use serde_json::Value;

use crate::signin::run;
use crate::support::*;

const MANIFEST: &str = r#"
[app]
unique_name = "ci-daemon"
display_name = "CI daemon"

[[app.api_permissions]]
api = "microsoft-graph"
application = ["Application.Read.All"]

[[app.passwords]]
display_name = "ci"
lifetime = "180d"
rotate_before = "30d"

[[app.certificates]]
display_name = "ci-cert"
generate = true

[output]
path = "out/daemon.json"
"#;

fn output(t: &Tenant) -> Value {
    serde_json::from_str(&std::fs::read_to_string(t.dir.path().join("out/daemon.json")).unwrap()).unwrap()
}

fn secret_of(t: &Tenant) -> String {
    output(t)["ci-daemon"]["passwords"][0]["secret"]
        .as_str()
        .expect("the output file holds the password's value")
        .to_owned()
}

/// Every place a command prints: no password value there.
fn assert_hidden(secret: &str, out: &std::process::Output, what: &str) {
    assert!(!stdout(out).contains(secret), "{what}: the secret on stdout");
    assert!(!stderr(out).contains(secret), "{what}: the secret on stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_and_certificates_are_created_kept_and_never_shown() {
    let t = Tenant::start().await;
    let m = t.write_manifest("daemon.toml", MANIFEST);
    let m = m.to_str().unwrap();
    let trace = t.dir.path().join("trace.jsonl");

    let plan = t.provision(&["plan", m]).await;
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("app.ci-daemon.password[\"ci\"] will be created"), "{text}");
    assert!(text.contains("app.ci-daemon.certificate[\"ci-cert\"] will be created"), "{text}");

    let out = t
        .provision(&["apply", m, "--yes", "--trace", trace.to_str().unwrap()])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let secret = secret_of(&t);
    assert!(secret.len() >= 16, "a generated secret");
    assert_hidden(&secret, &out, "apply");
    let traced = std::fs::read_to_string(&trace).unwrap();
    assert!(traced.contains("addPassword"), "the trace shows the call");
    assert!(!traced.contains(&secret), "the secret in --trace");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&t.dir.path().join("out/daemon.json")), 0o600);
        let key = output(&t)["ci-daemon"]["certificates"][0]["path"].as_str().unwrap().to_owned();
        assert_eq!(mode(std::path::Path::new(&key)), 0o600, "{key}");
        assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
    }

    // Graph holds one password and one certificate, by the manifest's names.
    let app = t.get("/applications(uniqueName='ci-daemon')").await;
    assert_eq!(app["passwordCredentials"].as_array().unwrap().len(), 1);
    assert_eq!(app["passwordCredentials"][0]["displayName"], "ci");
    assert_eq!(app["keyCredentials"][0]["displayName"], "ci-cert");
    assert_eq!(app["keyCredentials"][0]["usage"], "Verify");
    assert_eq!(app["keyCredentials"][0]["type"], "AsymmetricX509Cert");

    // Converged: plan shows nothing, in text and JSON, and apply keeps the value in the file.
    let plan = t.provision(&["plan", m, "--detailed-exitcode"]).await;
    assert_eq!(code(&plan), 0, "{}{}", stdout(&plan), stderr(&plan));
    let json = t.provision(&["plan", m, "--format", "json"]).await;
    assert_hidden(&secret, &json, "plan --format json");
    let again = t.provision(&["apply", m, "--yes", "--format", "json"]).await;
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_hidden(&secret, &again, "apply --format json");
    let doc: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(doc["outputs"]["ci-daemon"]["passwords"][0]["display_name"], "ci");
    assert_eq!(doc["outputs"]["ci-daemon"]["passwords"][0]["secret"], Value::Null);
    assert_eq!(secret_of(&t), secret, "the kept password's value stays in the file");

    // token signs in as the app: client credentials, `roles` verified.
    let tok = run(&t, &["token", m, "--verify", "--trace", trace.to_str().unwrap()], &[], None).await;
    assert_eq!(code(&tok), 0, "{}", stderr(&tok));
    assert_hidden(&secret, &tok, "token");
    assert!(stderr(&tok).contains("verified roles: holds `Application.Read.All`"), "{}", stderr(&tok));
    let claims = provision::auth::unverified_claims(stdout(&tok).trim()).unwrap();
    assert_eq!(claims["roles"][0], "Application.Read.All");
    assert!(!std::fs::read_to_string(&trace).unwrap().contains(&secret));
    t.emu.shutdown().await;
}
