//! `provision import` against the emulator: registrations built through Graph the way the portal
//! leaves them (no uniqueName), imported, then validated and planned: the plan must show no
//! changes. Round trip: apply a manifest, import it, compare the two models.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_profiles;
use crate::support::*;

const MTP: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const WDATP: &str = "fc780465-2017-40d4-a0c5-307022471b92";

/// Permission ids from the catalog (docs/graph-notes.md §8), by API alias, kind and value.
fn perm(alias: &str, kind: &str, value: &str) -> String {
    let api = provision::catalog::by_alias(alias).unwrap();
    let list = if kind == "Scope" { &api.scopes } else { &api.roles };
    list.iter().find(|p| p.value == value).unwrap().id.clone()
}

/// (API alias, `Scope` or `Role`, permission value)
type Wanted<'a> = (&'a str, &'a str, &'a str);

fn rra(entries: &[(&str, &[Wanted])]) -> Value {
    json!(
        entries
            .iter()
            .map(|(app_id, perms)| json!({
                "resourceAppId": app_id,
                "resourceAccess": perms.iter().map(|(alias, kind, value)| json!({
                    "id": perm(alias, kind, value), "type": kind
                })).collect::<Vec<_>>()
            }))
            .collect::<Vec<_>>()
    )
}

struct Built {
    app_id: String,
    object_id: String,
    sp_id: String,
}

async fn post(t: &Tenant, path: &str, body: Value) -> Value {
    let (status, v) = t.graph(Method::POST, path, Some(body.clone())).await;
    assert!((200..300).contains(&status), "POST {path} {body}: {status} {v}");
    v
}

async fn sp_id(t: &Tenant, app_id: &str) -> String {
    t.get(&format!("/servicePrincipals(appId='{app_id}')")).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An application and its service principal, made as the portal makes them: `POST`, no
/// uniqueName.
async fn build(t: &Tenant, body: Value) -> Built {
    let app = post(t, "/applications", body).await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let sp = post(t, "/servicePrincipals", json!({ "appId": app_id })).await;
    Built {
        app_id,
        object_id: app["id"].as_str().unwrap().to_owned(),
        sp_id: sp["id"].as_str().unwrap().to_owned(),
    }
}

async fn grant(t: &Tenant, client: &Built, resource_app_id: &str, scope: &str, user: Option<&str>) {
    let resource = sp_id(t, resource_app_id).await;
    let mut body = json!({
        "clientId": client.sp_id, "resourceId": resource, "scope": scope,
        "consentType": if user.is_some() { "Principal" } else { "AllPrincipals" },
    });
    if let Some(u) = user {
        body["principalId"] = json!(u);
    }
    post(t, "/oauth2PermissionGrants", body).await;
}

async fn assign(t: &Tenant, client: &Built, resource_app_id: &str, alias: &str, role: &str) {
    let resource = sp_id(t, resource_app_id).await;
    post(
        t,
        &format!("/servicePrincipals/{}/appRoleAssignments", client.sp_id),
        json!({ "principalId": client.sp_id, "resourceId": resource, "appRoleId": perm(alias, "Role", role) }),
    )
    .await;
}

/// The seeded administrator user's object id, from the emulator's saved state.
async fn admin_user_id(t: &Tenant) -> String {
    let state: Value = t
        .http
        .get(format!("{}/_emulator/state", base_url(&t.emu)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    fn find_users(v: &Value) -> Option<&Value> {
        match v {
            Value::Object(o) => o.get("users").or_else(|| o.values().find_map(find_users)),
            _ => None,
        }
    }
    find_users(&state).expect("users in the emulator state")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ok(out: &std::process::Output) {
    assert_eq!(code(out), 0, "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

/// Import into a file, validate it, plan it: no changes. Returns the manifest text.
async fn import_and_plan(t: &Tenant, args: &[&str], file: &str) -> (String, String) {
    let path = t.dir.path().join(file);
    let p = path.to_str().unwrap();
    let mut full = vec!["import"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", p]);
    let out = t.provision(&full).await;
    ok(&out);
    let text = std::fs::read_to_string(&path).unwrap();
    let v = t.provision(&["validate", p]).await;
    ok(&v);
    let plan = t.provision(&["plan", p, "--detailed-exitcode"]).await;
    assert_eq!(
        code(&plan),
        0,
        "plan of the imported manifest shows changes:\n{}\n{}\nmanifest:\n{text}",
        stdout(&plan),
        stderr(&plan)
    );
    (text, stderr(&out))
}

fn desired(path: &Path) -> provision::model::Desired {
    provision::manifest::load(path).unwrap()
}

both_profiles!(public_client_with_several_apis_and_full_consent);
async fn public_client_with_several_apis_and_full_consent(profile: Profile) {
    let t = Tenant::start().await;
    let app = build(
        &t,
        json!({
            "displayName": "SOC hunting client",
            "isFallbackPublicClient": true,
            "publicClient": { "redirectUris": ["https://portal.azure.com", "http://localhost:8400"] },
            "requiredResourceAccess": rra(&[
                (MTP, &[("microsoft-threat-protection", "Scope", "Incident.Read"),
                        ("microsoft-threat-protection", "Scope", "AdvancedHunting.Read")]),
                (GRAPH, &[("microsoft-graph", "Scope", "User.Read")]),
                (WDATP, &[("windows-defender-atp", "Scope", "Alert.Read")]),
            ]),
        }),
    )
    .await;
    grant(&t, &app, MTP, "Incident.Read AdvancedHunting.Read", None).await;
    grant(&t, &app, GRAPH, "User.Read", None).await;
    grant(&t, &app, WDATP, "Alert.Read", None).await;
    t.use_profile(profile).await;

    let (text, _) = import_and_plan(&t, &["--app-id", &app.app_id], "soc.toml").await;
    let d = desired(&t.dir.path().join("soc.toml"));
    let a = &d.apps[0];
    assert_eq!(a.unique_name, "soc-hunting-client");
    assert_eq!(a.app_id.as_deref(), Some(app.app_id.as_str()));
    assert_eq!(a.consent, provision::model::ConsentMode::Admin);
    let apis: Vec<&str> = a.api_permissions.iter().map(|p| p.api_text.as_str()).collect();
    assert_eq!(
        apis,
        [
            "microsoft-threat-protection",
            "microsoft-graph",
            "windows-defender-atp"
        ]
    );
    assert!(text.contains("# The registration has no uniqueName"), "{text}");
    // The emulator serves `/owners`: an app made app-only has none, so no `owners` key
    // (ownership left alone).
    assert!(!text.contains("owners"), "{text}");

    // `--format json`: one document holding the same manifest.
    let out = t
        .provision(&["import", "--app-id", &app.app_id, "--format", "json"])
        .await;
    ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["format_version"], "1.0");
    assert_eq!(doc["app_id"], app.app_id.as_str());
    assert_eq!(doc["unique_name"], "soc-hunting-client");
    assert_eq!(doc["pinned"], true);
    assert_eq!(doc["unique_name_set"], false);
    assert_eq!(doc["consent"], "admin");
    assert_eq!(doc["warnings"], json!([]));
    assert_eq!(doc["manifest"], text.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn app_roles_partial_consent_user_grants_and_web_uris() {
    let t = Tenant::start().await;
    // A daemon-and-web app: application permissions, its own app roles, web redirect URIs, a
    // secret; only part of its delegated permissions consented, plus one user's own consent.
    let app = build(
        &t,
        json!({
            "displayName": "Contoso reporting",
            "web": { "redirectUris": ["https://reports.contoso.com/signin-oidc"] },
            "appRoles": [{
                "id": "5f7e2a44-58a5-4a3e-9b1c-1d1a8b1f3c11", "value": "Reports.Read",
                "displayName": "Read reports", "description": "Read reports",
                "allowedMemberTypes": ["User"], "isEnabled": true
            }],
            "requiredResourceAccess": rra(&[
                (GRAPH, &[("microsoft-graph", "Scope", "User.Read"),
                          ("microsoft-graph", "Scope", "offline_access"),
                          ("microsoft-graph", "Role", "Application.Read.All")]),
                (MTP, &[("microsoft-threat-protection", "Role", "Incident.Read.All")]),
            ]),
        }),
    )
    .await;
    let secret = post(
        &t,
        &format!("/applications/{}/addPassword", app.object_id),
        json!({ "passwordCredential": { "displayName": "nightly job" } }),
    )
    .await;
    let secret_text = secret["secretText"].as_str().unwrap().to_owned();
    grant(&t, &app, GRAPH, "User.Read", None).await;
    let user = admin_user_id(&t).await;
    grant(&t, &app, MTP, "Incident.Read", Some(&user)).await;
    assign(&t, &app, GRAPH, "microsoft-graph", "Application.Read.All").await;
    assign(&t, &app, MTP, "microsoft-threat-protection", "Incident.Read.All").await;

    let (text, _) = import_and_plan(&t, &["--display-name", "Contoso reporting"], "reporting.toml").await;
    let d = desired(&t.dir.path().join("reporting.toml"));
    let a = &d.apps[0];
    assert_eq!(a.consent, provision::model::ConsentMode::None, "{text}");
    assert_eq!(a.public_client, None);
    // Web redirect URIs and the app's own roles are keys (issue 17).
    assert_eq!(
        a.props.web.as_ref().unwrap().redirect_uris,
        ["https://reports.contoso.com/signin-oidc"]
    );
    let roles = a.props.app_roles.as_ref().unwrap();
    assert_eq!(roles[0].value, "Reports.Read");
    assert_eq!(
        roles[0].id.as_deref(),
        Some("5f7e2a44-58a5-4a3e-9b1c-1d1a8b1f3c11")
    );
    for line in [
        "#   admin consent given:\n",
        "#     Microsoft Graph: User.Read\n",
        "#   not consented:\n#     Microsoft Graph: offline_access\n",
        "#     Microsoft Graph: Application.Read.All (application)\n",
        // Issue 17: a password is a key, kept as it is (its value cannot be read back).
        "[[app.passwords]]\ndisplay_name = \"nightly job\"\nend_date = \"",
        "secret_in_output = false\n",
        "# - user consent (Principal grants): Microsoft Threat Protection: Incident.Read (1 user)\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains(&secret_text), "the secret leaked:\n{text}");
    assert!(
        !text.contains(&secret_text[..3]),
        "the secret hint leaked:\n{text}"
    );

    // Admin consent for what is missing turns the manifest into a no-op with `grant = "admin"`.
    let (status, _) = t
        .graph(
            Method::PATCH,
            &format!(
                "/oauth2PermissionGrants/{}",
                t.get(&format!(
                    "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'%20and%20consentType%20eq%20'AllPrincipals'",
                    app.sp_id
                ))
                .await["value"][0]["id"]
                    .as_str()
                    .unwrap()
            ),
            Some(json!({ "scope": "User.Read offline_access" })),
        )
        .await;
    assert_eq!(status, 204);
    let (text, _) = import_and_plan(&t, &["--app-id", &app.app_id], "reporting2.toml").await;
    assert!(text.contains("grant = \"admin\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_only_consent_is_none_and_left_alone() {
    let t = Tenant::start().await;
    let app = build(
        &t,
        json!({
            "displayName": "Personal helper",
            "isFallbackPublicClient": true,
            "publicClient": { "redirectUris": ["http://localhost"] },
            "requiredResourceAccess": rra(&[(GRAPH, &[("microsoft-graph", "Scope", "User.Read")])]),
        }),
    )
    .await;
    let user = admin_user_id(&t).await;
    grant(&t, &app, GRAPH, "User.Read", Some(&user)).await;
    let (text, _) = import_and_plan(&t, &["--app-id", &app.app_id], "helper.toml").await;
    assert!(text.contains("grant = \"none\""), "{text}");
    assert!(
        text.contains("#   not consented:\n#     Microsoft Graph: User.Read\n"),
        "{text}"
    );
    assert!(
        text.contains("# - user consent (Principal grants): Microsoft Graph: User.Read (1 user)\n"),
        "{text}"
    );
}

both_profiles!(round_trip_apply_import_same_model);
async fn round_trip_apply_import_same_model(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let original = t.write_manifest(
        "original.toml",
        r#"
[app]
unique_name = "round-trip"
display_name = "Round trip"
notes = "made by apply"
tags = ["soc"]

[app.public_client]
redirect_uris = ["https://portal.azure.com", "http://localhost"]

[[app.api_permissions]]
api = "Microsoft Threat Protection"
delegated = ["Incident.Read", "AdvancedHunting.Read"]

[[app.api_permissions]]
api = "microsoft-graph"
delegated = ["User.Read"]
application = ["Application.Read.All"]
"#,
    );
    ok(&t.provision(&["apply", original.to_str().unwrap(), "--yes"]).await);
    let (text, _) = import_and_plan(&t, &["--unique-name", "round-trip"], "imported.toml").await;
    assert!(!text.contains("app_id"), "{text}");
    let normal = |path: PathBuf| {
        let mut d = desired(&path);
        d.source = PathBuf::new();
        d.tenant = None;
        for a in &mut d.apps {
            a.location = Default::default();
            for p in &mut a.api_permissions {
                p.location = Default::default();
                p.api_text = String::new();
            }
            a.api_permissions.sort_by(|x, y| x.api.cmp(&y.api));
        }
        d
    };
    assert_eq!(normal(t.dir.path().join("imported.toml")), normal(original));
    assert!(text.contains(&format!("tenant = \"{}\"", t.emu.ready.tenant_id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn display_name_matching_several_lists_them_and_refuses() {
    let t = Tenant::start().await;
    let a = build(&t, json!({ "displayName": "Twin" })).await;
    let b = build(&t, json!({ "displayName": "Twin" })).await;
    let out = t.provision(&["import", "--display-name", "Twin"]).await;
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("error: 2 applications are named `Twin`"), "{err}");
    assert!(err.contains(&a.app_id) && err.contains(&b.app_id), "{err}");
    assert!(
        err.contains("appId") && err.contains("uniqueName") && err.contains("created"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");

    let none = t.provision(&["import", "--display-name", "Nobody"]).await;
    assert_eq!(code(&none), 1);
    assert!(
        stderr(&none).contains("no application named `Nobody`"),
        "{}",
        stderr(&none)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn set_unique_name_is_confirmed_then_pins_by_name() {
    let t = Tenant::start().await;
    let app = build(
        &t,
        json!({
            "displayName": "Portal made",
            "isFallbackPublicClient": true,
            "publicClient": { "redirectUris": ["https://portal.azure.com"] },
        }),
    )
    .await;
    let id = app.app_id.as_str();

    // No terminal, no --yes: refused, nothing written.
    t.clear_log().await;
    let out = t
        .provision(&["import", "--app-id", id, "--set-unique-name", "portal-made"])
        .await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unique_name: null → \"portal-made\""),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    t.assert_read_only().await;
    assert_eq!(
        t.get(&format!("/applications(appId='{id}')")).await["uniqueName"],
        Value::Null
    );

    t.clear_log().await;
    let (text, _) = import_and_plan(
        &t,
        &["--app-id", id, "--set-unique-name", "portal-made", "--yes"],
        "portal.toml",
    )
    .await;
    assert_eq!(
        t.get(&format!("/applications(appId='{id}')")).await["uniqueName"],
        "portal-made"
    );
    let a = &desired(&t.dir.path().join("portal.toml")).apps[0];
    assert_eq!(
        (a.unique_name.as_str(), a.app_id.as_deref()),
        ("portal-made", None)
    );
    assert!(
        text.contains("# uniqueName given to the registration by this import"),
        "{text}"
    );

    // Once set, it cannot be changed.
    let again = t
        .provision(&["import", "--app-id", id, "--set-unique-name", "other", "--yes"])
        .await;
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("already has the unique name `portal-made`"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_name_avoids_a_unique_name_another_app_holds() {
    let t = Tenant::start().await;
    let taken = t.write_manifest(
        "taken.toml",
        "[app]\nunique_name = \"build-agent\"\ndisplay_name = \"Build agent (new)\"\n",
    );
    ok(&t.provision(&["apply", taken.to_str().unwrap(), "--yes"]).await);
    let app = build(&t, json!({ "displayName": "Build agent" })).await;
    let (_, _) = import_and_plan(&t, &["--app-id", &app.app_id], "agent.toml").await;
    let a = &desired(&t.dir.path().join("agent.toml")).apps[0];
    let short = app.app_id.split('-').next().unwrap();
    assert_eq!(a.unique_name, format!("build-agent-{short}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_reads_in_three_rounds_and_writes_nothing() {
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 40;
    let t = Tenant::start_with(config).await;
    let app = build(
        &t,
        json!({
            "displayName": "Rounds",
            "requiredResourceAccess": rra(&[
                (MTP, &[("microsoft-threat-protection", "Scope", "Incident.Read")]),
                (GRAPH, &[("microsoft-graph", "Role", "Application.Read.All")]),
            ]),
        }),
    )
    .await;
    grant(&t, &app, MTP, "Incident.Read", None).await;
    t.clear_log().await;
    let out = t.provision(&["import", "--app-id", &app.app_id]).await;
    ok(&out);
    t.assert_read_only().await;
    let log = t.graph_requests().await;
    assert!(rounds(&log) <= 3, "import took {} rounds: {log:#?}", rounds(&log));
    assert!(stdout(&out).starts_with("# Imported by `provision import`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_fail_before_signing_in() {
    let t = Tenant::start().await;
    let out = t.provision(&["import", "--app-id", "not-a-guid"]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("`--app-id` `not-a-guid` is not a GUID"),
        "{}",
        stderr(&out)
    );
    let out = t.provision(&["import"]).await;
    assert_eq!(code(&out), 1, "a usage error");
    let out = t
        .provision(&["import", "--app-id", GRAPH, "--unique-name", "x"])
        .await;
    assert_eq!(code(&out), 1, "only one way to name the app");
    let out = t
        .provision(&["import", "--unique-name", "x", "--set-unique-name", "has space"])
        .await;
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("contains a space"), "{}", stderr(&out));
}
