//! The application properties beyond the public client (issue 17): web, SPA, identifier URIs,
//! the access token version, and the scopes and app roles the app defines. Each is compared with
//! what Graph holds, shown field by field, and written into the application's PATCH body. Pure.
//!
//! Scopes and app roles keep their ids: the manifest may pin one; otherwise the existing entry
//! of the same value (compared without case) keeps its id, and a new one gets an id derived from
//! the app's unique name and the value, so every plan of the same manifest shows the same id and
//! a rerun after a failed apply writes the same one. Graph refuses to remove or change a scope or
//! role that is enabled ("Permission (scope or role) cannot be deleted or updated unless disabled
//! first", 400 `CannotDeleteOrUpdateEnabledEntitlement`), so such a change comes with a first
//! PATCH that only disables them, as terraform-provider-azuread does
//! (`applicationDisableOauth2PermissionScopes`, `applicationDisableAppRoles`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::FieldChange;
use crate::graph::types::{AppRole, Application, PermissionScope};
use crate::model::{AppRoleDef, DesiredApp, ScopeDef};

/// The id a new scope or role gets when the manifest pins none: a version-4-shaped UUID from
/// the SHA-256 of the app's unique name, the kind and the value (lower case).
pub fn derived_id(unique_name: &str, kind: &str, value: &str) -> String {
    let digest = sha2::Sha256::digest(format!(
        "provision/{}/{kind}/{}",
        unique_name.to_lowercase(),
        value.to_lowercase()
    ));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Text Graph may hold as null or "": the same to the manifest.
fn text(v: Option<&str>) -> Value {
    match v {
        None | Some("") => Value::Null,
        Some(s) => json!(s),
    }
}

fn set_of(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

/// Stands for the application's appId in an identifier URI (`api://{app_id}`, the default
/// Application ID URI the portal offers): replaced by the appId when the app exists; for a new
/// app written in a second PATCH once Graph has given it one.
pub const APP_ID_PLACEHOLDER: &str = "{app_id}";

/// Adds the field changes and the PATCH body entries of the properties the manifest sets;
/// returns the body of the disabling PATCH that must go first, if one is needed.
/// `after_create` gets what must wait for a new app's appId.
pub(super) fn plan(
    app: &DesiredApp,
    cur: &Application,
    exists: bool,
    fields: &mut Vec<FieldChange>,
    body: &mut Map<String, Value>,
    after_create: &mut Option<Value>,
) -> Option<Value> {
    let p = &app.props;
    let before = |v: Value| if exists { v } else { Value::Null };
    let mut change = |name: String, b: Value, a: Value| {
        let b = before(b);
        if b != a {
            fields.push(FieldChange {
                name,
                before: b,
                after: a,
            });
            true
        } else {
            false
        }
    };

    if let Some(web) = &p.web {
        let cw = cur.web.clone().unwrap_or_default();
        let grants = cw.implicit_grant_settings.clone().unwrap_or_default();
        let mut changed = false;
        if set_of(&cw.redirect_uris) != set_of(&web.redirect_uris) || !exists {
            changed |= change(
                "web.redirect_uris".into(),
                json!(cw.redirect_uris),
                json!(web.redirect_uris),
            );
        }
        if let Some(u) = &web.home_page_url {
            changed |= change(
                "web.home_page_url".into(),
                text(cw.home_page_url.as_deref()),
                json!(u),
            );
        }
        if let Some(u) = &web.logout_url {
            changed |= change("web.logout_url".into(), text(cw.logout_url.as_deref()), json!(u));
        }
        let id_tokens = grants.enable_id_token_issuance.unwrap_or(false);
        let access_tokens = grants.enable_access_token_issuance.unwrap_or(false);
        if let Some(b) = web.enable_id_token_issuance {
            changed |= change("web.enable_id_token_issuance".into(), json!(id_tokens), json!(b));
        }
        if let Some(b) = web.enable_access_token_issuance {
            changed |= change(
                "web.enable_access_token_issuance".into(),
                json!(access_tokens),
                json!(b),
            );
        }
        if changed {
            // The whole `web` object, with what the manifest does not set as Graph holds it.
            body.insert(
                "web".into(),
                json!({
                    "redirectUris": web.redirect_uris,
                    "homePageUrl": web.home_page_url.clone().or(cw.home_page_url),
                    "logoutUrl": web.logout_url.clone().or(cw.logout_url),
                    "implicitGrantSettings": {
                        "enableIdTokenIssuance": web.enable_id_token_issuance.unwrap_or(id_tokens),
                        "enableAccessTokenIssuance": web.enable_access_token_issuance.unwrap_or(access_tokens),
                    }
                }),
            );
        }
    }
    if let Some(spa) = &p.spa {
        let cur_uris = cur.spa.clone().unwrap_or_default().redirect_uris;
        if (set_of(&cur_uris) != set_of(&spa.redirect_uris) || !exists)
            && change(
                "spa.redirect_uris".into(),
                json!(cur_uris),
                json!(spa.redirect_uris),
            )
        {
            body.insert("spa".into(), json!({ "redirectUris": spa.redirect_uris }));
        }
    }
    if let Some(uris) = &p.identifier_uris
        && !exists
        && uris.iter().any(|u| u.contains(APP_ID_PLACEHOLDER))
    {
        // Shown with the placeholder: the appId is known only after the create.
        change("identifier_uris".into(), Value::Null, json!(uris));
        *after_create = Some(json!({ "identifierUris": uris }));
    } else if let Some(uris) = &p.identifier_uris {
        let uris: Vec<String> = uris
            .iter()
            .map(|u| u.replace(APP_ID_PLACEHOLDER, &cur.app_id))
            .collect();
        let uris = &uris;
        let lower = |l: &[String]| l.iter().map(|u| u.to_lowercase()).collect::<BTreeSet<_>>();
        if (lower(&cur.identifier_uris) != lower(uris) || !exists)
            && change("identifier_uris".into(), json!(cur.identifier_uris), json!(uris))
        {
            body.insert("identifierUris".into(), json!(uris));
        }
    }

    let cur_api = cur.api.clone().unwrap_or_default();
    let mut api = Map::new();
    if let Some(v) = p.requested_access_token_version {
        // Graph's null means v1 tokens (apiApplication: "If the value is null, this defaults
        // to 1").
        let have = cur_api.requested_access_token_version.unwrap_or(1);
        let b = if cur_api.requested_access_token_version.is_none() && v == 1 {
            json!(1)
        } else {
            json!(have)
        };
        if change("api.requested_access_token_version".into(), b, json!(v)) {
            api.insert("requestedAccessTokenVersion".into(), json!(v));
        }
    }
    let mut disable = Map::new();
    if let Some(scopes) = &p.scopes {
        let existing = &cur_api.oauth2_permission_scopes;
        let wanted: Vec<Value> = scopes
            .iter()
            .map(|s| scope_json(s, scope_id(&app.unique_name, s, existing)))
            .collect();
        let have: Vec<Value> = existing.iter().map(observed_scope).collect();
        let (changed, off) = entitlements("api.scopes", &have, &wanted, exists, &SCOPE_FIELDS, fields);
        if changed {
            api.insert("oauth2PermissionScopes".into(), Value::Array(wanted));
        }
        if let Some(list) = off {
            disable.insert("api".into(), json!({ "oauth2PermissionScopes": list }));
        }
    }
    if !api.is_empty() {
        body.insert("api".into(), Value::Object(api));
    }
    if let Some(roles) = &p.app_roles {
        let wanted: Vec<Value> = roles
            .iter()
            .map(|r| role_json(r, role_id(&app.unique_name, r, &cur.app_roles)))
            .collect();
        let have: Vec<Value> = cur.app_roles.iter().map(observed_role).collect();
        let (changed, off) = entitlements("app_roles", &have, &wanted, exists, &ROLE_FIELDS, fields);
        if changed {
            body.insert("appRoles".into(), Value::Array(wanted));
        }
        if let Some(list) = off {
            disable.insert("appRoles".into(), list);
        }
    }
    (!disable.is_empty()).then_some(Value::Object(disable))
}

/// Manifest name and Graph name of the properties compared, `value` and `id` excepted.
const SCOPE_FIELDS: [(&str, &str); 6] = [
    ("type", "type"),
    ("admin_consent_display_name", "adminConsentDisplayName"),
    ("admin_consent_description", "adminConsentDescription"),
    ("user_consent_display_name", "userConsentDisplayName"),
    ("user_consent_description", "userConsentDescription"),
    ("enabled", "isEnabled"),
];
const ROLE_FIELDS: [(&str, &str); 4] = [
    ("display_name", "displayName"),
    ("description", "description"),
    ("allowed_member_types", "allowedMemberTypes"),
    ("enabled", "isEnabled"),
];

fn scope_id(unique_name: &str, s: &ScopeDef, existing: &[PermissionScope]) -> String {
    s.id.clone()
        .or_else(|| {
            existing
                .iter()
                .find(|e| {
                    e.value
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case(&s.value))
                })
                .map(|e| e.id.to_lowercase())
        })
        .unwrap_or_else(|| derived_id(unique_name, "scope", &s.value))
}

fn role_id(unique_name: &str, r: &AppRoleDef, existing: &[AppRole]) -> String {
    r.id.clone()
        .or_else(|| {
            existing
                .iter()
                .find(|e| {
                    e.value
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case(&r.value))
                })
                .map(|e| e.id.to_lowercase())
        })
        .unwrap_or_else(|| derived_id(unique_name, "app_role", &r.value))
}

fn scope_json(s: &ScopeDef, id: String) -> Value {
    json!({
        "adminConsentDescription": s.admin_consent_description,
        "adminConsentDisplayName": s.admin_consent_display_name,
        "id": id,
        "isEnabled": s.enabled,
        "type": s.kind,
        "userConsentDescription": s.user_consent_description,
        "userConsentDisplayName": s.user_consent_display_name,
        "value": s.value,
    })
}

fn role_json(r: &AppRoleDef, id: String) -> Value {
    json!({
        "allowedMemberTypes": r.allowed_member_types,
        "description": r.description,
        "displayName": r.display_name,
        "id": id,
        "isEnabled": r.enabled,
        "origin": "Application",
        "value": r.value,
    })
}

/// A scope as Graph holds it, in the shape [`scope_json`] writes.
fn observed_scope(s: &PermissionScope) -> Value {
    json!({
        "adminConsentDescription": s.admin_consent_description,
        "adminConsentDisplayName": s.admin_consent_display_name,
        "id": s.id.to_lowercase(),
        "isEnabled": s.is_enabled.unwrap_or(true),
        "type": s.kind,
        "userConsentDescription": s.user_consent_description,
        "userConsentDisplayName": s.user_consent_display_name,
        "value": s.value,
    })
}

fn observed_role(r: &AppRole) -> Value {
    let mut types = r.allowed_member_types.clone();
    types.sort();
    json!({
        "allowedMemberTypes": types,
        "description": r.description,
        "displayName": r.display_name,
        "id": r.id.to_lowercase(),
        "isEnabled": r.is_enabled.unwrap_or(true),
        "origin": "Application",
        "value": r.value,
    })
}

/// A property of a scope or role for comparison: "" and null are the same, member types a set.
fn norm(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(a) => {
            let mut a = a.clone();
            a.sort_by_key(Value::to_string);
            Value::Array(a)
        }
        other => other.clone(),
    }
}

/// Compare scopes or roles by id; push one field change per property that differs (and one
/// per entry added or removed). Returns whether the collection must be written, and the list to
/// write first when enabled entries are removed or changed (those entries disabled, the rest as
/// they are).
fn entitlements(
    prefix: &str,
    have: &[Value],
    wanted: &[Value],
    exists: bool,
    props: &[(&str, &str)],
    fields: &mut Vec<FieldChange>,
) -> (bool, Option<Value>) {
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let label = |v: &Value| v["value"].as_str().map_or_else(|| id(v), str::to_owned);
    let mut changed = !exists && !wanted.is_empty();
    let mut to_disable: BTreeSet<String> = BTreeSet::new();
    for w in wanted {
        let name = format!("{prefix}[{}]", label(w));
        match have.iter().find(|h| id(h) == id(w)) {
            None => {
                changed = true;
                fields.push(FieldChange {
                    name: format!("{name}.id"),
                    before: Value::Null,
                    after: w["id"].clone(),
                });
                for (key, graph) in props.iter().filter(|(_, g)| !w[*g].is_null()) {
                    fields.push(FieldChange {
                        name: format!("{name}.{key}"),
                        before: Value::Null,
                        after: w[*graph].clone(),
                    });
                }
            }
            Some(h) => {
                let mut differs = false;
                for (key, graph) in std::iter::once(&("value", "value")).chain(props) {
                    if norm(&h[*graph]) != norm(&w[*graph]) {
                        differs = true;
                        fields.push(FieldChange {
                            name: format!("{name}.{key}"),
                            before: h[*graph].clone(),
                            after: w[*graph].clone(),
                        });
                    }
                }
                if differs {
                    changed = true;
                    // Anything but `isEnabled` alone, on an enabled entry, needs it disabled first.
                    let only_enabled = ["value"]
                        .iter()
                        .chain(props.iter().map(|(_, g)| g).filter(|g| **g != "isEnabled"))
                        .all(|g| norm(&h[*g]) == norm(&w[*g]));
                    if h["isEnabled"] == json!(true) && !only_enabled {
                        to_disable.insert(id(h));
                    }
                }
            }
        }
    }
    for h in have {
        if !wanted.iter().any(|w| id(w) == id(h)) {
            changed = true;
            fields.push(FieldChange {
                name: format!("{prefix}[{}]", label(h)),
                before: json!({ "id": id(h), "enabled": h["isEnabled"] }),
                after: Value::Null,
            });
            if h["isEnabled"] == json!(true) {
                to_disable.insert(id(h));
            }
        }
    }
    let disable = (!to_disable.is_empty()).then(|| {
        Value::Array(
            have.iter()
                .map(|h| {
                    let mut h = h.clone();
                    if to_disable.contains(&id(&h)) {
                        h["isEnabled"] = json!(false);
                    }
                    h
                })
                .collect(),
        )
    });
    (changed, disable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppProps, ConsentMode, Location, SignInAudience, Spa, Web};

    fn app(scopes: Vec<ScopeDef>, roles: Option<Vec<AppRoleDef>>) -> DesiredApp {
        DesiredApp {
            unique_name: "orders".into(),
            app_id: None,
            display_name: "Orders".into(),
            sign_in_audience: SignInAudience::AzureADMyOrg,
            notes: None,
            tags: Default::default(),
            public_client: None,
            api_permissions: Vec::new(),
            consent: ConsentMode::Admin,
            props: AppProps {
                scopes: Some(scopes),
                app_roles: roles,
                ..Default::default()
            },
            location: Location::default(),
            passwords: None,
            certificates: None,
            owners: None,
            federated_credentials: None,
        }
    }

    fn scope(value: &str, description: &str) -> ScopeDef {
        ScopeDef {
            id: None,
            value: value.into(),
            kind: "User".into(),
            admin_consent_display_name: value.into(),
            admin_consent_description: description.into(),
            user_consent_display_name: None,
            user_consent_description: None,
            enabled: true,
            location: Location::default(),
        }
    }

    fn observed(id: &str, value: &str, description: &str, enabled: bool) -> PermissionScope {
        PermissionScope {
            id: id.into(),
            value: Some(value.into()),
            kind: Some("User".into()),
            is_enabled: Some(enabled),
            admin_consent_display_name: Some(value.into()),
            admin_consent_description: Some(description.into()),
            user_consent_display_name: None,
            user_consent_description: Some(String::new()),
        }
    }

    fn run(app: &DesiredApp, cur: &Application) -> (Vec<FieldChange>, Map<String, Value>, Option<Value>) {
        let mut fields = Vec::new();
        let mut body = Map::new();
        let disable = plan(app, cur, true, &mut fields, &mut body, &mut None);
        (fields, body, disable)
    }

    const A: &str = "11111111-1111-4111-8111-111111111111";
    const B: &str = "22222222-2222-4222-8222-222222222222";

    fn with_scopes(scopes: Vec<PermissionScope>) -> Application {
        Application {
            api: Some(crate::graph::types::ApiApplication {
                oauth2_permission_scopes: scopes,
                requested_access_token_version: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = derived_id("orders", "scope", "Orders.Read");
        assert_eq!(a, derived_id("ORDERS", "scope", "orders.read"));
        assert_ne!(a, derived_id("orders", "app_role", "Orders.Read"));
        assert_ne!(a, derived_id("other", "scope", "Orders.Read"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn an_existing_scope_keeps_its_id_and_null_text_equals_empty() {
        let cur = with_scopes(vec![observed(A, "Orders.Read", "read", true)]);
        let (fields, body, disable) = run(&app(vec![scope("orders.read", "read")], None), &cur);
        // The value's case differs (and the display name made from it): written with the
        // existing id, and disabled first.
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert_eq!(fields[0].name, "api.scopes[orders.read].value");
        assert_eq!(body["api"]["oauth2PermissionScopes"][0]["id"], A);
        assert!(disable.is_some());
        let (fields, body, disable) = run(&app(vec![scope("Orders.Read", "read")], None), &cur);
        assert!(
            fields.is_empty() && body.is_empty() && disable.is_none(),
            "{fields:?}"
        );
    }

    #[test]
    fn removing_an_enabled_scope_disables_it_first_a_disabled_one_not() {
        let cur = with_scopes(vec![
            observed(A, "Orders.Read", "read", true),
            observed(B, "Orders.Old", "old", true),
        ]);
        let (fields, body, disable) = run(&app(vec![scope("Orders.Read", "read")], None), &cur);
        assert_eq!(fields[0].name, "api.scopes[Orders.Old]");
        assert_eq!(fields[0].after, Value::Null);
        assert_eq!(body["api"]["oauth2PermissionScopes"].as_array().unwrap().len(), 1);
        let first = disable.unwrap();
        let list = first["api"]["oauth2PermissionScopes"].as_array().unwrap();
        assert_eq!(list.len(), 2, "the disabling PATCH keeps every scope");
        assert_eq!(list[0]["isEnabled"], true);
        assert_eq!(list[1]["isEnabled"], false);

        let cur = with_scopes(vec![
            observed(A, "Orders.Read", "read", true),
            observed(B, "Orders.Old", "old", false),
        ]);
        let (_, body, disable) = run(&app(vec![scope("Orders.Read", "read")], None), &cur);
        assert!(disable.is_none(), "already disabled: removed in one PATCH");
        assert!(body.contains_key("api"));
        // Turning one off alone needs no first PATCH either.
        let mut off = scope("Orders.Read", "read");
        off.enabled = false;
        let cur = with_scopes(vec![observed(A, "Orders.Read", "read", true)]);
        let (fields, _, disable) = run(&app(vec![off], None), &cur);
        assert_eq!(fields[0].name, "api.scopes[Orders.Read].enabled");
        assert!(disable.is_none());
    }

    #[test]
    fn app_roles_absent_are_left_alone_and_empty_removes_all() {
        let cur = Application {
            app_roles: vec![AppRole {
                id: A.into(),
                value: Some("Reader".into()),
                allowed_member_types: vec!["User".into()],
                is_enabled: Some(true),
                display_name: Some("Readers".into()),
                description: Some("Read".into()),
            }],
            ..Default::default()
        };
        let mut untouched = app(Vec::new(), None);
        untouched.props.scopes = None;
        let (fields, body, _) = run(&untouched, &cur);
        assert!(fields.is_empty() && body.is_empty());
        let (fields, body, disable) = run(&app(Vec::new(), Some(Vec::new())), &cur);
        assert_eq!(fields.len(), 1);
        assert_eq!(body["appRoles"], json!([]));
        assert_eq!(disable.unwrap()["appRoles"][0]["isEnabled"], false);
    }

    fn with_props(props: AppProps) -> DesiredApp {
        let mut a = app(Vec::new(), None);
        a.props = props;
        a
    }

    /// `plan` for an app that exists or not: the field names, the body, the disabling PATCH and
    /// what waits for the create.
    fn run_on(
        app: &DesiredApp,
        cur: &Application,
        exists: bool,
    ) -> (Vec<String>, Map<String, Value>, Option<Value>, Option<Value>) {
        let mut fields = Vec::new();
        let mut body = Map::new();
        let mut after_create = None;
        let disable = plan(app, cur, exists, &mut fields, &mut body, &mut after_create);
        (
            fields.into_iter().map(|f| f.name).collect(),
            body,
            disable,
            after_create,
        )
    }

    #[test]
    fn each_web_property_alone_is_a_change_that_rewrites_the_web_object() {
        let cur = Application {
            web: Some(crate::graph::types::WebApplication {
                redirect_uris: vec![
                    "https://a.contoso.com/cb".into(),
                    "https://b.contoso.com/cb".into(),
                ],
                home_page_url: Some(String::new()),
                logout_url: Some("https://a.contoso.com/logout".into()),
                implicit_grant_settings: Some(crate::graph::types::ImplicitGrantSettings {
                    enable_id_token_issuance: Some(false),
                    enable_access_token_issuance: None,
                }),
            }),
            ..Default::default()
        };
        let same = Web {
            // The same set in another order, and what Graph holds said again.
            redirect_uris: vec![
                "https://b.contoso.com/cb".into(),
                "https://a.contoso.com/cb".into(),
            ],
            home_page_url: None,
            logout_url: Some("https://a.contoso.com/logout".into()),
            enable_id_token_issuance: Some(false),
            enable_access_token_issuance: Some(false),
        };
        let web = |w: Web| {
            with_props(AppProps {
                web: Some(w),
                ..Default::default()
            })
        };
        let (fields, body, _, _) = run_on(&web(same.clone()), &cur, true);
        assert!(fields.is_empty() && body.is_empty(), "{fields:?} {body:?}");

        let cases: [(&str, Web); 5] = [
            (
                "web.redirect_uris",
                Web {
                    redirect_uris: vec!["https://a.contoso.com/cb".into()],
                    ..same.clone()
                },
            ),
            (
                "web.home_page_url",
                Web {
                    home_page_url: Some("https://a.contoso.com/".into()),
                    ..same.clone()
                },
            ),
            (
                "web.logout_url",
                Web {
                    logout_url: Some("https://a.contoso.com/bye".into()),
                    ..same.clone()
                },
            ),
            (
                "web.enable_id_token_issuance",
                Web {
                    enable_id_token_issuance: Some(true),
                    ..same.clone()
                },
            ),
            (
                "web.enable_access_token_issuance",
                Web {
                    enable_access_token_issuance: Some(true),
                    ..same.clone()
                },
            ),
        ];
        for (name, w) in cases {
            let expected = json!({
                "redirectUris": w.redirect_uris,
                "homePageUrl": w.home_page_url.clone().or(Some(String::new())),
                "logoutUrl": w.logout_url,
                "implicitGrantSettings": {
                    "enableIdTokenIssuance": w.enable_id_token_issuance,
                    "enableAccessTokenIssuance": w.enable_access_token_issuance,
                },
            });
            let (fields, body, _, _) = run_on(&web(w), &cur, true);
            assert_eq!(fields, vec![name]);
            assert_eq!(body["web"], expected, "{name}");
        }
        // A new app shows what it sets against nothing.
        let (fields, _, _, _) = run_on(&web(same), &Application::default(), false);
        assert_eq!(fields[0], "web.redirect_uris");
    }

    #[test]
    fn spa_and_identifier_uris_are_compared_as_sets() {
        let cur = Application {
            app_id: "app-1".into(),
            spa: Some(crate::graph::types::RedirectUris {
                redirect_uris: vec!["https://a.contoso.com/".into(), "https://b.contoso.com/".into()],
            }),
            identifier_uris: vec!["API://app-1".into(), "api://orders".into()],
            ..Default::default()
        };
        let spa = |uris: &[&str]| {
            with_props(AppProps {
                spa: Some(Spa {
                    redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
                }),
                ..Default::default()
            })
        };
        let (fields, body, _, _) = run_on(
            &spa(&["https://b.contoso.com/", "https://a.contoso.com/"]),
            &cur,
            true,
        );
        assert!(fields.is_empty() && body.is_empty(), "{fields:?}");
        let (fields, body, _, _) = run_on(&spa(&["https://a.contoso.com/"]), &cur, true);
        assert_eq!(fields, vec!["spa.redirect_uris"]);
        assert_eq!(body["spa"], json!({"redirectUris": ["https://a.contoso.com/"]}));

        let ids = |uris: &[&str]| {
            with_props(AppProps {
                identifier_uris: Some(uris.iter().map(|u| u.to_string()).collect()),
                ..Default::default()
            })
        };
        // The placeholder stands for the existing app's appId; case does not count.
        let (fields, body, _, after) = run_on(&ids(&["api://orders", "api://{app_id}"]), &cur, true);
        assert!(
            fields.is_empty() && body.is_empty() && after.is_none(),
            "{fields:?}"
        );
        let (fields, body, _, after) = run_on(&ids(&["api://{app_id}"]), &cur, true);
        assert_eq!(fields, vec!["identifier_uris"]);
        assert_eq!(body["identifierUris"], json!(["api://app-1"]));
        assert!(after.is_none());
        // A new app has no appId yet: the URIs wait for the create.
        let (fields, body, _, after) = run_on(&ids(&["api://{app_id}"]), &Application::default(), false);
        assert_eq!(fields, vec!["identifier_uris"]);
        assert!(!body.contains_key("identifierUris"));
        assert_eq!(after, Some(json!({"identifierUris": ["api://{app_id}"]})));
    }

    #[test]
    fn a_null_token_version_is_version_1() {
        let version = |v: u8| {
            with_props(AppProps {
                requested_access_token_version: Some(v),
                ..Default::default()
            })
        };
        let holding = |v: Option<i64>| Application {
            api: Some(crate::graph::types::ApiApplication {
                oauth2_permission_scopes: Vec::new(),
                requested_access_token_version: v,
            }),
            ..Default::default()
        };
        let (fields, body, _, _) = run_on(&version(1), &holding(None), true);
        assert!(fields.is_empty() && body.is_empty());
        let (fields, body, _, _) = run_on(&version(1), &holding(Some(2)), true);
        assert_eq!(fields, vec!["api.requested_access_token_version"]);
        assert_eq!(body["api"], json!({"requestedAccessTokenVersion": 1}));
        let (fields, _, _, _) = run_on(&version(2), &holding(None), true);
        assert_eq!(fields, vec!["api.requested_access_token_version"]);
    }

    #[test]
    fn a_new_entry_lists_the_properties_it_sets_and_a_role_keeps_or_derives_its_id() {
        let cur = Application {
            app_roles: vec![AppRole {
                id: A.to_uppercase(),
                value: Some("Reader".into()),
                allowed_member_types: vec!["User".into()],
                is_enabled: Some(true),
                display_name: Some("Readers".into()),
                description: Some("Read".into()),
            }],
            ..Default::default()
        };
        let role = |value: &str| AppRoleDef {
            id: None,
            value: value.into(),
            display_name: "Readers".into(),
            description: "Read".into(),
            allowed_member_types: vec!["User".into()],
            enabled: true,
            location: Location::default(),
        };
        let (fields, body, disable, _) = run_on(
            &app(
                vec![scope("Orders.Read", "read")],
                Some(vec![role("reader"), role("Writer")]),
            ),
            &cur,
            true,
        );
        assert_eq!(
            fields,
            vec![
                "api.scopes[Orders.Read].id",
                "api.scopes[Orders.Read].type",
                "api.scopes[Orders.Read].admin_consent_display_name",
                "api.scopes[Orders.Read].admin_consent_description",
                "api.scopes[Orders.Read].enabled",
                "app_roles[reader].value",
                "app_roles[Writer].id",
                "app_roles[Writer].display_name",
                "app_roles[Writer].description",
                "app_roles[Writer].allowed_member_types",
                "app_roles[Writer].enabled",
            ]
        );
        let role_body = |id: &str, value: &str| {
            json!({
                "allowedMemberTypes": ["User"],
                "description": "Read",
                "displayName": "Readers",
                "id": id,
                "isEnabled": true,
                "origin": "Application",
                "value": value,
            })
        };
        assert_eq!(
            body["appRoles"],
            json!([
                role_body(A, "reader"),
                role_body(&derived_id("orders", "app_role", "Writer"), "Writer")
            ])
        );
        // The value's case changed on an enabled role: disabled first.
        assert_eq!(disable.unwrap()["appRoles"][0]["isEnabled"], false);
    }

    #[test]
    fn a_new_app_with_no_entries_writes_none() {
        let (fields, body, disable, _) =
            run_on(&app(Vec::new(), Some(Vec::new())), &Application::default(), false);
        assert!(
            fields.is_empty() && body.is_empty() && disable.is_none(),
            "{fields:?} {body:?}"
        );
        let (fields, body, _, _) = run_on(
            &app(vec![scope("Orders.Read", "read")], None),
            &Application::default(),
            false,
        );
        assert_eq!(fields[0], "api.scopes[Orders.Read].id");
        assert_eq!(body["api"]["oauth2PermissionScopes"][0]["value"], "Orders.Read");
    }
}
