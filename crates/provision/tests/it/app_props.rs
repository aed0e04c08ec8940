//! Issue 17, the application properties beyond the public client: `[app.web]`, `[app.spa]`,
//! `identifier_uris`, `[app.api]` (scopes, token version) and `[[app.app_roles]]`, reconciled by
//! apply (a scope or role is disabled before it is removed or changed), shown field by field by
//! plan, imported as keys, and served by the emulator with Graph's rules and errors.

use std::process::Output;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_profiles;
use crate::support::*;

fn manifest_text(domain: &str, scope_description: &str, with_admin_role: bool, logout: &str) -> String {
    let admin_role = if with_admin_role {
        r#"
[[app.app_roles]]
value = "Orders.Admin"
display_name = "Order administrators"
description = "Manage every order"
allowed_member_types = ["User"]
"#
    } else {
        ""
    };
    format!(
        r#"[app]
unique_name = "orders-api"
display_name = "Orders API"
identifier_uris = ["api://orders-api", "https://{domain}/orders", "api://{{app_id}}"]

[app.web]
redirect_uris = ["https://orders.contoso.com/signin-oidc", "http://localhost:5000/signin-oidc"]
home_page_url = "https://orders.contoso.com/"
logout_url = "{logout}"
enable_id_token_issuance = true
enable_access_token_issuance = false

[app.spa]
redirect_uris = ["https://orders.contoso.com/spa"]

[app.api]
requested_access_token_version = 2

[[app.api.scopes]]
value = "Orders.Read"
type = "User"
admin_consent_display_name = "Read orders"
admin_consent_description = "{scope_description}"
user_consent_display_name = "Read your orders"
user_consent_description = "Lets the app read your orders"

[[app.api.scopes]]
value = "Orders.Write"
id = "0b6f4c1e-5d2a-4f3b-9c8d-7e6f5a4b3c2d"
type = "Admin"
admin_consent_display_name = "Write orders"
admin_consent_description = "Lets the app change orders"

[[app.app_roles]]
value = "Orders.Reader"
display_name = "Order readers"
description = "Read every order"
allowed_member_types = ["User", "Application"]
{admin_role}"#
    )
}

/// The properties the v1.0 CSDL declares on a type (the emulator crate's fixture,
/// `crates/entra-emulator/tests/fixtures/graph-csdl/`).
fn csdl_properties(entity: &str) -> Vec<String> {
    let path = format!(
        "{}/../entra-emulator/tests/fixtures/graph-csdl/v1.0-properties.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(doc[entity].clone()).unwrap_or_else(|e| panic!("{entity}: {e}"))
}

fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        stdout(o),
        stderr(o)
    )
}

fn settings(t: &Tenant) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&t.emu.ready.tenant_id, "[TENANT_ID]");
    s.add_filter(&t.emu.ready.tenant_domain, "[DOMAIN]");
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[GUID]",
    );
    s.add_filter(r"/tmp/\S+/", "[DIR]/");
    s
}

fn by_value<'a>(list: &'a Value, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["value"] == value)
        .unwrap_or_else(|| panic!("no `{value}` in {list}"))
}

both_profiles!(apply_reconciles_web_spa_api_and_roles_then_plans_clean);
async fn apply_reconciles_web_spa_api_and_roles_then_plans_clean(profile: Profile) {
    let t = Tenant::start_profile(profile).await;
    let domain = t.emu.ready.tenant_domain.clone();
    let m = t.write_manifest(
        "orders.toml",
        &manifest_text(
            &domain,
            "Lets the app read orders",
            true,
            "https://orders.contoso.com/signout",
        ),
    );
    let m = m.to_str().unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let out = t.provision(&["plan", m, "--detailed-exitcode"]).await;
    assert_eq!(code(&out), 0, "a no-op run after apply: {}", transcript(&out));

    let app = t.get("/applications(uniqueName='orders-api')").await;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    // `api://{app_id}` became the new app's own appId in a second PATCH.
    assert_eq!(
        app["identifierUris"],
        json!([
            "api://orders-api",
            format!("https://{domain}/orders"),
            format!("api://{app_id}")
        ])
    );
    assert_eq!(app["web"]["homePageUrl"], "https://orders.contoso.com/");
    assert_eq!(app["web"]["logoutUrl"], "https://orders.contoso.com/signout");
    assert_eq!(
        app["web"]["implicitGrantSettings"],
        json!({"enableIdTokenIssuance": true, "enableAccessTokenIssuance": false})
    );
    assert_eq!(
        app["spa"]["redirectUris"],
        json!(["https://orders.contoso.com/spa"])
    );
    assert_eq!(app["api"]["requestedAccessTokenVersion"], 2);
    let scopes = &app["api"]["oauth2PermissionScopes"];
    let read = by_value(scopes, "Orders.Read");
    let read_id = read["id"].as_str().unwrap().to_owned();
    assert_eq!(read["type"], "User");
    assert_eq!(read["isEnabled"], true);
    assert_eq!(read["userConsentDisplayName"], "Read your orders");
    assert_eq!(
        by_value(scopes, "Orders.Write")["id"],
        "0b6f4c1e-5d2a-4f3b-9c8d-7e6f5a4b3c2d"
    );
    let roles = &app["appRoles"];
    let reader_id = by_value(roles, "Orders.Reader")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(by_value(roles, "Orders.Reader")["origin"], "Application");
    // The service principal publishes what the application defines.
    let sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            app["appId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(sp["oauth2PermissionScopes"].as_array().unwrap().len(), 2);
    assert_eq!(sp["appRoles"].as_array().unwrap().len(), 2);
    assert_eq!(
        sp["servicePrincipalNames"],
        json!([
            app["appId"],
            "api://orders-api",
            format!("https://{domain}/orders"),
            format!("api://{app_id}")
        ])
    );

    // Change a scope's text, drop a role, move the logout URL: plan shows each field, exit 2.
    std::fs::write(
        m,
        manifest_text(
            &domain,
            "Lets the app read every order",
            false,
            "https://orders.contoso.com/bye",
        ),
    )
    .unwrap();
    let out = t.provision(&["plan", m, "--detailed-exitcode"]).await;
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    if profile == Profile::Default {
        settings(&t).bind(|| insta::assert_snapshot!("app_props_plan_changes", transcript(&out)));
        let json = t
            .provision(&["plan", m, "--detailed-exitcode", "--format", "json"])
            .await;
        assert_eq!(code(&json), 2, "{}", transcript(&json));
        settings(&t).bind(|| insta::assert_snapshot!("app_props_plan_changes_json", transcript(&json)));
    }
    let text = stdout(&out);
    assert!(text.contains("web.logout_url"), "{text}");
    assert!(
        text.contains("api.scopes[Orders.Read].admin_consent_description"),
        "{text}"
    );
    assert!(text.contains("app_roles[Orders.Admin]"), "{text}");

    t.clear_log().await;
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let object_id = app["id"].as_str().unwrap();
    let patches: Vec<Value> = t
        .graph_requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "PATCH" && r["path"].as_str().is_some_and(|p| p.contains(object_id)))
        .collect();
    // First the disabling PATCH (the role to remove and the scope to change turned off, nothing
    // else), then the one that removes and changes: Graph refuses both in one.
    assert!(patches.len() >= 2, "{patches:#?}");
    let first = &patches[0]["body"];
    assert_eq!(
        by_value(&first["appRoles"], "Orders.Admin")["isEnabled"],
        false,
        "{first}"
    );
    assert_eq!(
        by_value(&first["appRoles"], "Orders.Reader")["isEnabled"],
        true,
        "{first}"
    );
    let scopes = &first["api"]["oauth2PermissionScopes"];
    assert_eq!(by_value(scopes, "Orders.Read")["isEnabled"], false, "{first}");
    assert_eq!(
        by_value(scopes, "Orders.Read")["adminConsentDescription"],
        "Lets the app read orders"
    );
    assert_eq!(by_value(scopes, "Orders.Write")["isEnabled"], true, "{first}");
    assert!(first.get("web").is_none(), "{first}");
    let out = t.provision(&["plan", m, "--detailed-exitcode"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));

    let app = t.get("/applications(uniqueName='orders-api')").await;
    let read = by_value(&app["api"]["oauth2PermissionScopes"], "Orders.Read");
    assert_eq!(read["id"], read_id.as_str(), "an existing scope keeps its id");
    assert_eq!(read["isEnabled"], true);
    assert_eq!(read["adminConsentDescription"], "Lets the app read every order");
    assert_eq!(app["appRoles"].as_array().unwrap().len(), 1);
    assert_eq!(
        by_value(&app["appRoles"], "Orders.Reader")["id"],
        reader_id.as_str()
    );
    assert_eq!(app["web"]["logoutUrl"], "https://orders.contoso.com/bye");
}

/// An app made through Graph with every property, imported: the manifest holds them as keys
/// and plans to no changes.
#[tokio::test(flavor = "multi_thread")]
async fn import_writes_the_properties_as_keys_and_plans_clean() {
    let t = Tenant::start().await;
    let domain = t.emu.ready.tenant_domain.clone();
    let body = json!({
        "displayName": "Made through Graph",
        "signInAudience": "AzureADMyOrg",
        "identifierUris": ["api://made-through-graph", format!("https://{domain}/made")],
        "web": {
            "redirectUris": ["https://made.contoso.com/cb"],
            "homePageUrl": "https://made.contoso.com/",
            "logoutUrl": "https://made.contoso.com/logout",
            "implicitGrantSettings": {"enableIdTokenIssuance": true, "enableAccessTokenIssuance": true}
        },
        "spa": {"redirectUris": ["https://made.contoso.com/spa"]},
        "api": {
            "requestedAccessTokenVersion": 2,
            "oauth2PermissionScopes": [{
                "id": "6f1f2f3f-4f5f-4a6f-8f7f-9f0f1f2f3f4f",
                "value": "Made.Read", "type": "Admin", "isEnabled": true,
                "adminConsentDisplayName": "Read made things",
                "adminConsentDescription": "Lets the app read made things",
                "userConsentDisplayName": null, "userConsentDescription": null
            }, {
                "id": "7a1a2a3a-4a5a-4b6a-8a7a-9a0a1a2a3a4a",
                "value": "Made.Old", "type": "User", "isEnabled": false,
                "adminConsentDisplayName": "Old", "adminConsentDescription": "Retired scope",
                "userConsentDisplayName": "Old", "userConsentDescription": "Retired scope"
            }]
        },
        "appRoles": [{
            "id": "8b1b2b3b-4b5b-4c6b-8b7b-9b0b1b2b3b4b",
            "value": "Made.Writer", "displayName": "Writers", "description": "Write made things",
            "allowedMemberTypes": ["Application"], "isEnabled": true
        }]
    });
    let mut body = body;
    body["uniqueName"] = json!("made-through-graph");
    new_app(&t, body).await;
    let app = t.get("/applications(uniqueName='made-through-graph')").await;
    let (s, v) = t
        .graph(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // Its own `api://<appId>` too: imported as `api://{app_id}`.
    let own = format!("api://{}", app["appId"].as_str().unwrap());
    let (s, v) = t
        .graph(
            Method::PATCH,
            &format!("/applications/{}", app["id"].as_str().unwrap()),
            Some(json!({"identifierUris": ["api://made-through-graph", format!("https://{domain}/made"), own]})),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let out = t
        .provision(&["import", "--unique-name", "made-through-graph"])
        .await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = stdout(&out);
    for key in [
        "identifier_uris = [\"api://made-through-graph\"",
        "\"api://{app_id}\"]",
        "[app.web]",
        "enable_access_token_issuance = true",
        "[app.spa]",
        "requested_access_token_version = 2",
        "[[app.api.scopes]]",
        "id = \"7a1a2a3a-4a5a-4b6a-8a7a-9a0a1a2a3a4a\"",
        "enabled = false",
        "[[app.app_roles]]",
        "allowed_member_types = [\"Application\"]",
    ] {
        assert!(text.contains(key), "missing {key:?} in\n{text}");
    }
    assert!(!text.contains("# - web redirect URIs"), "{text}");
    assert!(!text.contains("# - app roles"), "{text}");
    let m = t.write_manifest("made.toml", &text);
    let out = t
        .provision(&["plan", m.to_str().unwrap(), "--detailed-exitcode"])
        .await;
    assert_eq!(
        code(&out),
        0,
        "import then plan must show no changes: {}\n{text}",
        transcript(&out)
    );
}

// --- the emulator: Graph's rules and errors -----------------------------------------------------

async fn new_app(t: &Tenant, body: Value) -> String {
    let (status, v) = t.graph(Method::POST, "/applications", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

fn scope(id: &str, value: &str, enabled: bool, description: &str) -> Value {
    json!({
        "id": id, "value": value, "type": "User", "isEnabled": enabled,
        "adminConsentDisplayName": value, "adminConsentDescription": description,
        "userConsentDisplayName": null, "userConsentDescription": null
    })
}

fn role(id: &str, value: &str, enabled: bool, name: &str) -> Value {
    json!({
        "id": id, "value": value, "displayName": name, "description": name,
        "allowedMemberTypes": ["User"], "isEnabled": enabled
    })
}

const S1: &str = "11111111-1111-4111-8111-111111111111";
const S2: &str = "22222222-2222-4222-8222-222222222222";
const R1: &str = "33333333-3333-4333-8333-333333333333";

async fn patch(t: &Tenant, id: &str, body: Value) -> (u16, Value) {
    t.graph(Method::PATCH, &format!("/applications/{id}"), Some(body))
        .await
}

fn assert_error(got: (u16, Value), status: u16, code: &str, message: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert_eq!(got.1["error"]["message"], message, "{}", got.1);
}

const ENABLED: &str = "Permission (scope or role) cannot be deleted or updated unless disabled first.";

#[tokio::test(flavor = "multi_thread")]
async fn emulator_refuses_removing_or_changing_an_enabled_scope_or_role() {
    let t = Tenant::start().await;
    let id = new_app(
        &t,
        json!({
            "displayName": "Entitlements",
            "api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a"), scope(S2, "B.Read", true, "b")]},
            "appRoles": [role(R1, "Reader", true, "Readers")]
        }),
    )
    .await;
    // Removing an enabled scope, or changing one, is refused with Graph's code and text.
    let removed = patch(
        &t,
        &id,
        json!({"api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a")]}}),
    )
    .await;
    assert_error(removed, 400, "CannotDeleteOrUpdateEnabledEntitlement", ENABLED);
    let changed = patch(
        &t,
        &id,
        json!({"api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "changed"), scope(S2, "B.Read", true, "b")]}}),
    )
    .await;
    assert_error(changed, 400, "CannotDeleteOrUpdateEnabledEntitlement", ENABLED);
    let role_renamed = patch(
        &t,
        &id,
        json!({"appRoles": [role(R1, "Reader", true, "Renamed")]}),
    )
    .await;
    assert_error(
        role_renamed,
        400,
        "CannotDeleteOrUpdateEnabledEntitlement",
        ENABLED,
    );
    assert_error(
        patch(&t, &id, json!({"appRoles": []})).await,
        400,
        "CannotDeleteOrUpdateEnabledEntitlement",
        ENABLED,
    );
    // Disabled first (one PATCH), removed next (another): both accepted.
    let (s, v) = patch(
        &t,
        &id,
        json!({"api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a"), scope(S2, "B.Read", false, "b")]},
               "appRoles": [role(R1, "Reader", false, "Readers")]}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = patch(
        &t,
        &id,
        json!({"api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a")]}, "appRoles": []}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let app = t.get(&format!("/applications/{id}")).await;
    assert_eq!(app["api"]["oauth2PermissionScopes"].as_array().unwrap().len(), 1);
    assert_eq!(app["appRoles"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn emulator_refuses_duplicate_values_bad_uris_and_token_versions() {
    let t = Tenant::start().await;
    // Duplicate scope values: 400 DuplicateValue naming the property.
    let (s, v) = t
        .graph(
            Method::POST,
            "/applications",
            Some(json!({"displayName": "Dup", "api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a"), scope(S2, "a.read", true, "b")]}})),
        )
        .await;
    assert_error(
        (s, v.clone()),
        400,
        "DuplicateValue",
        "Request contains a property with duplicate values.",
    );
    assert_eq!(
        v["error"]["details"][0]["target"], "oauth2PermissionScopes",
        "{v}"
    );
    // A role that reuses a scope's value under another id.
    let (s, v) = t
        .graph(
            Method::POST,
            "/applications",
            Some(json!({"displayName": "Dup", "api": {"oauth2PermissionScopes": [scope(S1, "A.Read", true, "a")]},
                        "appRoles": [role(R1, "A.Read", true, "x")]})),
        )
        .await;
    assert_error(
        (s, v),
        400,
        "DuplicateValue",
        "Request contains a property with duplicate values.",
    );

    let id = new_app(
        &t,
        json!({"displayName": "Uris", "signInAudience": "AzureADMyOrg"}),
    )
    .await;
    // identifierUris: https needs a verified domain of the tenant; api:// does not.
    assert_error(
        patch(
            &t,
            &id,
            json!({"identifierUris": ["https://contoso.example/api"]}),
        )
        .await,
        400,
        "HostNameNotOnVerifiedDomain",
        "Values of identifierUris property must use a verified domain of the organization or its subdomain: 'https://contoso.example/api'",
    );
    let domain = t.emu.ready.tenant_domain.clone();
    let (s, v) = patch(
        &t,
        &id,
        json!({"identifierUris": ["api://uris", format!("https://api.{domain}/x")]}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    // Redirect URIs per platform: web and SPA need https (http only on localhost), no wildcard.
    let invalid = |p: &str| format!("Invalid value specified for property '{p}' of resource 'Application'.");
    for (body, property) in [
        (
            json!({"web": {"redirectUris": ["http://app.contoso.com/cb"]}}),
            "web",
        ),
        (
            json!({"web": {"redirectUris": ["https://*.contoso.com/cb"]}}),
            "web",
        ),
        (json!({"spa": {"redirectUris": ["myapp://callback"]}}), "spa"),
        (json!({"web": {"logoutUrl": "not a url"}}), "web"),
    ] {
        assert_error(
            patch(&t, &id, body).await,
            400,
            "Request_BadRequest",
            &invalid(property),
        );
    }
    let (s, v) = patch(&t, &id, json!({"web": {"redirectUris": ["http://localhost:5000/cb"]}, "spa": {"redirectUris": ["https://spa.contoso.com"]}})).await;
    assert_eq!(s, 204, "{v}");
    // At most 256 redirect URIs over every platform (100 with personal accounts).
    let many = |n: usize, host: &str| (0..n).map(|i| format!("https://{host}/{i}")).collect::<Vec<_>>();
    let (s, v) = patch(
        &t,
        &id,
        json!({"web": {"redirectUris": many(200, "web.contoso.com")}}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    assert_error(
        patch(
            &t,
            &id,
            json!({"spa": {"redirectUris": many(57, "spa.contoso.com")}}),
        )
        .await,
        400,
        "Request_BadRequest",
        &invalid("web"),
    );
    let (s, v) = patch(
        &t,
        &id,
        json!({"spa": {"redirectUris": many(56, "spa.contoso.com")}}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = patch(
        &t,
        &id,
        json!({"web": {"redirectUris": []}, "spa": {"redirectUris": []}}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    // requestedAccessTokenVersion: 1 or 2, and 2 where personal accounts sign in.
    assert_error(
        patch(&t, &id, json!({"api": {"requestedAccessTokenVersion": 3}})).await,
        400,
        "Request_BadRequest",
        &invalid("api"),
    );
    assert_error(
        patch(&t, &id, json!({"signInAudience": "AzureADandPersonalMicrosoftAccount", "api": {"requestedAccessTokenVersion": 1}})).await,
        400,
        "Request_BadRequest",
        "Property api.requestedAccessTokenVersion is invalid.",
    );
    let (s, v) = patch(&t, &id, json!({"signInAudience": "AzureADandPersonalMicrosoftAccount", "api": {"requestedAccessTokenVersion": 2}})).await;
    assert_eq!(s, 204, "{v}");
}

/// What a new application shows for these properties, as Graph returns them: empty collections,
/// implicit grants off, version 2 only where personal accounts may sign in.
#[tokio::test(flavor = "multi_thread")]
async fn emulator_defaults_for_web_spa_api_and_roles() {
    let t = Tenant::start().await;
    let id = new_app(
        &t,
        json!({"displayName": "Defaults", "signInAudience": "AzureADMyOrg"}),
    )
    .await;
    let app = t.get(&format!("/applications/{id}")).await;
    assert_eq!(
        app["web"],
        json!({"homePageUrl": null, "logoutUrl": null, "redirectUris": [],
               "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}})
    );
    assert_eq!(app["spa"], json!({"redirectUris": []}));
    assert_eq!(app["identifierUris"], json!([]));
    assert_eq!(app["appRoles"], json!([]));
    assert_eq!(app["api"]["oauth2PermissionScopes"], json!([]));
    assert_eq!(app["api"]["requestedAccessTokenVersion"], Value::Null);

    // A role written without `origin` comes back with Graph's; the objects hold exactly the
    // properties the v1.0 schema declares for `appRole` and `apiApplication`.
    let (s, v) = patch(
        &t,
        &id,
        json!({"appRoles": [role(R1, "Reader", true, "Readers")]}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let app = t.get(&format!("/applications/{id}")).await;
    let sorted = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let mut declared = csdl_properties("appRole");
    declared.sort();
    assert_eq!(sorted(&app["appRoles"][0]), declared);
    assert_eq!(app["appRoles"][0]["origin"], "Application");
    let mut declared = csdl_properties("apiApplication");
    declared.sort();
    assert_eq!(sorted(&app["api"]), declared);
}

/// The plan of a new app with every property: each field with `+`, scopes and roles with the
/// ids apply will write (derived, so the same on every run), `api://{app_id}` shown as such.
#[tokio::test(flavor = "multi_thread")]
async fn plan_of_a_new_app_shows_every_field_and_the_ids_apply_will_write() {
    let t = Tenant::start().await;
    let m = t.manifest("orders-web-api.toml");
    let m = m.to_str().unwrap();
    let out = t.provision(&["plan", m, "--detailed-exitcode"]).await;
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    let again = t.provision(&["plan", m]).await;
    assert_eq!(stdout(&again), stdout(&out), "the same ids on every plan");
    let mut s = insta::Settings::clone_current();
    s.add_filter(&t.emu.ready.tenant_id, "[TENANT_ID]");
    s.add_filter(r"127\.0\.0\.1:\d+", "[HOST]");
    s.bind(|| insta::assert_snapshot!("app_props_plan_create", transcript(&out)));
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let app = t.get("/applications(uniqueName='orders-web-api')").await;
    let id = by_value(&app["api"]["oauth2PermissionScopes"], "Orders.Read")["id"].clone();
    assert_eq!(
        id,
        provision::plan::derived_id("orders-web-api", "scope", "Orders.Read")
    );
}
