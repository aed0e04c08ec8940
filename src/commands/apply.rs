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
    ci_report(
        ctx,
        desired,
        &render::plan_text(&doc),
        report.as_ref(),
        &entries,
        failure.is_none(),
    )?;

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
    if let Some(report) = &report {
        for (app, r) in plan.apps.iter().zip(&report.apps) {
            if let Some(what) = &r.consent_missing {
                consent_missing = true;
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
        return Err(Error::auth("admin consent could not be granted").with_help(
            "grant DelegatedPermissionGrant.ReadWrite.All and AppRoleAssignment.ReadWrite.All to the identity that runs provision, or open the URL above",
        ));
    }
    Ok(0)
}

/// Under GitHub Actions: the plan and what apply did as the job summary, and each app's IDs as
/// step outputs (only when every app got them and nothing failed, like the output file).
fn ci_report(
    ctx: &Context,
    desired: &crate::model::Desired,
    plan_text: &str,
    report: Option<&Report>,
    entries: &BTreeMap<String, outfile::Entry>,
    succeeded: bool,
) -> Result<()> {
    if !crate::ci::github_actions() {
        return Ok(());
    }
    let mut text = plan_text.to_owned();
    for line in report
        .iter()
        .flat_map(|r| r.apps.iter())
        .flat_map(|a| a.done.iter())
    {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(if succeeded {
        "\napply complete\n"
    } else {
        "\napply did not finish\n"
    });
    for (name, e) in entries {
        text.push_str(&format!(
            "\n{name}: tenant_id {} client_id {}",
            e.tenant_id, e.client_id
        ));
    }
    let title = format!("provision apply `{}`", desired.source.display());
    crate::ci::append_step_summary(&ctx.printer, &crate::ci::text_summary(&title, &text));
    if succeeded && entries.len() == desired.apps.len() {
        crate::ci::write_outputs(
            &ctx.printer,
            entries
                .iter()
                .map(|(n, e)| (n.as_str(), e.tenant_id.as_str(), e.client_id.as_str())),
        )?;
    }
    Ok(())
}
