//! `provision plan MANIFEST`: observe the tenant and print what apply would change (with
//! `--destroy`, what destroy would delete).

use std::io::IsTerminal;

use crate::cli::{GlobalArgs, PlanArgs};
use crate::context::Context;
use crate::error::{Class, Error, Result};
use crate::graph::GraphClient;
use crate::model::Desired;
use crate::plan::{Plan, PlanProblem};
use crate::{manifest, observe, plan, render};

/// Sign in, observe and plan: the part `plan` and `apply` share.
pub(crate) async fn compute(ctx: &Context, desired: &Desired) -> Result<(GraphClient, Plan)> {
    let (graph, token) = ctx.graph().await?;
    let (observed, guard) = futures::join!(
        observe::observe(&graph, desired, &token.tenant_id),
        observe::check_tenant_guard(
            &ctx.http,
            &ctx.endpoints.authority_url,
            desired.tenant.as_deref(),
            &token.tenant_id
        ),
    );
    guard?;
    let observed = observed?;
    let plan = plan::plan(desired, &observed).map_err(|p| problems_error(desired, &p))?;
    Ok((graph, plan))
}

/// Plan-time problems point at the manifest, like validation does, and exit 3.
fn problems_error(desired: &Desired, problems: &[PlanProblem]) -> Error {
    let mut rendered = String::new();
    for p in problems {
        rendered.push_str(&format!(
            "error: {}\n  --> {}:{}:{}\n",
            p.message,
            desired.source.display(),
            p.location.line,
            p.location.column
        ));
        if let Some(h) = &p.help {
            rendered.push_str(&format!("  = help: {h}\n"));
        }
        rendered.push('\n');
    }
    let mut e = Error::manifest(rendered, problems.len());
    e.message = format!(
        "the manifest asks for {} thing{} the tenant does not have",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
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

pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<i32> {
    let desired = load(global, &args.manifest)?;
    let ctx = Context::for_tenant(global, Some(&args.emulator), desired.tenant.as_deref()).await?;
    let result = async {
        let (_graph, plan) = if args.destroy {
            crate::commands::destroy::compute(&ctx, &desired, args.purge).await?
        } else {
            compute(&ctx, &desired).await?
        };
        let doc = render::plan_document(&plan, &ctx.endpoints.authority_url);
        let title = format!("provision plan `{}`", args.manifest.display());
        crate::ci::append_step_summary(
            &ctx.printer,
            &crate::ci::text_summary(&title, &render::plan_text(&doc)),
        );
        if ctx.printer.is_json() {
            ctx.printer.outln(&to_json(&doc)?);
        } else if args.destroy {
            ctx.printer.out(&crate::commands::destroy::plan_text(&plan, &doc));
        } else {
            ctx.printer.out(&render::plan_text(&doc));
        }
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

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::failure("cannot render JSON").with_source(e))
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
