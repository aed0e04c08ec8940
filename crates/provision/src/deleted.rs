//! Entra's deleted items for the manifest's apps (issue 12 §3): a deleted application keeps its
//! `uniqueName` reserved until it is restored or purged
//! (https://learn.microsoft.com/en-us/graph/api/application-delete), so apply restores it (the
//! client ID survives) and `destroy --purge` also purges what an earlier destroy left there.

use crate::graph::types::{Application, ServicePrincipal};
use crate::graph::{GraphClient, GraphError};
use crate::model::Desired;
use crate::plan::PurgeStep;

/// A manifest app found in deleted items.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Leftover {
    pub unique_name: String,
    pub application_id: String,
    pub client_id: String,
    /// Its service principal, when that sits in deleted items too.
    pub service_principal_id: Option<String>,
}

/// The manifest's apps that sit in deleted items (by unique name, or by the `app_id` that pins
/// them), except the objects in `skip` (deleted by this run and purged on their own).
pub async fn leftovers(
    graph: &GraphClient,
    desired: &Desired,
    skip: &[&str],
) -> Result<Vec<Leftover>, GraphError> {
    let (apps, sps) = futures::join!(graph.deleted_applications(), graph.deleted_service_principals());
    let (apps, sps) = (apps?, sps?);
    let mut out = Vec::new();
    for wanted in &desired.apps {
        let found = apps.iter().find(|a| {
            !skip.iter().any(|s| s.eq_ignore_ascii_case(&a.id))
                && match &wanted.app_id {
                    Some(pinned) => a.app_id.eq_ignore_ascii_case(pinned),
                    None => a
                        .unique_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&wanted.unique_name)),
                }
        });
        if let Some(app) = found {
            out.push(Leftover {
                unique_name: wanted.unique_name.clone(),
                application_id: app.id.clone(),
                client_id: app.app_id.clone(),
                service_principal_id: sps
                    .iter()
                    .find(|s| s.app_id.eq_ignore_ascii_case(&app.app_id))
                    .map(|s| s.id.clone()),
            });
        }
    }
    Ok(out)
}

/// The purge steps of a destroy plan for leftovers: the application, then its service principal.
/// They are marked `leftover`: deleted long ago, so a 404 means another run purged them already
/// (not a delete still replicating).
pub fn purge_steps(leftovers: &[Leftover]) -> Vec<PurgeStep> {
    leftovers
        .iter()
        .flat_map(|l| {
            let app = PurgeStep {
                unique_name: l.unique_name.clone(),
                kind: "application",
                object_id: l.application_id.clone(),
                leftover: true,
            };
            let sp = l.service_principal_id.as_ref().map(|sp| PurgeStep {
                unique_name: l.unique_name.clone(),
                kind: "service_principal",
                object_id: sp.clone(),
                leftover: true,
            });
            std::iter::once(app).chain(sp)
        })
        .collect()
}

/// Restore the application `object_id` from deleted items, then its service principal if that
/// sits there too (restoring an application does not restore it:
/// https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-restore).
pub async fn restore_application(
    graph: &GraphClient,
    object_id: &str,
) -> Result<(Application, Option<ServicePrincipal>), GraphError> {
    let app: Application = graph.restore_deleted(object_id, false).await?;
    let deleted_sps = graph.deleted_service_principals().await?;
    let sp = match deleted_sps
        .iter()
        .find(|s| s.app_id.eq_ignore_ascii_case(&app.app_id))
    {
        // The application was restored moments ago: the service principal's restore may meet
        // it not yet replicated, as a create would.
        Some(sp) => Some(graph.restore_deleted::<ServicePrincipal>(&sp.id, true).await?),
        None => None,
    };
    Ok((app, sp))
}
