//! Graph objects → manifest text, checked by parsing the text back with `manifest::parse`.
//! Permission IDs come from the catalog (docs/graph-notes.md §8); object ids of tenant-local objects
//! are random in Graph, so these tests use readable placeholders (`obj(n)`).

use super::*;
use crate::model::{ApiRef, Desired};

const TENANT: &str = "11111111-2222-4333-8444-555555555555";
const MTP: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

/// A tenant-local object id.
fn obj(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

/// A first-party service principal as the emulator seeds it, with a tenant-local object id.
fn known_sp(alias: &str, n: u32) -> ServicePrincipal {
    let mut v = catalog::by_alias(alias).unwrap().service_principal.clone();
    v["id"] = serde_json::json!(obj(n));
    serde_json::from_value(v).unwrap()
}

fn scope_id(alias: &str, value: &str) -> String {
    let k = catalog::by_alias(alias).unwrap();
    k.scopes.iter().find(|s| s.value == value).unwrap().id.clone()
}

fn role_id(alias: &str, value: &str) -> String {
    let k = catalog::by_alias(alias).unwrap();
    k.roles.iter().find(|s| s.value == value).unwrap().id.clone()
}

fn access(resource: &str, list: &[(String, &str)]) -> RequiredResourceAccess {
    RequiredResourceAccess {
        resource_app_id: resource.into(),
        resource_access: list
            .iter()
            .map(|(id, kind)| ResourceAccess {
                id: id.clone(),
                kind: (*kind).into(),
            })
            .collect(),
    }
}

fn grant(resource_sp: &str, consent: &str, scope: &str) -> OAuth2PermissionGrant {
    OAuth2PermissionGrant {
        id: format!("grant-{resource_sp}-{consent}"),
        client_id: obj(2),
        consent_type: consent.into(),
        principal_id: (consent == "Principal").then(|| obj(99)),
        resource_id: resource_sp.into(),
        scope: Some(scope.into()),
    }
}

/// A public client asking for two MTP scopes, both admin-consented.
fn public_client() -> Source {
    let mtp = known_sp("microsoft-threat-protection", 10);
    let application = Application {
        id: obj(1),
        app_id: obj(3),
        unique_name: Some("mtp-api-client".into()),
        display_name: Some("Threat Protection API client".into()),
        sign_in_audience: Some("AzureADMyOrg".into()),
        is_fallback_public_client: Some(true),
        public_client: Some(RedirectUris {
            redirect_uris: vec!["https://portal.azure.com".into()],
        }),
        required_resource_access: vec![access(
            MTP,
            &[
                (scope_id("microsoft-threat-protection", "Incident.Read"), "Scope"),
                (
                    scope_id("microsoft-threat-protection", "AdvancedHunting.Read"),
                    "Scope",
                ),
            ],
        )],
        ..Default::default()
    };
    Source {
        tenant_id: TENANT.into(),
        application: ApplicationDetails {
            application,
            ..Default::default()
        },
        service_principal: Some(ServicePrincipal {
            id: obj(2),
            app_id: obj(3),
            ..Default::default()
        }),
        grants: vec![grant(
            &mtp.id,
            "AllPrincipals",
            "Incident.Read AdvancedHunting.Read",
        )],
        assignments: Vec::new(),
        resources: vec![mtp],
        shared_display_names: BTreeSet::new(),
        owners: Ok(Vec::new()),
        federated_credentials: Ok(Vec::new()),
    }
}

fn named() -> Identity {
    Identity::UniqueName {
        name: "mtp-api-client".into(),
        just_set: false,
    }
}

fn parse(text: &str) -> Desired {
    match crate::manifest::parse("imported.toml", text) {
        Ok(d) => d,
        Err(diags) => panic!("{}\n{text}", diags.render(text)),
    }
}

#[test]
fn exact_consent_is_admin_and_the_manifest_reads_back() {
    let out = manifest(&public_client(), &named()).unwrap();
    assert_eq!(out.consent, ConsentMode::Admin);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let d = parse(&out.text);
    assert_eq!(d.tenant.as_deref(), Some(TENANT));
    let app = &d.apps[0];
    assert_eq!(app.unique_name, "mtp-api-client");
    assert_eq!(app.app_id, None);
    assert_eq!(app.display_name, "Threat Protection API client");
    let pc = app.public_client.as_ref().unwrap();
    assert_eq!(pc.redirect_uris, ["https://portal.azure.com"]);
    assert!(pc.allow_public_client_flows);
    assert_eq!(app.api_permissions.len(), 1);
    let p = &app.api_permissions[0];
    assert_eq!(p.api, ApiRef::Known(MTP.into()));
    assert_eq!(p.api_text, "microsoft-threat-protection");
    assert_eq!(
        p.delegated,
        ["AdvancedHunting.Read", "Incident.Read"].map(String::from).into()
    );
    assert_eq!(app.consent, ConsentMode::Admin);
    // No owners: no `owners` key, so ownership is left alone.
    assert!(!out.text.contains("owners"), "{}", out.text);
}

#[test]
fn partial_consent_is_none_and_says_what_is_consented() {
    let mut src = public_client();
    src.grants = vec![grant(&obj(10), "AllPrincipals", "Incident.Read")];
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(out.consent, ConsentMode::None);
    assert_eq!(parse(&out.text).apps[0].consent, ConsentMode::None);
    assert!(
        out.text
            .contains("#   admin consent given:\n#     Microsoft Threat Protection: Incident.Read\n"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("#   not consented:\n#     Microsoft Threat Protection: AdvancedHunting.Read\n"),
        "{}",
        out.text
    );
    assert!(out.text.contains("grant = \"none\""));
}

#[test]
fn consent_beyond_the_permissions_is_not_admin() {
    // An extra scope in the grant, and an app role assigned that the app does not ask for:
    // with "admin" apply would revoke both.
    let mut src = public_client();
    let graph = known_sp("microsoft-graph", 11);
    src.grants = vec![grant(
        &obj(10),
        "AllPrincipals",
        "Incident.Read AdvancedHunting.Read Incident.ReadWrite",
    )];
    src.assignments = vec![AppRoleAssignment {
        id: "a1".into(),
        app_role_id: role_id("microsoft-graph", "Application.Read.All"),
        principal_id: obj(2),
        resource_id: graph.id.clone(),
        resource_display_name: Some("Microsoft Graph".into()),
    }];
    src.resources.push(graph);
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(out.consent, ConsentMode::None);
    assert!(
        out.text.contains(
            "#   consented but not asked for:\n#     Microsoft Threat Protection: Incident.ReadWrite\n#     Microsoft Graph: Application.Read.All (application)\n"
        ),
        "{}",
        out.text
    );
}

#[test]
fn application_permissions_with_their_assignments_are_admin() {
    let mut src = public_client();
    let graph = known_sp("microsoft-graph", 11);
    src.application.application.required_resource_access.push(access(
        GRAPH,
        &[
            (scope_id("microsoft-graph", "User.Read"), "Scope"),
            (role_id("microsoft-graph", "Application.Read.All"), "Role"),
        ],
    ));
    src.grants.push(grant(&graph.id, "AllPrincipals", "User.Read"));
    // A user's own consent does not count, and is never touched.
    src.grants
        .push(grant(&graph.id, "Principal", "User.Read offline_access"));
    src.assignments = vec![AppRoleAssignment {
        id: "a1".into(),
        app_role_id: role_id("microsoft-graph", "Application.Read.All").to_uppercase(),
        principal_id: obj(2),
        resource_id: graph.id.clone(),
        resource_display_name: Some("Microsoft Graph".into()),
    }];
    src.resources.push(graph);
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(out.consent, ConsentMode::Admin, "{}", out.text);
    let d = parse(&out.text);
    let p = &d.apps[0].api_permissions[1];
    assert_eq!(p.api, ApiRef::Known(GRAPH.into()));
    assert_eq!(p.application, ["Application.Read.All".to_owned()].into());
    assert!(
        out.text.contains(
            "# - user consent (Principal grants): Microsoft Graph: User.Read offline_access (1 user)"
        ),
        "{}",
        out.text
    );
}

#[test]
fn no_unique_name_pins_the_app_id() {
    let mut src = public_client();
    src.application.application.unique_name = None;
    let name = slug("Threat Protection API client", &obj(3));
    assert_eq!(name, "threat-protection-api-client");
    let out = manifest(&src, &Identity::Pinned { name: name.clone() }).unwrap();
    let app = &parse(&out.text).apps[0];
    assert_eq!(app.unique_name, name);
    assert_eq!(app.app_id.as_deref(), Some(obj(3).as_str()));
    assert!(out.text.contains(&format!(
        "#   provision import --app-id {} --set-unique-name threat-protection-api-client\n",
        obj(3)
    )));
}

#[test]
fn what_the_manifest_cannot_hold_becomes_comments_without_secrets() {
    let mut src = public_client();
    let a = &mut src.application.application;
    a.web = Some(WebApplication {
        redirect_uris: vec!["https://app.contoso.com/signin-oidc".into()],
        home_page_url: None,
        logout_url: None,
        implicit_grant_settings: None,
    });
    a.spa = Some(RedirectUris {
        redirect_uris: vec!["https://spa.contoso.com".into()],
    });
    a.identifier_uris = vec![format!("api://{}", obj(3))];
    a.password_credentials = vec![serde_json::json!({
        "keyId": obj(50), "displayName": "ci", "hint": "Zx9", "endDateTime": "2027-01-01T00:00:00Z",
        "secretText": null
    })];
    a.key_credentials = vec![serde_json::json!({
        "keyId": obj(51), "displayName": "CN=deploy", "type": "AsymmetricX509Cert", "usage": "Verify",
        "key": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
    })];
    src.application.application.app_roles = vec![AppRole {
        id: obj(60),
        value: Some("Reports.Read".into()),
        allowed_member_types: vec!["User".into(), "Application".into()],
        is_enabled: Some(true),
        ..Default::default()
    }];
    src.owners = Ok(vec![DirectoryObject {
        id: obj(70),
        odata_type: Some("#microsoft.graph.user".into()),
        display_name: Some("Adele Vance".into()),
        user_principal_name: Some("adele@contoso.onmicrosoft.com".into()),
        app_id: None,
    }]);
    src.federated_credentials = Err("403 Authorization_RequestDenied".into());
    let out = manifest(&src, &named()).unwrap();
    let t = &out.text;
    // Web, SPA and identifier URIs are keys now (issue 17).
    let props = &parse(t).apps[0].props;
    assert_eq!(
        props.web.as_ref().unwrap().redirect_uris,
        ["https://app.contoso.com/signin-oidc"]
    );
    assert_eq!(
        props.spa.as_ref().unwrap().redirect_uris,
        ["https://spa.contoso.com"]
    );
    assert_eq!(
        props.identifier_uris.as_deref().unwrap(),
        ["api://{app_id}"],
        "the app's own `api://<appId>` is written as the placeholder"
    );
    // A role without display name and description cannot be written: all roles stay as they are.
    assert_eq!(props.app_roles, None);
    for line in [
        "# - app roles the app defines, because the manifest cannot hold app role `Reports.Read` without display name or description\n",
        // Issue 17: a password with a display name is a key (never its value); a key credential
        // without a thumbprint cannot be named by one, so the certificates stay a comment.
        "[[app.passwords]]\ndisplay_name = \"ci\"\nend_date = \"2027-01-01T00:00:00Z\"\n",
        "secret_in_output = false\n",
        &format!(
            "# - certificates (not all `Verify` certificates with a thumbprint and a display name of their own): CN=deploy (AsymmetricX509Cert Verify, keyId {})\n",
            obj(51)
        ),
        "owners = [\n  \"adele@contoso.onmicrosoft.com\",\n]\n",
        "# - federated credentials: not read (403 Authorization_RequestDenied)\n",
    ] {
        assert!(t.contains(line), "missing {line:?} in\n{t}");
    }
    assert!(!t.contains("Zx9"), "the secret hint leaked:\n{t}");
    assert!(!t.contains("MIIB"), "the key leaked:\n{t}");
    assert!(!t.contains("[[app.certificates]]"), "{t}");
    // The web and SPA platforms do not change what the manifest says.
    assert_eq!(out.consent, ConsentMode::Admin);
}

#[test]
fn public_client_uris_the_manifest_refuses_leave_the_section_out() {
    let mut src = public_client();
    src.application.application.public_client = Some(RedirectUris {
        redirect_uris: vec![
            "https://portal.azure.com".into(),
            format!("msal{}://auth", obj(3)),
        ],
    });
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(parse(&out.text).apps[0].public_client, None);
    assert!(out.text.contains(&format!(
        "public-client settings, because the manifest does not accept the redirect URI(s) msal{}://auth",
        obj(3)
    )));
}

#[test]
fn other_apis_by_display_name_unless_shared_and_unknown_ids_warn() {
    let mut src = public_client();
    let api = ServicePrincipal {
        id: obj(20),
        app_id: obj(21),
        display_name: Some("Contoso \"Orders\" API".into()),
        oauth2_permission_scopes: vec![PermissionScope {
            id: obj(22),
            value: Some("Orders.Read".into()),
            kind: Some("User".into()),
            is_enabled: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    };
    src.application
        .application
        .required_resource_access
        .push(access(&obj(21), &[(obj(22), "Scope"), (obj(23), "Scope")]));
    src.resources.push(api);
    src.grants = vec![grant(
        &obj(10),
        "AllPrincipals",
        "Incident.Read AdvancedHunting.Read",
    )];
    let out = manifest(&src, &named()).unwrap();
    let p = &parse(&out.text).apps[0].api_permissions[1];
    assert_eq!(p.api, ApiRef::Name("Contoso \"Orders\" API".into()));
    assert_eq!(p.delegated, ["Orders.Read".to_owned()].into());
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains(&obj(23)), "{:?}", out.warnings);
    // Not admin: Orders.Read has no grant.
    assert_eq!(out.consent, ConsentMode::None);

    src.shared_display_names.insert("contoso \"orders\" api".into());
    let out = manifest(&src, &named()).unwrap();
    let p = &parse(&out.text).apps[0].api_permissions[1];
    assert_eq!(p.api, ApiRef::AppId(obj(21)));
    assert!(
        out.text
            .contains(&format!("api = \"{}\"  # Contoso \"Orders\" API\n", obj(21)))
    );
}

#[test]
fn an_api_without_service_principal_cannot_be_named() {
    let mut src = public_client();
    src.application
        .application
        .required_resource_access
        .push(access(&obj(30), &[(obj(31), "Role")]));
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(parse(&out.text).apps[0].api_permissions.len(), 1);
    assert!(
        out.warnings.iter().any(|w| w.contains(&obj(30))),
        "{:?}",
        out.warnings
    );
    assert!(out.text.contains(&format!(
        "# - permissions on API {}, which has no service principal in this tenant: {} (Role)\n",
        obj(30),
        obj(31)
    )));
}

#[test]
fn missing_service_principals_are_warnings_and_not_admin() {
    let mut src = public_client();
    src.service_principal = None;
    src.grants.clear();
    src.resources.clear();
    let out = manifest(&src, &named()).unwrap();
    assert_eq!(out.consent, ConsentMode::None);
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    // Names still come from the catalog.
    assert_eq!(
        parse(&out.text).apps[0].api_permissions[0].api,
        ApiRef::Known(MTP.into())
    );
}

#[test]
fn values_are_escaped() {
    let mut src = public_client();
    src.application.application.display_name = Some("O'Brien \"tools\" \\ näive".into());
    src.application.application.notes = Some("line one\nline two".into());
    src.application.application.tags = vec!["b".into(), "a".into(), " padded ".into()];
    let out = manifest(&src, &named()).unwrap();
    let app = &parse(&out.text).apps[0];
    assert_eq!(app.display_name, "O'Brien \"tools\" \\ näive");
    assert_eq!(app.notes.as_deref(), Some("line one\nline two"));
    assert_eq!(app.tags, ["a", "b"].map(String::from).into());
    assert!(
        out.text
            .contains("# - tags the manifest cannot hold: \" padded \"\n")
    );
    assert!(out.text.starts_with(
        "# Imported by `provision import` from the application `O'Brien \"tools\" \\ näive`\n# (appId"
    ));
}

#[test]
fn slugs() {
    assert_eq!(
        slug("Threat Protection API client", "x"),
        "threat-protection-api-client"
    );
    assert_eq!(
        slug("  SOC: Sentinel / Hunting (prod)  ", "x"),
        "soc-sentinel-hunting-prod"
    );
    assert_eq!(slug("Ünïcode ✓", "x"), "n-code");
    assert_eq!(
        slug("日本語", "0a1b2c3d-0000-4000-8000-000000000000"),
        "app-0a1b2c3d"
    );
    let long = "a".repeat(300);
    assert_eq!(slug(&long, "x").len(), rules::UNIQUE_NAME_MAX);
    let c = pinned_name_candidates(&long, "0a1b2c3d-0000-4000-8000-000000000000");
    for name in &c {
        assert!(rules::check_unique_name(name).is_ok(), "{name}");
    }
    assert!(c[1].ends_with("-0a1b2c3d"));
    assert!(c[2].ends_with("-0a1b2c3d-0000-4000-8000-000000000000"));
}

#[test]
fn owners_and_federated_credentials_are_keys() {
    let mut src = public_client();
    src.owners = Ok(vec![DirectoryObject {
        id: obj(71).to_uppercase(),
        odata_type: Some("#microsoft.graph.servicePrincipal".into()),
        display_name: Some("deployer".into()),
        user_principal_name: None,
        app_id: Some(obj(72)),
    }]);
    let fic = |name: &str, issuer: &str, subject: &str| FederatedCredential {
        id: Some(obj(80)),
        name: Some(name.into()),
        issuer: Some(issuer.into()),
        subject: Some(subject.into()),
        audiences: vec!["api://AzureADTokenExchange".into()],
        description: None,
    };
    src.federated_credentials = Ok(vec![
        fic(
            "main",
            "https://token.actions.githubusercontent.com",
            "repo:contoso/infra:ref:refs/heads/main",
        ),
        fic(
            "prs",
            "https://token.actions.githubusercontent.com",
            "repo:contoso/infra:pull_request",
        ),
        fic(
            "k8s",
            "https://oidc.example.com",
            "system:serviceaccount:default:app",
        ),
    ]);
    let out = manifest(&src, &named()).unwrap();
    let t = &out.text;
    for part in [
        &format!(
            "owners = [\n  \"{}\",  # service principal deployer\n]\n",
            obj(71)
        ),
        "[[app.federated_credentials]]\nname = \"main\"\ngithub = { repository = \"contoso/infra\", branch = \"main\" }\n",
        "github = { repository = \"contoso/infra\", pull_request = true }\n",
        "issuer = \"https://oidc.example.com\"\nsubject = \"system:serviceaccount:default:app\"\n",
    ] {
        assert!(t.contains(part), "missing {part:?} in\n{t}");
    }
    assert!(!t.contains("# - federated credentials"), "{t}");
    // The keys read back as the same credentials.
    let d = crate::manifest::parse("m.toml", t).unwrap();
    let fics = d.apps[0].federated_credentials.as_ref().unwrap();
    assert_eq!(fics[0].subject, "repo:contoso/infra:ref:refs/heads/main");
    assert_eq!(fics[0].issuer, "https://token.actions.githubusercontent.com");
    assert_eq!(fics[2].audiences, ["api://AzureADTokenExchange"]);
}

#[test]
fn nameable_certificates_are_keys_by_thumbprint_and_unnameable_passwords_stay_comments() {
    let mut src = public_client();
    let a = &mut src.application.application;
    let thumb = "52ED9B5038A47B9E2E2190715CC238359D4F8F73";
    a.key_credentials = vec![serde_json::json!({
        "keyId": obj(51), "displayName": "CN=deploy", "type": "AsymmetricX509Cert", "usage": "Verify",
        "customKeyIdentifier": thumb, "endDateTime": "2027-01-01T00:00:00Z"
    })];
    a.password_credentials = vec![
        serde_json::json!({"keyId": obj(52), "displayName": "ci"}),
        serde_json::json!({"keyId": obj(53), "displayName": "ci"}),
    ];
    let out = manifest(&src, &named()).unwrap();
    let t = &out.text;
    assert!(
        t.contains(&format!(
            "[[app.certificates]]\ndisplay_name = \"CN=deploy\"\nthumbprint = \"{thumb}\"\n"
        )),
        "{t}"
    );
    assert!(
        !t.contains("[[app.passwords]]"),
        "two passwords named `ci` cannot be keys:\n{t}"
    );
    assert!(t.contains("# - client secrets (values never shown; "), "{t}");
}
