//! `apply`: observe and plan (as `plan` does), check that the output files can be written,
//! execute after one confirmation (results streamed as each step ends; Ctrl-C stops with what
//! was done so far), read back until Graph shows the writes, write the output files. Text and
//! JSON come from the same typed report (`apply::Report`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::plan::{compute, document};
use super::{Executed, Steps, execute, interrupted};
use crate::apply::{Report, Status, Tally};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::manifest::many::Set;
use crate::model::{ConsentMode, Desired};
use crate::ops::live::Live;
use crate::plan::{AppKey, Plan};
use crate::{outfile, render};

/// What `provision apply` was asked.
pub(crate) struct Options {
    /// Apply without asking.
    pub yes: bool,
    /// Do not wait for Graph to show the writes.
    pub no_wait: bool,
}

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
    /// The manifest whose `[output]` it is, when the run covers several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// The documents' `output_file` (one manifest) and `output_files` (several, each naming its
/// manifest; `output_file` is then `null`).
pub(crate) fn file_fields(
    states: Vec<OutputFileState>,
    set: &Set,
) -> (Option<OutputFileState>, Option<Vec<OutputFileState>>) {
    if set.several() {
        (None, Some(states))
    } else {
        (states.into_iter().next(), None)
    }
}

/// The part of the run's plan that is manifest `k`'s apps (the plan keeps the run's app order).
fn part_plan(plan: &Plan, set: &Set, k: usize) -> Plan {
    Plan {
        tenant_id: plan.tenant_id.clone(),
        resource_service_principals: plan.resource_service_principals.clone(),
        apps: plan
            .apps
            .iter()
            .filter(|a| set.owner.get(&AppKey::of(&a.unique_name)) == Some(&k))
            .cloned()
            .collect(),
        purge: Vec::new(),
        signed_in: plan.signed_in.clone(),
    }
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
    /// With several manifests, each one's output file (`output_file` is then `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    output_files: Option<Vec<OutputFileState>>,
    outputs: &'a BTreeMap<String, outfile::Entry>,
}

/// Where the manifest's output file goes (relative to the manifest's folder).
pub(crate) fn output_path(desired: &Desired) -> Option<PathBuf> {
    let spec = desired.output.as_ref()?;
    let base = desired.source.parent().unwrap_or(Path::new(""));
    Some(base.join(&spec.path))
}

/// The end of a report in text: the steps it did not attempt, then the tally (the done and
/// failed steps were printed as they ended).
pub(crate) fn outcome_text(verb: &str, report: &Report, interrupted: bool) -> String {
    let mut out = String::new();
    for step in report.steps().filter(|s| s.status == Status::NotAttempted) {
        out.push_str(&format!("  {}\n", render::step_line(step)));
    }
    let complete = report.complete() && !interrupted;
    out.push_str(&format!(
        "\n{}\n",
        render::tally_text(verb, &report.tally(), complete)
    ));
    out
}

/// Run `apply` over the manifests of `set`; the exit code, or the error that ends the run.
pub(crate) async fn run(ctx: &Context, set: &Set, opts: &Options) -> Result<i32> {
    let printer = &ctx.printer;
    let (graph, plan) = compute(ctx, set).await?;
    let authority = &ctx.endpoints.authority_url;
    let doc = document(&plan, set, authority);
    printer.text(&render::plan_text(&doc));
    let out_paths = check_outputs(set, &plan, authority)?;

    // Generated certificates' keys go to disk before the tenant sees the certificates.
    let executed = execute(
        ctx,
        &graph,
        &plan,
        Steps::Apply,
        opts.yes,
        "\nApply these changes?",
        || write_generated_keys(&plan),
    )
    .await?;
    let mut stopped = executed.as_ref().is_some_and(|e| e.interrupted);
    let mut report = executed.map(|Executed { report, .. }| report);
    // Read back until Graph shows the writes (issue 12 §2); a timeout is reported after the
    // output file is written, since the writes were made.
    // A run stopped by Ctrl-C does not wait for what it did not do; Ctrl-C during the wait
    // stops it too (the writes were made).
    let read_back = match &report {
        Some(r) if !opts.no_wait && !stopped => tokio::select! {
            w = crate::readback::wait(&graph, &set.combined, &plan, r, printer) => w.err(),
            _ = tokio::signal::ctrl_c() => {
                stopped = true;
                None
            }
        },
        _ => None,
    };

    if let Some(r) = report.as_mut() {
        super::plan::attribute_report(r, set);
    }

    let ids = learned_ids(&plan, report.as_ref());
    let mut entries = outfile::entries(&set.combined, &plan, &ids, authority);
    outfile::add_credentials(&mut entries, &plan, report.as_ref());
    let plan_text = render::plan_text(&doc);

    let (file_states, write_error) = write_outputs(
        ctx,
        set,
        &plan,
        report.as_ref(),
        stopped,
        &out_paths,
        &ids,
        &entries,
    );
    // Passwords rotated out or no longer listed go once every output file of the run holds what
    // replaces them (or when there is none); a run that failed keeps them for the next one.
    if let Some(r) = report.as_mut()
        && crate::credentials::exec::has_removals(&plan)
        && r.first_error().is_none()
        && !stopped
        && write_error.is_none()
        && file_states.iter().all(|f| f.written)
    {
        let live = Live::new(printer, 0);
        crate::credentials::exec::remove(&graph, &plan, r, &live).await;
        live.finish();
    }
    let failure = report.as_ref().and_then(Report::first_error);
    let (file_state, file_states) = file_fields(file_states, set);

    let applied = !stopped && report.as_ref().is_none_or(Report::complete);
    {
        let doc = ApplyDocument {
            format_version: render::FORMAT_VERSION,
            plan: doc,
            applied,
            interrupted: stopped,
            summary: report.as_ref().map(Report::tally).unwrap_or_default(),
            result: report.as_ref(),
            output_file: file_state,
            output_files: file_states,
            outputs: &entries,
        };
        printer.result(&doc, || {
            let mut out = String::new();
            if let Some(report) = doc.result {
                out.push_str(&outcome_text("Apply", report, stopped));
            }
            // The IDs: every app's, when the run got that far.
            for app in &plan.apps {
                if let Some(e) = entries.get(&app.unique_name) {
                    out.push_str(&format!(
                        "\n{}:\n  tenant_id  = {}\n  client_id  = {}\n  authority  = {}\n",
                        app.unique_name, e.tenant_id, e.client_id, e.authority
                    ));
                }
            }
            for state in doc.output_files.iter().flatten().chain(&doc.output_file) {
                if state.written {
                    out.push_str(&format!("\nWrote {}\n", state.path));
                }
            }
            out
        })?;
    }

    ci_report(
        ctx,
        set,
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

    consent_outcome(ctx, &plan, report.as_ref(), &ids)
}

/// Under GitHub Actions: the plan and what apply did as the job summary, and each app's IDs as
/// step outputs (only when every app got them and nothing failed, like the output file).
fn ci_report(
    ctx: &Context,
    set: &Set,
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
    let title = format!("provision apply {}", super::plan::title(set));
    crate::ci::append_step_summary(&ctx.printer, &crate::ci::text_summary(&title, &text));
    if succeeded && entries.len() == set.combined.apps.len() {
        crate::ci::write_outputs(
            &ctx.printer,
            entries
                .iter()
                .map(|(n, e)| (n.as_str(), e.tenant_id.as_str(), e.client_id.as_str())),
        )?;
    }
    Ok(())
}

/// Write the keys of the certificates apply generates (mode 0600), before they are uploaded: a
/// run that fails after this uploads the same certificate next time.
fn write_generated_keys(plan: &crate::plan::Plan) -> Result<()> {
    for app in &plan.apps {
        for c in &app.credentials {
            if let Some(crate::credentials::plan::New::Certificate(cert)) = &c.new
                && let Some(pem) = &cert.pending
            {
                crate::credentials::local::write_private(&cert.path, pem.expose()).map_err(|mut e| {
                    e.message = format!("{}: nothing was changed in the tenant", e.message);
                    e
                })?;
            }
        }
    }
    Ok(())
}

/// Each manifest of the run with an `[output]`, and its file, checked before the first write: a
/// run must not change the tenant and then fail to say what it did where the user asked for it.
fn check_outputs(set: &Set, plan: &Plan, authority: &str) -> Result<Vec<(usize, PathBuf)>> {
    let out_paths: Vec<(usize, PathBuf)> = set
        .in_run()
        .into_iter()
        .filter_map(|k| output_path(&set.manifests[k]).map(|p| (k, p)))
        .collect();
    for (k, path) in &out_paths {
        // A manifest with apps left out by --target keeps its file as it is (below).
        if !set.whole(*k) {
            continue;
        }
        // Before the first write: a run must not change the tenant and then fail to say what
        // it did where the user asked for it.
        outfile::check_writable(path)?;
        // And that what it will hold can be written in its format (the env dialect refuses
        // values a shell would read differently): rendered with stand-in IDs.
        let desired = set.part(*k);
        let own = part_plan(plan, set, *k);
        if let Some(spec) = &desired.output {
            let stand_in = "00000000-0000-0000-0000-000000000000".to_owned();
            let ids = own
                .apps
                .iter()
                .map(|a| {
                    (
                        a.unique_name.clone(),
                        (stand_in.clone(), stand_in.clone(), stand_in.clone()),
                    )
                })
                .collect();
            outfile::render(&outfile::entries(&desired, &own, &ids, authority), spec.format).map_err(
                |mut e| {
                    e.message = format!("{}: nothing was changed in the tenant", e.message);
                    e
                },
            )?;
        }
    }

    Ok(out_paths)
}

/// Each app's (client id, object id, service principal id) for the output file: what apply
/// learned, else what was observed; an app without all three is left out.
fn learned_ids(plan: &Plan, report: Option<&Report>) -> BTreeMap<String, (String, String, String)> {
    let mut ids = BTreeMap::new();
    for app in &plan.apps {
        let r = report.and_then(|r| r.app(&app.unique_name));
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
    ids
}

/// Each manifest's output file is written when every app of it got its IDs and none of its
/// steps failed, also when nothing changed; a failed or stopped run leaves the file as it was,
/// named as out of date. A file that cannot be written after the tenant changed is returned as
/// the error, reported after what was done.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's state at this point, each used once"
)]
fn write_outputs(
    ctx: &Context,
    set: &Set,
    plan: &Plan,
    report: Option<&Report>,
    stopped: bool,
    out_paths: &[(usize, PathBuf)],
    ids: &BTreeMap<String, (String, String, String)>,
    entries: &BTreeMap<String, outfile::Entry>,
) -> (Vec<OutputFileState>, Option<Error>) {
    let printer = &ctx.printer;
    let authority = &ctx.endpoints.authority_url;
    let mut file_states = Vec::new();
    let mut write_error = None;
    for (k, path) in out_paths {
        let Some(spec) = &set.manifests[*k].output else {
            continue;
        };
        let shown = path.display().to_string();
        let manifest = set
            .several()
            .then(|| set.manifests[*k].source.display().to_string());
        let desired = set.part(*k);
        let own = part_plan(plan, set, *k);
        let mut own_entries = outfile::entries(&desired, &own, ids, authority);
        // Credentials (issue 17), as the whole run's entries hold them.
        for (name, e) in own_entries.iter_mut() {
            if let Some(full) = entries.get(name) {
                e.passwords = full.passwords.clone();
                e.certificates = full.certificates.clone();
            }
        }
        let own_failed = report.is_some_and(|r| {
            r.resource_error.is_some()
                || r.apps
                    .iter()
                    .any(|a| a.error.is_some() && set.owner.get(&AppKey::of(&a.unique_name)) == Some(k))
        });
        let exists = path.exists();
        if !set.whole(*k) {
            printer.status(&format!(
                "`{shown}` was left as it is: --target left out apps of `{}`; apply without --target writes it",
                set.manifests[*k].source.display()
            ));
            file_states.push(OutputFileState {
                path: shown,
                written: false,
                up_to_date: false,
                exists,
                manifest,
            });
        } else if !own_failed && !stopped && own_entries.len() == desired.apps.len() {
            // A file that holds a password's value is the owner's only (mode 0600).
            let written = outfile::render_with_secrets(&own_entries, spec.format).and_then(|text| {
                if outfile::holds_secret(&own_entries) {
                    crate::credentials::local::write_private(path, &text)
                } else {
                    outfile::write_atomic(path, &text)
                }
            });
            let ok = written.is_ok();
            if write_error.is_none() {
                write_error = written.err();
            }
            file_states.push(OutputFileState {
                path: shown,
                written: ok,
                up_to_date: ok,
                exists: path.exists(),
                manifest,
            });
        } else {
            if exists {
                printer.warn(&format!(
                    "`{shown}` was not updated and is out of date: apply did not finish; run apply again to rewrite it"
                ));
            }
            file_states.push(OutputFileState {
                path: shown,
                written: false,
                up_to_date: false,
                exists,
                manifest,
            });
        }
    }
    (file_states, write_error)
}

/// Consent that could not be granted (exit 4, naming the permission the identity lacks and the
/// admin consent URL), or that the manifest leaves to an administrator (its URL).
fn consent_outcome(
    ctx: &Context,
    plan: &Plan,
    report: Option<&Report>,
    ids: &BTreeMap<String, (String, String, String)>,
) -> Result<i32> {
    let printer = &ctx.printer;
    let authority = &ctx.endpoints.authority_url;
    let mut consent_missing = false;
    let mut lacking = std::collections::BTreeSet::new();
    if let Some(report) = report {
        for r in &report.apps {
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
                    r.unique_name,
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
