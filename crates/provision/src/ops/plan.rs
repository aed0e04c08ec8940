//! `plan`: observe the tenant (the tenant guard alongside) and plan; what `apply` shares. One
//! observation for every app of the run, whatever manifest it comes from; each manifest is
//! planned against it, so that plan-time problems point into their own file.

use std::path::PathBuf;

use super::Guard;
use crate::context::Context;
use crate::error::{Class, Error, Result};
use crate::graph::GraphClient;
use crate::manifest::many::Set;
use crate::model::Desired;
use crate::plan::{Observed, Plan, PlanProblem};
use crate::{observe, plan, render};

/// What `provision plan` was asked.
pub(crate) struct Options {
    /// Plan what destroy would delete.
    pub destroy: bool,
    /// With `destroy`: purge from deleted items too.
    pub purge: bool,
    /// Exit 2 when the plan has changes.
    pub detailed_exitcode: bool,
}

/// Observe, plan, print the plan; the exit code is 2 for changes under `detailed_exitcode`.
pub(crate) async fn run(ctx: &Context, set: &Set, opts: &Options) -> Result<i32> {
    let (_graph, plan) = if opts.destroy {
        super::destroy::compute(ctx, set, opts.purge).await?
    } else {
        compute(ctx, set).await?
    };
    let doc = document(&plan, set, &ctx.endpoints.authority_url);
    let title = format!("provision plan {}", title(set));
    crate::ci::append_step_summary(
        &ctx.printer,
        &crate::ci::text_summary(&title, &render::plan_text(&doc)),
    );
    ctx.printer.result(&doc, || {
        if opts.destroy {
            super::destroy::plan_text(&plan, &doc)
        } else {
            render::plan_text(&doc)
        }
    })?;
    Ok(if opts.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    })
}

/// Sign in, observe and plan: the part `plan` and `apply` share. One observation for every app
/// of the run, whatever manifest it comes from.
pub(crate) async fn compute(ctx: &Context, set: &Set) -> Result<(GraphClient, Plan)> {
    let (graph, token) = ctx.graph().await?;
    let read = observe::observe(&graph, &set.combined, &token.tenant_id);
    let mut observed = super::guarded(ctx, &Guard::Manifests(set), &token.tenant_id, read).await?;
    observed.signed_in = crate::ownership::signed_in(token.secret());
    let plan = plan_set(set, &observed)?;
    Ok((graph, plan))
}

/// Plan each manifest of the run against the one observation (so that plan-time problems point
/// into their own file), then join the plans in manifest order: a resource service principal
/// two manifests need is created once.
fn plan_set(set: &Set, observed: &Observed) -> Result<Plan> {
    let mut joined = Plan {
        tenant_id: observed.tenant_id.clone(),
        resource_service_principals: Vec::new(),
        apps: Vec::new(),
        purge: Vec::new(),
        signed_in: observed.signed_in.clone(),
    };
    let mut problems = Vec::new();
    // Credentials (issue 17) are planned against what this machine holds too, at one `now`.
    let now = chrono::Utc::now().timestamp();
    for k in set.in_run() {
        let part = set.part(k);
        // The one observation serves every manifest: each app's state is found by its key.
        match plan::plan(&part, observed) {
            Ok(mut p) => {
                let credential_problems = plan_credentials(&part, observed, &mut p, now)?;
                if !credential_problems.is_empty() {
                    problems.push((part.source.clone(), credential_problems));
                    continue;
                }
                for r in p.resource_service_principals {
                    if !joined
                        .resource_service_principals
                        .iter()
                        .any(|x| x.app_id.eq_ignore_ascii_case(&r.app_id))
                    {
                        joined.resource_service_principals.push(r);
                    }
                }
                joined.apps.extend(p.apps);
            }
            Err(p) => problems.push((part.source, p)),
        }
    }
    if problems.is_empty() {
        Ok(joined)
    } else {
        Err(problems_error(&problems))
    }
}

/// Each app's passwords and certificates (issue 17), against Graph and this machine (the
/// output file's values, PEM files, generated keys); returns the plan-time problems.
fn plan_credentials(part: &Desired, own: &Observed, plan: &mut Plan, now: i64) -> Result<Vec<PlanProblem>> {
    let local = crate::credentials::local::read(part, now)?;
    let mut problems = Vec::new();
    // `local` holds one entry per app of `part`, in its order (what `local::read` returns).
    for (app, local) in part.apps.iter().zip(&local) {
        let application = own.app(&app.unique_name).and_then(|o| o.application.as_ref());
        let Some(planned) = plan.apps.iter_mut().find(|p| p.unique_name == app.unique_name) else {
            continue;
        };
        match crate::credentials::plan::plan(app, application, local, now, part.output.is_some()) {
            Ok(steps) => planned.credentials = steps,
            Err(mut p) => problems.append(&mut p),
        }
    }
    Ok(problems)
}

/// Plan-time problems point at the manifest, like validation does, and exit 3.
fn problems_error(per_manifest: &[(PathBuf, Vec<PlanProblem>)]) -> Error {
    let mut rendered = String::new();
    let mut count = 0;
    for (source, problems) in per_manifest {
        for p in problems {
            count += 1;
            rendered.push_str(&format!(
                "error: {}\n  --> {}:{}:{}\n",
                p.message,
                source.display(),
                p.location.line,
                p.location.column
            ));
            if let Some(h) = &p.help {
                rendered.push_str(&format!("  = help: {h}\n"));
            }
            rendered.push('\n');
        }
    }
    let mut e = Error::manifest(rendered, count);
    let whose = if per_manifest.len() == 1 {
        "the manifest asks"
    } else {
        "the manifests ask"
    };
    e.message = format!(
        "{whose} for {count} thing{} the tenant does not have",
        if count == 1 { "" } else { "s" }
    );
    e.class = Class::Manifest;
    e
}

/// The plan document, its changes attributed to their manifests when the run covers several,
/// and marked partial under `--target`.
pub(crate) fn document<'a>(plan: &'a Plan, set: &Set, authority: &str) -> render::PlanDocument<'a> {
    let mut doc = render::plan_document(plan, authority);
    let parts: Vec<(String, Vec<String>)> = set
        .in_run()
        .into_iter()
        .map(|k| {
            let part = set.part(k);
            (
                part.source.display().to_string(),
                part.apps.into_iter().map(|a| a.unique_name).collect(),
            )
        })
        .collect();
    render::attribute(&mut doc, &parts, &set.targets);
    doc
}

/// Each app's result names its manifest when the run covers several (as the plan's changes do).
pub(crate) fn attribute_report(report: &mut crate::apply::Report, set: &Set) {
    if !set.several() {
        return;
    }
    for r in &mut report.apps {
        r.manifest = set
            .manifest_of(&r.unique_name)
            .map(|d| d.source.display().to_string());
    }
}

/// The manifests of the run as a title names them: `` `a.toml`, `b.toml` ``.
pub(crate) fn title(set: &Set) -> String {
    set.in_run()
        .into_iter()
        .map(|k| format!("`{}`", set.manifests[k].source.display()))
        .collect::<Vec<_>>()
        .join(", ")
}
