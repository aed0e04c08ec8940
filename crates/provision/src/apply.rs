//! Executing a plan (apply's, or destroy's) through the Graph client. Outcomes are values: every
//! step of the plan ends done, failed (with Graph's code, message and request-id) or not
//! attempted, and an [`Observer`] hears of each as it ends. An app whose consent could not be
//! granted (403 on the grant) still gets its application and service principal, with the
//! admin-consent URL to finish by hand.
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
use crate::graph::retry::Agreement;
use crate::graph::types::*;
use crate::graph::{GraphClient, GraphError};
use crate::model::ApiRef;
use crate::plan::{Action, AppPlan, AssignmentStep, GrantStep, Plan, PurgeStep};
use crate::render;

/// What became of one planned step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    Failed,
    /// Not tried: an earlier step it depends on failed, or the run was stopped.
    NotAttempted,
}

/// Graph's answer to a failed step, as data: what a person needs to act on it or to open a
/// support case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphFailure {
    pub method: String,
    pub path: String,
    /// The HTTP status; `null` when no answer came (the message says why).
    pub status: Option<u16>,
    /// Graph's error code, e.g. `Authorization_RequestDenied`.
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl GraphFailure {
    pub fn of(e: &GraphError) -> GraphFailure {
        match e {
            GraphError::Status {
                method,
                path,
                status,
                code,
                message,
                request_id,
                ..
            } => GraphFailure {
                method: method.clone(),
                path: path.clone(),
                status: Some(*status),
                code: Some(code.clone()).filter(|c| !c.is_empty()),
                message: message.clone(),
                request_id: request_id.clone(),
            },
            GraphError::Transport { method, path, source } => GraphFailure {
                method: method.clone(),
                path: path.clone(),
                status: None,
                code: None,
                message: format!(
                    "no answer: {}",
                    crate::error::Unreachable::classify(source).words()
                ),
                request_id: None,
            },
            GraphError::Decode {
                method,
                path,
                status,
                detail,
            } => GraphFailure {
                method: method.clone(),
                path: path.clone(),
                status: Some(*status),
                code: None,
                message: format!("an answer Graph does not send: {detail}"),
                request_id: None,
            },
            GraphError::ChangedMeanwhile { method, path, what } => GraphFailure {
                method: method.clone(),
                path: path.clone(),
                status: None,
                code: None,
                message: what.clone(),
                request_id: None,
            },
        }
    }
}

/// One step of the plan and what became of it. `address`, `kind` and `action` are those of the
/// plan's change; `id` is the Graph object the step wrote or deleted, when known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub address: String,
    pub kind: &'static str,
    pub action: Action,
    pub status: Status,
    pub id: Option<String>,
    pub error: Option<GraphFailure>,
}

impl StepResult {
    fn planned(address: String, kind: &'static str, action: Action, id: Option<String>) -> Self {
        StepResult {
            address,
            kind,
            action,
            status: Status::NotAttempted,
            id,
            error: None,
        }
    }
}

/// What apply (or destroy) did for one app.
#[derive(Debug, Clone, Serialize)]
pub struct AppResult {
    pub unique_name: String,
    /// The manifest of the app, when the run covers several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub service_principal_id: Option<String>,
    /// Every step the plan had for this app, in plan order.
    pub steps: Vec<StepResult>,
    /// Addresses of the consent steps Graph refused with 403: the signed-in identity may not
    /// grant consent.
    #[serde(skip)]
    pub consent_denied: Vec<String>,
    #[serde(skip)]
    pub error: Option<Arc<GraphError>>,
    /// Credentials this run added (issue 17); a password's value is in here only, never in
    /// what is printed.
    #[serde(skip)]
    pub added: Vec<crate::credentials::exec::Added>,
}

impl AppResult {
    fn new(app: &AppPlan, steps: Vec<StepResult>) -> Self {
        AppResult {
            unique_name: app.unique_name.clone(),
            manifest: None,
            client_id: app.application.app_id.clone(),
            object_id: app.application.object_id.clone(),
            service_principal_id: app.service_principal_id.clone(),
            steps,
            consent_denied: Vec::new(),
            error: None,
            added: Vec::new(),
        }
    }

    /// Record what became of the step at `address`, and tell the observer.
    /// An app of a destroy plan that only sits in deleted items.
    fn leftover(unique_name: &str, steps: Vec<StepResult>) -> Self {
        AppResult {
            unique_name: unique_name.to_owned(),
            manifest: None,
            client_id: None,
            object_id: None,
            service_principal_id: None,
            steps,
            consent_denied: Vec::new(),
            error: None,
            added: Vec::new(),
        }
    }

    pub(crate) fn mark(
        &mut self,
        observer: &dyn Observer,
        address: &str,
        outcome: Result<Option<String>, &GraphError>,
    ) {
        let Some(step) = self.steps.iter_mut().find(|s| s.address == address) else {
            return;
        };
        match outcome {
            Ok(id) => {
                step.status = Status::Done;
                if id.is_some() {
                    step.id = id;
                }
            }
            Err(e) => {
                step.status = Status::Failed;
                step.error = Some(GraphFailure::of(e));
            }
        }
        observer.step(Some(&self.unique_name), step);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First-party resource service principals apply creates.
    pub resource_service_principals: Vec<StepResult>,
    pub apps: Vec<AppResult>,
    /// Creating a resource service principal failed: no app got its consent.
    #[serde(skip)]
    pub resource_error: Option<Arc<GraphError>>,
}

/// How many steps ended how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub created: usize,
    pub restored: usize,
    pub updated: usize,
    pub deleted: usize,
    pub failed: usize,
    pub not_attempted: usize,
}

impl Report {
    /// What became of the app with this unique name (any case).
    pub fn app(&self, unique_name: &str) -> Option<&AppResult> {
        let key = crate::plan::AppKey::of(unique_name);
        self.apps
            .iter()
            .find(|a| crate::plan::AppKey::of(&a.unique_name) == key)
    }

    /// The first failure, with the app it belongs to.
    pub fn first_error(&self) -> Option<(&str, &GraphError)> {
        if let Some(e) = &self.resource_error {
            return Some(("resource service principals", e.as_ref()));
        }
        self.apps
            .iter()
            .find_map(|a| a.error.as_ref().map(|e| (a.unique_name.as_str(), e.as_ref())))
    }

    pub fn steps(&self) -> impl Iterator<Item = &StepResult> {
        self.resource_service_principals
            .iter()
            .chain(self.apps.iter().flat_map(|a| a.steps.iter()))
    }

    /// Every planned step was done.
    pub fn complete(&self) -> bool {
        self.steps().all(|s| s.status == Status::Done)
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for s in self.steps() {
            match (s.status, s.action) {
                (Status::Done, Action::Create) => t.created += 1,
                (Status::Done, Action::Restore) => t.restored += 1,
                (Status::Done, Action::Update) => t.updated += 1,
                (Status::Done, Action::Delete) => t.deleted += 1,
                (Status::Done, Action::NoOp) => {}
                (Status::Failed, _) => t.failed += 1,
                (Status::NotAttempted, _) => t.not_attempted += 1,
            }
        }
        t
    }
}

impl Report {
    /// The report of a run that was stopped: every step of `plan` not attempted, except the
    /// ones that `ended` (as the observer heard them).
    pub fn from_ended(plan: &Plan, ended: &[StepResult]) -> Report {
        let take = |mut step: StepResult| {
            if let Some(e) = ended.iter().find(|e| e.address == step.address) {
                step = e.clone();
            }
            step
        };
        let resource_service_principals = plan
            .resource_service_principals
            .iter()
            .map(|r| {
                take(StepResult::planned(
                    render::resource_sp_address(&r.name),
                    "resource_service_principal",
                    Action::Create,
                    None,
                ))
            })
            .collect();
        let apps = plan
            .apps
            .iter()
            .map(|app| {
                let steps: Vec<StepResult> = planned_steps(app, &plan.purge).into_iter().map(take).collect();
                let mut r = AppResult::new(app, steps);
                let done_id = |kind: &str| {
                    r.steps
                        .iter()
                        .find(|s| s.kind == kind && s.status == Status::Done && s.action == Action::Create)
                        .and_then(|s| s.id.clone())
                };
                let (object, sp) = (done_id("application"), done_id("service_principal"));
                r.object_id = r.object_id.clone().or(object);
                r.service_principal_id = r.service_principal_id.clone().or(sp);
                r
            })
            .collect();
        Report {
            resource_service_principals,
            apps,
            resource_error: None,
        }
    }
}

/// Told about every step as it ends and every app as it finishes, while the run goes on: for
/// streaming results and progress, and for knowing what was done when the run is stopped.
pub trait Observer: Sync {
    /// `app` is `None` for a resource service principal.
    fn step(&self, _app: Option<&str>, _step: &StepResult) {}
    fn app_finished(&self, _app: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// The steps of one app's plan that change something, in plan order, none attempted yet.
fn planned_steps(app: &AppPlan, purge: &[PurgeStep]) -> Vec<StepResult> {
    let name = app.unique_name.as_str();
    let mut steps = Vec::new();
    let app_step = (app.application.action != Action::NoOp).then(|| {
        StepResult::planned(
            render::app_address(name),
            "application",
            app.application.action,
            app.application.object_id.clone(),
        )
    });
    let sp_step = (app.service_principal != Action::NoOp).then(|| {
        StepResult::planned(
            render::sp_address(name),
            "service_principal",
            app.service_principal,
            app.service_principal_id.clone(),
        )
    });
    let grants = app.grants.iter().filter(|g| g.action != Action::NoOp).map(|g| {
        StepResult::planned(
            render::grant_address(name, &g.resource),
            "delegated_grant",
            g.action,
            g.grant_id.clone(),
        )
    });
    let assignments = app
        .assignments
        .iter()
        .filter(|a| a.action != Action::NoOp)
        .map(|a| {
            StepResult::planned(
                render::assignment_address(name, &a.resource, &a.role),
                "app_role_assignment",
                a.action,
                a.assignment_id.clone(),
            )
        });
    steps.extend(app_step);
    steps.extend(sp_step);
    steps.extend(grants);
    steps.extend(assignments);
    steps.extend(ownership_steps(app));
    steps.extend(crate::credentials::exec::planned_steps(app));
    steps.extend(purge_steps(name, purge));
    steps
}

/// The planned owner and federated credential steps of one app (issue 17).
fn ownership_steps(app: &AppPlan) -> Vec<StepResult> {
    let name = app.unique_name.as_str();
    let fics = app
        .federated_credentials
        .iter()
        .filter(|f| f.action != Action::NoOp)
        .map(|f| {
            StepResult::planned(
                render::federated_credential_address(name, &f.name),
                "federated_credential",
                f.action,
                f.id.clone(),
            )
        });
    let owners = app.owners.iter().filter(|o| o.action != Action::NoOp).map(|o| {
        StepResult::planned(
            render::owner_address(name, &o.name),
            "owner",
            o.action,
            Some(o.object_id.clone()),
        )
    });
    fics.chain(owners).collect()
}

/// The planned purge steps of one app.
fn purge_steps(name: &str, purge: &[PurgeStep]) -> Vec<StepResult> {
    purge
        .iter()
        .filter(|p| p.unique_name == name)
        .map(|p| {
            StepResult::planned(
                render::purge_address(name, p.kind),
                "deleted_item",
                Action::Delete,
                Some(p.object_id.clone()),
            )
        })
        .collect()
}

/// Run the plan. Never returns early on one app's failure: every app gets as far as it can.
pub async fn apply(graph: &GraphClient, plan: &Plan, observer: &dyn Observer) -> Report {
    // Resource service principals for first-party APIs, alongside the applications.
    let resources_fut = join_all(plan.resource_service_principals.iter().map(|r| async move {
        let sp = graph.ensure_service_principal(&r.app_id, None, true).await;
        let mut step = StepResult::planned(
            render::resource_sp_address(&r.name),
            "resource_service_principal",
            Action::Create,
            None,
        );
        match &sp {
            Ok(sp) => {
                step.status = Status::Done;
                step.id = Some(sp.id.clone());
            }
            Err(e) => {
                step.status = Status::Failed;
                step.error = Some(GraphFailure::of(e));
            }
        }
        observer.step(None, &step);
        (r.key.clone(), step, sp)
    }));
    let apps_fut = join_all(plan.apps.iter().map(|app| stage_one(graph, app, observer)));
    let (resources, stage_one_results) = futures::join!(resources_fut, apps_fut);

    let mut resource_ids: BTreeMap<ApiRef, String> = BTreeMap::new();
    let mut resource_steps = Vec::new();
    let mut resource_error = None;
    for (key, step, sp) in resources {
        match sp {
            Ok(sp) => {
                resource_ids.insert(key, sp.id);
            }
            Err(e) => resource_error = Some(Arc::new(e)),
        }
        resource_steps.push(step);
    }
    let apps = join_all(plan.apps.iter().zip(stage_one_results).map(|(app, mut result)| {
        let resource_ids = &resource_ids;
        let stopped = resource_error.is_some();
        async move {
            let application_written = result
                .steps
                .iter()
                .all(|s| s.kind != "application" || s.status == Status::Done);
            if result.error.is_none() && !stopped {
                stage_two(graph, app, resource_ids, &mut result, observer).await;
            }
            // Credentials (issue 17): added once the application exists; removals wait until
            // the output file holds what replaces them (`credentials::exec::remove`).
            if result.error.is_none() {
                crate::credentials::exec::add(graph, app, &mut result, observer).await;
            }
            // Owners and federated credentials need only the application (issue 17).
            if application_written {
                crate::ownership::apply_app(graph, app, &mut result, observer).await;
            }
            observer.app_finished(&app.unique_name);
            result
        }
    }))
    .await;
    Report {
        resource_service_principals: resource_steps,
        apps,
        resource_error,
    }
}

/// The application and its service principal.
async fn stage_one(graph: &GraphClient, app: &AppPlan, observer: &dyn Observer) -> AppResult {
    let mut result = AppResult::new(app, planned_steps(app, &[]));
    let step = &app.application;
    let app_address = render::app_address(&app.unique_name);
    if step.action == Action::Restore {
        if let Err(e) = restore(graph, app, &mut result, observer).await {
            result.mark(observer, &app_address, Err(&e));
            result.error = Some(Arc::new(e));
            return result;
        }
        let id = result.object_id.clone();
        result.mark(observer, &app_address, Ok(id));
    } else if step.action != Action::NoOp {
        let written = if let (Some(disable), Some(object_id)) = (&step.disable_first, &step.object_id) {
            disable_then_write(graph, object_id, disable, &step.body)
                .await
                .map(|_| None)
        } else if step.pinned {
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
        let written = match written {
            Ok(None) if result.client_id.is_none() => {
                // 204: another run created it between our read and our write. Read it back;
                // a 404 here is replication delay.
                read_back_application(graph, &app.unique_name).await.map(Some)
            }
            other => other,
        };
        match written {
            Ok(Some(created)) => {
                result.client_id = Some(created.app_id);
                result.object_id = Some(created.id);
            }
            Ok(None) => {}
            Err(e) => {
                result.mark(observer, &app_address, Err(&e));
                result.error = Some(Arc::new(e));
                return result;
            }
        }
        if let (Some(after), Some(object_id), Some(app_id)) =
            (&step.after_create, &result.object_id, &result.client_id)
            && let Err(e) = write_after_create(graph, object_id, app_id, after).await
        {
            result.mark(observer, &app_address, Err(&e));
            result.error = Some(Arc::new(e));
            return result;
        }
        let id = result.object_id.clone();
        result.mark(observer, &app_address, Ok(id));
    }
    if result.service_principal_id.is_none() {
        let app_id = result.client_id.clone().unwrap_or_default();
        // An application that was read from the tenant is there: a "no backing application"
        // answer then means it was deleted meanwhile, not that it has not replicated yet.
        let fresh = app.application.app_id.is_none() || app.application.action == Action::Restore;
        let address = render::sp_address(&app.unique_name);
        match graph
            .ensure_service_principal(&app_id, Some(&app.display_name), fresh)
            .await
        {
            Ok(sp) => {
                result.service_principal_id = Some(sp.id.clone());
                result.mark(observer, &address, Ok(Some(sp.id)));
            }
            Err(e) => {
                result.mark(observer, &address, Err(&e));
                result.error = Some(Arc::new(e));
            }
        }
    }
    result
}

/// Bring the application back from deleted items (and its service principal, if deleted too),
/// then write what the manifest changes on it by object id (a 404 there is the restore
/// replicating).
async fn restore(
    graph: &GraphClient,
    app: &AppPlan,
    result: &mut AppResult,
    observer: &dyn Observer,
) -> Result<(), GraphError> {
    let object_id = app.application.object_id.clone().unwrap_or_default();
    let (restored, sp) = crate::deleted::restore_application(graph, &object_id).await?;
    result.client_id = Some(restored.app_id.clone());
    result.object_id = Some(restored.id.clone());
    if let Some(sp) = sp {
        result.service_principal_id = Some(sp.id.clone());
        result.mark(observer, &render::sp_address(&app.unique_name), Ok(Some(sp.id)));
    }
    if let Some(disable) = &app.application.disable_first {
        disable_then_write(graph, &restored.id, disable, &app.application.body).await?;
    } else if !app.application.fields.is_empty() {
        let call = Call::patch(
            format!(
                "/applications/{}",
                crate::graph::client::odata_literal(&restored.id)
            ),
            app.application.body.clone(),
        )
        .lag(GraphError::is_not_found);
        graph.send(&call).await?;
    }
    Ok(())
}

/// Disable the scopes and roles the write removes or changes, then write: two PATCHes by object
/// id, the second retried while Graph still holds them enabled (replication).
async fn disable_then_write(
    graph: &GraphClient,
    object_id: &str,
    disable: &serde_json::Value,
    body: &serde_json::Value,
) -> Result<(), GraphError> {
    let path = format!("/applications/{}", crate::graph::client::odata_literal(object_id));
    graph
        .send(&Call::patch(path.clone(), disable.clone()).lag(GraphError::is_not_found))
        .await?;
    graph
        .send(&Call::patch(path, body.clone()).lag(GraphError::is_enabled_entitlement))
        .await
        .map(drop)
}

/// What needs the new application's appId (`api://{app_id}` identifier URIs), written by object
/// id once the create has answered; a 404 is the new object replicating.
async fn write_after_create(
    graph: &GraphClient,
    object_id: &str,
    app_id: &str,
    body: &serde_json::Value,
) -> Result<(), GraphError> {
    let text = body.to_string().replace(crate::plan::APP_ID_PLACEHOLDER, app_id);
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| body.clone());
    let path = format!("/applications/{}", crate::graph::client::odata_literal(object_id));
    graph
        .send(&Call::patch(path, body).lag(GraphError::is_not_found))
        .await
        .map(drop)
}

async fn read_back_application(graph: &GraphClient, unique_name: &str) -> Result<Application, GraphError> {
    let call = Call::get(format!(
        "/applications(uniqueName='{}')",
        crate::graph::client::odata_literal(unique_name)
    ))
    .lag(GraphError::is_not_found);
    graph.fetch(&call).await
}

/// Grants and app role assignments, concurrently; each result is told as it ends.
async fn stage_two(
    graph: &GraphClient,
    app: &AppPlan,
    resource_ids: &BTreeMap<ApiRef, String>,
    result: &mut AppResult,
    observer: &dyn Observer,
) {
    let Some(client_sp) = result.service_principal_id.clone() else {
        return;
    };
    let name = app.unique_name.clone();
    // Created by this run (not seen when the tenant was read): references to it may meet
    // replication delay. An object that was read is there, or gone for good.
    let client_fresh = app.service_principal_id.is_none();
    let grant_futs = app.grants.iter().filter(|g| g.action != Action::NoOp).map(|g| {
        let client_sp = client_sp.clone();
        let name = &name;
        async move {
            let outcome = do_grant(graph, &client_sp, g, resource_ids, client_fresh).await;
            (render::grant_address(name, &g.resource), outcome)
        }
    });
    let assignment_futs = app
        .assignments
        .iter()
        .filter(|a| a.action != Action::NoOp)
        .map(|a| {
            let client_sp = client_sp.clone();
            let name = &name;
            async move {
                let outcome = do_assignment(graph, &client_sp, a, resource_ids, client_fresh).await;
                (render::assignment_address(name, &a.resource, &a.role), outcome)
            }
        });
    // Each outcome is recorded (and streamed) as soon as it is known.
    let mut pending: futures::stream::FuturesUnordered<_> = grant_futs
        .map(futures::future::Either::Left)
        .chain(assignment_futs.map(futures::future::Either::Right))
        .collect();
    while let Some((address, outcome)) = futures::StreamExt::next(&mut pending).await {
        match outcome {
            Ok(id) => result.mark(observer, &address, Ok(id)),
            Err(e) => {
                result.mark(observer, &address, Err(&e));
                if e.status() == Some(403) {
                    result.consent_denied.push(address);
                } else if result.error.is_none() {
                    result.error = Some(Arc::new(e));
                }
            }
        }
    }
}

/// Run a destroy plan: per app (apps concurrently), its grants and app role assignments, then
/// its service principal, then its application, then the purges of deleted items. Each delete
/// is idempotent (404 means done), so a destroy stopped anywhere is finished by a re-run; a
/// failed step leaves the later steps of its app not attempted.
pub async fn destroy(graph: &GraphClient, plan: &Plan, observer: &dyn Observer) -> Report {
    let live = join_all(plan.apps.iter().map(|app| async move {
        let mut result = AppResult::new(app, planned_steps(app, &plan.purge));
        destroy_app(graph, app, &plan.purge, &mut result, observer).await;
        observer.app_finished(&app.unique_name);
        result
    }));
    let leftovers = join_all(leftover_names(plan).into_iter().map(|name| async move {
        let mut result = AppResult::leftover(name, purge_steps(name, &plan.purge));
        purge_phase(graph, name, &plan.purge, &mut result, observer).await;
        observer.app_finished(name);
        result
    }));
    let (mut apps, leftovers) = futures::join!(live, leftovers);
    apps.extend(leftovers);
    Report {
        resource_service_principals: Vec::new(),
        apps,
        resource_error: None,
    }
}

/// The apps of a destroy plan that only sit in deleted items (no live object to delete).
fn leftover_names(plan: &Plan) -> Vec<&str> {
    let mut names: Vec<&str> = plan
        .purge
        .iter()
        .filter(|p| !plan.apps.iter().any(|a| a.unique_name == p.unique_name))
        .map(|p| p.unique_name.as_str())
        .collect();
    names.dedup();
    names
}

fn gone_is_ok(r: Result<(), GraphError>) -> Result<(), GraphError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

async fn destroy_app(
    graph: &GraphClient,
    app: &AppPlan,
    purge: &[PurgeStep],
    result: &mut AppResult,
    observer: &dyn Observer,
) {
    let name = app.unique_name.as_str();
    let sp = app.service_principal_id.as_deref();
    // Phase 1: what the app holds as a client.
    let grants = app.grants.iter().map(|g| async move {
        let id = g.grant_id.clone().unwrap_or_default();
        let r = gone_is_ok(graph.delete_grant(&id).await);
        (render::grant_address(name, &g.resource), r.map(|_| Some(id)))
    });
    let assignments = app.assignments.iter().map(|a| async move {
        let id = a.assignment_id.clone().unwrap_or_default();
        let r = match sp {
            Some(sp) => gone_is_ok(graph.delete_assignment(sp, &id).await),
            None => Ok(()),
        };
        (
            render::assignment_address(name, &a.resource, &a.role),
            r.map(|_| Some(id)),
        )
    });
    let (g, a) = futures::join!(join_all(grants), join_all(assignments));
    let phase: Vec<Ended> = g.into_iter().chain(a).collect();
    if !record_phase(result, observer, phase) {
        return;
    }
    // Phase 2: the service principal, then the application.
    if let Some(sp) = sp {
        let r = gone_is_ok(graph.delete_service_principal(sp).await).map(|_| Some(sp.to_owned()));
        if !record_phase(result, observer, vec![(render::sp_address(name), r)]) {
            return;
        }
    }
    let object_id = app.application.object_id.clone().unwrap_or_default();
    let r = gone_is_ok(graph.delete_application(&object_id).await).map(|_| Some(object_id.clone()));
    if !record_phase(result, observer, vec![(render::app_address(name), r)]) {
        return;
    }
    // Phase 3: deleted items, when asked.
    purge_phase(graph, name, purge, result, observer).await;
}

async fn purge_phase(
    graph: &GraphClient,
    name: &str,
    purge: &[PurgeStep],
    result: &mut AppResult,
    observer: &dyn Observer,
) {
    let purges = purge
        .iter()
        .filter(|p| p.unique_name == name)
        .map(|p| async move {
            let r = purge_deleted_item(graph, p)
                .await
                .map(|_| Some(p.object_id.clone()));
            (render::purge_address(name, p.kind), r)
        });
    let done = join_all(purges).await;
    record_phase(result, observer, done);
}

/// Remove one deleted object from deleted items. A leftover of an earlier run that is gone was
/// purged by someone else: done. Deleted by this run moments ago, Graph answers 404 until the
/// delete has replicated: tried again with the client's backoff, within `--max-wait`, and done
/// when the budget runs out (it is in neither place). Unless the object reads live again
/// ([`Agreement`]): another run (an apply that found its unique name held) restored it, and
/// purging can never succeed; that is said instead of waited out.
async fn purge_deleted_item(graph: &GraphClient, step: &PurgeStep) -> Result<(), GraphError> {
    if step.leftover {
        return gone_is_ok(graph.purge_deleted(&step.object_id).await);
    }
    let policy = graph.policy();
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    let mut live = Agreement::default();
    let kind = step.kind.replace('_', " ");
    loop {
        attempt += 1;
        let err = match graph.purge_deleted(&step.object_id).await {
            Err(e) if e.is_not_found() => e,
            other => return other,
        };
        let restored = live.record(
            graph.is_live(step.kind, &step.object_id).await?,
            std::time::Instant::now(),
        );
        let delay = policy.backoff(attempt, rand::random());
        let out_of_time = !policy.fits(started.elapsed(), delay);
        if restored || (out_of_time && live.holding()) {
            return Err(GraphError::ChangedMeanwhile {
                method: err.method().to_owned(),
                path: err.path().to_owned(),
                what: format!(
                    "the {kind} was restored from deleted items while this run waited to purge it (another run or a person restored it); it exists again"
                ),
            });
        }
        if out_of_time {
            return Ok(());
        }
        graph.verbose(&format!(
            "  purge of {kind} `{}`: not in deleted items yet (404{}); trying again in {:.3}s",
            step.unique_name,
            if live.holding() { ", and live again" } else { "" },
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

/// A step's address and how it ended (the id it wrote or deleted).
type Ended = (String, Result<Option<String>, GraphError>);

/// Record a phase's outcomes; whether every step of it was done.
fn record_phase(result: &mut AppResult, observer: &dyn Observer, outcomes: Vec<Ended>) -> bool {
    let mut ok = true;
    for (address, outcome) in outcomes {
        match outcome {
            Ok(id) => result.mark(observer, &address, Ok(id)),
            Err(e) => {
                ok = false;
                result.mark(observer, &address, Err(&e));
                if result.error.is_none() {
                    result.error = Some(Arc::new(e));
                }
            }
        }
    }
    ok
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
    // docs/graph-notes.md §11.1(a): 400 Request_BadRequest now, 409 in 2021; match on the message too.
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
/// lags behind writes (learn:/graph/api/oauth2permissiongrant-list, docs/graph-notes.md §3). The
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
) -> Result<Option<String>, GraphError> {
    let fresh = client_fresh || g.resource_sp_id.is_none();
    let scope = g.after.join(" ");
    let id = g.grant_id.clone();
    match g.action {
        Action::NoOp | Action::Restore => Ok(id),
        Action::Update => graph
            .update_grant(g.grant_id.as_deref().unwrap_or_default(), &scope, false)
            .await
            .map(|_| id),
        Action::Delete => gone_is_ok(
            graph
                .delete_grant(g.grant_id.as_deref().unwrap_or_default())
                .await,
        )
        .map(|_| id),
        Action::Create => {
            let Some(resource) = resource_sp_id(&g.resource_sp_id, &g.resource_key, resource_ids) else {
                return Ok(None);
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                match graph.create_grant(client_sp, &resource, &scope, fresh).await {
                    Ok(created) => return Ok(Some(created.id)),
                    Err(e) if is_duplicate(&e) || outcome_unknown(&e) => {
                        // Someone (another run, or our own POST whose answer was lost) may hold
                        // the grant already: read it and set its scope in place.
                        match find_grant(graph, client_sp, &resource, is_duplicate(&e)).await? {
                            Some(existing) => {
                                let mut have = existing.scopes();
                                have.sort();
                                return if have == g.after {
                                    Ok(Some(existing.id))
                                } else {
                                    // Possibly created moments ago by another run.
                                    graph
                                        .update_grant(&existing.id, &scope, true)
                                        .await
                                        .map(|_| Some(existing.id))
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
) -> Result<Option<String>, GraphError> {
    let fresh = client_fresh || a.resource_sp_id.is_none();
    let id = a.assignment_id.clone();
    match a.action {
        Action::NoOp | Action::Update | Action::Restore => Ok(id),
        Action::Delete => gone_is_ok(
            graph
                .delete_assignment(client_sp, a.assignment_id.as_deref().unwrap_or_default())
                .await,
        )
        .map(|_| id),
        Action::Create => {
            let Some(resource) = resource_sp_id(&a.resource_sp_id, &a.resource_key, resource_ids) else {
                return Ok(None);
            };
            let mut attempts = 0;
            loop {
                attempts += 1;
                match graph
                    .create_assignment(client_sp, &resource, &a.app_role_id, fresh)
                    .await
                {
                    Ok(created) => return Ok(Some(created.id)),
                    Err(e) if is_duplicate(&e) => return Ok(None),
                    Err(e) if outcome_unknown(&e) && attempts < CREATE_ATTEMPTS => {
                        let existing = graph.assignments_of_sp(client_sp, client_fresh).await?;
                        if let Some(found) = existing.iter().find(|x| {
                            x.app_role_id.eq_ignore_ascii_case(&a.app_role_id)
                                && x.resource_id.eq_ignore_ascii_case(&resource)
                        }) {
                            return Ok(Some(found.id.clone()));
                        }
                        pause_before_rewrite(graph, attempts).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
