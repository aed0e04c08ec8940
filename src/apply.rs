//! Executing a plan through the Graph client. Outcomes are values: each app reports what was
//! done, and an app whose consent could not be granted (403 on the grant) still gets its
//! application and service principal, with the admin-consent URL to finish by hand.
//!
//! Order per app: application (the uniqueName upsert), then its service principal, then grants
//! and app role assignments. First-party resource service principals that are missing are
//! created alongside the applications. Apps run concurrently; the client bounds requests in
//! flight. Writes that are not safe to replay (POST of a grant or assignment) are followed by a
//! fresh read when their outcome is unknown, never by a blind second POST.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;

use crate::graph::client::Call;
use crate::graph::types::*;
use crate::graph::{GraphClient, GraphError};
use crate::model::ApiRef;
use crate::plan::{Action, AppPlan, AssignmentStep, GrantStep, Plan};
use crate::render::sign;

/// What apply did for one app.
#[derive(Debug, Clone, Serialize)]
pub struct AppResult {
    pub unique_name: String,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub service_principal_id: Option<String>,
    /// Steps done, in order, as `+ application`, `~ grant Microsoft Threat Protection`, ….
    pub done: Vec<String>,
    /// Set when the caller may not grant consent: what is missing.
    pub consent_missing: Option<String>,
    #[serde(skip)]
    pub error: Option<Arc<GraphError>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First-party resource service principals created.
    pub resource_service_principals: Vec<String>,
    pub apps: Vec<AppResult>,
    /// Creating a resource service principal failed: no app got its consent.
    #[serde(skip)]
    pub resource_error: Option<Arc<GraphError>>,
}

impl Report {
    /// The first failure, with the app it belongs to.
    pub fn first_error(&self) -> Option<(&str, &GraphError)> {
        if let Some(e) = &self.resource_error {
            return Some(("resource service principals", e.as_ref()));
        }
        self.apps
            .iter()
            .find_map(|a| a.error.as_ref().map(|e| (a.unique_name.as_str(), e.as_ref())))
    }
}

fn failed(result: &mut AppResult, e: GraphError) {
    result.error = Some(Arc::new(e));
}

/// Run the plan. Never returns early on one app's failure: every app gets as far as it can.
pub async fn apply(graph: &GraphClient, plan: &Plan) -> Report {
    // Resource service principals for first-party APIs, alongside the applications.
    let resources_fut = join_all(plan.resource_service_principals.iter().map(|r| async move {
        (
            r.key.clone(),
            r.name.clone(),
            graph.ensure_service_principal(&r.app_id, None, true).await,
        )
    }));
    let apps_fut = join_all(plan.apps.iter().map(|app| stage_one(graph, app)));
    let (resources, stage_one_results) = futures::join!(resources_fut, apps_fut);

    let mut resource_ids: BTreeMap<ApiRef, String> = BTreeMap::new();
    let mut created = Vec::new();
    let mut resource_error = None;
    for (key, name, sp) in resources {
        match sp {
            Ok(sp) => {
                resource_ids.insert(key, sp.id);
                created.push(name);
            }
            Err(e) => resource_error = Some(Arc::new(e)),
        }
    }
    let apps = if resource_error.is_some() {
        stage_one_results
    } else {
        join_all(plan.apps.iter().zip(stage_one_results).map(|(app, mut result)| {
            let resource_ids = &resource_ids;
            async move {
                if result.error.is_none() {
                    stage_two(graph, app, resource_ids, &mut result).await;
                }
                result
            }
        }))
        .await
    };
    Report {
        resource_service_principals: created,
        apps,
        resource_error,
    }
}

/// The application and its service principal.
async fn stage_one(graph: &GraphClient, app: &AppPlan) -> AppResult {
    let mut result = AppResult {
        unique_name: app.unique_name.clone(),
        client_id: app.application.app_id.clone(),
        object_id: app.application.object_id.clone(),
        service_principal_id: app.service_principal_id.clone(),
        done: Vec::new(),
        consent_missing: None,
        error: None,
    };
    let step = &app.application;
    if step.action == Action::Restore {
        if let Err(e) = restore(graph, app, &mut result).await {
            failed(&mut result, e);
            return result;
        }
    } else if step.action != Action::NoOp {
        let written = if step.pinned {
            let app_id = step.app_id.clone().unwrap_or_default();
            graph
                .update_application_by_app_id(&app_id, step.body.clone())
                .await
                .map(|_| None)
        } else {
            graph
                .upsert_application(&app.unique_name, step.body.clone())
                .await
        };
        match written {
            Ok(Some(created)) => {
                result.client_id = Some(created.app_id);
                result.object_id = Some(created.id);
            }
            Ok(None) if result.client_id.is_none() => {
                // 204: another run created it between our read and our write. Read it back;
                // a 404 here is replication delay.
                match read_back_application(graph, &app.unique_name).await {
                    Ok(a) => {
                        result.client_id = Some(a.app_id);
                        result.object_id = Some(a.id);
                    }
                    Err(e) => {
                        failed(&mut result, e);
                        return result;
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                failed(&mut result, e);
                return result;
            }
        }
        result.done.push(format!(
            "{} application {}",
            if step.action == Action::Create { "+" } else { "~" },
            app.unique_name
        ));
    }
    if result.service_principal_id.is_none() {
        let app_id = result.client_id.clone().unwrap_or_default();
        // An application that was read from the tenant is there: a "no backing application"
        // answer then means it was deleted meanwhile, not that it has not replicated yet.
        let fresh = app.application.app_id.is_none() || app.application.action == Action::Restore;
        match graph
            .ensure_service_principal(&app_id, Some(&app.display_name), fresh)
            .await
        {
            Ok(sp) => {
                result.service_principal_id = Some(sp.id);
                result
                    .done
                    .push(format!("+ service principal {}", app.unique_name));
            }
            Err(e) => failed(&mut result, e),
        }
    }
    result
}

/// Bring the application back from deleted items (and its service principal, if deleted too),
/// then write what the manifest changes on it by object id (a 404 there is the restore
/// replicating).
async fn restore(graph: &GraphClient, app: &AppPlan, result: &mut AppResult) -> Result<(), GraphError> {
    let object_id = app.application.object_id.clone().unwrap_or_default();
    let (restored, sp) = crate::deleted::restore_application(graph, &object_id).await?;
    result.client_id = Some(restored.app_id.clone());
    result.object_id = Some(restored.id.clone());
    result.done.push(format!(
        "+ application {} (restored from deleted items, appId {})",
        app.unique_name, restored.app_id
    ));
    if let Some(sp) = sp {
        result.service_principal_id = Some(sp.id);
        result.done.push(format!(
            "+ service principal {} (restored from deleted items)",
            app.unique_name
        ));
    }
    if !app.application.fields.is_empty() {
        let call = Call::patch(
            format!(
                "/applications/{}",
                crate::graph::client::odata_literal(&restored.id)
            ),
            app.application.body.clone(),
        )
        .lag(GraphError::is_not_found);
        graph.send(&call).await?;
        result.done.push(format!("~ application {}", app.unique_name));
    }
    Ok(())
}

async fn read_back_application(graph: &GraphClient, unique_name: &str) -> Result<Application, GraphError> {
    let call = Call::get(format!(
        "/applications(uniqueName='{}')",
        crate::graph::client::odata_literal(unique_name)
    ))
    .lag(GraphError::is_not_found);
    graph.fetch(&call).await
}

/// Grants and app role assignments.
async fn stage_two(
    graph: &GraphClient,
    app: &AppPlan,
    resource_ids: &BTreeMap<ApiRef, String>,
    result: &mut AppResult,
) {
    let Some(client_sp) = result.service_principal_id.clone() else {
        return;
    };
    // Created by this run (not seen when the tenant was read): references to it may meet
    // replication delay. An object that was read is there, or gone for good.
    let client_fresh = app.service_principal_id.is_none();
    let grant_futs = app.grants.iter().filter(|g| g.action != Action::NoOp).map(|g| {
        let client_sp = client_sp.clone();
        async move {
            (
                format!(
                    "{} consent {} ({})",
                    sign(g.action),
                    g.resource,
                    g.after.join(" ")
                ),
                do_grant(graph, &client_sp, g, resource_ids, client_fresh).await,
            )
        }
    });
    let assignment_futs = app
        .assignments
        .iter()
        .filter(|a| a.action != Action::NoOp)
        .map(|a| {
            let client_sp = client_sp.clone();
            async move {
                (
                    format!("{} app role {} {}", sign(a.action), a.resource, a.role),
                    do_assignment(graph, &client_sp, a, resource_ids, client_fresh).await,
                )
            }
        });
    let (grants, assignments) = futures::join!(join_all(grant_futs), join_all(assignment_futs));
    let mut denied = Vec::new();
    for (line, outcome) in grants.into_iter().chain(assignments) {
        match outcome {
            Ok(()) => result.done.push(line),
            Err(e) if e.status() == Some(403) => denied.push(line),
            Err(e) => {
                if result.error.is_none() {
                    failed(result, e);
                }
            }
        }
    }
    if !denied.is_empty() {
        result.consent_missing = Some(denied.join("; "));
    }
}

fn resource_sp_id(
    step_sp: &Option<String>,
    key: &Option<ApiRef>,
    resource_ids: &BTreeMap<ApiRef, String>,
) -> Option<String> {
    step_sp
        .clone()
        .or_else(|| key.as_ref().and_then(|k| resource_ids.get(k).cloned()))
}

fn is_duplicate(e: &GraphError) -> bool {
    // §11.1(a): 400 Request_BadRequest now, 409 in 2021; match on the message too.
    e.status() == Some(409)
        || (e.status() == Some(400) && e.message().to_ascii_lowercase().contains("already exist"))
}

use crate::graph::client::outcome_unknown;

/// Creating a grant or assignment: attempts before giving up on a write whose outcome stays
/// unknown.
const CREATE_ATTEMPTS: u32 = 4;

/// Before writing again after an unknown outcome and a read that did not find the write: the
/// client's backoff, so that a burst of faults is waited out rather than met head-on.
async fn pause_before_rewrite(graph: &GraphClient, attempt: u32) {
    tokio::time::sleep(graph.policy().backoff(attempt, rand::random())).await;
}

/// The tenant-wide grant of `client_sp` on `resource`. With `must_exist` (Graph said "already
/// exists"), the read is repeated with the client's backoff until the grant shows: the list
/// lags behind writes (learn:/graph/api/oauth2permissiongrant-list, graph-reference §3). The
/// reliability suite found four POSTs in 100 ms giving up while the grant replicated.
async fn find_grant(
    graph: &GraphClient,
    client_sp: &str,
    resource: &str,
    must_exist: bool,
) -> Result<Option<OAuth2PermissionGrant>, GraphError> {
    let policy = graph.policy();
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let grants = graph.grants_of_client(client_sp).await?;
        let found = grants
            .into_iter()
            .find(|x| x.consent_type == "AllPrincipals" && x.resource_id.eq_ignore_ascii_case(resource));
        if found.is_some() || !must_exist {
            return Ok(found);
        }
        let delay = policy.backoff(attempt, rand::random());
        if !policy.fits(started.elapsed(), delay) {
            return Ok(None);
        }
        graph.verbose(&format!(
            "  grant of {client_sp} on {resource} exists but is not listed yet; reading again in {:.3}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

async fn do_grant(
    graph: &GraphClient,
    client_sp: &str,
    g: &GrantStep,
    resource_ids: &BTreeMap<ApiRef, String>,
    client_fresh: bool,
) -> Result<(), GraphError> {
    let fresh = client_fresh || g.resource_sp_id.is_none();
    let scope = g.after.join(" ");
    match g.action {
        Action::NoOp | Action::Restore => Ok(()),
        Action::Update => {
            graph
                .update_grant(g.grant_id.as_deref().unwrap_or_default(), &scope, false)
                .await
        }
        Action::Delete => match graph
            .delete_grant(g.grant_id.as_deref().unwrap_or_default())
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        },
        Action::Create => {
            let Some(resource) = resource_sp_id(&g.resource_sp_id, &g.resource_key, resource_ids) else {
                return Ok(());
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                match graph.create_grant(client_sp, &resource, &scope, fresh).await {
                    Ok(_) => return Ok(()),
                    Err(e) if is_duplicate(&e) || outcome_unknown(&e) => {
                        // Someone (another run, or our own POST whose answer was lost) may hold
                        // the grant already: read it and set its scope in place.
                        match find_grant(graph, client_sp, &resource, is_duplicate(&e)).await? {
                            Some(existing) => {
                                let mut have = existing.scopes();
                                have.sort();
                                return if have == g.after {
                                    Ok(())
                                } else {
                                    // Possibly created moments ago by another run.
                                    graph.update_grant(&existing.id, &scope, true).await
                                };
                            }
                            None if attempts >= CREATE_ATTEMPTS => return Err(e),
                            None => pause_before_rewrite(graph, attempts).await,
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

async fn do_assignment(
    graph: &GraphClient,
    client_sp: &str,
    a: &AssignmentStep,
    resource_ids: &BTreeMap<ApiRef, String>,
    client_fresh: bool,
) -> Result<(), GraphError> {
    let fresh = client_fresh || a.resource_sp_id.is_none();
    match a.action {
        Action::NoOp | Action::Update | Action::Restore => Ok(()),
        Action::Delete => match graph
            .delete_assignment(client_sp, a.assignment_id.as_deref().unwrap_or_default())
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        },
        Action::Create => {
            let Some(resource) = resource_sp_id(&a.resource_sp_id, &a.resource_key, resource_ids) else {
                return Ok(());
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                match graph
                    .create_assignment(client_sp, &resource, &a.app_role_id, fresh)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) if is_duplicate(&e) => return Ok(()),
                    Err(e) if outcome_unknown(&e) && attempts < CREATE_ATTEMPTS => {
                        let existing = graph.assignments_of_sp(client_sp, client_fresh).await?;
                        if existing.iter().any(|x| {
                            x.app_role_id.eq_ignore_ascii_case(&a.app_role_id)
                                && x.resource_id.eq_ignore_ascii_case(&resource)
                        }) {
                            return Ok(());
                        }
                        pause_before_rewrite(graph, attempts).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
