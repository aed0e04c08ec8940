//! `provision audit`: every application that holds a delegated grant or an application
//! permission on the audited APIs, who consented, since when, which manifest manages it and
//! how it differs. [`read`] does the Graph reads (paged, `$select`, filtered on the server,
//! concurrent); [`build`] turns them and the manifests into a [`Report`] without I/O; the
//! renderers are pure too.
//!
//! Reads, for tenant size T (service principals + applications) and G grants on the audited
//! APIs, at 999 objects a page (the largest `$top` Graph allows on directory collections,
//! learn.microsoft.com/graph/api/application-list):
//!
//! ```text
//! round 1  GET /servicePrincipals(appId='…')?$select=…            one per API, concurrently
//!          GET /servicePrincipals?$select=id,appId,displayName&$top=999        ┐ paged, next to
//!          GET /applications?$select=id,appId,uniqueName,displayName&$top=999  ┘ everything else
//! round 2+ GET /oauth2PermissionGrants?$filter=resourceId eq '…'&$top=999     per API, paged
//!          GET /servicePrincipals/{id}/appRoleAssignedTo?$top=999            per API, paged
//! ```
//!
//! Rounds grow with pages (T/999, G/999), never with the number of apps.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog;
use crate::graph::client::odata_literal;
use crate::graph::{GraphClient, GraphError};
use crate::model::{ApiRef, ConsentMode, Desired};

/// Microsoft Graph permissions the default audit counts as high privilege: those that change
/// the directory or grant permissions, read or write every user's mail, files or profile, or
/// read the tenant's security data. Other Graph permissions (`User.Read`, `openid`, …) are
/// left out of the default audit; `--api microsoft-graph` audits all of them.
pub const GRAPH_HIGH_PRIVILEGE: &[&str] = &[
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.AccessAsUser.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Files.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.Send",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.ReadWrite.ConditionalAccess",
    "RoleManagement.ReadWrite.Directory",
    "SecurityAlert.Read.All",
    "SecurityIncident.Read.All",
    "SecurityIncident.ReadWrite.All",
    "Sites.FullControl.All",
    "Sites.ReadWrite.All",
    "ThreatHunting.Read.All",
    "User.ReadWrite.All",
];

/// The largest page Graph serves from directory collections.
pub const PAGE: usize = 999;

/// An API to audit, as the user named it, and which of its permissions count.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditApi {
    /// `--api` as written, or the alias of a default API.
    pub text: String,
    /// `None`: every permission; else only these values (compared without case).
    pub only: Option<BTreeSet<String>>,
}

/// The default audit: Microsoft Threat Protection and Defender for Endpoint entirely, and
/// Microsoft Graph's [`GRAPH_HIGH_PRIVILEGE`] permissions.
pub fn default_apis() -> Vec<AuditApi> {
    vec![
        AuditApi {
            text: "microsoft-threat-protection".into(),
            only: None,
        },
        AuditApi {
            text: "windows-defender-atp".into(),
            only: None,
        },
        AuditApi {
            text: "microsoft-graph".into(),
            only: Some(GRAPH_HIGH_PRIVILEGE.iter().map(|s| s.to_lowercase()).collect()),
        },
    ]
}

/// `--api` values: every permission of each.
pub fn chosen_apis(texts: &[String]) -> Vec<AuditApi> {
    let mut out: Vec<AuditApi> = Vec::new();
    for t in texts {
        if !out.iter().any(|a| a.text.eq_ignore_ascii_case(t)) {
            out.push(AuditApi {
                text: t.clone(),
                only: None,
            });
        }
    }
    out
}

// --- what Graph answers (only the properties `$select` asks for) ---------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSp {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub service_principal_names: Vec<String>,
    #[serde(default)]
    pub app_roles: Vec<RoleRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleRef {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpLite {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppLite {
    pub app_id: String,
    #[serde(default)]
    pub unique_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantLite {
    pub client_id: String,
    pub consent_type: String,
    #[serde(default)]
    pub principal_id: Option<String>,
    pub resource_id: String,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentLite {
    pub app_role_id: String,
    pub principal_id: String,
    #[serde(default)]
    pub principal_type: Option<String>,
    pub resource_id: String,
    #[serde(default)]
    pub created_date_time: Option<String>,
}

/// Everything the audit read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Per audited API (same order): its service principal, when the tenant has one.
    pub resources: Vec<Option<ResourceSp>>,
    pub service_principals: Vec<SpLite>,
    pub applications: Vec<AppLite>,
    pub grants: Vec<GrantLite>,
    pub assignments: Vec<AssignmentLite>,
}

const RESOURCE_SELECT: &str = "id,appId,displayName,servicePrincipalNames,appRoles";

/// The service principal an `--api` value names: a known API or an appId by
/// `(appId='…')`, else by identifier URI, else by display name. `None` when the tenant has none.
async fn resolve(graph: &GraphClient, text: &str) -> Result<Option<ResourceSp>, GraphError> {
    let app_id = catalog::lookup(text)
        .map(|k| k.app_id.clone())
        .or_else(|| uuid::Uuid::parse_str(text).ok().map(|u| u.to_string()));
    if let Some(app_id) = app_id {
        return graph
            .get_optional(format!(
                "/servicePrincipals(appId='{}')?$select={RESOURCE_SELECT}",
                odata_literal(&app_id)
            ))
            .await;
    }
    let by_name: Vec<ResourceSp> = graph
        .list(format!(
            "/servicePrincipals?$filter=servicePrincipalNames/any(c:c%20eq%20'{}')&$select={RESOURCE_SELECT}",
            odata_literal(text)
        ))
        .await?;
    if let Some(sp) = by_name.into_iter().next() {
        return Ok(Some(sp));
    }
    let by_display: Vec<ResourceSp> = graph
        .list(format!(
            "/servicePrincipals?$filter=displayName%20eq%20'{}'&$select={RESOURCE_SELECT}",
            odata_literal(text)
        ))
        .await?;
    Ok(by_display.into_iter().next())
}

/// Read the tenant for an audit of `apis` (see the module comment for the calls).
pub async fn read(graph: &GraphClient, apis: &[AuditApi]) -> Result<Snapshot, GraphError> {
    let grants_and_assignments = async {
        let resources = futures::future::try_join_all(apis.iter().map(|a| resolve(graph, &a.text))).await?;
        let per_api = futures::future::try_join_all(resources.iter().flatten().map(|sp| async move {
            futures::try_join!(
                graph.list::<GrantLite>(format!(
                    "/oauth2PermissionGrants?$filter=resourceId%20eq%20'{}'&$select=clientId,consentType,principalId,resourceId,scope&$top={PAGE}",
                    odata_literal(&sp.id)
                )),
                graph.list::<AssignmentLite>(format!(
                    "/servicePrincipals/{}/appRoleAssignedTo?$select=appRoleId,principalId,principalType,resourceId,createdDateTime&$top={PAGE}",
                    odata_literal(&sp.id)
                )),
            )
        }))
        .await?;
        Ok::<_, GraphError>((resources, per_api))
    };
    let (gathered, service_principals, applications) = futures::try_join!(
        grants_and_assignments,
        graph.list::<SpLite>(format!(
            "/servicePrincipals?$select=id,appId,displayName&$top={PAGE}"
        )),
        graph.list::<AppLite>(format!(
            "/applications?$select=id,appId,uniqueName,displayName&$top={PAGE}"
        )),
    )?;
    let (resources, per_api) = gathered;
    let mut snapshot = Snapshot {
        resources,
        service_principals,
        applications,
        ..Snapshot::default()
    };
    for (grants, assignments) in per_api {
        snapshot.grants.extend(grants);
        snapshot.assignments.extend(assignments);
    }
    Ok(snapshot)
}

// --- the report ------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub format_version: &'static str,
    pub tenant_id: String,
    pub apis: Vec<ApiEntry>,
    pub apps: Vec<AppEntry>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiEntry {
    /// `--api` as given, or the default's alias.
    pub requested: String,
    pub name: Option<String>,
    pub app_id: Option<String>,
    /// `false` when the tenant has no service principal for it (nothing can hold its permissions).
    pub in_tenant: bool,
    /// `null`: every permission counts; else the ones that do.
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppEntry {
    pub display_name: Option<String>,
    /// `None`: a managed app that is not in the tenant, or a client whose service principal
    /// could not be read.
    pub app_id: Option<String>,
    pub service_principal_id: Option<String>,
    /// The registration's `uniqueName`, when it has one.
    pub unique_name: Option<String>,
    pub managed_by: Option<ManagedBy>,
    pub permissions: Vec<Held>,
    /// How the tenant differs from the manifest (empty: as declared; always empty when unmanaged).
    pub drift: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ManagedBy {
    pub manifest: String,
    pub unique_name: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Delegated,
    Application,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Held {
    pub api: String,
    pub kind: Kind,
    pub permission: String,
    /// Delegated: consented by an administrator for every user (`AllPrincipals`);
    /// application permissions are always admin-consented.
    pub admin_consent: bool,
    /// Delegated: the users who consented for themselves (object ids).
    pub users: Vec<String>,
    /// Application permissions: when the assignment was made (Graph's `createdDateTime`;
    /// delegated grants carry no date in Graph v1.0).
    pub since: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Summary {
    pub apps: usize,
    pub unmanaged: usize,
    pub managed: usize,
    pub drifted: usize,
}

impl Report {
    pub fn has_unmanaged(&self) -> bool {
        self.summary.unmanaged > 0
    }
    pub fn has_drift(&self) -> bool {
        self.summary.drifted > 0
    }
}

/// Audited resources by service principal id: (position among the APIs, name, which
/// permissions count, the service principal).
type Audited<'a> = BTreeMap<&'a str, (usize, String, &'a Option<BTreeSet<String>>, &'a ResourceSp)>;

fn counts(only: &Option<BTreeSet<String>>, name: &str) -> bool {
    only.as_ref().is_none_or(|o| o.contains(&name.to_lowercase()))
}

/// Whether a manifest's `api` names this service principal.
fn names_api(api: &ApiRef, sp: &ResourceSp) -> bool {
    match api {
        ApiRef::Known(id) | ApiRef::AppId(id) => id.eq_ignore_ascii_case(&sp.app_id),
        ApiRef::Name(n) => {
            sp.display_name
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(n))
                || sp.service_principal_names.iter().any(|s| {
                    s.trim_end_matches('/')
                        .eq_ignore_ascii_case(n.trim_end_matches('/'))
                })
        }
    }
}

/// Build the report: pure.
pub fn build(apis: &[AuditApi], snapshot: &Snapshot, manifests: &[Desired], tenant_id: &str) -> Report {
    let api_entries: Vec<ApiEntry> = apis
        .iter()
        .zip(&snapshot.resources)
        .map(|(a, sp)| ApiEntry {
            requested: a.text.clone(),
            name: sp.as_ref().and_then(|s| s.display_name.clone()),
            app_id: sp.as_ref().map(|s| s.app_id.clone()),
            in_tenant: sp.is_some(),
            permissions: a.only.as_ref().map(|o| {
                let canonical: Vec<String> = GRAPH_HIGH_PRIVILEGE
                    .iter()
                    .filter(|p| o.contains(&p.to_lowercase()))
                    .map(|p| (*p).to_owned())
                    .collect();
                if canonical.len() == o.len() {
                    canonical
                } else {
                    o.iter().cloned().collect()
                }
            }),
        })
        .collect();
    // Audited resources by service principal id: (position, name, filter, sp).
    let resources: Audited<'_> = apis
        .iter()
        .zip(&snapshot.resources)
        .enumerate()
        .filter_map(|(i, (a, sp))| {
            let sp = sp.as_ref()?;
            let name = sp.display_name.clone().unwrap_or_else(|| sp.app_id.clone());
            Some((sp.id.as_str(), (i, name, &a.only, sp)))
        })
        .collect();
    let sps: BTreeMap<&str, &SpLite> = snapshot
        .service_principals
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    let unique_names: BTreeMap<String, &str> = snapshot
        .applications
        .iter()
        .filter_map(|a| Some((a.app_id.to_lowercase(), a.unique_name.as_deref()?)))
        .collect();

    // (client sp id) → (api position, kind, permission) → Held
    type Key = (usize, Kind, String);
    let mut held: BTreeMap<&str, BTreeMap<Key, Held>> = BTreeMap::new();
    for g in &snapshot.grants {
        let Some((pos, api_name, only, _)) = resources.get(g.resource_id.as_str()) else {
            continue;
        };
        for scope in g.scope.as_deref().unwrap_or_default().split_whitespace() {
            if !counts(only, scope) {
                continue;
            }
            let h = held
                .entry(g.client_id.as_str())
                .or_default()
                .entry((*pos, Kind::Delegated, scope.to_owned()))
                .or_insert_with(|| Held {
                    api: api_name.clone(),
                    kind: Kind::Delegated,
                    permission: scope.to_owned(),
                    admin_consent: false,
                    users: Vec::new(),
                    since: None,
                });
            if g.consent_type == "AllPrincipals" {
                h.admin_consent = true;
            } else if let Some(p) = &g.principal_id
                && !h.users.contains(p)
            {
                h.users.push(p.clone());
                h.users.sort();
            }
        }
    }
    for a in &snapshot.assignments {
        if a.principal_type
            .as_deref()
            .is_some_and(|t| t != "ServicePrincipal")
        {
            continue;
        }
        let Some((pos, api_name, only, sp)) = resources.get(a.resource_id.as_str()) else {
            continue;
        };
        let value = sp
            .app_roles
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(&a.app_role_id))
            .and_then(|r| r.value.clone())
            .unwrap_or_else(|| a.app_role_id.clone());
        if !counts(only, &value) {
            continue;
        }
        let h = held
            .entry(a.principal_id.as_str())
            .or_default()
            .entry((*pos, Kind::Application, value.clone()))
            .or_insert_with(|| Held {
                api: api_name.clone(),
                kind: Kind::Application,
                permission: value,
                admin_consent: true,
                users: Vec::new(),
                since: None,
            });
        // The earliest assignment, when the same role was assigned twice.
        if let Some(at) = &a.created_date_time
            && h.since.as_ref().is_none_or(|s| at < s)
        {
            h.since = Some(at.clone());
        }
    }

    // Manifest apps by unique name and by appId.
    let mut by_unique: BTreeMap<String, (&Desired, usize)> = BTreeMap::new();
    let mut by_app_id: BTreeMap<String, (&Desired, usize)> = BTreeMap::new();
    for d in manifests {
        for (i, app) in d.apps.iter().enumerate() {
            by_unique.entry(app.unique_name.to_lowercase()).or_insert((d, i));
            if let Some(id) = &app.app_id {
                by_app_id.entry(id.to_lowercase()).or_insert((d, i));
            }
        }
    }
    let manager = |app_id: &str| -> Option<(&Desired, usize)> {
        unique_names
            .get(&app_id.to_lowercase())
            .and_then(|u| by_unique.get(&u.to_lowercase()))
            .or_else(|| by_app_id.get(&app_id.to_lowercase()))
            .copied()
    };

    let mut apps: Vec<AppEntry> = Vec::new();
    let mut seen_manifest_apps: BTreeSet<(String, usize)> = BTreeSet::new();
    for (client, perms) in &held {
        let sp = sps.get(client);
        let app_id = sp.map(|s| s.app_id.clone());
        let managed = app_id.as_deref().and_then(&manager);
        let held_list: Vec<Held> = perms.values().cloned().collect();
        let drift = match managed {
            Some((d, i)) => {
                seen_manifest_apps.insert((d.source.display().to_string(), i));
                drift_of(d, i, &held_list, &resources)
            }
            None => Vec::new(),
        };
        apps.push(AppEntry {
            display_name: sp.and_then(|s| s.display_name.clone()),
            unique_name: app_id
                .as_deref()
                .and_then(|id| unique_names.get(&id.to_lowercase()))
                .map(|u| (*u).to_owned()),
            app_id,
            service_principal_id: Some((*client).to_owned()),
            managed_by: managed.map(|(d, i)| ManagedBy {
                manifest: d.source.display().to_string(),
                unique_name: d.apps[i].unique_name.clone(),
            }),
            permissions: held_list,
            drift,
        });
    }
    // Managed apps that hold nothing audited although their manifest asks for it.
    for d in manifests {
        for (i, app) in d.apps.iter().enumerate() {
            if seen_manifest_apps.contains(&(d.source.display().to_string(), i)) {
                continue;
            }
            let drift = drift_of(d, i, &[], &resources);
            if drift.is_empty() {
                continue;
            }
            let found = snapshot.applications.iter().find(|a| {
                a.unique_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&app.unique_name))
                    || app
                        .app_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case(&a.app_id))
            });
            let sp = found.and_then(|a| snapshot.service_principals.iter().find(|s| s.app_id == a.app_id));
            let mut drift = drift;
            if found.is_none() {
                drift.insert(0, "not in the tenant".to_owned());
            }
            apps.push(AppEntry {
                display_name: sp
                    .and_then(|s| s.display_name.clone())
                    .or(Some(app.display_name.clone())),
                app_id: found.map(|a| a.app_id.clone()),
                service_principal_id: sp.map(|s| s.id.clone()),
                unique_name: found.and_then(|a| a.unique_name.clone()),
                managed_by: Some(ManagedBy {
                    manifest: d.source.display().to_string(),
                    unique_name: app.unique_name.clone(),
                }),
                permissions: Vec::new(),
                drift,
            });
        }
    }
    apps.sort_by(|a, b| {
        let key = |e: &AppEntry| {
            (
                e.display_name.clone().unwrap_or_default().to_lowercase(),
                e.app_id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let summary = Summary {
        apps: apps.len(),
        unmanaged: apps.iter().filter(|a| a.managed_by.is_none()).count(),
        managed: apps.iter().filter(|a| a.managed_by.is_some()).count(),
        drifted: apps.iter().filter(|a| !a.drift.is_empty()).count(),
    };
    Report {
        format_version: crate::render::FORMAT_VERSION,
        tenant_id: tenant_id.to_owned(),
        apis: api_entries,
        apps,
        summary,
    }
}

/// How what an app holds differs from its manifest, on the audited APIs and permissions. Only
/// what apply manages counts: with `grant = "admin"`, the tenant-wide delegated grant and the
/// application permissions; users' own consent is never drift.
fn drift_of(d: &Desired, i: usize, held: &[Held], resources: &Audited<'_>) -> Vec<String> {
    let app = &d.apps[i];
    if app.consent != ConsentMode::Admin {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut ordered: Vec<_> = resources.values().collect();
    ordered.sort_by_key(|r| r.0);
    for (_, api_name, only, sp) in ordered {
        let wanted = app.api_permissions.iter().find(|p| names_api(&p.api, sp));
        for kind in [Kind::Delegated, Kind::Application] {
            let want: BTreeSet<String> = wanted
                .map(|p| match kind {
                    Kind::Delegated => &p.delegated,
                    Kind::Application => &p.application,
                })
                .into_iter()
                .flatten()
                .filter(|n| counts(only, n))
                .cloned()
                .collect();
            let have: BTreeSet<String> = held
                .iter()
                .filter(|h| &h.api == api_name && h.kind == kind && h.admin_consent)
                .map(|h| h.permission.clone())
                .collect();
            let lower = |s: &BTreeSet<String>| s.iter().map(|x| x.to_lowercase()).collect::<BTreeSet<_>>();
            let (want_l, have_l) = (lower(&want), lower(&have));
            let what = match kind {
                Kind::Delegated => "delegated",
                Kind::Application => "application",
            };
            for h in have.iter().filter(|h| !want_l.contains(&h.to_lowercase())) {
                out.push(format!(
                    "{api_name}: {what} `{h}` is consented but not in the manifest"
                ));
            }
            for w in want.iter().filter(|w| !have_l.contains(&w.to_lowercase())) {
                out.push(format!(
                    "{api_name}: {what} `{w}` is in the manifest but not consented"
                ));
            }
        }
    }
    out
}

// --- rendering ------------------------------------------------------------------------------

fn consent_text(h: &Held) -> String {
    let mut parts = Vec::new();
    match (h.admin_consent, h.kind) {
        (true, Kind::Delegated) => parts.push("admin consent for all users".to_owned()),
        (true, Kind::Application) => parts.push("admin consent".to_owned()),
        (false, _) => {}
    }
    match h.users.len() {
        0 => {}
        1 => parts.push(format!("1 user: {}", h.users[0])),
        n => parts.push(format!("{n} users: {}", h.users.join(", "))),
    }
    if let Some(s) = &h.since {
        parts.push(format!("since {s}"));
    }
    parts.join("; ")
}

fn api_scope_text(a: &ApiEntry) -> String {
    let name = a.name.clone().unwrap_or_else(|| a.requested.clone());
    let which = match &a.permissions {
        None => "every permission".to_owned(),
        Some(p) => format!("{} high-privilege permissions", p.len()),
    };
    if a.in_tenant {
        format!("{name} ({which})")
    } else {
        format!("{name} (not in the tenant: nothing can hold its permissions)")
    }
}

fn status_text(a: &AppEntry) -> String {
    match (&a.managed_by, a.drift.is_empty()) {
        (None, _) => "unmanaged".to_owned(),
        (Some(m), true) => format!("managed by {} as `{}`", m.manifest, m.unique_name),
        (Some(m), false) => format!("managed by {} as `{}`, drifted", m.manifest, m.unique_name),
    }
}

fn summary_text(r: &Report) -> String {
    format!(
        "{} app{} hold{} audited permissions: {} unmanaged, {} managed ({} drifted)",
        r.summary.apps,
        if r.summary.apps == 1 { "" } else { "s" },
        if r.summary.apps == 1 { "s" } else { "" },
        r.summary.unmanaged,
        r.summary.managed,
        r.summary.drifted
    )
}

/// Human text.
pub fn text(r: &Report) -> String {
    let mut out = String::from("Audited APIs:\n");
    for a in &r.apis {
        out.push_str(&format!("  {}\n", api_scope_text(a)));
    }
    for a in &r.apps {
        out.push('\n');
        let name = a.display_name.as_deref().unwrap_or("(no display name)");
        let id = a.app_id.as_deref().unwrap_or("no appId");
        out.push_str(&format!("{name} ({id}): {}\n", status_text(a)));
        let width = a.permissions.iter().map(|h| h.api.len()).max().unwrap_or(0);
        let pw = a
            .permissions
            .iter()
            .map(|h| h.permission.len())
            .max()
            .unwrap_or(0);
        for h in &a.permissions {
            let kind = match h.kind {
                Kind::Delegated => "delegated  ",
                Kind::Application => "application",
            };
            out.push_str(&format!(
                "  {:width$}  {kind}  {:pw$}  {}\n",
                h.api,
                h.permission,
                consent_text(h)
            ));
        }
        for d in &a.drift {
            out.push_str(&format!("  ~ {d}\n"));
        }
    }
    out.push('\n');
    out.push_str(&summary_text(r));
    out.push('\n');
    out
}

/// A Markdown cell: pipes, backslashes and line breaks of tenant-supplied text escaped.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

/// A Markdown table, one row per app, for a pull-request comment or a job summary.
pub fn markdown(r: &Report) -> String {
    let mut out = String::from("### provision audit\n\n");
    out.push_str(&format!("{}.\n\n", summary_text(r)));
    out.push_str("Audited: ");
    out.push_str(
        &r.apis
            .iter()
            .map(|a| cell(&api_scope_text(a)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(".\n\n");
    if r.apps.is_empty() {
        out.push_str("No application holds these permissions.\n");
        return out;
    }
    out.push_str("| app | appId | managed by | permissions | drift |\n|---|---|---|---|---|\n");
    for a in &r.apps {
        let perms: Vec<String> = a
            .permissions
            .iter()
            .map(|h| {
                let kind = match h.kind {
                    Kind::Delegated => "delegated",
                    Kind::Application => "application",
                };
                cell(&format!(
                    "{}: {} ({kind}; {})",
                    h.api,
                    h.permission,
                    consent_text(h)
                ))
            })
            .collect();
        let managed = match &a.managed_by {
            None => "**unmanaged**".to_owned(),
            Some(m) => format!("`{}` in {}", cell(&m.unique_name), cell(&m.manifest)),
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            cell(a.display_name.as_deref().unwrap_or("")),
            cell(a.app_id.as_deref().unwrap_or("")),
            managed,
            perms.join("<br>"),
            a.drift.iter().map(|d| cell(d)).collect::<Vec<_>>().join("<br>")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(id: &str, app_id: &str, name: &str) -> SpLite {
        SpLite {
            id: id.into(),
            app_id: app_id.into(),
            display_name: Some(name.into()),
        }
    }

    fn tp() -> ResourceSp {
        ResourceSp {
            id: "tp-sp".into(),
            app_id: "8ee8fdad-f234-4243-8f3b-15c294843740".into(),
            display_name: Some("Microsoft Threat Protection".into()),
            service_principal_names: vec![],
            app_roles: vec![RoleRef {
                id: "r1".into(),
                value: Some("Incident.Read.All".into()),
            }],
        }
    }

    fn grant(client: &str, consent: &str, user: Option<&str>, scope: &str) -> GrantLite {
        GrantLite {
            client_id: client.into(),
            consent_type: consent.into(),
            principal_id: user.map(str::to_owned),
            resource_id: "tp-sp".into(),
            scope: Some(scope.into()),
        }
    }

    fn manifest(text: &str) -> Desired {
        crate::manifest::check("m.toml", text)
            .desired
            .expect("valid manifest")
    }

    #[test]
    fn holders_consent_since_managed_and_drift() {
        let apis = vec![AuditApi {
            text: "microsoft-threat-protection".into(),
            only: None,
        }];
        let snapshot = Snapshot {
            resources: vec![Some(tp())],
            service_principals: vec![sp("c1", "a1", "Managed"), sp("c2", "a2", "Stray")],
            applications: vec![
                AppLite {
                    app_id: "a1".into(),
                    unique_name: Some("soc-tool".into()),
                },
                AppLite {
                    app_id: "a2".into(),
                    unique_name: None,
                },
            ],
            grants: vec![
                grant("c1", "AllPrincipals", None, "Incident.Read AdvancedHunting.Read"),
                grant("c2", "Principal", Some("u2"), "Incident.Read"),
                grant("c2", "Principal", Some("u1"), "Incident.Read"),
            ],
            assignments: vec![AssignmentLite {
                app_role_id: "r1".into(),
                principal_id: "c2".into(),
                principal_type: Some("ServicePrincipal".into()),
                resource_id: "tp-sp".into(),
                created_date_time: Some("2025-01-06T09:00:00Z".into()),
            }],
        };
        let m = manifest(
            "[app]\nunique_name = \"soc-tool\"\ndisplay_name = \"Managed\"\n\
             [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Read\", \"Incident.ReadWrite\"]\n",
        );
        let r = build(&apis, &snapshot, &[m], "t");
        assert_eq!(
            r.summary,
            Summary {
                apps: 2,
                unmanaged: 1,
                managed: 1,
                drifted: 1
            }
        );
        let managed = &r.apps[0];
        assert_eq!(managed.managed_by.as_ref().unwrap().unique_name, "soc-tool");
        assert_eq!(
            managed.drift,
            [
                "Microsoft Threat Protection: delegated `AdvancedHunting.Read` is consented but not in the manifest",
                "Microsoft Threat Protection: delegated `Incident.ReadWrite` is in the manifest but not consented",
            ]
        );
        let stray = &r.apps[1];
        assert!(stray.managed_by.is_none() && stray.drift.is_empty());
        assert_eq!(stray.permissions.len(), 2);
        assert_eq!(stray.permissions[0].users, ["u1", "u2"]);
        assert!(!stray.permissions[0].admin_consent);
        assert_eq!(stray.permissions[1].permission, "Incident.Read.All");
        assert_eq!(
            stray.permissions[1].since.as_deref(),
            Some("2025-01-06T09:00:00Z")
        );
        assert!(markdown(&r).contains("| Stray | `a2` | **unmanaged** |"));
    }

    #[test]
    fn graph_counts_only_high_privilege_by_default_and_missing_apps_are_drift() {
        let apis = default_apis();
        let graph = ResourceSp {
            id: "g".into(),
            app_id: catalog::MICROSOFT_GRAPH_APP_ID.into(),
            display_name: Some("Microsoft Graph".into()),
            service_principal_names: vec![],
            app_roles: vec![],
        };
        let snapshot = Snapshot {
            resources: vec![None, None, Some(graph)],
            service_principals: vec![sp("c1", "a1", "One")],
            applications: vec![],
            grants: vec![GrantLite {
                client_id: "c1".into(),
                consent_type: "AllPrincipals".into(),
                principal_id: None,
                resource_id: "g".into(),
                scope: Some("User.Read openid Mail.Read".into()),
            }],
            assignments: vec![],
        };
        let m = manifest(
            "[app]\nunique_name = \"absent\"\ndisplay_name = \"Absent\"\n\
             [[app.api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\", \"Directory.Read.All\"]\n",
        );
        let r = build(&apis, &snapshot, &[m], "t");
        let one = r.apps.iter().find(|a| a.app_id.as_deref() == Some("a1")).unwrap();
        assert_eq!(one.permissions.len(), 1);
        assert_eq!(one.permissions[0].permission, "Mail.Read");
        let absent = r.apps.iter().find(|a| a.managed_by.is_some()).unwrap();
        // Not in the tenant: no appId to show (null in JSON, never an empty string).
        assert_eq!(absent.app_id, None);
        assert_eq!(
            absent.drift,
            [
                "not in the tenant",
                "Microsoft Graph: delegated `Directory.Read.All` is in the manifest but not consented"
            ]
        );
        assert!(!r.apis[0].in_tenant);
        assert_eq!(
            r.apis[2].permissions.as_ref().unwrap().len(),
            GRAPH_HIGH_PRIVILEGE.len()
        );
    }
}
