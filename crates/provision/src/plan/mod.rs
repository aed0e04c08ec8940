//! `plan(&Desired, &Observed) -> Plan`: what apply must do to make the tenant match the manifest.
//! Pure: no I/O, no clock. The plan is data (as terraform's plan is): per app an action for the
//! application (with field-level before/after), its service principal, one delegated grant per
//! resource API and the app role assignments; plus the first-party resource service principals
//! that must be created. `render` turns it into text or versioned JSON; `apply` executes it.
//!
//! Rules (README.md "Design decisions"): the manifest is authoritative for what it declares
//! (redirect URIs, permissions, consented scopes not in it are removed); properties it does not
//! mention are left alone; user (`Principal`) grants are never touched; a grant's scope is
//! changed in place, never deleted and re-created.

use std::collections::{BTreeMap, BTreeSet};

mod reason;
pub use reason::Reason;

use serde::Serialize;
use serde_json::{Value, json};

use crate::catalog;
use crate::graph::types::*;
use crate::model::{ApiRef, ConsentMode, Desired, DesiredApp, Location};

/// What Graph holds for one app of the manifest.
#[derive(Debug, Clone, Default)]
pub struct ObservedApp {
    pub application: Option<Application>,
    pub service_principal: Option<ServicePrincipal>,
    pub grants: Vec<OAuth2PermissionGrant>,
    pub assignments: Vec<AppRoleAssignment>,
    /// No live application holds the unique name, but this one in deleted items does: apply
    /// restores it (so its client ID survives) rather than meet "uniqueName already exists".
    pub deleted_application: Option<Application>,
    /// With `deleted_application`: its service principal, when that sits in deleted items too.
    pub deleted_service_principal: Option<ServicePrincipal>,
    // --- owners and federated credentials (issue 17): read only when the manifest lists them ---
    pub owners: Option<Vec<DirectoryObject>>,
    pub federated_credentials: Option<Vec<FederatedCredential>>,
}

/// What a lookup of a resource API's service principal found.
#[derive(Debug, Clone)]
pub enum ResourceState {
    Found(ServicePrincipal),
    Missing,
    /// A display name that several service principals carry.
    Ambiguous(Vec<ServicePrincipal>),
}

/// The key an app of the manifest is matched by in the tenant and across a run (observed state,
/// plan, apply's report, the output file): its unique name, without case, as Graph compares
/// `uniqueName` (docs/graph-notes.md). Never a position in a list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppKey(String);

impl AppKey {
    pub fn of(unique_name: &str) -> Self {
        AppKey(unique_name.to_lowercase())
    }
}

impl DesiredApp {
    /// The app's [`AppKey`].
    pub fn key(&self) -> AppKey {
        AppKey::of(&self.unique_name)
    }
}

/// The tenant as far as the manifest is concerned.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub tenant_id: String,
    /// What Graph holds for each app of the manifest, by the app's key. An app the manifest
    /// lists but that is missing here reads as not existing.
    pub apps: BTreeMap<AppKey, ObservedApp>,
    pub resources: BTreeMap<ApiRef, ResourceState>,
    /// Resource service principals that grants, app role assignments or requiredResourceAccess
    /// refer to but the manifest does not name: read so that plans show names, not GUIDs.
    pub others: Vec<ServicePrincipal>,
    // --- owners (issue 17) ---
    /// The owners the manifest names, resolved (`None`: no such user or object).
    pub owner_refs: BTreeMap<crate::model::OwnerRef, Option<DirectoryObject>>,
    /// The signed-in identity's object id (the token's `oid`): never removed as an owner.
    pub signed_in: Option<String>,
}

impl Observed {
    /// What Graph holds for the app with this unique name (any case).
    pub fn app(&self, unique_name: &str) -> Option<&ObservedApp> {
        self.apps.get(&AppKey::of(unique_name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Delete,
    /// Brought back from deleted items (`POST /directory/deletedItems/{id}/restore`).
    Restore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub name: String,
    pub before: Value,
    pub after: Value,
}

/// A resource API as the plan refers to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// The manifest's key for it.
    #[serde(skip)]
    pub key: ApiRef,
    pub name: String,
    pub app_id: String,
    /// The service principal's object id; `None` while it is still to be created.
    pub service_principal_id: Option<String>,
    /// The URL scopes are prefixed with in tokens (`https://api.security.microsoft.com`).
    pub resource_url: String,
    /// The delegated permission values the manifest asks for on it (for the output file).
    #[serde(skip)]
    pub delegated: Vec<String>,
    /// The application permission values the manifest asks for on it.
    #[serde(skip)]
    pub application: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplicationStep {
    pub action: Action,
    /// Present when the application exists.
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    /// Adopted by appId rather than found by uniqueName.
    pub pinned: bool,
    pub fields: Vec<FieldChange>,
    /// The PATCH body (only what changes, plus `displayName`, which the upsert requires).
    #[serde(skip)]
    pub body: Value,
    /// A PATCH to send before `body`: the app's scopes and roles with those that `body` removes
    /// or changes disabled (Graph refuses to remove or change an enabled one).
    #[serde(skip)]
    pub disable_first: Option<Value>,
    /// A PATCH to send once a new application exists: what needs its appId
    /// ([`APP_ID_PLACEHOLDER`] in identifier URIs), with the placeholder still in it.
    #[serde(skip)]
    pub after_create: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantStep {
    pub action: Action,
    pub resource: String,
    #[serde(skip)]
    pub resource_key: Option<ApiRef>,
    /// The resource service principal id when known (always for Update/Delete).
    #[serde(skip)]
    pub resource_sp_id: Option<String>,
    pub grant_id: Option<String>,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignmentStep {
    pub action: Action,
    pub resource: String,
    #[serde(skip)]
    pub resource_key: Option<ApiRef>,
    pub role: String,
    pub app_role_id: String,
    /// The resource service principal id when known (always for Delete).
    #[serde(skip)]
    pub resource_sp_id: Option<String>,
    pub assignment_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppPlan {
    pub unique_name: String,
    pub display_name: String,
    pub application: ApplicationStep,
    /// Create, or no-op when it exists.
    pub service_principal: Action,
    pub service_principal_id: Option<String>,
    pub consent: ConsentMode,
    pub grants: Vec<GrantStep>,
    pub assignments: Vec<AssignmentStep>,
    /// The resource APIs this app asks for, resolved.
    pub resources: Vec<Resource>,
    // --- owners and federated credentials (issue 17) ---
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ownership::OwnerStep>,
    /// The signed-in identity, kept as an owner although `owners` does not list it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_owner: Option<ownership::KeptOwner>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub federated_credentials: Vec<ownership::FederatedCredentialStep>,
    /// Passwords and certificates (issue 17), planned by `credentials::plan` after `plan`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<crate::credentials::plan::CredentialStep>,
}

/// A first-party resource service principal missing from the tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceSpStep {
    pub name: String,
    pub app_id: String,
    #[serde(skip)]
    pub key: ApiRef,
}

/// Removing a deleted object from deleted items (`destroy --purge`), after its delete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurgeStep {
    pub unique_name: String,
    /// `application` or `service_principal`.
    pub kind: &'static str,
    pub object_id: String,
    /// Left in deleted items by an earlier run (not deleted by this plan).
    pub leftover: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub tenant_id: String,
    pub resource_service_principals: Vec<ResourceSpStep>,
    pub apps: Vec<AppPlan>,
    /// Only in a destroy plan: deleted objects to remove from deleted items too.
    pub purge: Vec<PurgeStep>,
    /// The signed-in identity's object id (issue 17: never removed as an owner).
    #[serde(skip)]
    pub signed_in: Option<String>,
}

/// A problem found while planning: a permission name the resource does not publish, a resource
/// API that does not exist or is ambiguous. Points at the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanProblem {
    pub location: Location,
    pub message: String,
    pub help: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// Applications restored from deleted items (shown only when there are some).
    #[serde(skip_serializing_if = "is_zero")]
    pub restore: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub fn total(&self) -> usize {
        self.create + self.update + self.delete + self.restore
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        let mut count = |a: Action| match a {
            Action::Create => s.create += 1,
            Action::Update => s.update += 1,
            Action::Delete => s.delete += 1,
            Action::Restore => s.restore += 1,
            Action::NoOp => {}
        };
        for _ in &self.resource_service_principals {
            count(Action::Create);
        }
        for _ in &self.purge {
            count(Action::Delete);
        }
        for app in &self.apps {
            count(app.application.action);
            count(app.service_principal);
            app.grants.iter().for_each(|g| count(g.action));
            app.assignments.iter().for_each(|a| count(a.action));
            app.owners.iter().for_each(|o| count(o.action));
            app.federated_credentials.iter().for_each(|f| count(f.action));
            app.credentials.iter().for_each(|c| count(c.action));
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.summary().total() > 0
    }

    /// The plan of the app with this unique name (any case).
    pub fn app(&self, unique_name: &str) -> Option<&AppPlan> {
        let key = AppKey::of(unique_name);
        self.apps.iter().find(|a| AppKey::of(&a.unique_name) == key)
    }
}

/// Permissions of one resource, as the plan needs them.
struct Published<'a> {
    scopes: Vec<(&'a str, &'a str)>,
    roles: Vec<(&'a str, &'a str)>,
}

fn published_from_sp(sp: &ServicePrincipal) -> Published<'_> {
    Published {
        scopes: sp
            .oauth2_permission_scopes
            .iter()
            .filter_map(|s| Some((s.value.as_deref()?, s.id.as_str())))
            .collect(),
        roles: sp
            .app_roles
            .iter()
            .filter(|r| {
                r.allowed_member_types.is_empty() || r.allowed_member_types.iter().any(|t| t == "Application")
            })
            .filter_map(|r| Some((r.value.as_deref()?, r.id.as_str())))
            .collect(),
    }
}

fn published_from_catalog(api: &catalog::KnownApi) -> Published<'_> {
    Published {
        scopes: api
            .scopes
            .iter()
            .map(|p| (p.value.as_str(), p.id.as_str()))
            .collect(),
        roles: api
            .roles
            .iter()
            .map(|p| (p.value.as_str(), p.id.as_str()))
            .collect(),
    }
}

fn resource_url_of(sp: Option<&ServicePrincipal>, known: Option<&catalog::KnownApi>, app_id: &str) -> String {
    if let Some(k) = known {
        return k.resource_url.clone();
    }
    sp.and_then(|sp| {
        sp.service_principal_names
            .iter()
            .find(|n| n.starts_with("https://") || n.starts_with("api://"))
            .map(|n| n.trim_end_matches('/').to_owned())
    })
    .unwrap_or_else(|| app_id.to_owned())
}

/// Display name of a resource appId that may not be in the manifest.
fn resource_name_for_app_id(app_id: &str, resolved: &[Resource], observed: &Observed) -> String {
    if let Some(r) = resolved.iter().find(|r| r.app_id.eq_ignore_ascii_case(app_id)) {
        return r.name.clone();
    }
    catalog::by_app_id(app_id)
        .map(|k| k.display_name.clone())
        .or_else(|| {
            read_sps(observed)
                .find(|sp| sp.app_id.eq_ignore_ascii_case(app_id))
                .and_then(|sp| sp.display_name.clone())
        })
        .unwrap_or_else(|| app_id.to_owned())
}

/// requiredResourceAccess as data, sorted by API and permission name: per permission the API's
/// name and appId, the permission's value and id, and `delegated` or `application`. (Text shows
/// each as `API: Permission (delegated)`.)
fn describe_rra(
    rra: &[RequiredResourceAccess],
    resolved: &[Resource],
    names: &BTreeMap<String, String>,
    observed: &Observed,
) -> Value {
    let mut out: Vec<(String, String, &str, Value)> = Vec::new();
    for r in rra {
        let res = resource_name_for_app_id(&r.resource_app_id, resolved, observed);
        for a in &r.resource_access {
            let key = format!(
                "{}|{}|{}",
                r.resource_app_id.to_ascii_lowercase(),
                a.id.to_ascii_lowercase(),
                a.kind
            );
            let name = names
                .get(&key)
                .cloned()
                .or_else(|| permission_name(&r.resource_app_id, &a.id, &a.kind, observed))
                .unwrap_or_else(|| a.id.clone());
            let kind = if a.kind == "Role" {
                "application"
            } else {
                "delegated"
            };
            out.push((
                res.clone(),
                name.clone(),
                kind,
                json!({
                    "api": res,
                    "api_app_id": r.resource_app_id.to_ascii_lowercase(),
                    "permission": name,
                    "permission_id": a.id.to_ascii_lowercase(),
                    "type": kind,
                }),
            ));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    Value::Array(out.into_iter().map(|(_, _, _, v)| v).collect())
}

fn rra_set(rra: &[RequiredResourceAccess]) -> BTreeSet<(String, String, String)> {
    rra.iter()
        .flat_map(|r| {
            r.resource_access.iter().map(move |a| {
                (
                    r.resource_app_id.to_ascii_lowercase(),
                    a.id.to_ascii_lowercase(),
                    a.kind.clone(),
                )
            })
        })
        .collect()
}

/// Plan every app of the manifest against what Graph holds.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, Vec<PlanProblem>> {
    let mut problems = Vec::new();
    let mut resource_sps: Vec<ResourceSpStep> = Vec::new();
    let mut apps = Vec::new();
    let empty = ObservedApp::default();
    for app in &desired.apps {
        let obs = observed.apps.get(&app.key()).unwrap_or(&empty);
        match plan_app(app, obs, observed, &mut resource_sps) {
            Ok(p) => apps.push(p),
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Plan {
        tenant_id: observed.tenant_id.clone(),
        resource_service_principals: resource_sps,
        apps,
        purge: Vec::new(),
        signed_in: observed.signed_in.clone(),
    })
}

/// The plan of `destroy`: for every app of the manifest that exists, delete its delegated
/// grants and app role assignments (as the client), its service principal and its
/// application; with `purge`, then remove both from deleted items. Apps that do not exist are
/// left out. Every resource is named through `observed` like in [`plan`].
pub fn destroy_plan(desired: &Desired, observed: &Observed, purge: bool) -> Plan {
    let mut apps = Vec::new();
    let mut purges = Vec::new();
    for app in &desired.apps {
        let Some(obs) = observed.apps.get(&app.key()) else {
            continue;
        };
        let Some(application) = &obs.application else {
            continue;
        };
        let grants = obs
            .grants
            .iter()
            .map(|g| GrantStep {
                action: Action::Delete,
                resource: resource_name_for_sp_id(&g.resource_id, observed),
                resource_key: None,
                resource_sp_id: Some(g.resource_id.clone()),
                grant_id: Some(g.id.clone()),
                before: g.scopes(),
                after: Vec::new(),
            })
            .collect();
        let assignments = obs
            .assignments
            .iter()
            .map(|a| AssignmentStep {
                action: Action::Delete,
                resource: a
                    .resource_display_name
                    .clone()
                    .unwrap_or_else(|| resource_name_for_sp_id(&a.resource_id, observed)),
                resource_key: None,
                role: role_name(&a.resource_id, &a.app_role_id, observed)
                    .unwrap_or_else(|| a.app_role_id.clone()),
                app_role_id: a.app_role_id.clone(),
                resource_sp_id: Some(a.resource_id.clone()),
                assignment_id: Some(a.id.clone()),
            })
            .collect();
        let sp_id = obs.service_principal.as_ref().map(|s| s.id.clone());
        if purge {
            purges.push(PurgeStep {
                unique_name: app.unique_name.clone(),
                kind: "application",
                object_id: application.id.clone(),
                leftover: false,
            });
            if let Some(sp) = &sp_id {
                purges.push(PurgeStep {
                    unique_name: app.unique_name.clone(),
                    kind: "service_principal",
                    object_id: sp.clone(),
                    leftover: false,
                });
            }
        }
        apps.push(AppPlan {
            unique_name: app.unique_name.clone(),
            display_name: application.display_name.clone().unwrap_or_default(),
            application: ApplicationStep {
                action: Action::Delete,
                object_id: Some(application.id.clone()),
                app_id: Some(application.app_id.clone()),
                pinned: app.app_id.is_some(),
                fields: vec![
                    FieldChange {
                        name: "app_id".into(),
                        before: json!(application.app_id),
                        after: Value::Null,
                    },
                    FieldChange {
                        name: "display_name".into(),
                        before: application
                            .display_name
                            .as_ref()
                            .map_or(Value::Null, |d| json!(d)),
                        after: Value::Null,
                    },
                ],
                body: Value::Null,
                disable_first: None,
                after_create: None,
            },
            service_principal: if sp_id.is_some() {
                Action::Delete
            } else {
                Action::NoOp
            },
            service_principal_id: sp_id,
            consent: app.consent,
            grants,
            assignments,
            resources: Vec::new(),
            owners: Vec::new(),
            kept_owner: None,
            federated_credentials: Vec::new(),
            credentials: Vec::new(),
        });
    }
    Plan {
        tenant_id: observed.tenant_id.clone(),
        resource_service_principals: Vec::new(),
        apps,
        purge: purges,
        signed_in: observed.signed_in.clone(),
    }
}

fn plan_app(
    app: &DesiredApp,
    obs: &ObservedApp,
    observed: &Observed,
    resource_sps: &mut Vec<ResourceSpStep>,
) -> Result<AppPlan, Vec<PlanProblem>> {
    let mut problems = Vec::new();
    let mut resources: Vec<Resource> = Vec::new();
    // (resource index, scope ids/values, role ids/values)
    let mut rra: Vec<RequiredResourceAccess> = Vec::new();
    // id → readable permission name, for showing Graph's GUIDs as names
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut wanted_roles: Vec<(usize, String, String)> = Vec::new();

    for perm in &app.api_permissions {
        let known = match &perm.api {
            ApiRef::Known(id) => catalog::by_app_id(id),
            _ => None,
        };
        let state = observed.resources.get(&perm.api);
        let sp = match state {
            Some(ResourceState::Found(sp)) => Some(sp),
            Some(ResourceState::Ambiguous(list)) => {
                problems.push(PlanProblem {
                    location: perm.location,
                    message: format!(
                        "api `{}` matches {} service principals in the tenant",
                        perm.api_text,
                        list.len()
                    ),
                    help: Some(format!(
                        "name it by appId instead: {}",
                        list.iter()
                            .map(|s| format!("`{}`", s.app_id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                });
                continue;
            }
            _ => None,
        };
        if sp.is_none() && known.is_none() {
            problems.push(PlanProblem {
                location: perm.location,
                message: format!("api `{}` was not found in the tenant", perm.api_text),
                help: Some(
                    "name the API by its appId, display name or identifier URI as its service principal shows them"
                        .into(),
                ),
            });
            continue;
        }
        let published = match (sp, known) {
            (Some(sp), _) => published_from_sp(sp),
            (None, Some(k)) => published_from_catalog(k),
            (None, None) => continue,
        };
        let app_id = sp
            .map(|s| s.app_id.clone())
            .or_else(|| known.map(|k| k.app_id.clone()))
            .unwrap_or_default();
        let name = sp
            .and_then(|s| s.display_name.clone())
            .or_else(|| known.map(|k| k.display_name.clone()))
            .unwrap_or_else(|| perm.api_text.clone());
        if sp.is_none()
            && let Some(k) = known
            && !resource_sps.iter().any(|r| r.app_id == k.app_id)
        {
            resource_sps.push(ResourceSpStep {
                name: name.clone(),
                app_id: k.app_id.clone(),
                key: perm.api.clone(),
            });
        }
        let mut access = Vec::new();
        let mut scope_values = Vec::new();
        for value in &perm.delegated {
            match published.scopes.iter().find(|(v, _)| v == value) {
                Some((v, id)) => {
                    access.push(ResourceAccess {
                        id: id.to_string(),
                        kind: "Scope".into(),
                    });
                    names.insert(
                        format!(
                            "{}|{}|Scope",
                            app_id.to_ascii_lowercase(),
                            id.to_ascii_lowercase()
                        ),
                        v.to_string(),
                    );
                    scope_values.push(v.to_string());
                }
                None => problems.push(unknown_permission(
                    perm.location,
                    &name,
                    value,
                    "delegated",
                    published.scopes.iter().map(|(v, _)| *v),
                )),
            }
        }
        let mut role_values = Vec::new();
        for value in &perm.application {
            match published.roles.iter().find(|(v, _)| v == value) {
                Some((v, id)) => {
                    access.push(ResourceAccess {
                        id: id.to_string(),
                        kind: "Role".into(),
                    });
                    names.insert(
                        format!("{}|{}|Role", app_id.to_ascii_lowercase(), id.to_ascii_lowercase()),
                        v.to_string(),
                    );
                    wanted_roles.push((resources.len(), v.to_string(), id.to_string()));
                    role_values.push(v.to_string());
                }
                None => problems.push(unknown_permission(
                    perm.location,
                    &name,
                    value,
                    "application",
                    published.roles.iter().map(|(v, _)| *v),
                )),
            }
        }
        // Name every permission the resource publishes, so that drift shows names too.
        for (v, id) in &published.scopes {
            names
                .entry(format!(
                    "{}|{}|Scope",
                    app_id.to_ascii_lowercase(),
                    id.to_ascii_lowercase()
                ))
                .or_insert_with(|| v.to_string());
        }
        for (v, id) in &published.roles {
            names
                .entry(format!(
                    "{}|{}|Role",
                    app_id.to_ascii_lowercase(),
                    id.to_ascii_lowercase()
                ))
                .or_insert_with(|| v.to_string());
        }
        rra.push(RequiredResourceAccess {
            resource_app_id: app_id.clone(),
            resource_access: access,
        });
        resources.push(Resource {
            key: perm.api.clone(),
            name,
            resource_url: resource_url_of(sp, known, &app_id),
            app_id,
            service_principal_id: sp.map(|s| s.id.clone()),
            delegated: scope_values,
            application: role_values,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    // An application in deleted items is planned against what it held when it was deleted: it
    // is restored, then updated to the manifest.
    let mut application = plan_application(
        app,
        obs.application.as_ref().or(obs.deleted_application.as_ref()),
        &rra,
        &resources,
        &names,
        observed,
    );
    if obs.application.is_none() && obs.deleted_application.is_some() {
        application.action = Action::Restore;
    }
    let sp_id = obs.service_principal.as_ref().map(|s| s.id.clone());
    let service_principal = if sp_id.is_some() {
        Action::NoOp
    } else if application.action == Action::Restore && obs.deleted_service_principal.is_some() {
        Action::Restore
    } else {
        Action::Create
    };

    let mut grants = Vec::new();
    let mut assignments = Vec::new();
    if app.consent == ConsentMode::Admin {
        // Delegated: one AllPrincipals grant per resource, holding exactly the manifest's scopes.
        let all_principals: Vec<&OAuth2PermissionGrant> = obs
            .grants
            .iter()
            .filter(|g| g.consent_type == "AllPrincipals")
            .collect();
        for res in &resources {
            let want: BTreeSet<String> = res.delegated.iter().cloned().collect();
            let existing = res.service_principal_id.as_ref().and_then(|rid| {
                all_principals
                    .iter()
                    .find(|g| g.resource_id.eq_ignore_ascii_case(rid))
            });
            let have: BTreeSet<String> = existing
                .map(|g| g.scopes().into_iter().collect())
                .unwrap_or_default();
            let action = match (existing, want.is_empty()) {
                (None, true) => continue,
                (None, false) => Action::Create,
                (Some(_), true) => Action::Delete,
                (Some(_), false) if have == want => Action::NoOp,
                (Some(_), false) => Action::Update,
            };
            grants.push(GrantStep {
                action,
                resource: res.name.clone(),
                resource_key: Some(res.key.clone()),
                resource_sp_id: res.service_principal_id.clone(),
                grant_id: existing.map(|g| g.id.clone()),
                before: have.into_iter().collect(),
                after: want.into_iter().collect(),
            });
        }
        // Admin consent to resources the manifest no longer names is revoked.
        for g in &all_principals {
            let named = resources.iter().any(|r| {
                r.service_principal_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&g.resource_id))
            });
            if !named {
                grants.push(GrantStep {
                    action: Action::Delete,
                    resource: resource_name_for_sp_id(&g.resource_id, observed),
                    resource_key: None,
                    resource_sp_id: Some(g.resource_id.clone()),
                    grant_id: Some(g.id.clone()),
                    before: g.scopes(),
                    after: Vec::new(),
                });
            }
        }
        // Application permissions: one app role assignment per role.
        let mut kept: BTreeSet<String> = BTreeSet::new();
        for (idx, value, role_id) in &wanted_roles {
            let res = &resources[*idx];
            let existing = obs.assignments.iter().find(|a| {
                a.app_role_id.eq_ignore_ascii_case(role_id)
                    && res
                        .service_principal_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case(&a.resource_id))
            });
            if let Some(a) = existing {
                kept.insert(a.id.clone());
            }
            assignments.push(AssignmentStep {
                action: if existing.is_some() {
                    Action::NoOp
                } else {
                    Action::Create
                },
                resource: res.name.clone(),
                resource_key: Some(res.key.clone()),
                role: value.clone(),
                app_role_id: role_id.clone(),
                resource_sp_id: res.service_principal_id.clone(),
                assignment_id: existing.map(|a| a.id.clone()),
            });
        }
        for a in &obs.assignments {
            if !kept.contains(&a.id) {
                let resource = a
                    .resource_display_name
                    .clone()
                    .unwrap_or_else(|| resource_name_for_sp_id(&a.resource_id, observed));
                let role = role_name(&a.resource_id, &a.app_role_id, observed)
                    .unwrap_or_else(|| a.app_role_id.clone());
                assignments.push(AssignmentStep {
                    action: Action::Delete,
                    resource,
                    resource_key: None,
                    role,
                    app_role_id: a.app_role_id.clone(),
                    resource_sp_id: Some(a.resource_id.clone()),
                    assignment_id: Some(a.id.clone()),
                });
            }
        }
    }

    let mut ownership_problems = Vec::new();
    let (owners, kept_owner) = ownership::plan_owners(app, obs, observed, &mut ownership_problems);
    if !ownership_problems.is_empty() {
        return Err(ownership_problems);
    }
    let federated_credentials = ownership::plan_federated_credentials(app, obs);

    Ok(AppPlan {
        owners,
        kept_owner,
        federated_credentials,
        unique_name: app.unique_name.clone(),
        display_name: app.display_name.clone(),
        application,
        service_principal,
        service_principal_id: sp_id,
        consent: app.consent,
        grants,
        assignments,
        resources,
        credentials: Vec::new(),
    })
}

fn unknown_permission<'a>(
    location: Location,
    api: &str,
    value: &str,
    kind: &str,
    names: impl Iterator<Item = &'a str>,
) -> PlanProblem {
    let names: Vec<&str> = names.collect();
    let near = crate::manifest::rules::closest_n(value, names.iter().copied(), 3);
    let help = if near.is_empty() {
        let mut all: Vec<&str> = names.clone();
        all.sort();
        Some(format!(
            "{api} publishes these {kind} permissions: {}",
            all.join(", ")
        ))
    } else {
        Some(format!(
            "did you mean {}?",
            near.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    };
    PlanProblem {
        location,
        message: format!("{api} has no {kind} permission `{value}`"),
        help,
    }
}

/// Every resource service principal that was read: the manifest's APIs and the others.
fn read_sps(observed: &Observed) -> impl Iterator<Item = &ServicePrincipal> {
    observed
        .resources
        .values()
        .filter_map(|r| match r {
            ResourceState::Found(sp) => Some(sp),
            _ => None,
        })
        .chain(observed.others.iter())
}

fn sp_by_id<'a>(sp_id: &str, observed: &'a Observed) -> Option<&'a ServicePrincipal> {
    read_sps(observed).find(|sp| sp.id.eq_ignore_ascii_case(sp_id))
}

/// A resource's name: its service principal's display name (read), else the catalog's name of
/// its appId, else its object id (only when it could not be read at all).
fn resource_name_for_sp_id(sp_id: &str, observed: &Observed) -> String {
    sp_by_id(sp_id, observed)
        .and_then(|sp| {
            sp.display_name
                .clone()
                .or_else(|| catalog::by_app_id(&sp.app_id).map(|k| k.display_name.clone()))
        })
        .unwrap_or_else(|| format!("service principal {sp_id}"))
}

fn role_name(resource_sp_id: &str, role_id: &str, observed: &Observed) -> Option<String> {
    let sp = sp_by_id(resource_sp_id, observed)?;
    sp.app_roles
        .iter()
        .find(|ar| ar.id.eq_ignore_ascii_case(role_id))
        .and_then(|ar| ar.value.clone())
        .or_else(|| {
            catalog::by_app_id(&sp.app_id)?
                .roles
                .iter()
                .find(|p| p.id.eq_ignore_ascii_case(role_id))
                .map(|p| p.value.clone())
        })
}

/// The value of permission `id` of the resource `app_id` (`Scope` or `Role`), from a service
/// principal that was read, else the catalog.
fn permission_name(app_id: &str, id: &str, kind: &str, observed: &Observed) -> Option<String> {
    let from_sp = read_sps(observed)
        .filter(|sp| sp.app_id.eq_ignore_ascii_case(app_id))
        .find_map(|sp| {
            if kind == "Role" {
                sp.app_roles
                    .iter()
                    .find(|r| r.id.eq_ignore_ascii_case(id))
                    .and_then(|r| r.value.clone())
            } else {
                sp.oauth2_permission_scopes
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(id))
                    .and_then(|s| s.value.clone())
            }
        });
    from_sp.or_else(|| {
        let known = catalog::by_app_id(app_id)?;
        let list = if kind == "Role" {
            &known.roles
        } else {
            &known.scopes
        };
        list.iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .map(|p| p.value.clone())
    })
}

fn plan_application(
    app: &DesiredApp,
    existing: Option<&Application>,
    rra: &[RequiredResourceAccess],
    resources: &[Resource],
    names: &BTreeMap<String, String>,
    observed: &Observed,
) -> ApplicationStep {
    let mut fields = Vec::new();
    let mut body = serde_json::Map::new();
    body.insert("displayName".into(), json!(app.display_name));
    let mut change = |name: &str, before: Value, after: Value, key: &str, value: Value| {
        if before != after {
            fields.push(FieldChange {
                name: name.into(),
                before,
                after,
            });
            body.insert(key.into(), value);
        }
    };
    let cur = existing.cloned().unwrap_or_default();
    let exists = existing.is_some();
    let opt = |v: &Option<String>| v.as_ref().map(|s| json!(s)).unwrap_or(Value::Null);

    change(
        "display_name",
        if exists {
            opt(&cur.display_name)
        } else {
            Value::Null
        },
        json!(app.display_name),
        "displayName",
        json!(app.display_name),
    );
    change(
        "sign_in_audience",
        if exists {
            opt(&cur.sign_in_audience)
        } else {
            Value::Null
        },
        json!(app.sign_in_audience.as_str()),
        "signInAudience",
        json!(app.sign_in_audience.as_str()),
    );
    if let Some(notes) = &app.notes {
        change(
            "notes",
            if exists { opt(&cur.notes) } else { Value::Null },
            json!(notes),
            "notes",
            json!(notes),
        );
    }
    if !app.tags.is_empty() {
        let missing: Vec<&String> = app.tags.iter().filter(|t| !cur.tags.contains(t)).collect();
        if !missing.is_empty() {
            let mut after = cur.tags.clone();
            after.extend(missing.into_iter().cloned());
            let before = if exists { json!(cur.tags) } else { Value::Null };
            change("tags", before, json!(after), "tags", json!(after));
        }
    }
    if let Some(pc) = &app.public_client {
        let before: Vec<String> = cur
            .public_client
            .as_ref()
            .map(|p| p.redirect_uris.clone())
            .unwrap_or_default();
        let before_set: BTreeSet<&String> = before.iter().collect();
        let after_set: BTreeSet<&String> = pc.redirect_uris.iter().collect();
        if before_set != after_set || !exists {
            change(
                "public_client.redirect_uris",
                if exists { json!(before) } else { Value::Null },
                json!(pc.redirect_uris),
                "publicClient",
                json!({ "redirectUris": pc.redirect_uris }),
            );
        }
        change(
            "allow_public_client_flows",
            if exists {
                json!(cur.is_fallback_public_client.unwrap_or(false))
            } else {
                Value::Null
            },
            json!(pc.allow_public_client_flows),
            "isFallbackPublicClient",
            json!(pc.allow_public_client_flows),
        );
    }
    if rra_set(&cur.required_resource_access) != rra_set(rra) || (!exists && !rra.is_empty()) {
        change(
            "api_permissions",
            if exists {
                describe_rra(&cur.required_resource_access, resources, names, observed)
            } else {
                Value::Null
            },
            describe_rra(rra, resources, names, observed),
            "requiredResourceAccess",
            serde_json::to_value(rra).unwrap_or(Value::Null),
        );
    }
    let mut after_create = None;
    let disable_first = props::plan(app, &cur, exists, &mut fields, &mut body, &mut after_create);
    let action = if !exists {
        Action::Create
    } else if fields.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    ApplicationStep {
        action,
        object_id: existing.map(|a| a.id.clone()),
        app_id: existing.map(|a| a.app_id.clone()),
        pinned: app.app_id.is_some(),
        fields,
        body: Value::Object(body),
        disable_first,
        after_create,
    }
}

pub mod ownership;
mod props;
pub use props::{APP_ID_PLACEHOLDER, derived_id};

#[cfg(test)]
mod tests;
