//! Reading the tenant: everything the planner compares with the manifest, in two concurrent
//! rounds (CONTRIBUTING.md "Performance", round budget): (1) each application by its key and each resource API's
//! service principal; (2) each existing app's service principal, its delegated grants and its
//! app role assignments, all through the `(appId='…')` key so none waits for another.
//! The tenant guard is checked alongside (see `check_tenant_guard`).

use std::collections::BTreeSet;

use futures::future::try_join_all;

use crate::error::{Error, Result};
use crate::graph::{GraphClient, GraphError};
use crate::model::{ApiRef, Desired};
use crate::plan::{Observed, ObservedApp, ResourceState};

/// Read what the manifest's apps and resources look like in the tenant.
pub async fn observe(graph: &GraphClient, desired: &Desired, tenant_id: &str) -> Result<Observed> {
    let apis: BTreeSet<&ApiRef> = desired
        .apps
        .iter()
        .flat_map(|a| a.api_permissions.iter().map(|p| &p.api))
        .collect();

    // Round 1: applications, resource service principals and (for a domain guard) the
    // organization, all at once.
    let apps_fut = try_join_all(desired.apps.iter().map(|app| async move {
        match &app.app_id {
            Some(pinned) => graph.application_by_app_id(pinned).await,
            None => graph.application_by_unique_name(&app.unique_name).await,
        }
    }));
    let resources_fut = try_join_all(apis.iter().map(|api| async move {
        let state = lookup_resource(graph, api).await?;
        Ok::<_, GraphError>(((*api).clone(), state))
    }));
    // Deleted items, once for all apps found by unique name: a soft-deleted application keeps
    // its uniqueName reserved (https://learn.microsoft.com/en-us/graph/api/application-delete),
    // and apply restores it instead of failing on the name.
    let by_name = desired.apps.iter().any(|a| a.app_id.is_none());
    let deleted_fut = async {
        if by_name {
            graph.deleted_applications().await
        } else {
            Ok(Vec::new())
        }
    };
    let owner_refs_fut = crate::ownership::resolve_owner_refs(graph, desired);
    let (applications, resources, deleted, owner_refs) =
        futures::join!(apps_fut, resources_fut, deleted_fut, owner_refs_fut);
    let owner_refs = owner_refs?;
    let applications = applications?;
    let resources = resources?;
    let deleted = deleted?;

    let restorable: Vec<Option<crate::graph::types::Application>> = desired
        .apps
        .iter()
        .zip(&applications)
        .map(|(wanted, live)| match (live, &wanted.app_id) {
            (None, None) => deleted_holding(&deleted, &wanted.unique_name),
            _ => None,
        })
        .collect();

    // Round 2: for each existing app, its service principal, grants and assignments; and when
    // an app is to be restored, the deleted service principals (its own comes back with it).
    let details = try_join_all(applications.iter().map(|application| async move {
        let Some(application) = application else {
            return Ok::<_, GraphError>((None, Vec::new(), Vec::new()));
        };
        client_side(graph, &application.app_id).await
    }));
    let deleted_sps = async {
        if restorable.iter().any(Option::is_some) {
            graph.deleted_service_principals().await
        } else {
            Ok(Vec::new())
        }
    };
    // Owners and federated credentials, for the apps whose manifest lists them (issue 17).
    let held = try_join_all(desired.apps.iter().zip(&applications).map(|(app, application)| {
        crate::ownership::read_app(graph, app, application.as_ref().map(|a| a.id.as_str()))
    }));
    let (details, deleted_sps, held) = futures::join!(details, deleted_sps, held);
    let (details, deleted_sps, held) = (details?, deleted_sps?, held?);

    let mut apps = Vec::new();
    for (app, application) in desired.apps.iter().zip(applications) {
        if let (Some(pinned), Some(found)) = (&app.app_id, &application)
            && let Some(other) = &found.unique_name
            && other != &app.unique_name
        {
            return Err(Error::failure(format!(
                "the application with appId `{pinned}` already has the unique name `{other}`, not `{}`",
                app.unique_name
            ))
            .with_help(format!(
                "set `unique_name = \"{other}\"` in the manifest, or remove `app_id`"
            )));
        }
        if app.app_id.is_some() && application.is_none() {
            return Err(Error::failure(format!(
                "no application with appId `{}` (pinned by `{}`) exists in the tenant",
                app.app_id.as_deref().unwrap_or_default(),
                app.unique_name
            ))
            .with_help("remove `app_id` to create a new registration, or check the appId"));
        }
        apps.push(application);
    }
    let apps: Vec<ObservedApp> = apps
        .into_iter()
        .zip(details)
        .zip(restorable)
        .map(
            |((application, (service_principal, grants, assignments)), deleted_application)| ObservedApp {
                deleted_service_principal: deleted_application.as_ref().and_then(|d| {
                    deleted_sps
                        .iter()
                        .find(|s| s.app_id.eq_ignore_ascii_case(&d.app_id))
                        .cloned()
                }),
                deleted_application,
                application,
                service_principal,
                grants,
                assignments,
                ..Default::default()
            },
        )
        .collect();
    // Keyed by each app's unique name: the planner and everything after it find an app's
    // state by that key, never by position.
    let apps = desired
        .apps
        .iter()
        .zip(apps.into_iter().zip(held))
        .map(|(wanted, (mut app, (owners, federated_credentials)))| {
            app.owners = owners;
            app.federated_credentials = federated_credentials;
            (wanted.key(), app)
        })
        .collect();
    let mut observed = Observed {
        owner_refs,
        tenant_id: tenant_id.to_owned(),
        apps,
        resources: resources.into_iter().collect(),
        others: Vec::new(),
        ..Default::default()
    };
    observed.others = others(graph, &observed).await?;
    Ok(observed)
}

/// The resource service principals that grants, app role assignments and requiredResourceAccess
/// refer to but the manifest does not name, so that plans show names instead of GUIDs. One
/// more concurrent round, only when there is such a reference (never for a manifest's own
/// APIs, never for a fresh apply). A reference that cannot be read stays a GUID.
pub async fn others(
    graph: &GraphClient,
    observed: &Observed,
) -> Result<Vec<crate::graph::types::ServicePrincipal>, GraphError> {
    let known: Vec<&crate::graph::types::ServicePrincipal> = observed
        .resources
        .values()
        .filter_map(|r| match r {
            ResourceState::Found(sp) => Some(sp),
            _ => None,
        })
        .collect();
    let mut by_id: BTreeSet<String> = BTreeSet::new();
    let mut by_app_id: BTreeSet<String> = BTreeSet::new();
    for app in observed.apps.values() {
        for id in app
            .grants
            .iter()
            .map(|g| &g.resource_id)
            .chain(app.assignments.iter().map(|a| &a.resource_id))
        {
            if !known.iter().any(|sp| sp.id.eq_ignore_ascii_case(id)) {
                by_id.insert(id.to_ascii_lowercase());
            }
        }
        for r in app.application.iter().flat_map(|a| &a.required_resource_access) {
            if !known
                .iter()
                .any(|sp| sp.app_id.eq_ignore_ascii_case(&r.resource_app_id))
            {
                by_app_id.insert(r.resource_app_id.to_ascii_lowercase());
            }
        }
    }
    let (a, b) = futures::join!(
        try_join_all(by_id.iter().map(|id| graph.service_principal_by_id(id))),
        try_join_all(by_app_id.iter().map(|id| graph.service_principal_by_app_id(id))),
    );
    let mut out: Vec<_> = a?.into_iter().chain(b?).flatten().collect();
    out.sort_by(|x, y| x.id.cmp(&y.id));
    out.dedup_by(|x, y| x.id == y.id);
    Ok(out)
}

/// The application in deleted items that holds `unique_name`, if any.
pub fn deleted_holding(
    deleted: &[crate::graph::types::Application],
    unique_name: &str,
) -> Option<crate::graph::types::Application> {
    deleted
        .iter()
        .find(|a| {
            a.unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(unique_name))
        })
        .cloned()
}

/// The service principal of `app_id` with the delegated grants and app role assignments it
/// holds as the client: one round through the `(appId='…')` key, or two through the object id
/// once Graph refused that form ([`GraphClient::client_side`]).
pub async fn client_side(graph: &GraphClient, app_id: &str) -> Result<ClientSide, GraphError> {
    graph.client_side(app_id).await
}

pub use crate::graph::client::ClientSide;

/// Find a resource API's service principal by appId, identifier URI or display name.
pub(crate) async fn lookup_resource(graph: &GraphClient, api: &ApiRef) -> Result<ResourceState, GraphError> {
    let found = match api {
        ApiRef::Known(app_id) | ApiRef::AppId(app_id) => {
            return Ok(graph
                .service_principal_by_app_id(app_id)
                .await?
                .map_or(ResourceState::Missing, ResourceState::Found));
        }
        ApiRef::Name(name) if name.contains("://") => graph.service_principals_by_name(name).await?,
        ApiRef::Name(name) => graph.service_principals_by_display_name(name).await?,
    };
    Ok(match found.len() {
        0 => ResourceState::Missing,
        1 => found
            .into_iter()
            .next()
            .map_or(ResourceState::Missing, ResourceState::Found),
        _ => ResourceState::Ambiguous(found),
    })
}

/// `tenant = "…"` in the manifest: refuse any other tenant, before anything is written. A GUID
/// is compared with the token's `tid`; a domain is first resolved to its tenant id through the
/// authority's OpenID metadata (`{authority}/{domain}/v2.0/.well-known/openid-configuration`,
/// whose `issuer` holds the tenant GUID), which needs no Graph permission: reading
/// `/organization` would need Organization.Read.All, which provision does not otherwise ask for.
pub async fn check_tenant_guard(
    http: &reqwest::Client,
    authority: &str,
    guard: Option<&str>,
    tenant_id: &str,
) -> Result<()> {
    check_tenant_guard_of(http, authority, "the manifest", guard, tenant_id).await
}

/// [`check_tenant_guard`] naming the manifest whose guard it is (`whose`: "the manifest
/// `a.toml`"), for runs over several manifests.
pub async fn check_tenant_guard_of(
    http: &reqwest::Client,
    authority: &str,
    whose: &str,
    guard: Option<&str>,
    tenant_id: &str,
) -> Result<()> {
    let Some(guard) = guard else { return Ok(()) };
    let refused = |what: String| {
        Error::failure(format!(
            "{whose} is for tenant `{guard}`, but the signed-in tenant is {what}"
        ))
        .with_help(
            "sign in to the right tenant (--tenant, AZURE_TENANT_ID), or change `tenant` in the manifest",
        )
    };
    if uuid::Uuid::parse_str(guard).is_ok() {
        return if guard.eq_ignore_ascii_case(tenant_id) {
            Ok(())
        } else {
            Err(refused(format!("`{tenant_id}`")))
        };
    }
    let url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        authority.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(guard.as_bytes()).collect::<String>()
    );
    let cannot = |e: Option<String>| {
        let err = Error::failure(format!("cannot find the tenant of the domain `{guard}`"))
            .with_help("check `tenant` in the manifest: it must be a verified domain or the tenant GUID");
        match e {
            Some(e) => err.with_source(e),
            None => err,
        }
    };
    let response = crate::trace::send(http, http.get(&url))
        .await
        .map_err(|e| crate::Error::unreachable("the sign-in endpoint", &url, &e))?;
    if !response.status().is_success() {
        // Entra answers 400 (AADSTS90002) for a domain no tenant holds.
        return Err(refused(format!("`{tenant_id}` (`{guard}` belongs to no tenant)")));
    }
    let doc: serde_json::Value = response.json().await.map_err(|e| cannot(Some(e.to_string())))?;
    let issuer = doc["issuer"].as_str().unwrap_or_default();
    let guard_tid = issuer
        .split('/')
        .find(|seg| uuid::Uuid::parse_str(seg).is_ok())
        .ok_or_else(|| cannot(None))?;
    if guard_tid.eq_ignore_ascii_case(tenant_id) {
        Ok(())
    } else {
        Err(refused(format!(
            "`{tenant_id}` (`{guard}` is tenant `{guard_tid}`)"
        )))
    }
}
