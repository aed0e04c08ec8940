use super::*;
use crate::model::*;
use std::path::PathBuf;

const MTP: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const INCIDENT_READ: &str = "12c153a4-4204-4224-aa3c-4626e2f47c2b";
const HUNTING_READ: &str = "15f11de4-5113-4268-a2d1-0bad43d781f9";

fn desired() -> Desired {
    Desired {
        source: PathBuf::from("m.toml"),
        tenant: None,
        output: None,
        apps: vec![DesiredApp {
            unique_name: "mtp-api-client".into(),
            app_id: None,
            display_name: "Threat Protection API client".into(),
            sign_in_audience: SignInAudience::AzureADMyOrg,
            notes: None,
            tags: Default::default(),
            public_client: Some(PublicClient {
                redirect_uris: vec!["https://portal.azure.com".into()],
                allow_public_client_flows: true,
                browser_sign_in: false,
            }),
            api_permissions: vec![ApiPermission {
                api: ApiRef::Known(MTP.into()),
                api_text: "Microsoft Threat Protection".into(),
                delegated: ["Incident.Read".to_string(), "AdvancedHunting.Read".to_string()].into(),
                application: Default::default(),
                location: Location { line: 12, column: 7 },
            }],
            consent: ConsentMode::Admin,
            props: Default::default(),
            location: Location::default(),
            owners: None,
            federated_credentials: None,
            passwords: None,
            certificates: None,
        }],
    }
}

fn mtp_sp() -> ServicePrincipal {
    let k = catalog::by_app_id(MTP).unwrap();
    let mut v = k.service_principal.clone();
    v["id"] = json!("res-sp-1");
    serde_json::from_value(v).unwrap()
}

fn observed(app: ObservedApp) -> Observed {
    Observed {
        tenant_id: "tid".into(),
        apps: [(AppKey::of("mtp-api-client"), app)].into(),
        resources: [(ApiRef::Known(MTP.into()), ResourceState::Found(mtp_sp()))].into(),
        others: Vec::new(),
        ..Default::default()
    }
}

fn converged() -> ObservedApp {
    ObservedApp {
        application: Some(Application {
            id: "obj-1".into(),
            app_id: "app-1".into(),
            unique_name: Some("mtp-api-client".into()),
            display_name: Some("Threat Protection API client".into()),
            sign_in_audience: Some("AzureADMyOrg".into()),
            is_fallback_public_client: Some(true),
            public_client: Some(RedirectUris {
                redirect_uris: vec!["https://portal.azure.com".into()],
            }),
            required_resource_access: vec![RequiredResourceAccess {
                resource_app_id: MTP.into(),
                resource_access: vec![
                    ResourceAccess {
                        id: HUNTING_READ.into(),
                        kind: "Scope".into(),
                    },
                    ResourceAccess {
                        id: INCIDENT_READ.into(),
                        kind: "Scope".into(),
                    },
                ],
            }],
            ..Default::default()
        }),
        service_principal: Some(ServicePrincipal {
            id: "sp-1".into(),
            app_id: "app-1".into(),
            ..Default::default()
        }),
        grants: vec![OAuth2PermissionGrant {
            id: "grant-1".into(),
            client_id: "sp-1".into(),
            consent_type: "AllPrincipals".into(),
            principal_id: None,
            resource_id: "res-sp-1".into(),
            scope: Some("Incident.Read AdvancedHunting.Read".into()),
        }],
        assignments: vec![],
        deleted_application: None,
        deleted_service_principal: None,
        ..Default::default()
    }
}

#[test]
fn an_app_in_deleted_items_is_restored_then_updated() {
    let mut deleted = converged().application.unwrap();
    deleted.display_name = Some("old name".into());
    let obs = ObservedApp {
        deleted_application: Some(deleted),
        ..ObservedApp::default()
    };
    let p = plan(&desired(), &observed(obs)).unwrap();
    let app = &p.apps[0];
    assert_eq!(app.application.action, Action::Restore);
    assert_eq!(app.application.app_id.as_deref(), Some("app-1"));
    assert_eq!(app.application.object_id.as_deref(), Some("obj-1"));
    // Fields are compared with what the deleted application held.
    let names: Vec<&str> = app.application.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["display_name"]);
    assert_eq!(app.service_principal, Action::Create);
    assert_eq!(app.grants[0].action, Action::Create);
    let s = p.summary();
    assert_eq!((s.restore, s.create, s.update), (1, 2, 0));
    // Its service principal in deleted items too: restored with it.
    let obs = ObservedApp {
        deleted_application: converged().application,
        deleted_service_principal: Some(ServicePrincipal {
            id: "sp-1".into(),
            app_id: "app-1".into(),
            ..Default::default()
        }),
        ..ObservedApp::default()
    };
    let again = plan(&desired(), &observed(obs)).unwrap();
    assert_eq!(again.apps[0].service_principal, Action::Restore);
    assert_eq!(again.summary().restore, 2);
    let doc = crate::render::plan_document(&p, "https://login.microsoftonline.com");
    let text = crate::render::plan_text(&doc);
    assert!(
        text.contains("# app.mtp-api-client will be restored from deleted items (appId app-1)"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to restore, 2 to create, 0 to update, 0 to delete."),
        "{text}"
    );
}

#[test]
fn fresh_tenant_creates_app_sp_and_grant() {
    let p = plan(&desired(), &observed(ObservedApp::default())).unwrap();
    let app = &p.apps[0];
    assert_eq!(app.application.action, Action::Create);
    assert_eq!(app.service_principal, Action::Create);
    assert_eq!(app.grants.len(), 1);
    assert_eq!(app.grants[0].action, Action::Create);
    assert_eq!(app.grants[0].after, vec!["AdvancedHunting.Read", "Incident.Read"]);
    let body = &app.application.body;
    assert_eq!(body["displayName"], "Threat Protection API client");
    assert_eq!(body["isFallbackPublicClient"], true);
    assert_eq!(
        body["publicClient"]["redirectUris"][0],
        "https://portal.azure.com"
    );
    let rra = &body["requiredResourceAccess"][0];
    assert_eq!(rra["resourceAppId"], MTP);
    let ids: BTreeSet<&str> = rra["resourceAccess"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [INCIDENT_READ, HUNTING_READ].into());
    assert_eq!(
        p.summary(),
        Summary {
            create: 3,
            update: 0,
            delete: 0,
            restore: 0
        }
    );
    assert!(p.resource_service_principals.is_empty());
}

#[test]
fn converged_tenant_has_no_changes() {
    let p = plan(&desired(), &observed(converged())).unwrap();
    assert!(!p.has_changes(), "{p:#?}");
}

#[test]
fn drift_is_repaired_field_by_field_and_grant_in_place() {
    let mut obs = converged();
    let a = obs.application.as_mut().unwrap();
    a.public_client
        .as_mut()
        .unwrap()
        .redirect_uris
        .push("https://evil.example".into());
    a.required_resource_access[0].resource_access.pop();
    obs.grants[0].scope = Some("Incident.Read AdvancedHunting.Read Incident.ReadWrite".into());
    let p = plan(&desired(), &observed(obs)).unwrap();
    let app = &p.apps[0];
    assert_eq!(app.application.action, Action::Update);
    let names: Vec<&str> = app.application.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["public_client.redirect_uris", "api_permissions"]);
    assert_eq!(
        app.application.body["publicClient"]["redirectUris"],
        json!(["https://portal.azure.com"])
    );
    assert_eq!(app.grants[0].action, Action::Update);
    assert_eq!(app.grants[0].grant_id.as_deref(), Some("grant-1"));
    assert_eq!(app.grants[0].after, vec!["AdvancedHunting.Read", "Incident.Read"]);
    assert_eq!(
        p.summary(),
        Summary {
            create: 0,
            update: 2,
            delete: 0,
            restore: 0
        }
    );
}

#[test]
fn user_grants_are_left_alone_and_foreign_admin_grants_revoked() {
    let mut obs = converged();
    obs.grants.push(OAuth2PermissionGrant {
        id: "user-grant".into(),
        client_id: "sp-1".into(),
        consent_type: "Principal".into(),
        principal_id: Some("user-1".into()),
        resource_id: "graph-sp".into(),
        scope: Some("User.Read".into()),
    });
    obs.grants.push(OAuth2PermissionGrant {
        id: "old-admin-grant".into(),
        client_id: "sp-1".into(),
        consent_type: "AllPrincipals".into(),
        principal_id: None,
        resource_id: "graph-sp".into(),
        scope: Some("User.Read".into()),
    });
    let p = plan(&desired(), &observed(obs)).unwrap();
    let deletes: Vec<_> = p.apps[0]
        .grants
        .iter()
        .filter(|g| g.action == Action::Delete)
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].grant_id.as_deref(), Some("old-admin-grant"));
}

#[test]
fn consent_none_leaves_grants_alone() {
    let mut d = desired();
    d.apps[0].consent = ConsentMode::None;
    let p = plan(&d, &observed(ObservedApp::default())).unwrap();
    assert!(p.apps[0].grants.is_empty());
    assert_eq!(p.summary().create, 2);
}

#[test]
fn unknown_permission_names_the_closest_ones() {
    let mut d = desired();
    d.apps[0].api_permissions[0]
        .delegated
        .insert("Incident.Raed".into());
    let problems = plan(&d, &observed(ObservedApp::default())).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].message,
        "Microsoft Threat Protection has no delegated permission `Incident.Raed`"
    );
    assert_eq!(problems[0].help.as_deref(), Some("did you mean `Incident.Read`?"));
    assert_eq!(problems[0].location, Location { line: 12, column: 7 });
}

#[test]
fn missing_first_party_resource_sp_is_a_step() {
    let mut obs = observed(ObservedApp::default());
    obs.resources
        .insert(ApiRef::Known(MTP.into()), ResourceState::Missing);
    let p = plan(&desired(), &obs).unwrap();
    assert_eq!(p.resource_service_principals.len(), 1);
    assert_eq!(p.resource_service_principals[0].app_id, MTP);
    assert_eq!(p.apps[0].grants[0].action, Action::Create);
    assert_eq!(p.apps[0].resources[0].service_principal_id, None);
}

#[test]
fn unknown_api_by_name_is_a_problem() {
    let mut d = desired();
    d.apps[0].api_permissions[0].api = ApiRef::Name("Contoso API".into());
    d.apps[0].api_permissions[0].api_text = "Contoso API".into();
    let mut obs = observed(ObservedApp::default());
    obs.resources
        .insert(ApiRef::Name("Contoso API".into()), ResourceState::Missing);
    let problems = plan(&d, &obs).unwrap_err();
    assert_eq!(
        problems[0].message,
        "api `Contoso API` was not found in the tenant"
    );
}

#[test]
fn application_permissions_become_assignments() {
    let mut d = desired();
    d.apps[0].api_permissions[0]
        .application
        .insert("Incident.Read.All".into());
    let mut obs = converged();
    obs.application.as_mut().unwrap().required_resource_access[0]
        .resource_access
        .push(ResourceAccess {
            id: "a9790345-4595-42e4-971a-ccdc79f19b7c".into(),
            kind: "Role".into(),
        });
    obs.assignments.push(AppRoleAssignment {
        id: "stale".into(),
        app_role_id: "8d90f441-09cf-4fdc-ab45-e874fa3a28e8".into(),
        principal_id: "sp-1".into(),
        resource_id: "res-sp-1".into(),
        resource_display_name: Some("Microsoft Threat Protection".into()),
    });
    let p = plan(&d, &observed(obs)).unwrap();
    let a = &p.apps[0].assignments;
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[0].action, a[0].role.as_str()),
        (Action::Create, "Incident.Read.All")
    );
    assert_eq!(
        (a[1].action, a[1].role.as_str()),
        (Action::Delete, "Incident.ReadWrite.All")
    );
}

#[test]
fn destroy_plan_deletes_what_exists_and_names_it() {
    let mut obs = converged();
    obs.grants.push(OAuth2PermissionGrant {
        id: "grant-other".into(),
        client_id: "sp-1".into(),
        consent_type: "AllPrincipals".into(),
        principal_id: None,
        resource_id: "res-sp-2".into(),
        scope: Some("User.Read".into()),
    });
    let mut o = observed(obs);
    let mut graph: ServicePrincipal = serde_json::from_value(json!({
        "id": "res-sp-2", "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph"
    }))
    .unwrap();
    graph.app_roles = Vec::new();
    o.others.push(graph);
    let p = destroy_plan(&desired(), &o, true);
    assert_eq!(p.apps.len(), 1);
    let app = &p.apps[0];
    assert_eq!(app.application.action, Action::Delete);
    assert_eq!(app.service_principal, Action::Delete);
    assert!(app.grants.iter().all(|g| g.action == Action::Delete));
    assert!(
        app.grants.iter().any(|g| g.resource == "Microsoft Graph"),
        "{:?}",
        app.grants
    );
    assert_eq!(
        p.purge.iter().map(|x| x.kind).collect::<Vec<_>>(),
        ["application", "service_principal"]
    );
    assert_eq!(p.summary().delete, 1 + 1 + app.grants.len() + 2);

    // Nothing exists: nothing to do.
    let none = destroy_plan(&desired(), &observed(ObservedApp::default()), true);
    assert!(none.apps.is_empty() && !none.has_changes());
}

// Test strength (CONTRIBUTING.md "Mutation testing"): the counts, names and problems below are
// what `cargo mutants` found unchecked.

#[test]
fn summary_counts_each_step_once_by_its_action() {
    // A fresh tenant without the resource's service principal: the resource principal, the
    // application, its principal and its grant are four creates.
    let mut obs = observed(ObservedApp::default());
    obs.resources
        .insert(ApiRef::Known(MTP.into()), ResourceState::Missing);
    let fresh = plan(&desired(), &obs).unwrap();
    let s = fresh.summary();
    assert_eq!((s.create, s.update, s.delete, s.restore), (4, 0, 0, 0));
    assert_eq!(s.total(), 4);
    assert!(fresh.has_changes());

    // Drift in a field and in the grant's scopes: two updates, nothing else.
    let mut drifted = converged();
    drifted.application.as_mut().unwrap().display_name = Some("old".into());
    drifted.grants[0].scope = Some("Incident.Read".into());
    let s = plan(&desired(), &observed(drifted)).unwrap().summary();
    assert_eq!((s.create, s.update, s.delete, s.restore), (0, 2, 0, 0));

    // Every category at once adds up.
    let all = Summary {
        create: 1,
        update: 2,
        delete: 3,
        restore: 4,
    };
    assert_eq!(all.total(), 10);
    assert_eq!(
        Summary {
            create: 0,
            update: 0,
            delete: 0,
            restore: 1
        }
        .total(),
        1
    );

    let none = plan(&desired(), &observed(converged())).unwrap();
    assert_eq!(none.summary(), Summary::default());
    assert!(!none.has_changes());
}

#[test]
fn a_grant_names_its_resource_by_display_name_then_catalog_then_id() {
    let grant = |id: &str, resource: &str| OAuth2PermissionGrant {
        id: id.into(),
        client_id: "sp-1".into(),
        consent_type: "AllPrincipals".into(),
        principal_id: None,
        resource_id: resource.into(),
        scope: Some("User.Read".into()),
    };
    let mut obs = converged();
    obs.grants.push(grant("g-named", "res-named"));
    obs.grants.push(grant("g-catalog", "res-catalog"));
    obs.grants.push(grant("g-unknown", "res-unknown"));
    let mut o = observed(obs);
    o.others.push(
        serde_json::from_value(json!({"id": "res-named", "appId": "11111111-1111-1111-1111-111111111111", "displayName": "Contoso API"}))
            .unwrap(),
    );
    // No display name read: the catalog knows Microsoft Graph's appId.
    o.others.push(
        serde_json::from_value(json!({"id": "RES-CATALOG", "appId": "00000003-0000-0000-c000-000000000000"}))
            .unwrap(),
    );
    let p = plan(&desired(), &o).unwrap();
    let mut revoked: Vec<&str> = p.apps[0]
        .grants
        .iter()
        .filter(|g| g.action == Action::Delete)
        .map(|g| g.resource.as_str())
        .collect();
    revoked.sort();
    assert_eq!(
        revoked,
        ["Contoso API", "Microsoft Graph", "service principal res-unknown"]
    );
}

#[test]
fn an_api_name_several_service_principals_carry_is_a_problem_naming_their_app_ids() {
    let mut d = desired();
    d.apps[0].api_permissions[0].api = ApiRef::Name("Contoso API".into());
    d.apps[0].api_permissions[0].api_text = "Contoso API".into();
    let sp = |id: &str, app_id: &str| -> ServicePrincipal {
        serde_json::from_value(json!({"id": id, "appId": app_id, "displayName": "Contoso API"})).unwrap()
    };
    let mut obs = observed(ObservedApp::default());
    obs.resources.insert(
        ApiRef::Name("Contoso API".into()),
        ResourceState::Ambiguous(vec![sp("s1", "aaaa"), sp("s2", "bbbb")]),
    );
    let problems = plan(&d, &obs).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].message,
        "api `Contoso API` matches 2 service principals in the tenant"
    );
    assert_eq!(
        problems[0].help.as_deref(),
        Some("name it by appId instead: `aaaa`, `bbbb`")
    );
}

#[test]
fn the_summary_shows_restore_only_when_there_is_one() {
    let none = Summary {
        create: 1,
        update: 0,
        delete: 0,
        restore: 0,
    };
    assert_eq!(
        serde_json::to_value(none).unwrap(),
        json!({"create": 1, "update": 0, "delete": 0})
    );
    let one = Summary { restore: 1, ..none };
    assert_eq!(
        serde_json::to_value(one).unwrap(),
        json!({"create": 1, "update": 0, "delete": 0, "restore": 1})
    );
}

// --- owners and federated credentials (issue 17) ---

fn user(id: &str, upn: &str) -> DirectoryObject {
    DirectoryObject {
        id: id.into(),
        odata_type: Some("#microsoft.graph.user".into()),
        display_name: Some(upn.split('@').next().unwrap_or_default().into()),
        user_principal_name: Some(upn.into()),
        app_id: None,
    }
}

#[test]
fn owners_are_added_and_removed_but_the_signed_in_identity_is_kept() {
    let mut d = desired();
    d.apps[0].owners = Some(vec![crate::model::Owner {
        reference: crate::model::OwnerRef::Upn("alice@contoso.com".into()),
        location: Location::default(),
    }]);
    let mut app = converged();
    app.owners = Some(vec![
        user("bob-id", "bob@contoso.com"),
        user("me-id", "me@contoso.com"),
    ]);
    let mut o = observed(app);
    o.owner_refs.insert(
        crate::model::OwnerRef::Upn("alice@contoso.com".into()),
        Some(user("alice-id", "alice@contoso.com")),
    );
    o.signed_in = Some("me-id".into());
    let p = plan(&d, &o).unwrap();
    let steps: Vec<(Action, &str)> = p.apps[0]
        .owners
        .iter()
        .map(|s| (s.action, s.name.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Action::Create, "alice@contoso.com"),
            (Action::Delete, "bob@contoso.com")
        ]
    );
    assert_eq!(p.apps[0].kept_owner.as_ref().unwrap().object_id, "me-id");
    assert_eq!(p.summary().create, 1);
    assert_eq!(p.summary().delete, 1);

    // An owner the tenant does not have is a plan problem naming it.
    o.owner_refs
        .insert(crate::model::OwnerRef::Upn("alice@contoso.com".into()), None);
    let problems = plan(&d, &o).unwrap_err();
    assert!(
        problems[0].message.contains("`alice@contoso.com` is no user"),
        "{problems:?}"
    );

    // Without `owners`, ownership is not touched.
    d.apps[0].owners = None;
    assert!(plan(&d, &o).unwrap().apps[0].owners.is_empty());
}

#[test]
fn federated_credentials_are_deleted_then_updated_then_created() {
    let spec = |name: &str, subject: &str| crate::model::FederatedCredentialSpec {
        name: name.into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        subject: subject.into(),
        audiences: vec!["api://AzureADTokenExchange".into()],
        description: None,
        location: Location::default(),
    };
    let have = |name: &str, subject: &str| FederatedCredential {
        id: Some(format!("{name}-id")),
        name: Some(name.into()),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        subject: Some(subject.into()),
        audiences: vec!["api://AzureADTokenExchange".into()],
        description: None,
    };
    let mut d = desired();
    d.apps[0].federated_credentials = Some(vec![
        spec("new", "repo:o/r:pull_request"),
        spec("main", "repo:o/r:ref:refs/heads/trunk"),
        spec("same", "repo:o/r:environment:prod"),
    ]);
    let mut app = converged();
    app.federated_credentials = Some(vec![
        have("old", "repo:o/r:pull_request"),
        have("main", "repo:o/r:ref:refs/heads/main"),
        have("same", "repo:o/r:environment:prod"),
    ]);
    let p = plan(&d, &observed(app)).unwrap();
    let steps: Vec<(Action, &str)> = p.apps[0]
        .federated_credentials
        .iter()
        .map(|s| (s.action, s.name.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Action::Delete, "old"),
            (Action::Update, "main"),
            (Action::NoOp, "same"),
            (Action::Create, "new"),
        ]
    );
    let update = &p.apps[0].federated_credentials[1];
    assert_eq!(update.body, json!({"subject": "repo:o/r:ref:refs/heads/trunk"}));
    assert_eq!(update.fields[0].name, "subject");
}

#[test]
fn observed_state_is_found_by_unique_name_not_by_position() {
    // Two apps; the tenant holds only the second, under its unique name in another case.
    let mut d = desired();
    let mut second = d.apps[0].clone();
    second.unique_name = "second-client".into();
    d.apps[0].unique_name = "first-client".into();
    d.apps.push(second);
    let mut held = converged();
    if let Some(a) = held.application.as_mut() {
        a.unique_name = Some("second-client".into());
    }
    let mut o = observed(ObservedApp::default());
    o.apps = [(AppKey::of("Second-Client"), held)].into();

    let p = plan(&d, &o).unwrap();
    let first = p.app("first-client").unwrap();
    let second = p.app("SECOND-client").unwrap();
    assert_eq!(first.application.action, Action::Create);
    assert_eq!(second.application.action, Action::NoOp);
    assert_eq!(second.application.object_id.as_deref(), Some("obj-1"));
    assert_eq!(
        o.app("second-CLIENT").map(|a| a.application.is_some()),
        Some(true)
    );
    assert!(o.app("first-client").is_none());

    // destroy finds the same app by its key, and only that one.
    let gone = destroy_plan(&d, &o, false);
    let names: Vec<&str> = gone.apps.iter().map(|a| a.unique_name.as_str()).collect();
    assert_eq!(names, ["second-client"]);
}

// --- resources and requiredResourceAccess as plans show them (issue 15, mutants) ---

#[test]
fn a_resource_url_comes_from_the_catalog_else_a_service_principal_name_else_the_app_id() {
    let k = catalog::by_app_id(MTP).unwrap();
    let sp = |names: &[&str]| ServicePrincipal {
        id: "sp-9".into(),
        app_id: "app-9".into(),
        service_principal_names: names.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(
        resource_url_of(Some(&sp(&["api://other"])), Some(k), MTP),
        k.resource_url
    );
    assert_eq!(
        resource_url_of(
            Some(&sp(&["app-9", "https://orders.contoso.com/"])),
            None,
            "app-9"
        ),
        "https://orders.contoso.com"
    );
    assert_eq!(
        resource_url_of(Some(&sp(&["app-9", "api://orders"])), None, "app-9"),
        "api://orders"
    );
    assert_eq!(resource_url_of(Some(&sp(&["app-9"])), None, "app-9"), "app-9");
    assert_eq!(resource_url_of(None, None, "app-9"), "app-9");
}

#[test]
fn required_resource_access_is_described_by_api_and_permission_names() {
    let k = catalog::by_app_id(MTP).unwrap();
    assert_eq!(
        resource_name_for_app_id(&MTP.to_uppercase(), &[], &Observed::default()),
        k.display_name
    );
    let mut obs = Observed::default();
    obs.others.push(ServicePrincipal {
        id: "sp-9".into(),
        app_id: "app-9".into(),
        display_name: Some("Orders API".into()),
        ..Default::default()
    });
    assert_eq!(resource_name_for_app_id("APP-9", &[], &obs), "Orders API");
    assert_eq!(resource_name_for_app_id("app-8", &[], &obs), "app-8");

    let rra = [RequiredResourceAccess {
        resource_app_id: "APP-8".into(),
        resource_access: vec![
            ResourceAccess {
                id: "B-ROLE".into(),
                kind: "Role".into(),
            },
            ResourceAccess {
                id: "a-scope".into(),
                kind: "Scope".into(),
            },
        ],
    }];
    let names: BTreeMap<String, String> =
        [("app-8|b-role|Role".to_string(), "Orders.All".to_string())].into();
    assert_eq!(
        describe_rra(&rra, &[], &names, &obs),
        json!([
            {"api": "APP-8", "api_app_id": "app-8", "permission": "Orders.All", "permission_id": "b-role", "type": "application"},
            {"api": "APP-8", "api_app_id": "app-8", "permission": "a-scope", "permission_id": "a-scope", "type": "delegated"},
        ])
    );
}

#[test]
fn a_missing_first_party_api_gets_one_service_principal_step_however_many_use_it() {
    let mut d = desired();
    let mut second = d.apps[0].clone();
    second.unique_name = "second".into();
    second.api_permissions.push(ApiPermission {
        api: ApiRef::Known(catalog::MICROSOFT_GRAPH_APP_ID.into()),
        api_text: "Microsoft Graph".into(),
        delegated: ["User.Read".to_string()].into(),
        application: Default::default(),
        location: Location::default(),
    });
    d.apps.push(second);
    let mut obs = observed(ObservedApp::default());
    obs.apps.insert(AppKey::of("second"), ObservedApp::default());
    obs.resources
        .insert(ApiRef::Known(MTP.into()), ResourceState::Missing);
    obs.resources.insert(
        ApiRef::Known(catalog::MICROSOFT_GRAPH_APP_ID.into()),
        ResourceState::Missing,
    );
    let p = plan(&d, &obs).unwrap();
    let steps: Vec<&str> = p
        .resource_service_principals
        .iter()
        .map(|r| r.app_id.as_str())
        .collect();
    assert_eq!(steps, [MTP, catalog::MICROSOFT_GRAPH_APP_ID]);
}

#[test]
fn a_permission_name_comes_from_a_read_service_principal_else_the_catalog() {
    let mut obs = Observed::default();
    obs.others.push(ServicePrincipal {
        id: "sp-9".into(),
        app_id: "app-9".into(),
        app_roles: vec![AppRole {
            id: "R1".into(),
            value: Some("Orders.All".into()),
            ..Default::default()
        }],
        oauth2_permission_scopes: vec![PermissionScope {
            id: "S1".into(),
            value: Some("Orders.Read".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(
        permission_name("APP-9", "r1", "Role", &obs).as_deref(),
        Some("Orders.All")
    );
    assert_eq!(
        permission_name("app-9", "s1", "Scope", &obs).as_deref(),
        Some("Orders.Read")
    );
    assert_eq!(permission_name("app-9", "r1", "Scope", &obs), None);
    assert_eq!(permission_name("app-8", "s1", "Scope", &obs), None);
    let k = catalog::by_app_id(MTP).unwrap();
    assert_eq!(
        permission_name(MTP, &INCIDENT_READ.to_uppercase(), "Scope", &obs).as_deref(),
        Some("Incident.Read")
    );
    let role = &k.roles[0];
    assert_eq!(
        permission_name(MTP, &role.id, "Role", &obs).as_deref(),
        Some(role.value.as_str())
    );
    assert_eq!(permission_name(MTP, &role.id, "Scope", &obs), None);
}

#[test]
fn tags_are_added_to_those_the_app_has() {
    let mut d = desired();
    d.apps[0].tags = ["team:orders".to_string(), "tier:1".to_string()].into();
    let mut obs = converged();
    obs.application.as_mut().unwrap().tags = vec!["tier:1".into(), "keep".into()];
    let p = plan(&d, &observed(obs.clone())).unwrap();
    let app = &p.apps[0].application;
    let names: Vec<&str> = app.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["tags"]);
    assert_eq!(app.body["tags"], json!(["tier:1", "keep", "team:orders"]));
    // All there already: nothing to do.
    obs.application.as_mut().unwrap().tags.push("team:orders".into());
    assert!(!plan(&d, &observed(obs)).unwrap().has_changes());
}

#[test]
fn redirect_uris_in_another_order_are_no_change() {
    let mut d = desired();
    let uris = ["https://portal.azure.com", "http://localhost"];
    d.apps[0].public_client.as_mut().unwrap().redirect_uris = uris.iter().map(|u| u.to_string()).collect();
    let mut obs = converged();
    obs.application
        .as_mut()
        .unwrap()
        .public_client
        .as_mut()
        .unwrap()
        .redirect_uris = uris.iter().rev().map(|u| u.to_string()).collect();
    assert!(!plan(&d, &observed(obs)).unwrap().has_changes());
}

#[test]
fn a_new_app_writes_required_resource_access_only_when_it_names_an_api() {
    let mut d = desired();
    d.apps[0].api_permissions.clear();
    let p = plan(&d, &observed(ObservedApp::default())).unwrap();
    let app = &p.apps[0].application;
    assert!(
        app.fields.iter().all(|f| f.name != "api_permissions"),
        "{:?}",
        app.fields
    );
    assert!(app.body.get("requiredResourceAccess").is_none());
    // An API named with no permission yet: its entry is written, empty.
    let mut d = desired();
    d.apps[0].api_permissions[0].delegated = Default::default();
    let p = plan(&d, &observed(ObservedApp::default())).unwrap();
    assert_eq!(
        p.apps[0].application.body["requiredResourceAccess"],
        json!([{"resourceAppId": MTP, "resourceAccess": []}])
    );
}
