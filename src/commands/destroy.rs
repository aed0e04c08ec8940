//! `provision destroy MANIFEST`: delete the apps the manifest names — found by `unique_name`
//! (or by the `app_id` that pins them), never by display name — with their delegated grants, app role assignments and service
//! principals; `--purge` also removes them from deleted items so the unique name is free again.

use futures::future::try_join_all;
use serde::Serialize;

use crate::cli::{DestroyArgs, GlobalArgs};
use crate::commands::plan::{confirm, to_json};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::graph::GraphError;
use crate::render;

#[derive(Debug, Serialize)]
struct Target {
    unique_name: String,
    application_id: String,
    client_id: String,
    service_principal_id: Option<String>,
    grants: Vec<String>,
    app_role_assignments: Vec<String>,
}

#[derive(Serialize)]
struct DestroyDocument<'a> {
    format_version: &'static str,
    tenant_id: &'a str,
    destroy: &'a [Target],
    purge: bool,
    destroyed: bool,
    /// With `--purge`: the manifest's apps already in deleted items, purged too.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    purge_deleted_items: &'a [crate::deleted::Leftover],
}

fn gone_is_ok(r: std::result::Result<(), GraphError>) -> std::result::Result<(), GraphError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

pub async fn run(global: &GlobalArgs, args: &DestroyArgs) -> Result<i32> {
    let desired = crate::commands::plan::load(global, &args.manifest)?;
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = async {
        let printer = &ctx.printer;
        let (graph, token) = ctx.graph().await?;
        let found = try_join_all(desired.apps.iter().map(|app| async {
            // An app pinned by `app_id` is found by that appId (its unique name may be null, or
            // another app's); any other app only by its unique name, never by display name.
            let found = match &app.app_id {
                Some(pinned) => graph.application_by_app_id(pinned).await?,
                None => graph.application_by_unique_name(&app.unique_name).await?,
            };
            let Some(application) = found else {
                return Ok::<_, GraphError>(None);
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
                return Ok(None);
            }
            let (sp, grants, assignments) = crate::observe::client_side(&graph, &application.app_id).await?;
            Ok(Some(Target {
                unique_name: app.unique_name.clone(),
                application_id: application.id,
                client_id: application.app_id,
                service_principal_id: sp.map(|s| s.id),
                // Only grants this app holds as the client: AllPrincipals and user grants alike
                // go with the app.
                grants: grants.into_iter().map(|g| g.id).collect(),
                app_role_assignments: assignments.into_iter().map(|a| a.id).collect(),
            }))
        }))
        .await?;
        let targets: Vec<Target> = found.into_iter().flatten().collect();
        let leftovers = purge_leftovers(&graph, &desired, &targets, args.purge).await?;
        if !printer.is_json() {
            if targets.is_empty() && leftovers.is_empty() {
                printer.outln(&format!(
                    "Nothing to destroy: no app of the manifest exists in tenant {}.",
                    token.tenant_id
                ));
            }
            for t in &targets {
                printer.outln(&format!(
                    "  - application {} (client id {})",
                    t.unique_name, t.client_id
                ));
                if t.service_principal_id.is_some() {
                    printer.outln(&format!("  - service principal {}", t.unique_name));
                }
                if !t.grants.is_empty() {
                    printer.outln(&format!(
                        "  - {} delegated grant(s) of {}",
                        t.grants.len(),
                        t.unique_name
                    ));
                }
                if !t.app_role_assignments.is_empty() {
                    printer.outln(&format!(
                        "  - {} app role assignment(s) of {}",
                        t.app_role_assignments.len(),
                        t.unique_name
                    ));
                }
            }
        }
        if !printer.is_json() {
            for l in &leftovers {
                printer.outln(&format!(
                    "  - deleted application {} (client id {}) will be purged from deleted items",
                    l.unique_name, l.client_id
                ));
            }
        }
        let mut destroyed = false;
        if !targets.is_empty() || !leftovers.is_empty() {
            if !confirm(args.yes, "\nDestroy these?", printer)? {
                return Err(Error::failure("destroy cancelled: nothing was changed"));
            }
            try_join_all(targets.iter().map(|t| destroy_one(&graph, t, args.purge))).await?;
            crate::deleted::purge(&graph, &leftovers).await?;
            destroyed = true;
        }
        if printer.is_json() {
            let doc = DestroyDocument {
                format_version: render::FORMAT_VERSION,
                tenant_id: &token.tenant_id,
                destroy: &targets,
                purge: args.purge,
                destroyed,
                purge_deleted_items: &leftovers,
            };
            printer.outln(&to_json(&doc)?);
        } else if destroyed {
            printer.outln(&format!(
                "\nDestroy complete: {} app(s) deleted{}.",
                targets.len() + leftovers.len(),
                if args.purge {
                    " and purged from deleted items"
                } else {
                    ""
                }
            ));
        }
        Ok(0)
    }
    .await;
    ctx.finish().await;
    result
}

/// With `--purge`, the manifest's apps an earlier destroy left in deleted items (their unique
/// names stay reserved until purged); the live targets are purged by `destroy_one`.
async fn purge_leftovers(
    graph: &crate::graph::GraphClient,
    desired: &crate::model::Desired,
    targets: &[Target],
    purge: bool,
) -> std::result::Result<Vec<crate::deleted::Leftover>, GraphError> {
    if !purge {
        return Ok(Vec::new());
    }
    let skip: Vec<&str> = targets.iter().map(|t| t.application_id.as_str()).collect();
    crate::deleted::leftovers(graph, desired, &skip).await
}

/// Grants and assignments first, then the service principal, then the application: each step
/// is idempotent (404 means done), so a destroy interrupted anywhere is finished by a re-run.
async fn destroy_one(
    graph: &crate::graph::GraphClient,
    t: &Target,
    purge: bool,
) -> std::result::Result<(), GraphError> {
    let sp = t.service_principal_id.as_deref();
    let grants = try_join_all(
        t.grants
            .iter()
            .map(|g| async move { gone_is_ok(graph.delete_grant(g).await) }),
    );
    let assignments = try_join_all(t.app_role_assignments.iter().map(|a| async move {
        match sp {
            Some(sp) => gone_is_ok(graph.delete_assignment(sp, a).await),
            None => Ok(()),
        }
    }));
    let (g, a) = futures::join!(grants, assignments);
    g?;
    a?;
    if let Some(sp) = sp {
        gone_is_ok(graph.delete_service_principal(sp).await)?;
    }
    gone_is_ok(graph.delete_application(&t.application_id).await)?;
    if purge {
        let sp_purge = async {
            match sp {
                Some(sp) => gone_is_ok(graph.purge_deleted(sp, true).await),
                None => Ok(()),
            }
        };
        let (a, s) = futures::join!(
            async { gone_is_ok(graph.purge_deleted(&t.application_id, true).await) },
            sp_purge
        );
        a?;
        s?;
    }
    Ok(())
}
