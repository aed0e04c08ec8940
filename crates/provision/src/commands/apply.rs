//! `provision apply MANIFEST`: plan, check the output file can be written, confirm, execute
//! (results streamed as each step ends; Ctrl-C stops with what was done so far), write the
//! output file. Text and JSON come from the same typed report (`apply::Report`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apply::{Report, Status, Tally};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::commands::live::Live;
use crate::commands::plan::{compute, confirm, to_json};
use crate::context::Context;
use crate::error::{Class, Error, Result};
use crate::model::{ConsentMode, Desired};
use crate::output::Printer;
use crate::{apply, outfile, render};

/// The output file named by `[output]`, and whether it holds what is true now.
#[derive(Debug, Serialize)]
pub(crate) struct OutputFileState {
    pub path: String,
    /// Written (or, for destroy, updated or removed) by this run.
    pub written: bool,
    /// Whether the file on disk matches the tenant; `false` when a failed or stopped run left
    /// an older file in place.
    pub up_to_date: bool,
    /// Whether a file is there now.
    pub exists: bool,
}

#[derive(Serialize)]
struct ApplyDocument<'a> {
    format_version: &'static str,
    plan: render::PlanDocument<'a>,
    /// Every planned step was done (also true when there was nothing to do).
    applied: bool,
    /// Stopped by Ctrl-C (SIGINT) before it finished.
    interrupted: bool,
    summary: Tally,
    /// Per step: done, failed (with Graph's error) or not attempted; `null` when the plan had
    /// no changes.
    result: Option<&'a Report>,
    output_file: Option<OutputFileState>,
    outputs: &'a BTreeMap<String, outfile::Entry>,
}

/// Where the manifest's output file goes (relative to the manifest's folder).
pub(crate) fn output_path(desired: &Desired) -> Option<PathBuf> {
    let spec = desired.output.as_ref()?;
    let base = desired.source.parent().unwrap_or(Path::new(""));
    Some(base.join(&spec.path))
}

pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<i32> {
    let desired = crate::commands::plan::load(global, &args.manifest)?;
    let ctx = Context::for_tenant(global, Some(&args.emulator), desired.tenant.as_deref()).await?;
    let result = run_in(&ctx, &desired, args).await;
    ctx.finish().await;
    result
}

/// The error for a run stopped by Ctrl-C (exit 130).
pub(crate) fn interrupted(verb: &str) -> Error {
    Error::new(Class::Interrupted, format!("interrupted: {verb} stopped before it finished"))
        .with_help(format!(
            "the changes listed above were made (a request in flight when it stopped may have been applied too); run `provision {verb}` again to finish"
        ))
}

/// Print, after a run, the steps it did not attempt and the closing line (the done and failed
/// steps were printed as they ended).
pub(crate) fn print_outcome(printer: &Printer, verb: &str, report: &Report, interrupted: bool) {
    for step in report.steps().filter(|s| s.status == Status::NotAttempted) {
        printer.outln(&format!("  {}", render::step_line(step)));
    }
    let complete = report.complete() && !interrupted;
    printer.outln(&format!(
        "\n{}",
        render::tally_text(verb, &report.tally(), complete)
    ));
}

async fn run_in(ctx: &Context, desired: &Desired, args: &ApplyArgs) -> Result<i32> {
    let printer = &ctx.printer;
    let (graph, plan) = compute(ctx, desired).await?;
    let authority = &ctx.endpoints.authority_url;
    let doc = render::plan_document(&plan, authority);
    if !printer.is_json() {
        printer.out(&render::plan_text(&doc));
    }
    // Before the first write: a run must not change the tenant and then fail to say what it
    // did where the user asked for it.
    let out_path = output_path(desired);
    if let Some(path) = &out_path {
        outfile::check_writable(path)?;
    }
    // And that what it will hold can be written in its format (the env dialect refuses values a
    // shell would read differently): rendered with stand-in IDs.
    if let Some(spec) = &desired.output {
        let stand_in = "00000000-0000-0000-0000-000000000000".to_owned();
        let ids = plan
            .apps
            .iter()
            .map(|a| {
                (
                    a.unique_name.clone(),
                    (stand_in.clone(), stand_in.clone(), stand_in.clone()),
                )
            })
            .collect();
        outfile::render(&outfile::entries(desired, &plan, &ids, authority), spec.format).map_err(
            |mut e| {
                e.message = format!("{}: nothing was changed in the tenant", e.message);
                e
            },
        )?;
    }

    let mut stopped = false;
    let report = if plan.has_changes() {
        if !confirm(args.yes, "\nApply these changes?", printer)? {
            return Err(Error::failure("apply cancelled: nothing was changed"));
        }
        if !printer.is_json() {
            printer.out("\n");
        }
        let live = Live::new(printer, plan.apps.len());
        let finished = tokio::select! {
            r = apply::apply(&graph, &plan, &live) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        live.finish();
        Some(finished.unwrap_or_else(|| {
            stopped = true;
            Report::from_ended(&plan, &live.ended())
        }))
    } else {
        None
    };
    // Read back until Graph shows the writes (issue 12 §2); a timeout is reported after the
    // output file is written, since the writes were made.
    let read_back = match &report {
        Some(r) if !args.no_wait => crate::readback::wait(&graph, desired, &plan, r, printer)
            .await
            .err(),
        _ => None,
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
    let plan_text = render::plan_text(&doc);

    // The output file is written whenever every app got its IDs, also when nothing changed; a
    // failed or stopped run leaves the file as it was, named as out of date.
    let mut file_state = None;
    // A file that cannot be written after the tenant changed is reported after what was done.
    let mut write_error = None;
    if let (Some(spec), Some(path)) = (&desired.output, &out_path) {
        let shown = path.display().to_string();
        if failure.is_none() && !stopped && entries.len() == desired.apps.len() {
            let written =
                outfile::render(&entries, spec.format).and_then(|text| outfile::write_atomic(path, &text));
            let ok = written.is_ok();
            write_error = written.err();
            file_state = Some(OutputFileState {
                path: shown,
                written: ok,
                up_to_date: ok,
                exists: path.exists(),
            });
        } else {
            let exists = path.exists();
            if exists {
                printer.warn(&format!(
                    "`{shown}` was not updated and is out of date: apply did not finish; run apply again to rewrite it"
                ));
            }
            file_state = Some(OutputFileState {
                path: shown,
                written: false,
                up_to_date: false,
                exists,
            });
        }
    }

    let applied = !stopped && report.as_ref().is_none_or(Report::complete);
    if printer.is_json() {
        let doc = ApplyDocument {
            format_version: render::FORMAT_VERSION,
            plan: doc,
            applied,
            interrupted: stopped,
            summary: report.as_ref().map(Report::tally).unwrap_or_default(),
            result: report.as_ref(),
            output_file: file_state,
            outputs: &entries,
        };
        printer.outln(&to_json(&doc)?);
    } else {
        if let Some(report) = &report {
            print_outcome(printer, "Apply", report, stopped);
        }
        // The IDs: every app's, when the run got that far.
        for app in &plan.apps {
            if let Some(e) = entries.get(&app.unique_name) {
                printer.outln(&format!(
                    "\n{}:\n  tenant_id  = {}\n  client_id  = {}\n  authority  = {}",
                    app.unique_name, e.tenant_id, e.client_id, e.authority
                ));
            }
        }
        if let Some(OutputFileState {
            path, written: true, ..
        }) = &file_state
        {
            printer.outln(&format!("\nWrote {path}"));
        }
    }

    ci_report(
        ctx,
        desired,
        &plan_text,
        report.as_ref(),
        &entries,
        failure.is_none() && !stopped && write_error.is_none(),
    )?;
    if stopped {
        return Err(interrupted("apply"));
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Some((app, e)) = failure {
        return Err(e.to_error(Some(&format!("apply of `{app}` did not finish"))));
    }
    if let Some(e) = read_back {
        return Err(e);
    }

    // Consent that could not be granted, or that the manifest leaves to an administrator.
    let mut consent_missing = false;
    let mut lacking = std::collections::BTreeSet::new();
    if let Some(report) = &report {
        for (app, r) in plan.apps.iter().zip(&report.apps) {
            if !r.consent_denied.is_empty() {
                consent_missing = true;
                // Which write was refused names the permission (`….app_role[…]` addresses are
                // app role assignments, `….consent[…]` delegated grants).
                for address in &r.consent_denied {
                    lacking.insert(if address.contains(".app_role[") {
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
                    "`{}`: the signed-in identity may not grant consent ({}); a Global Administrator can grant it at {url}",
                    app.unique_name,
                    r.consent_denied.join(", ")
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
    if let Some(report) = report {
        text.push('\n');
        for step in report.steps() {
            text.push_str(&format!("  {}\n", render::step_line(step)));
        }
        text.push_str(&format!(
            "\n{}\n",
            render::tally_text("Apply", &report.tally(), succeeded)
        ));
    } else if succeeded {
        text.push_str("\nNothing to apply.\n");
    }
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
