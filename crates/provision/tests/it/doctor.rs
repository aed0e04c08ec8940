//! `provision doctor`: each check against the emulator, the exit codes (0 apply allowed, 4 a
//! permission missing, 3 the tenant lacks an API of the manifest, 1 unreachable or wrong
//! tenant), text and JSON snapshots, and `--probe` leaving nothing behind.

use serde_json::Value;

use crate::permissions::{app_token, run_with_token, user_token};
use crate::support::*;

fn filters() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[GUID]",
    );
    s.add_filter(r"127\.0\.0\.1:\d+", "[HOST]");
    s.add_filter(r"\d+ ms", "[N] ms");
    s.add_filter(r"within \d+ s", "within [N] s");
    s.add_filter(r"provision-probe-[0-9a-f]{12}", "provision-probe-[RANDOM]");
    s.add_filter(r"emulator[0-9a-f]+\.onmicrosoft\.com", "[DOMAIN]");
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_tenant_passes_every_check_in_text_and_json() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    let m = t.write_manifest(
        "guarded.toml",
        &format!("tenant = \"{}\"\n{text}", t.emu.ready.tenant_domain),
    );
    let m = m.to_str().unwrap();
    t.clear_log().await;
    let out = t.provision(&["doctor", m]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    filters().bind(|| insta::assert_snapshot!("doctor_ready_text", transcript(&out)));
    // Read-only: nothing was written.
    t.assert_read_only().await;

    let out = t.provision(&["doctor", m, "--format", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let raw = stdout(&out);
    assert!(
        raw.trim_start().starts_with("{\n  \"format_version\": \"1.0\""),
        "{raw}"
    );
    let doc: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(doc["verdict"], "ok");
    assert_eq!(doc["identity"]["kind"], "application");
    assert_eq!(doc["identity"]["tenant_id"], t.emu.ready.tenant_id.as_str());
    assert_eq!(doc["manifest"]["tenant_guard"]["ok"], true);
    assert_eq!(doc["manifest"]["resources"][0]["service_principal"], "found");
    let commands: Vec<&str> = doc["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["plan", "apply", "destroy", "import"]);
    assert!(
        doc["commands"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["allowed"] == true)
    );
    filters().bind(|| provision_snapshot!("doctor_ready_json", &out, &t));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_permissions_are_named_per_command_with_exit_4() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    // The seeded reader (what plan needs): plan and import pass, apply and destroy do not.
    let r = t.emu.ready.clone();
    let out = t
        .provision_as(&["doctor", m], &r.reader_client_id, &r.reader_client_secret)
        .await;
    assert_eq!(code(&out), 4, "{}", transcript(&out));
    filters().bind(|| insta::assert_snapshot!("doctor_reader_text", transcript(&out)));
    // The probe needs apply's permissions: without them it is not run, and nothing is created.
    t.clear_log().await;
    let out = t
        .provision_as(
            &["doctor", "--probe", "--yes"],
            &r.reader_client_id,
            &r.reader_client_secret,
        )
        .await;
    assert_eq!(code(&out), 4, "{}", transcript(&out));
    assert!(stdout(&out).contains("probe    not run: the signed-in identity lacks apply's permissions"));
    t.assert_read_only().await;
    // Only Application.Read.All: plan lacks Directory.Read.All too.
    let out = run_with_token(
        &t,
        &["doctor", m, "--format", "json"],
        &app_token(&t.emu, &["Application.Read.All"]),
    )
    .await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["verdict"], "permission_missing");
    assert_eq!(
        doc["identity"]["permissions"],
        serde_json::json!(["Application.Read.All"])
    );
    let plan = &doc["commands"][0];
    assert_eq!(plan["allowed"], false);
    assert_eq!(plan["missing"][0]["permission"], "Directory.Read.All");
    let apply = &doc["commands"][1];
    let missing: Vec<&str> = apply["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["permission"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        [
            "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All"
        ]
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_with_owners_asks_for_what_finding_and_writing_owners_takes() {
    let t = Tenant::start().await;
    let m = t.write_manifest(
        "owned.toml",
        "[app]\nunique_name = \"owned\"\ndisplay_name = \"Owned\"\nowners = [\"ada@contoso.example\"]\n",
    );
    let m = m.to_str().unwrap();
    // The three write permissions the README lists are enough for a manifest without owners,
    // not for one that names an owner: finding a user takes a user read permission, writing
    // an owner Directory.Read.All (Graph's application-post-owners page).
    let writer = [
        "Application.ReadWrite.All",
        "DelegatedPermissionGrant.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
    ];
    let out = run_with_token(
        &t,
        &["doctor", m, "--format", "json"],
        &app_token(&t.emu, &writer),
    )
    .await;
    assert_eq!(code(&out), 4, "{}", transcript(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let missing = |command: usize| -> Vec<String> {
        doc["commands"][command]["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["permission"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(doc["commands"][0]["command"], "plan");
    assert_eq!(missing(0), ["User.Read.All"]);
    assert_eq!(doc["commands"][1]["command"], "apply");
    assert_eq!(missing(1), ["User.Read.All", "Directory.Read.All"]);
    assert_eq!(
        doc["commands"][2]["allowed"], true,
        "destroy does not touch owners"
    );

    // Directory.Read.All covers both.
    let mut enough = writer.to_vec();
    enough.push("Directory.Read.All");
    let out = run_with_token(&t, &["doctor", m], &app_token(&t.emu, &enough)).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_hosts_wrong_tenants_and_missing_apis_have_their_exit_codes() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml")).unwrap();
    // Nothing listens on port 1: the connection is refused, named with the host.
    let out = crate::signin::run(
        &t,
        &["doctor"],
        &[
            ("PROVISION_GRAPH_URL", "http://127.0.0.1:1/v1.0"),
            ("AZURE_CLIENT_ID", &t.emu.ready.client_id),
            ("AZURE_CLIENT_SECRET", &t.emu.ready.client_secret),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    filters().bind(|| insta::assert_snapshot!("doctor_refused_text", transcript(&out)));
    assert!(
        stdout(&out)
            .contains("cannot reach the Microsoft Graph at `127.0.0.1:1`: the connection was refused")
    );

    // A tenant guard for another tenant: exit 1, as apply would refuse.
    let m = t.write_manifest(
        "other.toml",
        &format!("tenant = \"{}\"\n{text}", uuid::Uuid::new_v4()),
    );
    let out = t
        .provision(&["doctor", m.to_str().unwrap(), "--format", "json"])
        .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["manifest"]["tenant_guard"]["ok"], false);
    assert_eq!(doc["verdict"], "wrong_tenant");
    assert!(stderr(&out).contains("error: apply would refuse: the signed-in tenant is not the manifest's"));
    // Nor does the probe write to it.
    t.clear_log().await;
    let out = t
        .provision(&["doctor", m.to_str().unwrap(), "--probe", "--yes"])
        .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).contains("probe    not run: the signed-in tenant is not the manifest's"));
    t.assert_read_only().await;

    // An API the tenant has no service principal for: exit 3.
    let m = t.write_manifest(
        "unknown-api.toml",
        &text.replace(
            "api = \"Microsoft Threat Protection\"",
            "api = \"0b2d8a4e-1111-4a5a-9a9a-000000000001\"",
        ),
    );
    let out = t
        .provision(&["doctor", m.to_str().unwrap(), "--format", "json"])
        .await;
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["manifest"]["resources"][0]["service_principal"], "missing");

    // Host names that do not resolve (`.invalid` is reserved, RFC 6761): named as DNS.
    let out = crate::signin::run(
        &t,
        &["doctor"],
        &[
            ("PROVISION_GRAPH_URL", "https://graph.no-such-host.invalid/v1.0"),
            ("PROVISION_AUTHORITY_URL", "https://login.no-such-host.invalid"),
        ],
        None,
    )
    .await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(
        stdout(&out).contains(
            "cannot reach the sign-in authority at `login.no-such-host.invalid`: the host name does not resolve (DNS)"
        ),
        "{}",
        stdout(&out)
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_reports_the_forms_the_default_emulator_accepts_and_leaves_nothing() {
    let t = Tenant::start().await;
    // Consent is required: without --yes and without a terminal, nothing is created.
    let out = t.provision(&["doctor", "--probe"]).await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));

    let out = t.provision(&["doctor", "--probe", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    filters().bind(|| insta::assert_snapshot!("doctor_probe_text", transcript(&out)));
    let out = t
        .provision(&["doctor", "--probe", "--yes", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let probe = &doc["probe"];
    let name = probe["application"].as_str().unwrap();
    assert!(name.starts_with("provision-probe-"));
    let forms = probe["forms"].as_array().unwrap();
    assert_eq!(forms.len(), 7, "{probe}");
    for f in forms {
        let expected = if f["form"] == "service principal create (fallback)" {
            "not tried"
        } else {
            "accepted"
        };
        assert_eq!(f["result"], expected, "{f}");
    }
    assert!(probe["application_readable_ms"].is_u64() && probe["service_principal_readable_ms"].is_u64());
    assert_eq!(probe["deleted"], true);
    assert_eq!(probe["purged"], true);
    // Nothing left: neither live nor in deleted items.
    let state = t
        .http
        .get(format!("{}/_emulator/state", t.emu.ready.authority_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!state.contains("provision-probe-"), "a probe object is left");
    t.emu.shutdown().await;
}

/// An HTTPS emulator whose CA is not trusted: the cause is named as TLS trust, with `--ca-cert`;
/// trusting its CA, every check passes.
#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_named_and_ca_cert_fixes_it() {
    let mut config = provision::emulator::Config::local();
    config.tls = true;
    let t = Tenant::start_with(config).await;
    let r = t.emu.ready.clone();
    let secret_env = [
        ("AZURE_CLIENT_ID", r.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", r.client_secret.as_str()),
    ];
    let out = crate::signin::run(&t, &["doctor"], &secret_env, None).await;
    assert_eq!(code(&out), 1, "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("the server's TLS certificate is not trusted"),
        "{text}"
    );
    assert!(text.contains("--ca-cert FILE"), "{text}");
    let ca = r.ca_cert.clone().unwrap();
    let mut with_ca = secret_env.to_vec();
    with_ca.push(("PROVISION_CA_CERT", ca.as_str()));
    let out = crate::signin::run(&t, &["doctor"], &with_ca, None).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    t.emu.shutdown().await;
}

/// A user's delegated token: the scopes are the permissions, and the user is named; a user who
/// consented `Directory.AccessAsUser.All` acts with their own rights, which every command needs.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_user_is_named_with_the_scopes_it_holds() {
    let t = Tenant::start().await;
    let out = run_with_token(
        &t,
        &["doctor", "--format", "json"],
        &user_token(&t.emu, &["User.Read", "Application.Read.All"]),
    )
    .await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["identity"]["kind"], "user");
    assert!(doc["identity"]["user"].as_str().unwrap().contains('@'));
    assert_eq!(
        doc["identity"]["permissions"],
        serde_json::json!(["User.Read", "Application.Read.All"])
    );
    assert_eq!(
        doc["commands"][0]["missing"][0]["permission"],
        "Directory.Read.All"
    );
    let out = run_with_token(
        &t,
        &["doctor"],
        &user_token(&t.emu, &["Directory.AccessAsUser.All"]),
    )
    .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Microsoft Graph delegated permissions: Directory.AccessAsUser.All"),
        "{text}"
    );
    assert!(text.contains("a user also needs an Entra role"), "{text}");
    t.emu.shutdown().await;
}

/// The strict profile (issue 12 §1 knobs off): the probe reports the service principal upsert
/// and the appId-key navigations refused with Graph's 400, takes the POST and the fallbacks,
/// and still deletes and purges its application.
#[tokio::test(flavor = "multi_thread")]
async fn probe_under_the_strict_profile_reports_the_refused_forms() {
    let mut config = provision::emulator::Config::local();
    config.faults.alternate_key_navigations = false;
    config.faults.service_principal_upsert = false;
    let t = Tenant::start_with(config).await;
    let out = t.provision(&["doctor", "--probe", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    filters().bind(|| insta::assert_snapshot!("doctor_probe_strict_text", transcript(&out)));
    let out = t
        .provision(&["doctor", "--probe", "--yes", "--format", "json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let probe = &doc["probe"];
    let result = |form: &str| {
        let f = probe["forms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["form"] == form)
            .unwrap_or_else(|| panic!("{form}: {probe}"));
        (
            f["result"].as_str().unwrap().to_owned(),
            f["status"].clone(),
            f["code"].clone(),
        )
    };
    assert_eq!(result("application upsert by uniqueName").0, "accepted");
    let (r, status, _) = result("service principal upsert by appId");
    assert_eq!((r.as_str(), status), ("refused", serde_json::json!(400)));
    assert_eq!(result("service principal create (fallback)").0, "accepted");
    for form in [
        "grants through the appId key",
        "app role assignments through the appId key",
    ] {
        let (r, status, code) = result(form);
        assert_eq!(r, "refused", "{form}");
        assert_eq!(status, 400, "{form}");
        assert_eq!(code, "Request_BadRequest", "{form}");
    }
    for form in [
        "grants filtered on clientId (fallback)",
        "app role assignments by object id (fallback)",
    ] {
        assert_eq!(result(form).0, "accepted", "{form}");
    }
    assert_eq!(probe["deleted"], true);
    assert_eq!(probe["purged"], true);
    let state = t
        .http
        .get(format!("{}/_emulator/state", t.emu.ready.authority_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!state.contains("provision-probe-"), "a probe object is left");
    t.emu.shutdown().await;
}
