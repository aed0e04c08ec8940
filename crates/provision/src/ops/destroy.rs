//! `destroy`: the same path as apply. Observe (with the tenant guard), a plan of Delete steps
//! (text, or the versioned JSON; `plan --destroy` prints it alone, with `--detailed-exitcode`),
//! confirm, execute, then take the manifest's entries out of the output file. Apps are found by
//! `unique_name` (or the `app_id` that pins them), never by display name; with each go its
//! delegated grants and app role assignments (as the client) and its service principal;
//! `--purge` also removes them from deleted items so the unique name is free again.

use futures::future::try_join_all;
use serde::Serialize;

use super::apply::{OutputFileState, outcome_text, output_path};
use super::{Executed, Guard, Steps, execute, guarded, interrupted};
use crate::apply::{Report, Tally};
use crate::context::Context;
use crate::error::Result;
use crate::graph::{GraphClient, GraphError};
use crate::manifest::many::Set;
use crate::model::Desired;
use crate::plan::{Observed, ObservedApp, Plan};
use crate::{observe, outfile, plan, render};

/// What `provision destroy` was asked.
pub(crate) struct Options {
    /// Destroy without asking.
    pub yes: bool,
    /// Remove the apps from deleted items too.
    pub purge: bool,
}

#[derive(Serialize)]
struct DestroyDocument<'a> {
    format_version: &'static str,
    plan: render::PlanDocument<'a>,
    purge: bool,
    /// Every planned step was done (also true when there was nothing to destroy).
    destroyed: bool,
    /// Stopped by Ctrl-C (SIGINT) before it finished.
    interrupted: bool,
    summary: Tally,
    /// Per step: done, failed (with Graph's error) or not attempted; `null` when nothing
    /// existed.
    result: Option<&'a Report>,
    output_file: Option<OutputFileState>,
    /// With several manifests, each one's output file (`output_file` is then `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    output_files: Option<Vec<OutputFileState>>,
}

/// Sign in, find the manifest's apps (with the tenant guard alongside, as for apply) and plan
/// their deletion: what `destroy` and `plan --destroy` share.
pub(crate) async fn compute(ctx: &Context, set: &Set, purge: bool) -> Result<(GraphClient, Plan)> {
    let desired = &set.combined;
    let (graph, token) = ctx.graph().await?;
    // With `--purge`, the manifest's apps an earlier destroy left in deleted items are purged
    // too (their unique names stay reserved until then). Read in the same round as the live
    // apps: a live app and a deleted one never share a unique name or an appId.
    let leftovers = async {
        if purge {
            crate::deleted::leftovers(&graph, desired, &[]).await
        } else {
            Ok(Vec::new())
        }
    };
    let read = async {
        let (found, leftovers) = futures::join!(find_apps(&graph, desired, &ctx.printer), leftovers);
        Ok::<_, crate::error::Error>((found?, leftovers?))
    };
    let (found, leftovers) = guarded(ctx, &Guard::Manifests(set), &token.tenant_id, read).await?;
    let mut observed = Observed {
        tenant_id: token.tenant_id.clone(),
        apps: desired.apps.iter().map(|a| a.key()).zip(found).collect(),
        ..Observed::default()
    };
    observed.others = observe::others(&graph, &observed).await?;
    let mut plan = plan::destroy_plan(desired, &observed, purge);
    plan.purge.extend(crate::deleted::purge_steps(&leftovers));
    Ok((graph, plan))
}

/// Each app of the manifest as it exists (or not), with what it holds as a client.
async fn find_apps(
    graph: &GraphClient,
    desired: &Desired,
    printer: &crate::output::Printer,
) -> std::result::Result<Vec<ObservedApp>, GraphError> {
    try_join_all(desired.apps.iter().map(|app| async move {
        // An app pinned by `app_id` is found by that appId (its unique name may be null, or
        // another app's); any other app only by its unique name, never by display name.
        let found = match &app.app_id {
            Some(pinned) => graph.application_by_app_id(pinned).await?,
            None => graph.application_by_unique_name(&app.unique_name).await?,
        };
        let Some(application) = found else {
            return Ok(ObservedApp::default());
        };
        if let Some(other) = application
            .unique_name
            .as_deref()
            .filter(|u| *u != app.unique_name)
        {
            printer.warn(&format!(
                "skipping `{}`: the application with appId `{}` has the unique name `{other}`",
                app.unique_name, application.app_id
            ));
            return Ok(ObservedApp::default());
        }
        let (sp, grants, assignments) = observe::client_side(graph, &application.app_id).await?;
        Ok(ObservedApp {
            application: Some(application),
            service_principal: sp,
            // Only grants this app holds as the client: AllPrincipals and user grants alike
            // go with the app.
            grants,
            assignments,
            deleted_application: None,
            deleted_service_principal: None,
            ..Default::default()
        })
    }))
    .await
}

/// The plan of a destroy as text: the Delete steps, or that nothing exists.
pub(crate) fn plan_text(plan: &Plan, doc: &render::PlanDocument<'_>) -> String {
    if plan.has_changes() {
        render::plan_text(doc)
    } else {
        format!(
            "Nothing to destroy: no app of the {} exists in tenant {}.\n",
            if doc.manifests.is_some() {
                "manifests"
            } else {
                "manifest"
            },
            plan.tenant_id
        )
    }
}

/// Run `destroy` over the manifests of `set`; the exit code, or the error that ends the run.
pub(crate) async fn run(ctx: &Context, set: &Set, opts: &Options) -> Result<i32> {
    let printer = &ctx.printer;
    let (graph, plan) = compute(ctx, set, opts.purge).await?;
    let doc = super::plan::document(&plan, set, &ctx.endpoints.authority_url);
    printer.text(&plan_text(&plan, &doc));

    let executed = execute(
        ctx,
        &graph,
        &plan,
        Steps::Destroy,
        opts.yes,
        "\nDestroy these?",
        || Ok(()),
    )
    .await?;
    let stopped = executed.as_ref().is_some_and(|e| e.interrupted);
    let mut report = executed.map(|Executed { report, .. }| report);
    let destroyed = !stopped && report.as_ref().is_none_or(Report::complete);

    // The apps are gone: their entries leave each manifest's output file (removed when none
    // remain), so no file names IDs that no longer exist.
    let mut file_states = Vec::new();
    // Reported after what was done, like every failure once the tenant changed.
    let mut file_error = None;
    for k in set.in_run() {
        let desired = &set.manifests[k];
        let (Some(spec), Some(path)) = (&desired.output, output_path(desired)) else {
            continue;
        };
        let shown = path.display().to_string();
        let manifest = set.several().then(|| desired.source.display().to_string());
        let exists = path.exists();
        // An env file holds one manifest's variables: with apps of the manifest left out by
        // --target it is neither edited nor removed.
        let kept = !set.whole(k) && spec.format == crate::model::OutputFormat::Env;
        if destroyed && !kept {
            let names: Vec<String> = set.part(k).apps.into_iter().map(|a| a.unique_name).collect();
            let removed = outfile::remove_entries(&path, spec.format, &names);
            let (written, up_to_date) = match &removed {
                Ok(r) => (r.is_some(), true),
                Err(_) => (false, false),
            };
            file_states.push(OutputFileState {
                path: shown,
                written,
                up_to_date,
                exists: path.exists(),
                manifest,
            });
            if file_error.is_none() {
                file_error = removed.err();
            }
        } else {
            if exists && kept {
                printer.warn(&format!(
                    "`{shown}` was not updated: --target left out apps of `{}` and an env file holds them all; run destroy without --target, or remove it",
                    desired.source.display()
                ));
            } else if exists {
                printer.warn(&format!(
                    "`{shown}` was not updated and is out of date: destroy did not finish; run destroy again"
                ));
            }
            file_states.push(OutputFileState {
                path: shown,
                written: false,
                up_to_date: !exists,
                exists,
                manifest,
            });
        }
    }
    if let Some(r) = report.as_mut() {
        super::plan::attribute_report(r, set);
    }
    let (file_state, file_states) = super::apply::file_fields(file_states, set);

    {
        let doc = DestroyDocument {
            format_version: render::FORMAT_VERSION,
            plan: doc,
            purge: opts.purge,
            destroyed,
            interrupted: stopped,
            summary: report.as_ref().map(Report::tally).unwrap_or_default(),
            result: report.as_ref(),
            output_file: file_state,
            output_files: file_states,
        };
        printer.result(&doc, || {
            let mut out = String::new();
            if let Some(report) = doc.result {
                out.push_str(&outcome_text("Destroy", report, stopped));
            }
            for state in doc.output_files.iter().flatten().chain(&doc.output_file) {
                match state {
                    OutputFileState {
                        path,
                        written: true,
                        exists: false,
                        ..
                    } => out.push_str(&format!("\nRemoved {path}\n")),
                    OutputFileState {
                        path,
                        written: true,
                        exists: true,
                        ..
                    } => out.push_str(&format!("\nRemoved the manifest's entries from {path}\n")),
                    _ => {}
                }
            }
            out
        })?;
    }
    if stopped {
        return Err(interrupted("destroy"));
    }
    if let Some(e) = file_error {
        return Err(e);
    }
    if let Some((app, e)) = report.as_ref().and_then(Report::first_error) {
        return Err(e.to_error(Some(&format!("destroy of `{app}` did not finish"))));
    }
    Ok(0)
}
