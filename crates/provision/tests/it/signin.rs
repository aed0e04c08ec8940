//! Signing in to Graph with every credential source against the emulator: the real binary, its
//! environment set as a user or a CI job would, `-v` to see which source signed in; `auto`'s
//! order; the errors a person can act on; and no token, secret or assertion in any output or in
//! the emulator's request log.

use std::path::{Path, PathBuf};
use std::process::Output;

use jsonwebtoken::{Algorithm, Header};
use provision::emulator::identity::keys::SigningKey;
use serde_json::{Value, json};

use crate::support::*;

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const FILE_ISSUER: &str = "https://oidc.prod-aks.azure.com/contoso";

/// Everything each source needs, prepared once per tenant.
pub struct Creds {
    pub cert_pem: PathBuf,
    pub federated_file: PathBuf,
    /// (request URL, request token) of the fake GitHub Actions OIDC endpoint.
    pub github: (String, String),
    /// A folder holding a fake `az` that prints the administrator's token.
    pub az_bin: PathBuf,
    /// A public client with admin consent for the Graph permissions apply needs.
    pub device_client: String,
    pub manifest: PathBuf,
    /// Every secret value handed out, to look for in outputs.
    pub secrets: Vec<String>,
    _github_server: tokio::task::JoinHandle<()>,
}

fn external_assertion(idp: &SigningKey, iss: &str, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(idp.kid().to_owned());
    let claims = json!({"iss": iss, "sub": sub, "aud": "api://AzureADTokenExchange", "iat": now, "nbf": now, "exp": now + 600});
    jsonwebtoken::encode(&header, &claims, idp.encoding_key()).unwrap()
}

async fn federate(t: &Tenant, app_object: &str, name: &str, issuer: &str, subject: &str) {
    let (s, body) = t
        .graph(
            reqwest::Method::POST,
            &format!("/applications/{app_object}/federatedIdentityCredentials"),
            Some(json!({"name": name, "issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

/// The fake GitHub Actions OIDC endpoint: answers `{"value": assertion}` to the request token,
/// for the token-exchange audience only (actions/toolkit `oidc-utils.ts`).
async fn github_oidc(assertion: String, request_token: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/idtoken",
        axum::routing::get(
            move |headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>| {
                let assertion = assertion.clone();
                let expected = format!("Bearer {request_token}");
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some(expected.as_str()) {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    if q.get("audience").map(String::as_str) != Some("api://AzureADTokenExchange")
                        || q.get("api-version").map(String::as_str) != Some("2.0")
                    {
                        return StatusCode::BAD_REQUEST.into_response();
                    }
                    axum::Json(json!({"count": 1, "value": assertion})).into_response()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/idtoken?api-version=2.0",
        listener.local_addr().unwrap()
    );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, handle)
}

pub const DEVICE_CLIENT_MANIFEST: &str = r#"
[app]
unique_name = "provision-admin-cli"
display_name = "provision administrators"

[app.public_client]
redirect_uris = ["http://localhost"]
allow_public_client_flows = true

[[app.api_permissions]]
api = "microsoft-graph"
delegated = ["Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"]

[output]
path = "out/admin-cli.json"
"#;

pub async fn prepare(t: &Tenant) -> Creds {
    let r = t.emu.ready.clone();
    let dir = t.dir.path();
    let admin_app = t.get(&format!("/applications(appId='{}')", r.client_id)).await;
    let admin_object = admin_app["id"].as_str().unwrap().to_owned();

    // Certificate: registered on the administrator client through Graph.
    let cert = SigningKey::generate("provision admin certificate").unwrap();
    let (s, body) = t
        .graph(
            reqwest::Method::PATCH,
            &format!("/applications/{admin_object}"),
            Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.certificate_base64(), "displayName": "CN=provision admin certificate"}]})),
        )
        .await;
    assert_eq!(s, 204, "{body}");
    let cert_pem = dir.join("admin.pem");
    std::fs::write(
        &cert_pem,
        format!("{}{}", cert.private_key_pem(), cert.certificate_pem()),
    )
    .unwrap();

    // Federated: an external identity provider the emulator trusts, and two federated
    // credentials on the administrator client (a workload identity file; GitHub Actions).
    let idp = SigningKey::generate("external idp").unwrap();
    for issuer in [FILE_ISSUER, GITHUB_ISSUER] {
        let resp = t
            .http
            .post(format!("{}/_emulator/issuers", base_url(&t.emu)))
            .json(&json!({"issuer": issuer, "jwks": {"keys": [idp.jwk(issuer)]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
    }
    federate(
        t,
        &admin_object,
        "aks",
        FILE_ISSUER,
        "system:serviceaccount:infra:provision",
    )
    .await;
    federate(
        t,
        &admin_object,
        "github-main",
        GITHUB_ISSUER,
        "repo:contoso/infra:ref:refs/heads/main",
    )
    .await;
    let file_assertion = external_assertion(&idp, FILE_ISSUER, "system:serviceaccount:infra:provision");
    let federated_file = dir.join("federated-token");
    std::fs::write(&federated_file, &file_assertion).unwrap();
    let github_assertion = external_assertion(&idp, GITHUB_ISSUER, "repo:contoso/infra:ref:refs/heads/main");
    let request_token = format!("gh-request-{}", uuid::Uuid::new_v4());
    let (github_url, github_server) = github_oidc(github_assertion.clone(), request_token.clone()).await;

    // A fake `az` that checks its arguments and prints the administrator's token as the Azure
    // CLI prints it.
    let az_token = t.admin_token().await;
    let az_bin = dir.join("az-bin");
    std::fs::create_dir_all(&az_bin).unwrap();
    let az_json = dir.join("az-token.json");
    std::fs::write(
        &az_json,
        json!({"accessToken": az_token, "expiresOn": "2030-01-01 00:00:00.000000", "expires_on": 1893456000, "subscription": null, "tenant": r.tenant_id, "tokenType": "Bearer"}).to_string(),
    )
    .unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n  \"account get-access-token --resource https://graph.microsoft.com --output json\"*) cat '{}' ;;\n  *) echo \"ERROR: unexpected arguments: $*\" >&2; exit 2 ;;\nesac\n",
        az_json.display()
    );
    let az = az_bin.join("az");
    std::fs::write(&az, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // The device-code client, provisioned by provision itself.
    let m = t.write_manifest("admin-cli.toml", DEVICE_CLIENT_MANIFEST);
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/admin-cli.json")).unwrap()).unwrap();
    let device_client = written["provision-admin-cli"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let manifest = t.manifest("threat-protection.toml");
    Creds {
        cert_pem,
        federated_file,
        github: (github_url, request_token.clone()),
        az_bin,
        device_client,
        manifest,
        secrets: vec![
            r.client_secret.clone(),
            file_assertion,
            github_assertion,
            request_token,
            az_token,
            cert.private_key_pem().lines().nth(1).unwrap().to_owned(),
        ],
        _github_server: github_server,
    }
}

/// The real binary with only the given environment (plus PATH, HOME, the emulator's endpoints
/// and tenant, and a private sign-in cache).
pub async fn run(t: &Tenant, args: &[&str], env: &[(&str, &str)], path: Option<&Path>) -> Output {
    command(t, args, env, path).output().await.expect("run provision")
}

/// The real binary against the emulator with only the environment a user would set.
pub fn command(
    t: &Tenant,
    args: &[&str],
    env: &[(&str, &str)],
    path: Option<&Path>,
) -> tokio::process::Command {
    let r = &t.emu.ready;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"));
    let path_var = match path {
        Some(p) => format!("{}:/usr/bin:/bin", p.display()),
        None => "/usr/bin:/bin".to_owned(),
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", path_var)
        .env("HOME", t.dir.path())
        .env("PROVISION_CACHE_DIR", t.dir.path().join("signin-cache"))
        .env("PROVISION_GRAPH_URL", &r.graph_url)
        .env("PROVISION_AUTHORITY_URL", &r.authority_url)
        .env("AZURE_TENANT_ID", &r.tenant_id)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn signed_in_with(o: &Output) -> Option<String> {
    let err = stderr(o);
    let line = err.lines().find(|l| l.starts_with("signed in ("))?;
    Some(line["signed in (".len()..line.find(')')?].to_owned())
}

/// Each source's environment, as a user or CI job would set it.
fn environments(t: &Tenant, c: &Creds) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let r = &t.emu.ready;
    vec![
        (
            "client-secret",
            vec![
                ("AZURE_CLIENT_ID", r.client_id.clone()),
                ("AZURE_CLIENT_SECRET", r.client_secret.clone()),
            ],
        ),
        (
            "certificate",
            vec![
                ("AZURE_CLIENT_ID", r.client_id.clone()),
                ("AZURE_CLIENT_CERTIFICATE_PATH", c.cert_pem.display().to_string()),
            ],
        ),
        (
            "federated",
            vec![
                ("AZURE_CLIENT_ID", r.client_id.clone()),
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    c.federated_file.display().to_string(),
                ),
            ],
        ),
        (
            "federated",
            vec![
                ("AZURE_CLIENT_ID", r.client_id.clone()),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", c.github.0.clone()),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", c.github.1.clone()),
            ],
        ),
        ("azure-cli", vec![]),
        (
            "access-token",
            vec![("PROVISION_ACCESS_TOKEN", c.secrets[4].clone())],
        ),
        (
            "device-code",
            vec![("PROVISION_CLIENT_ID", c.device_client.clone())],
        ),
    ]
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} shows a secret ({}…):\n{text}",
            &s[..8.min(s.len())]
        );
    }
    // Any JWT at all (tokens, assertions, refresh tokens of the emulator) starts with `eyJ`.
    assert!(!text.contains("eyJ"), "{what} shows a JWT:\n{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_source_signs_in_and_nothing_secret_is_shown() {
    let t = Tenant::start().await;
    let c = prepare(&t).await;
    let m = c.manifest.to_str().unwrap();
    let expected_source = [
        "client secret",
        "certificate",
        "federated token",
        "federated token",
        "Azure CLI",
        "PROVISION_ACCESS_TOKEN",
        "device code",
    ];
    t.clear_log().await;
    for ((auth, env), want) in environments(&t, &c).into_iter().zip(expected_source) {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run(&t, &["plan", m, "-v", "--auth", auth], &env, Some(&c.az_bin)).await;
        assert_eq!(code(&out), 0, "--auth {auth}: {}", stderr(&out));
        assert_eq!(
            signed_in_with(&out).as_deref(),
            Some(want),
            "--auth {auth}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).contains("mtp-api-client"), "{}", stdout(&out));
        assert_no_secret(&format!("stdout of --auth {auth}"), &stdout(&out), &c.secrets);
        assert_no_secret(&format!("stderr of --auth {auth}"), &stderr(&out), &c.secrets);
        if auth == "device-code" {
            assert!(stderr(&out).contains("To sign in, open"), "{}", stderr(&out));
        }
    }
    // The device-code sign-in was remembered: the next command does not prompt.
    let env = [("PROVISION_CLIENT_ID", c.device_client.as_str())];
    let out = run(&t, &["plan", m, "-v", "--auth", "device-code"], &env, None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(signed_in_with(&out).as_deref(), Some("cached sign-in"));
    assert!(!stderr(&out).contains("To sign in"), "{}", stderr(&out));
    assert_no_secret("stderr of the cached sign-in", &stderr(&out), &c.secrets);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cache = t.dir.path().join("signin-cache");
        let files: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "one sign-in cached: {files:?}");
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // logout forgets it; the next sign-in asks for a code again.
    let out = run(&t, &["logout"], &[], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("forgot the sign-in"), "{}", stderr(&out));
    let out = run(&t, &["plan", m, "-v", "--auth", "device-code"], &env, None).await;
    assert_eq!(
        signed_in_with(&out).as_deref(),
        Some("device code"),
        "{}",
        stderr(&out)
    );

    // The emulator's request log holds none of it either.
    let log = t
        .http
        .get(format!("{}/_emulator/requests", base_url(&t.emu)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("/oauth2/v2.0/token"), "the log shows the sign-ins");
    assert_no_secret("the request log", &log, &c.secrets);
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_tries_the_documented_order() {
    let t = Tenant::start().await;
    let c = prepare(&t).await;
    let m = c.manifest.to_str().unwrap();
    let r = &t.emu.ready;
    let access = c.secrets[4].clone();
    let cert = c.cert_pem.display().to_string();
    let file = c.federated_file.display().to_string();
    // Every source configured; remove the first each time and the next one signs in.
    let mut env: Vec<(&str, String)> = vec![
        ("PROVISION_ACCESS_TOKEN", access),
        ("AZURE_CLIENT_SECRET", r.client_secret.clone()),
        ("AZURE_CLIENT_CERTIFICATE_PATH", cert),
        ("AZURE_FEDERATED_TOKEN_FILE", file),
    ];
    for want in [
        "PROVISION_ACCESS_TOKEN",
        "client secret",
        "certificate",
        "federated token",
        "Azure CLI",
    ] {
        let mut e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        e.push(("AZURE_CLIENT_ID", &r.client_id));
        let out = run(&t, &["plan", m, "-v"], &e, Some(&c.az_bin)).await;
        assert_eq!(code(&out), 0, "{want}: {}", stderr(&out));
        assert_eq!(signed_in_with(&out).as_deref(), Some(want), "{}", stderr(&out));
        if !env.is_empty() {
            env.remove(0);
        }
    }
    // Nothing configured, no `az`, stdin not a terminal, nothing cached: exit 4 and say how.
    let out = run(&t, &["plan", m, "-v"], &[], None).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: no credentials for Microsoft Graph were found"),
        "{err}"
    );
    assert!(
        err.contains("sign-in: skipping device code: stdin is not a terminal"),
        "{err}"
    );
    assert!(
        err.contains("sign-in: skipping Azure CLI: `az` is not on PATH"),
        "{err}"
    );
    // A cached device-code sign-in is used without a terminal.
    let client = [("PROVISION_CLIENT_ID", c.device_client.as_str())];
    let out = run(&t, &["plan", m, "--auth", "device-code"], &client, None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&t, &["plan", m, "-v"], &client, None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        signed_in_with(&out).as_deref(),
        Some("cached sign-in"),
        "{}",
        stderr(&out)
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_failures_exit_4_and_say_what_to_fix() {
    let t = Tenant::start().await;
    let c = prepare(&t).await;
    let m = c.manifest.to_str().unwrap();
    let r = &t.emu.ready;
    let dir = t.dir.path();

    // Wrong secret.
    let out = run(
        &t,
        &["plan", m, "--auth", "client-secret"],
        &[
            ("AZURE_CLIENT_ID", &r.client_id),
            ("AZURE_CLIENT_SECRET", "not-the-secret"),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("AADSTS7000215"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("help: the client secret is wrong or expired"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("not-the-secret"));

    // Unknown client.
    let unknown = "00000000-0000-0000-0000-0000000000aa";
    let out = run(
        &t,
        &["plan", m],
        &[("AZURE_CLIENT_ID", unknown), ("AZURE_CLIENT_SECRET", "x")],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("AADSTS700016"), "{}", stderr(&out));

    // A certificate the app does not have: the thumbprint is named.
    let other = SigningKey::generate("not registered").unwrap();
    let other_pem = dir.join("other.pem");
    std::fs::write(
        &other_pem,
        format!("{}{}", other.private_key_pem(), other.certificate_pem()),
    )
    .unwrap();
    let out = run(
        &t,
        &["plan", m, "--auth", "certificate"],
        &[
            ("AZURE_CLIENT_ID", &r.client_id),
            ("AZURE_CLIENT_CERTIFICATE_PATH", other_pem.to_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("AADSTS700027"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&other.x5t_s256()), "{}", stderr(&out));

    // An expired certificate is refused before any request, with its date.
    let key = SigningKey::generate("expired").unwrap();
    let pair =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(key.private_key_pem(), &rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = params.self_signed(&pair).unwrap();
    let expired_pem = dir.join("expired.pem");
    std::fs::write(
        &expired_pem,
        format!("{}{}", key.private_key_pem(), expired.pem()),
    )
    .unwrap();
    let out = run(
        &t,
        &["plan", m, "--auth", "certificate"],
        &[
            ("AZURE_CLIENT_ID", &r.client_id),
            ("AZURE_CLIENT_CERTIFICATE_PATH", expired_pem.to_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("expired on 2021-01-01"), "{}", stderr(&out));

    // A federated token whose subject matches no federated credential: the fix is named.
    let idp = SigningKey::generate("unmatched idp").unwrap();
    let resp = t
        .http
        .post(format!("{}/_emulator/issuers", base_url(&t.emu)))
        .json(&json!({"issuer": "https://issuer.example", "jwks": {"keys": [idp.jwk("https://issuer.example")]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let unmatched = dir.join("unmatched-token");
    std::fs::write(
        &unmatched,
        external_assertion(&idp, "https://issuer.example", "repo:contoso/infra:pull_request"),
    )
    .unwrap();
    let out = run(
        &t,
        &["plan", m, "--auth", "federated"],
        &[
            ("AZURE_CLIENT_ID", &r.client_id),
            ("AZURE_FEDERATED_TOKEN_FILE", unmatched.to_str().unwrap()),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    let err = stderr(&out);
    assert!(err.contains("AADSTS70021"), "{err}");
    assert!(
        err.contains("issuer `https://issuer.example`, subject `repo:contoso/infra:pull_request`"),
        "{err}"
    );
    assert!(!err.contains("eyJ"), "{err}");

    // A configured source that is missing a piece says which.
    let out = run(
        &t,
        &["plan", m, "--auth", "certificate"],
        &[("AZURE_CLIENT_ID", &r.client_id)],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("AZURE_CLIENT_CERTIFICATE_PATH is not set"),
        "{}",
        stderr(&out)
    );

    // Device code with a client that is not a public client.
    let out = run(
        &t,
        &[
            "plan",
            m,
            "--auth",
            "device-code",
            "--client-id",
            &r.reader_client_id,
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("AADSTS7000218"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not allow public client flows"),
        "{}",
        stderr(&out)
    );
    t.emu.shutdown().await;
}

#[test]
fn the_github_actions_example_uses_federated_sign_in_and_real_commands() {
    use clap::Parser;
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("examples/github-actions/provision.yml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("id-token: write"));
    assert!(text.contains("PROVISION_AUTH: federated"));
    let commands: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("run: ");
            l.starts_with("provision ").then_some(l)
        })
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("provision plan") && c.contains("--detailed-exitcode"))
    );
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("provision apply") && c.contains("--yes"))
    );
    for c in commands {
        let args: Vec<&str> = c.split_whitespace().collect();
        let parsed = provision::cli::Cli::try_parse_from(&args);
        assert!(parsed.is_ok(), "`{c}` does not parse: {:?}", parsed.err());
        let manifest = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(args[2]);
        assert!(manifest.exists(), "`{c}` names a manifest that does not exist");
    }
}
