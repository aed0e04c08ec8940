//! `import`: observe an existing registration (the application, its service principal, grants, app role assignments, owners,
//! federated credentials and the resource APIs they name) and print a manifest that describes
//! it (the plan: `import::manifest`). `--set-unique-name` first gives a registration without a
//! uniqueName its name (the one write, executed after the guard and the confirmation, like an
//! apply's).
//!
//! Reads: (1) the application; (2) concurrently, everything keyed by its appId, the resource
//! service principals of `requiredResourceAccess` and whether the candidate unique names are
//! free; (3) concurrently, resource service principals only grants or assignments name, and
//! whether the display names the manifest would use find one service principal each.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use serde::Serialize;

use super::{Guard, confirm, guarded};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::graph::types::*;
use crate::graph::{GraphClient, GraphError};
use crate::import::{self, Identity, Source};
use crate::manifest::rules;
use crate::model::ConsentMode;
use crate::{catalog, outfile, render};
use std::path::PathBuf;

#[derive(Serialize)]
struct ImportDocument<'a> {
    format_version: &'static str,
    tenant_id: &'a str,
    app_id: &'a str,
    object_id: &'a str,
    display_name: Option<&'a str>,
    unique_name: &'a str,
    /// Pinned by `app_id` because the registration has no uniqueName.
    pinned: bool,
    /// `--set-unique-name` gave the registration its uniqueName in this run.
    unique_name_set: bool,
    consent: ConsentMode,
    warnings: &'a [String],
    output_file: Option<String>,
    manifest: &'a str,
}

/// Which registration `provision import` reads.
pub(crate) enum Find {
    AppId(String),
    UniqueName(String),
    DisplayName(String),
}

/// What `provision import` was asked.
pub(crate) struct Options {
    pub find: Find,
    /// Give the registration this unique name first (it has none).
    pub set_unique_name: Option<String>,
    /// Set it without asking.
    pub yes: bool,
    /// Write the manifest here instead of printing it.
    pub output: Option<PathBuf>,
}

/// Check what can be checked before signing in: `--app-id` is a GUID, `--set-unique-name` a
/// valid unique name.
pub(crate) fn check(args: &Options) -> Result<()> {
    if let Find::AppId(id) = &args.find
        && rules::parse_guid(id).is_none()
    {
        return Err(Error::failure(format!("`--app-id` `{id}` is not a GUID"))
            .with_help("pass the application (client) ID, like `00000003-0000-0000-c000-000000000000`"));
    }
    if let Some(name) = &args.set_unique_name
        && let Err(f) = rules::check_unique_name(name)
    {
        let e = Error::failure(format!("`--set-unique-name`: {}", f.message));
        return Err(match f.help {
            Some(h) => e.with_help(h),
            None => e,
        });
    }
    Ok(())
}

/// Observe the registration, make its manifest, set its unique name when asked, print.
pub(crate) async fn run(ctx: &Context, args: &Options) -> Result<i32> {
    let printer = &ctx.printer;
    let (graph, token) = ctx.graph().await?;
    let tenant_id = token.tenant_id.clone();
    // The one write (`--set-unique-name`) is made only in the tenant that was asked for
    // (`--tenant`, `AZURE_TENANT_ID`); a read-only import has nothing to guard.
    let guard = match &args.set_unique_name {
        Some(_) => Guard::Asked(ctx.tenant.as_deref()),
        None => Guard::Nothing,
    };
    let seen = guarded(ctx, &guard, &tenant_id, observe(ctx, &graph, args, &tenant_id)).await?;
    let Seen {
        details,
        source,
        identity,
        to_set,
    } = seen;
    let app = &details.application;
    let display = app.display_name.clone().unwrap_or_default();

    // The plan: the manifest that describes the registration.
    let imported = import::manifest(&source, &identity).map_err(|rendered| {
        Error::failure("the manifest made from the registration does not validate")
            .with_source(rendered)
            .with_help(
                "a value in the tenant breaks a manifest rule; please report this with the message above",
            )
    })?;

    // Execute the one write: only after everything was read and the manifest was made.
    if let Some(name) = &to_set {
        printer.status(&format!(
            "  ~ application {display} (appId {}) in tenant {tenant_id}\n      unique_name: null → \"{name}\"",
            app.app_id
        ));
        if !confirm(
            args.yes,
            "\nGive the registration this unique name? Graph does not allow changing it afterwards.",
            printer,
        )? {
            return Err(Error::failure("import cancelled: nothing was changed"));
        }
        graph.set_unique_name(&app.app_id, name).await.map_err(|e| {
            let msg = format!("cannot give the application the unique name `{name}`");
            match e.status() {
                Some(401 | 403) => Error::auth(msg),
                _ => Error::failure(msg),
            }
            .with_source(e)
        })?;
        printer.status(&format!("Set the unique name `{name}`."));
    }

    for w in &imported.warnings {
        printer.warn(w);
    }
    let written = match &args.output {
        Some(path) => {
            outfile::write_atomic(path, &imported.text)?;
            Some(path.display().to_string())
        }
        None => None,
    };
    {
        let doc = ImportDocument {
            format_version: render::FORMAT_VERSION,
            tenant_id: &tenant_id,
            app_id: &app.app_id,
            object_id: &app.id,
            display_name: app.display_name.as_deref(),
            unique_name: identity.name(),
            pinned: matches!(identity, Identity::Pinned { .. }),
            unique_name_set: to_set.is_some(),
            consent: imported.consent,
            warnings: &imported.warnings,
            output_file: written.clone(),
            manifest: &imported.text,
        };
        if let Some(path) = &written {
            printer.status(&format!("Wrote {path}"));
        }
        // In text, the manifest itself, unless it went to a file.
        printer.result(&doc, || match &written {
            Some(_) => String::new(),
            None => imported.text.clone(),
        })?;
    }
    Ok(0)
}

/// What import read of the registration: the observation its manifest is made from.
struct Seen {
    details: ApplicationDetails,
    source: Source,
    identity: Identity,
    /// The unique name `--set-unique-name` gives it (it has none yet).
    to_set: Option<String>,
}

/// Read the registration in three concurrent rounds (module docs).
async fn observe(ctx: &Context, graph: &GraphClient, args: &Options, tenant_id: &str) -> Result<Seen> {
    let printer = &ctx.printer;
    let tenant_id = tenant_id.to_owned();

    // Round 1: the application.
    let details = find(graph, args, &tenant_id).await?;
    let app = &details.application;
    let display = app.display_name.clone().unwrap_or_default();

    let to_set = match (&args.set_unique_name, &app.unique_name) {
        (Some(wanted), Some(have)) if wanted.eq_ignore_ascii_case(have) => {
            printer.status(&format!("the application already has the unique name `{have}`"));
            None
        }
        (Some(_), Some(have)) => {
            return Err(Error::failure(format!(
                "the application `{display}` already has the unique name `{have}`"
            ))
            .with_help(format!(
                "Graph makes a uniqueName immutable once set: import it with `--unique-name {have}`"
            )));
        }
        (Some(wanted), None) => Some(wanted.clone()),
        (None, _) => None,
    };
    let candidates: Vec<String> = match (&to_set, &app.unique_name) {
        (Some(wanted), _) => vec![wanted.clone()],
        (None, None) => import::pinned_name_candidates(&display, &app.app_id).to_vec(),
        (None, Some(_)) => Vec::new(),
    };

    // Round 2: everything keyed by the appId, the resource APIs, the candidate names.
    let rra_app_ids: BTreeSet<String> = app
        .required_resource_access
        .iter()
        .map(|r| r.resource_app_id.to_ascii_lowercase())
        .collect();
    let app_id = app.app_id.as_str();
    let (client_side, owners, federated, resources, taken) = futures::join!(
        crate::observe::client_side(graph, app_id),
        graph.owners_of_app(app_id),
        graph.federated_credentials_of_app(app_id),
        try_join_all(rra_app_ids.iter().map(|id| graph.service_principal_by_app_id(id))),
        try_join_all(candidates.iter().map(|name| async move {
            Ok::<_, GraphError>((
                name.clone(),
                graph.application_by_unique_name(name).await?.is_some(),
            ))
        })),
    );
    let (service_principal, grants, assignments) = client_side?;
    let mut resources: Vec<ServicePrincipal> = resources?.into_iter().flatten().collect();
    let taken: BTreeMap<String, bool> = taken?.into_iter().collect();

    // Round 3: resources only grants and assignments name; display names shared by several
    // service principals (the manifest then names the API by appId).
    let known_ids: BTreeSet<String> = resources.iter().map(|s| s.id.to_ascii_lowercase()).collect();
    let by_id: BTreeSet<String> = grants
        .iter()
        .map(|g| g.resource_id.to_ascii_lowercase())
        .chain(assignments.iter().map(|a| a.resource_id.to_ascii_lowercase()))
        .filter(|id| !known_ids.contains(id))
        .collect();
    let names: BTreeSet<String> = resources
        .iter()
        .filter(|s| catalog::by_app_id(&s.app_id).is_none())
        .filter_map(|s| s.display_name.clone())
        .filter(|n| !n.trim().is_empty())
        .collect();
    let (more, shared) = futures::join!(
        try_join_all(by_id.iter().map(|id| graph.service_principal_by_id(id))),
        try_join_all(names.iter().map(|name| async move {
            let found = graph.service_principals_by_display_name(name).await?;
            Ok::<_, GraphError>((name.to_lowercase(), found.len() > 1))
        })),
    );
    resources.extend(more?.into_iter().flatten());
    let shared_display_names = shared?
        .into_iter()
        .filter_map(|(name, shared)| shared.then_some(name))
        .collect();

    let identity = match (&to_set, &app.unique_name) {
        (Some(wanted), _) => {
            if taken.get(wanted).copied().unwrap_or(false) {
                return Err(Error::failure(format!(
                    "another application already has the unique name `{wanted}`"
                ))
                .with_help("choose another name for `--set-unique-name`"));
            }
            Identity::UniqueName {
                name: wanted.clone(),
                just_set: true,
            }
        }
        (None, Some(have)) => Identity::UniqueName {
            name: have.clone(),
            just_set: false,
        },
        (None, None) => Identity::Pinned {
            name: candidates
                .iter()
                .find(|c| !taken.get(*c).copied().unwrap_or(false))
                .or(candidates.last())
                .cloned()
                .unwrap_or_default(),
        },
    };

    let source = Source {
        tenant_id: tenant_id.clone(),
        application: details.clone(),
        service_principal,
        grants,
        assignments,
        resources,
        shared_display_names,
        owners: owners.map_err(|e| short(&e)),
        federated_credentials: federated.map_err(|e| short(&e)),
    };
    Ok(Seen {
        details,
        source,
        identity,
        to_set,
    })
}

/// Find the one application the arguments name.
async fn find(graph: &GraphClient, args: &Options, tenant_id: &str) -> Result<ApplicationDetails> {
    let not_found = |what: String| {
        Error::failure(format!("no application {what} in tenant `{tenant_id}`"))
            .with_help("check the value, or find the registration with `--display-name`")
    };
    let name = match &args.find {
        Find::AppId(id) => {
            let id = rules::parse_guid(id).unwrap_or_else(|| id.clone());
            return graph
                .application_details_by_app_id(&id)
                .await?
                .ok_or_else(|| not_found(format!("with appId `{id}`")));
        }
        Find::UniqueName(name) => {
            return graph
                .application_details_by_unique_name(name)
                .await?
                .ok_or_else(|| not_found(format!("with the unique name `{name}`")));
        }
        Find::DisplayName(name) => name,
    };
    let mut found = graph.applications_by_display_name(name).await?;
    match found.len() {
        0 => Err(not_found(format!("named `{name}`"))),
        1 => Ok(found.remove(0)),
        n => {
            found.sort_by(|a, b| a.created_date_time.cmp(&b.created_date_time));
            Err(ambiguous(name, n, &found))
        }
    }
}

/// Several registrations share a display name: list them and refuse.
fn ambiguous(name: &str, n: usize, found: &[ApplicationDetails]) -> Error {
    let rows: Vec<[String; 3]> = found
        .iter()
        .map(|d| {
            [
                d.application.app_id.clone(),
                d.application
                    .unique_name
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                d.created_date_time.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let header = ["appId".to_owned(), "uniqueName".to_owned(), "created".to_owned()];
    let width = |i: usize| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut table = format!("applications named `{name}`:\n");
    for r in std::iter::once(&header).chain(&rows) {
        table.push_str(&format!("  {:<w0$}  {:<w1$}  {}\n", r[0], r[1], r[2]));
    }
    let mut e = Error::failure(format!("{n} applications are named `{name}`"))
        .with_help("import one of them with `--app-id ID` (or `--unique-name NAME`)");
    e.rendered = Some(table);
    e
}

/// A Graph failure in a few words, for a comment in the manifest.
fn short(e: &GraphError) -> String {
    match e.status() {
        Some(status) if !e.code().is_empty() => format!("Graph answered {status} {}", e.code()),
        Some(status) => format!("Graph answered {status}"),
        None => "no answer from Graph".to_owned(),
    }
}
