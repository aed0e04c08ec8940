//! `provision apply MANIFEST`: plan, confirm, execute, write the output file.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::Report;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::commands::plan::{compute, confirm, to_json};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::ConsentMode;
use crate::{apply, outfile, render};

#[derive(Serialize)]
struct ApplyDocument<'a> {
    format_version: &'static str,
    plan: render::PlanDocument<'a>,
    applied: bool,
    result: Option<&'a Report>,
    output_file: Option<String>,
    outputs: &'a BTreeMap<String, outfile::Entry>,
}

pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<i32> {
    let desired = crate::commands::plan::load(global, &args.manifest)?;
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = run_in(&ctx, &desired, args).await;
    ctx.finish().await;
    result
}

async fn run_in(ctx: &Context, desired: &crate::model::Desired, args: &ApplyArgs) -> Result<i32> {
    let printer = &ctx.printer;
    let (graph, plan) = compute(ctx, desired).await?;
    let authority = &ctx.endpoints.authority_url;
    let doc = render::plan_document(&plan, authority);
    if !printer.is_json() {
        printer.out(&render::plan_text(&doc));
    }
    let report = if plan.has_changes() {
        if !confirm(args.yes, "\nApply these changes?", printer)? {
            return Err(Error::failure("apply cancelled: nothing was changed"));
        }
        Some(apply::apply(&graph, &plan).await)
    } else {
        None
    };

    // IDs for the output file: what apply learned, else what was observed.
    let mut ids = BTreeMap::new();
    for (i, app) in plan.apps.iter().enumerate() {
        let r = report.as_ref().and_then(|r| r.apps.get(i));
        let client = r
            .and_then(|r| r.client_id.clone())
            .or_else(|| app.application.app_id.clone());
        let object = r
            .and_then(|r| r.object_id.clone())
            .or_else(|| app.application.object_id.clone());
        let sp = r
            .and_then(|r| r.service_principal_id.clone())
            .or_else(|| app.service_principal_id.clone());
        if let (Some(c), Some(o), Some(s)) = (client, object, sp) {
            ids.insert(app.unique_name.clone(), (c, o, s));
        }
    }
    let entries = outfile::entries(desired, &plan, &ids, authority);
    let failure = report.as_ref().and_then(Report::first_error);

    // The output file is written whenever every app got its IDs, also when nothing changed.
    let mut written = None;
    if let Some(spec) = &desired.output
        && failure.is_none()
        && entries.len() == desired.apps.len()
    {
        let base = desired.source.parent().unwrap_or(std::path::Path::new(""));
        let path = base.join(&spec.path);
        outfile::write_atomic(&path, &outfile::render(&entries, spec.format)?)?;
        written = Some(path.display().to_string());
    }

    if printer.is_json() {
        let doc = ApplyDocument {
            format_version: render::FORMAT_VERSION,
            plan: doc,
            applied: report.is_some(),
            result: report.as_ref(),
            output_file: written.clone(),
            outputs: &entries,
        };
        printer.outln(&to_json(&doc)?);
    } else if let Some(report) = &report {
        printer.out("\n");
        for line in report
            .resource_service_principals
            .iter()
            .map(|n| format!("+ service principal for {n}"))
        {
            printer.outln(&format!("  {line}"));
        }
        for app in &report.apps {
            for line in &app.done {
                printer.outln(&format!("  {line}"));
            }
        }
        if failure.is_none() {
            let s = plan.summary();
            printer.outln(&format!(
                "\nApply complete: {} created, {} updated, {} deleted.",
                s.create, s.update, s.delete
            ));
        }
    }
    if !printer.is_json() {
        for (name, e) in &entries {
            printer.outln(&format!(
                "\n{name}:\n  tenant_id  = {}\n  client_id  = {}\n  authority  = {}",
                e.tenant_id, e.client_id, e.authority
            ));
        }
        if let Some(path) = &written {
            printer.outln(&format!("\nWrote {path}"));
        }
    }

    if let Some((app, e)) = failure {
        return Err(e.to_error(Some(&format!("apply of `{app}` did not finish"))));
    }

    // Consent that could not be granted, or that the manifest leaves to an administrator.
    let mut consent_missing = false;
    let mut lacking = std::collections::BTreeSet::new();
    if let Some(report) = &report {
        for (app, r) in plan.apps.iter().zip(&report.apps) {
            if let Some(what) = &r.consent_missing {
                consent_missing = true;
                // Which write was refused names the permission (app role lines are assignments).
                for part in what.split("; ") {
                    lacking.insert(if part.contains(" app role ") {
                        crate::permissions::WRITE_ASSIGNMENTS.least()
                    } else {
                        crate::permissions::WRITE_GRANTS.least()
                    });
                }
                let url = render::admin_consent_url(
                    authority,
                    &plan.tenant_id,
                    r.client_id.as_deref().unwrap_or_default(),
                );
                printer.warn(&format!(
                    "`{}`: the signed-in identity may not grant consent ({what}); a Global Administrator can grant it at {url}",
                    app.unique_name
                ));
            }
        }
    }
    for app in plan.apps.iter().filter(|a| a.consent == ConsentMode::None) {
        if let Some((client, _, _)) = ids.get(&app.unique_name) {
            printer.status(&format!(
                "`{}`: consent is left to an administrator: {}",
                app.unique_name,
                render::admin_consent_url(authority, &plan.tenant_id, client)
            ));
        }
    }
    if consent_missing {
        let names: Vec<String> = lacking.iter().map(|p| format!("`{p}`")).collect();
        return Err(Error::auth(format!(
            "admin consent could not be granted: the signed-in identity lacks {}",
            names.join(" and ")
        ))
        .with_help(
            "add it to the identity that runs provision (App registration → API permissions → Microsoft Graph, then grant admin consent), or open the URL above",
        ));
    }
    Ok(0)
}
