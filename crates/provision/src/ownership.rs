//! Owners and federated identity credentials against the tenant (issue 17): what `observe` and
//! the read-back read for them, and how apply carries out their steps (`plan::ownership` decides
//! them). Runs after the application step, concurrently with consent: neither needs the other.
//!
//! Apply order per app: federated credentials deleted, then updated, then created (an issuer and
//! subject must be free before a create takes them); owners added before any is removed (an app
//! never passes through "no owner"). Replays are safe: an owner Graph already has ("One or more
//! added object references already exist") is done, an owner or credential already gone (404)
//! is done, and a create whose answer was lost is read back before it is sent again.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;

use crate::apply::{AppResult, Observer};
use crate::graph::types::{DirectoryObject, FederatedCredential};
use crate::graph::{GraphClient, GraphError};
use crate::model::{Desired, DesiredApp, OwnerRef};
use crate::plan::{Action, AppPlan};
use crate::render;

/// The object id of the signed-in identity: the access token's `oid` (the user, or the service
/// principal of an app-only token). Read without verifying: Graph verifies it; this only keeps
/// apply from removing its own ownership.
pub fn signed_in(token: &str) -> Option<String> {
    crate::auth::unverified_claims(token)?
        .get("oid")?
        .as_str()
        .map(str::to_ascii_lowercase)
}

/// Resolve the owners the manifest names: `GET /users/{upn}` for user principal names, `GET
/// /directoryObjects/{id}` for object ids. Concurrent; part of observe's first round.
pub async fn resolve_owner_refs(
    graph: &GraphClient,
    desired: &Desired,
) -> Result<BTreeMap<OwnerRef, Option<DirectoryObject>>, GraphError> {
    let mut refs: Vec<&OwnerRef> = desired
        .apps
        .iter()
        .flat_map(|a| a.owners.iter().flatten().map(|o| &o.reference))
        .collect();
    refs.sort();
    refs.dedup();
    let found = try_join_all(refs.into_iter().map(|r| async move {
        let object = match r {
            OwnerRef::Upn(upn) => graph.user(upn).await?,
            OwnerRef::Id(id) => graph.directory_object(id).await?,
        };
        Ok::<_, GraphError>((r.clone(), object))
    }))
    .await?;
    Ok(found.into_iter().collect())
}

/// What the app holds of what the manifest lists: its owners when `owners` is given, its
/// federated credentials when `federated_credentials` is given. `None` for what is not read.
pub async fn read_app(
    graph: &GraphClient,
    app: &DesiredApp,
    object_id: Option<&str>,
) -> Result<(Option<Vec<DirectoryObject>>, Option<Vec<FederatedCredential>>), GraphError> {
    let Some(id) = object_id else {
        return Ok((None, None));
    };
    let owners = async {
        match &app.owners {
            Some(_) => graph.owners_of(id).await.map(Some),
            None => Ok(None),
        }
    };
    let fics = async {
        match &app.federated_credentials {
            Some(_) => graph.federated_credentials_of(id).await.map(Some),
            None => Ok(None),
        }
    };
    let (owners, fics) = futures::join!(owners, fics);
    Ok((owners?, fics?))
}

fn gone_is_ok(r: Result<(), GraphError>) -> Result<(), GraphError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// "One or more added object references already exist for the following modified properties:
/// 'owners'." (400): the owner is there already.
fn already_owner(e: &GraphError) -> bool {
    e.status() == Some(400)
        && e.message()
            .to_ascii_lowercase()
            .contains("added object references already exist")
}

/// Carry out the owner and federated credential steps of one app. Each outcome is recorded on
/// `result` as it is known; the first failure that is not a 403 becomes the app's error.
pub async fn apply_app(graph: &GraphClient, app: &AppPlan, result: &mut AppResult, observer: &dyn Observer) {
    let Some(object_id) = result.object_id.clone() else {
        return;
    };
    let name = app.unique_name.as_str();
    // Created by this run: references to it may meet replication delay.
    let fresh = app.application.object_id.is_none();
    let object_id = object_id.as_str();

    let fic_phase = async {
        let mut out: Vec<(String, Result<Option<String>, GraphError>)> = Vec::new();
        for phase in [Action::Delete, Action::Update, Action::Create] {
            let steps = app.federated_credentials.iter().filter(|f| f.action == phase);
            let done = futures::future::join_all(steps.map(|f| async move {
                let address = render::federated_credential_address(name, &f.name);
                let outcome = match f.action {
                    Action::Delete => gone_is_ok(
                        graph
                            .delete_federated_credential(object_id, f.id.as_deref().unwrap_or(&f.name))
                            .await,
                    )
                    .map(|_| f.id.clone()),
                    Action::Update => graph
                        .update_federated_credential(
                            object_id,
                            f.id.as_deref().unwrap_or(&f.name),
                            f.body.clone(),
                        )
                        .await
                        .map(|_| f.id.clone()),
                    _ => create_fic(graph, object_id, &f.name, f.body.clone(), fresh).await,
                };
                (address, outcome)
            }))
            .await;
            let failed = done.iter().any(|(_, o)| o.is_err());
            out.extend(done);
            if failed {
                break;
            }
        }
        out
    };
    let owner_phase = async {
        let mut out: Vec<(String, Result<Option<String>, GraphError>)> = Vec::new();
        let adds = app.owners.iter().filter(|o| o.action == Action::Create);
        let added = futures::future::join_all(adds.map(|o| async move {
            let r = match graph.add_owner(object_id, &o.object_id, fresh).await {
                Err(e) if already_owner(&e) => Ok(()),
                other => other,
            };
            (
                render::owner_address(name, &o.name),
                r.map(|_| Some(o.object_id.clone())),
            )
        }))
        .await;
        let failed = added.iter().any(|(_, o)| o.is_err());
        out.extend(added);
        if !failed {
            let removes = app.owners.iter().filter(|o| o.action == Action::Delete);
            out.extend(
                futures::future::join_all(removes.map(|o| async move {
                    let r = gone_is_ok(graph.remove_owner(object_id, &o.object_id).await);
                    (
                        render::owner_address(name, &o.name),
                        r.map(|_| Some(o.object_id.clone())),
                    )
                }))
                .await,
            );
        }
        out
    };
    let (fics, owners) = futures::join!(fic_phase, owner_phase);
    for (address, outcome) in fics.into_iter().chain(owners) {
        match outcome {
            Ok(id) => result.mark(observer, &address, Ok(id)),
            Err(e) => {
                result.mark(observer, &address, Err(&e));
                if result.error.is_none() {
                    result.error = Some(Arc::new(e));
                }
            }
        }
    }
}

/// Create a federated credential. When the answer was lost, or Graph says the name is taken
/// (our own earlier POST), the credential is read and accepted when it is the one we sent.
async fn create_fic(
    graph: &GraphClient,
    object_id: &str,
    name: &str,
    body: serde_json::Value,
    fresh: bool,
) -> Result<Option<String>, GraphError> {
    match graph
        .create_federated_credential(object_id, body.clone(), fresh)
        .await
    {
        Ok(created) => Ok(created.id),
        Err(e) if crate::graph::client::outcome_unknown(&e) || e.status() == Some(409) => {
            let existing = graph.federated_credentials_of(object_id).await?;
            let same = existing.into_iter().find(|f| {
                f.name.as_deref() == Some(name)
                    && f.issuer.as_deref() == body["issuer"].as_str()
                    && f.subject.as_deref() == body["subject"].as_str()
            });
            match same {
                Some(f) => Ok(f.id),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
