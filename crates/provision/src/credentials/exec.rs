//! The Graph writes of credential steps: `addPassword` for each password to add, one
//! `keyCredentials` PATCH for an app's certificates (the whole collection, read first with
//! `$select=keyCredentials` so existing keys keep their `key`), and `removePassword` for the
//! passwords to remove, after the output file is written ([`remove`]).

use base64::Engine as _;
use serde_json::{Value, json};

use super::plan::New;
use super::{Kind, Secret, address};
use crate::apply::{AppResult, Observer, Report, StepResult};
use crate::graph::client::{Call, odata_literal};
use crate::graph::{GraphClient, GraphError};
use crate::plan::{Action, AppPlan, Plan};

/// A credential this run added.
#[derive(Debug, Clone)]
pub struct Added {
    pub kind: Kind,
    pub display_name: String,
    pub key_id: String,
    pub end: Option<String>,
    /// A password's value (`secretText`, returned by `addPassword` once).
    pub secret: Option<Secret>,
}

/// The steps of an app's credentials that change something, none attempted yet.
pub fn planned_steps(app: &AppPlan) -> Vec<StepResult> {
    app.credentials
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let key = (c.action == Action::Delete)
                .then_some(c.key_id.as_deref())
                .flatten();
            StepResult {
                address: address(&app.unique_name, c.kind, &c.display_name, key),
                kind: c.kind.key(),
                action: c.action,
                status: crate::apply::Status::NotAttempted,
                id: c.key_id.clone(),
                error: None,
            }
        })
        .collect()
}

fn app_path(object_id: &str) -> String {
    format!("/applications/{}", odata_literal(object_id))
}

/// Add the passwords and write the certificates of one app (its application exists).
pub async fn add(graph: &GraphClient, app: &AppPlan, result: &mut AppResult, observer: &dyn Observer) {
    let Some(object_id) = result.object_id.clone() else {
        return;
    };
    // Created by this run: Graph may not show it yet to the actions on it.
    let fresh = app.application.object_id.is_none();
    for c in &app.credentials {
        let Some(New::Password { end }) = &c.new else {
            continue;
        };
        let mut cred = json!({ "displayName": c.display_name });
        if let Some(e) = end {
            cred["endDateTime"] = json!(e);
        }
        let call = Call::post(
            format!("{}/addPassword", app_path(&object_id)),
            json!({ "passwordCredential": cred }),
        )
        .lag_if(fresh, GraphError::is_not_found);
        let addr = address(&app.unique_name, Kind::Password, &c.display_name, None);
        match graph.send(&call).await {
            Ok(reply) => {
                let body = reply.body.unwrap_or(Value::Null);
                let key_id = body["keyId"].as_str().unwrap_or_default().to_ascii_lowercase();
                result.added.push(Added {
                    kind: Kind::Password,
                    display_name: c.display_name.clone(),
                    key_id: key_id.clone(),
                    end: body["endDateTime"].as_str().map(str::to_owned),
                    secret: body["secretText"].as_str().map(|s| Secret::new(s.to_owned())),
                });
                result.mark(observer, &addr, Ok(Some(key_id)));
            }
            Err(e) => {
                result.mark(observer, &addr, Err(&e));
                result.error.get_or_insert(std::sync::Arc::new(e));
                return;
            }
        }
    }
    if app
        .credentials
        .iter()
        .any(|c| c.kind == Kind::Certificate && c.action != Action::NoOp)
        && let Err(e) = certificates(graph, app, &object_id, fresh, result, observer).await
    {
        for c in app
            .credentials
            .iter()
            .filter(|c| c.kind == Kind::Certificate && c.action != Action::NoOp)
        {
            let key = (c.action == Action::Delete)
                .then_some(c.key_id.as_deref())
                .flatten();
            result.mark(
                observer,
                &address(&app.unique_name, c.kind, &c.display_name, key),
                Err(&e),
            );
        }
        result.error.get_or_insert(std::sync::Arc::new(e));
    }
}

async fn read_keys(graph: &GraphClient, object_id: &str, fresh: bool) -> Result<Vec<Value>, GraphError> {
    let call = Call::get(format!("{}?$select=id,keyCredentials", app_path(object_id)))
        .lag_if(fresh, GraphError::is_not_found);
    let app: Value = graph.fetch(&call).await?;
    Ok(app["keyCredentials"].as_array().cloned().unwrap_or_default())
}

/// One PATCH of the whole `keyCredentials` collection: what Graph holds, less the removed
/// keys, plus the new certificates.
async fn certificates(
    graph: &GraphClient,
    app: &AppPlan,
    object_id: &str,
    fresh: bool,
    result: &mut AppResult,
    observer: &dyn Observer,
) -> Result<(), GraphError> {
    let removed: Vec<&str> = app
        .credentials
        .iter()
        .filter(|c| c.kind == Kind::Certificate && c.action == Action::Delete)
        .filter_map(|c| c.key_id.as_deref())
        .collect();
    let mut keys: Vec<Value> = read_keys(graph, object_id, fresh)
        .await?
        .into_iter()
        .filter(|k| {
            let id = k["keyId"].as_str().unwrap_or_default().to_ascii_lowercase();
            !removed.contains(&id.as_str())
        })
        .collect();
    let mut added = Vec::new();
    for c in &app.credentials {
        let Some(New::Certificate(cert)) = &c.new else {
            continue;
        };
        keys.push(json!({
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": base64::engine::general_purpose::STANDARD.encode(&cert.der),
            "displayName": c.display_name,
            "customKeyIdentifier": cert.thumbprint,
        }));
        added.push((c, cert));
    }
    graph
        .send(&Call::patch(
            app_path(object_id),
            json!({ "keyCredentials": keys }),
        ))
        .await?;
    // The keyIds Graph gave the new certificates.
    let now = read_keys(graph, object_id, false).await?;
    for (c, cert) in added {
        let key_id = now
            .iter()
            .find(|k| {
                k["customKeyIdentifier"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(&cert.thumbprint))
            })
            .and_then(|k| k["keyId"].as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        result.added.push(Added {
            kind: Kind::Certificate,
            display_name: c.display_name.clone(),
            key_id: key_id.clone(),
            end: Some(super::date_text(cert.not_after)),
            secret: None,
        });
        result.mark(
            observer,
            &address(&app.unique_name, Kind::Certificate, &c.display_name, None),
            Ok(Some(key_id)),
        );
    }
    for c in app
        .credentials
        .iter()
        .filter(|c| c.kind == Kind::Certificate && c.action == Action::Delete)
    {
        result.mark(
            observer,
            &address(&app.unique_name, c.kind, &c.display_name, c.key_id.as_deref()),
            Ok(None),
        );
    }
    Ok(())
}

/// Remove the passwords the plan removes (rotated out, or no longer listed). Run after the
/// output file holds what replaces them; an app whose apply failed keeps its old passwords.
pub async fn remove(graph: &GraphClient, plan: &Plan, report: &mut Report, observer: &dyn Observer) {
    for result in report.apps.iter_mut() {
        let Some(app) = plan.app(&result.unique_name) else {
            continue;
        };
        let Some(object_id) = result.object_id.clone() else {
            continue;
        };
        if result.error.is_some() {
            continue;
        }
        for c in app
            .credentials
            .iter()
            .filter(|c| c.kind == Kind::Password && c.action == Action::Delete)
        {
            let Some(key_id) = &c.key_id else { continue };
            let call = Call::post(
                format!("{}/removePassword", app_path(&object_id)),
                json!({ "keyId": key_id }),
            );
            let addr = address(&app.unique_name, Kind::Password, &c.display_name, Some(key_id));
            match graph.send(&call).await {
                Ok(_) => result.mark(observer, &addr, Ok(None)),
                Err(e) => {
                    result.mark(observer, &addr, Err(&e));
                    result.error.get_or_insert(std::sync::Arc::new(e));
                }
            }
        }
    }
}

/// Whether the plan has password removals left for [`remove`].
pub fn has_removals(plan: &Plan) -> bool {
    plan.apps.iter().any(|a| {
        a.credentials
            .iter()
            .any(|c| c.kind == Kind::Password && c.action == Action::Delete)
    })
}
