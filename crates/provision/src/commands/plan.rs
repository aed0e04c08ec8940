//! `provision plan MANIFEST`: observe the tenant and print what apply would change (with
//! `--destroy`, what destroy would delete).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, PlanArgs, UseEmulator};
use crate::context::Context;
use crate::error::{Class, Error, Result};
use crate::graph::GraphClient;
use crate::manifest::many::Set;
use crate::model::Desired;
use crate::plan::{Observed, Plan, PlanProblem};
use crate::{manifest, observe, plan, render};

/// Sign in, observe and plan: the part `plan` and `apply` share. One observation for every app
/// of the run, whatever manifest it comes from.
pub(crate) async fn compute(ctx: &Context, set: &Set) -> Result<(GraphClient, Plan)> {
    let (graph, token) = ctx.graph().await?;
    let (observed, guard) = futures::join!(
        observe::observe(&graph, &set.combined, &token.tenant_id),
        check_guards(ctx, set, &token.tenant_id),
    );
    guard?;
    let mut observed = observed?;
    observed.signed_in = crate::ownership::signed_in(token.secret());
    let plan = plan_set(set, &observed)?;
    Ok((graph, plan))
}

/// Every tenant guard of the run's manifests against the signed-in tenant (each distinct guard
/// once, named by the first manifest that has it), before anything is written.
pub(crate) async fn check_guards(ctx: &Context, set: &Set, tenant_id: &str) -> Result<()> {
    let mut guards: Vec<(&Path, &str)> = Vec::new();
    for (path, guard) in set.guards() {
        if !guards.iter().any(|(_, g)| g.eq_ignore_ascii_case(guard)) {
            guards.push((path, guard));
        }
    }
    let several = set.several();
    futures::future::try_join_all(guards.into_iter().map(|(path, guard)| async move {
        let whose = if several {
            format!("the manifest `{}`", path.display())
        } else {
            "the manifest".to_owned()
        };
        observe::check_tenant_guard_of(
            &ctx.http,
            &ctx.endpoints.authority_url,
            &whose,
            Some(guard),
            tenant_id,
        )
        .await
    }))
    .await
    .map(|_| ())
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

/// Read and validate the manifest, printing its warnings.
pub(crate) fn load(global: &GlobalArgs, path: &std::path::Path) -> Result<Desired> {
    let printer =
        crate::output::Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    manifest::load_reporting(path, &printer)
}

/// Read every manifest `paths` name (folders: their `*.toml`), printing their warnings, as one
/// run limited to `targets` (none: every app).
pub(crate) fn load_set(global: &GlobalArgs, paths: &[PathBuf], targets: &[String]) -> Result<Set> {
    let printer =
        crate::output::Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    Set::new(manifest::many::load_many(paths, &printer)?, targets)
}

/// The run's context: under `--emulator`, a tenant that is the one the manifests name.
pub(crate) async fn context(global: &GlobalArgs, emulator: &UseEmulator, set: &Set) -> Result<Context> {
    Context::for_tenants(global, Some(emulator), &set.tenant_names()).await
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

pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<i32> {
    let set = load_set(global, &args.manifests, &args.targets)?;
    let ctx = context(global, &args.emulator, &set).await?;
    let result = async {
        let (_graph, plan) = if args.destroy {
            crate::commands::destroy::compute(&ctx, &set, args.purge).await?
        } else {
            compute(&ctx, &set).await?
        };
        let doc = document(&plan, &set, &ctx.endpoints.authority_url);
        let title = format!("provision plan {}", title(&set));
        crate::ci::append_step_summary(
            &ctx.printer,
            &crate::ci::text_summary(&title, &render::plan_text(&doc)),
        );
        ctx.printer.result(&doc, || {
            if args.destroy {
                crate::commands::destroy::plan_text(&plan, &doc)
            } else {
                render::plan_text(&doc)
            }
        })?;
        Ok(if args.detailed_exitcode && plan.has_changes() {
            2
        } else {
            0
        })
    }
    .await;
    ctx.finish().await;
    result
}

/// Ask before changing the tenant: `--yes`, or "yes" typed on a terminal.
pub(crate) fn confirm(yes: bool, question: &str, printer: &crate::output::Printer) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::failure(
            "refusing to change the tenant without confirmation: stdin is not a terminal",
        )
        .with_help("pass --yes to confirm"));
    }
    printer.status(&format!("{question} Only 'yes' will be accepted:"));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
