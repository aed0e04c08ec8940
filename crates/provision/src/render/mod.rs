//! The plan as data for people and machines. `document` builds the versioned JSON document
//! (`format_version` first, deterministic order); `text` renders the same content the way
//! `terraform plan` reads: `+` create, `~` update (old → new per field), `-` delete, grants as
//! scope sets. Pure: returns strings.
//!
//! # The JSON documents
//!
//! `docs/json-format.md` is the one reference for the plan document built here and for every
//! other command's `--format json` document (apply, destroy, validate, import, audit, doctor,
//! token, init, logout), key by key; `crates/provision/tests/it/json_format.rs` checks each
//! command's actual output against it. Every document starts with `format_version`
//! ([`FORMAT_VERSION`], a string). Fields are only added within a format version; a removal or
//! change of meaning bumps it.

use serde::Serialize;
use serde_json::Value;

use crate::plan::{Action, FieldChange, Plan, Reason, Summary};

/// Version of the JSON documents printed with `--format json`. Bumped on incompatible changes.
pub const FORMAT_VERSION: &str = "1.0";

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub address: String,
    pub kind: &'static str,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, where the action needs explaining: `reason` (text) and `reason_code` (stable).
    #[serde(flatten)]
    pub reason: Option<Reason>,
    /// The manifest the change comes from, when the run covers several ([`attribute`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The `unique_name` of the app the change belongs to (`None`: a resource service
    /// principal, shared by every app).
    #[serde(skip)]
    pub app: Option<String>,
}

fn field(name: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        name: name.into(),
        before,
        after,
    }
}

/// The address of a resource service principal apply creates.
pub fn resource_sp_address(name: &str) -> String {
    format!("resource_service_principal[\"{name}\"]")
}

/// The address of an app's application; its parts hang below it.
pub fn app_address(unique_name: &str) -> String {
    format!("app.{unique_name}")
}

pub fn sp_address(unique_name: &str) -> String {
    format!("app.{unique_name}.service_principal")
}

pub fn grant_address(unique_name: &str, resource: &str) -> String {
    format!("app.{unique_name}.consent[\"{resource}\"]")
}

pub fn assignment_address(unique_name: &str, resource: &str, role: &str) -> String {
    format!("app.{unique_name}.app_role[\"{resource}\"][\"{role}\"]")
}

/// An owner of an app, by user principal name, else display name or object id.
pub fn owner_address(unique_name: &str, owner: &str) -> String {
    format!("app.{unique_name}.owner[\"{owner}\"]")
}

pub fn federated_credential_address(unique_name: &str, name: &str) -> String {
    format!("app.{unique_name}.federated_credential[\"{name}\"]")
}

/// A deleted object removed from deleted items (`destroy --purge`).
pub fn purge_address(unique_name: &str, kind: &str) -> String {
    format!("app.{unique_name}.deleted_item.{kind}")
}

/// Every resource the plan covers, no-ops included, in a fixed order.
pub fn changes(plan: &Plan) -> Vec<Change> {
    let mut out = Vec::new();
    for r in &plan.resource_service_principals {
        out.push(Change {
            address: resource_sp_address(&r.name),
            kind: "resource_service_principal",
            action: Action::Create,
            fields: vec![field("app_id", Value::Null, Value::String(r.app_id.clone()))],
            reason: Some(Reason::FirstPartyApiMissing),
            manifest: None,
            app: None,
        });
    }
    for app in &plan.apps {
        let name = app.unique_name.as_str();
        out.push(Change {
            address: app_address(name),
            kind: "application",
            action: app.application.action,
            fields: app.application.fields.clone(),
            reason: if app.application.action == Action::Restore {
                Some(Reason::RestoredFromDeletedItems {
                    app_id: app.application.app_id.clone().unwrap_or_default(),
                })
            } else if app.application.disable_first.is_some() {
                // Graph refuses to remove or change an enabled scope or app role.
                Some(Reason::EntitlementsDisabledFirst)
            } else {
                app.application.pinned.then_some(Reason::AdoptedByAppId)
            },
            manifest: None,
            app: Some(name.to_owned()),
        });
        out.push(Change {
            address: sp_address(name),
            kind: "service_principal",
            action: app.service_principal,
            fields: Vec::new(),
            reason: None,
            manifest: None,
            app: Some(name.to_owned()),
        });
        for g in &app.grants {
            out.push(Change {
                address: grant_address(name, &g.resource),
                kind: "delegated_grant",
                action: g.action,
                fields: vec![field(
                    "scopes",
                    serde_json::json!(g.before),
                    serde_json::json!(g.after),
                )],
                // (In a destroy plan the whole app goes: no reason needed.)
                reason: (g.action == Action::Delete
                    && g.resource_key.is_none()
                    && app.application.action != Action::Delete)
                    .then_some(Reason::ApiNoLongerNamed),
                manifest: None,
                app: Some(name.to_owned()),
            });
        }
        for a in &app.assignments {
            out.push(Change {
                address: assignment_address(name, &a.resource, &a.role),
                kind: "app_role_assignment",
                action: a.action,
                fields: Vec::new(),
                reason: None,
                manifest: None,
                app: Some(name.to_owned()),
            });
        }
        ownership_changes(app, &mut out);
        // Credentials (issue 17): by display name, keyId and dates, never a value.
        for c in &app.credentials {
            let key = (c.action == Action::Delete)
                .then_some(c.key_id.as_deref())
                .flatten();
            out.push(Change {
                address: crate::credentials::address(name, c.kind, &c.display_name, key),
                kind: c.kind.key(),
                action: c.action,
                fields: c.fields.clone(),
                reason: c.reason.clone(),
                manifest: None,
                app: Some(name.to_owned()),
            });
        }
    }
    for p in &plan.purge {
        out.push(Change {
            address: purge_address(&p.unique_name, p.kind),
            kind: "deleted_item",
            action: Action::Delete,
            fields: vec![field(
                "object_id",
                Value::String(p.object_id.clone()),
                Value::Null,
            )],
            reason: Some(Reason::PurgeFreesUniqueName),
            manifest: None,
            app: Some(p.unique_name.clone()),
        });
    }
    out
}

/// The owner and federated credential changes of one app (issue 17).
fn ownership_changes(app: &crate::plan::AppPlan, out: &mut Vec<Change>) {
    let name = app.unique_name.as_str();
    for f in &app.federated_credentials {
        out.push(Change {
            address: federated_credential_address(name, &f.name),
            kind: "federated_credential",
            action: f.action,
            fields: f.fields.clone(),
            reason: None,
            manifest: None,
            app: Some(name.to_owned()),
        });
    }
    for o in &app.owners {
        let (before, after) = match o.action {
            Action::Delete => (Value::String(o.object_id.clone()), Value::Null),
            Action::Create => (Value::Null, Value::String(o.object_id.clone())),
            _ => (
                Value::String(o.object_id.clone()),
                Value::String(o.object_id.clone()),
            ),
        };
        out.push(Change {
            address: owner_address(name, &o.name),
            kind: "owner",
            action: o.action,
            fields: if o.action == Action::NoOp {
                Vec::new()
            } else {
                vec![field("object_id", before, after)]
            },
            reason: o.detail.clone().map(|detail| Reason::OwnerDetail { detail }),
            manifest: None,
            app: Some(name.to_owned()),
        });
    }
    if let Some(k) = &app.kept_owner {
        out.push(Change {
            address: owner_address(name, &k.name),
            kind: "owner",
            action: Action::NoOp,
            fields: Vec::new(),
            reason: Some(Reason::SignedInIdentityKept {
                object_id: k.object_id.clone(),
            }),
            manifest: None,
            app: Some(name.to_owned()),
        });
    }
}

#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    pub format_version: &'static str,
    pub tenant_id: &'a str,
    pub changes: Vec<Change>,
    pub summary: Summary,
    /// Apps with `consent.grant = "none"`: where an administrator grants consent.
    pub admin_consent_urls: std::collections::BTreeMap<String, String>,
    /// Per manifest, when the run covers several ([`attribute`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ManifestPart>>,
    /// `--target`: the only apps of this run (a partial run); absent when every app is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

/// One manifest's share of a plan that covers several.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestPart {
    /// The manifest file as it was named (folders expanded).
    pub path: String,
    /// Its apps in this run, by `unique_name`.
    pub apps: Vec<String>,
    /// Its changes (resource service principals, shared by all, are counted in none).
    pub summary: Summary,
}

/// Attribute a plan's changes to manifests: `parts` is each manifest's path and the unique
/// names of its apps in the run. With more than one part every app's change carries its
/// manifest and the document lists the parts; `targets` marks a partial run.
pub fn attribute(doc: &mut PlanDocument<'_>, parts: &[(String, Vec<String>)], targets: &[String]) {
    if !targets.is_empty() {
        doc.targets = Some(targets.to_vec());
    }
    if parts.len() < 2 {
        return;
    }
    let of = |app: &str| {
        parts
            .iter()
            .find(|(_, apps)| apps.iter().any(|a| a.eq_ignore_ascii_case(app)))
            .map(|(path, _)| path.clone())
    };
    for c in &mut doc.changes {
        c.manifest = c.app.as_deref().and_then(of);
    }
    doc.manifests = Some(
        parts
            .iter()
            .map(|(path, apps)| {
                let mut summary = Summary::default();
                for c in doc.changes.iter().filter(|c| c.manifest.as_ref() == Some(path)) {
                    match c.action {
                        Action::Create => summary.create += 1,
                        Action::Update => summary.update += 1,
                        Action::Delete => summary.delete += 1,
                        Action::Restore => summary.restore += 1,
                        Action::NoOp => {}
                    }
                }
                ManifestPart {
                    path: path.clone(),
                    apps: apps.clone(),
                    summary,
                }
            })
            .collect(),
    );
}

pub fn admin_consent_url(authority: &str, tenant_id: &str, client_id: &str) -> String {
    format!(
        "{}/{}/adminconsent?client_id={}",
        authority.trim_end_matches('/'),
        tenant_id,
        client_id
    )
}

pub fn plan_document<'a>(plan: &'a Plan, authority: &str) -> PlanDocument<'a> {
    let admin_consent_urls = plan
        .apps
        .iter()
        .filter(|a| a.consent == crate::model::ConsentMode::None)
        .map(|a| {
            let client = a
                .application
                .app_id
                .clone()
                .unwrap_or_else(|| "(known after apply)".into());
            (
                a.unique_name.clone(),
                admin_consent_url(authority, &plan.tenant_id, &client),
            )
        })
        .collect();
    PlanDocument {
        format_version: FORMAT_VERSION,
        tenant_id: &plan.tenant_id,
        changes: changes(plan),
        summary: plan.summary(),
        admin_consent_urls,
        manifests: None,
        targets: None,
    }
}

/// The one-character marker of an action: `+`, `~`, `-`.
pub fn sign(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Restore => "+",
        Action::NoOp => " ",
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Delete => "will be deleted",
        Action::Restore => "will be restored from deleted items",
        Action::NoOp => "is unchanged",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The plan as text, like `terraform plan`. With several manifests the changes are grouped
/// under the manifest they come from, and the closing line is broken down per manifest.
pub fn plan_text(doc: &PlanDocument<'_>) -> String {
    let mut out = String::new();
    let changed: Vec<&Change> = doc.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    let matches = if doc.manifests.is_some() {
        "the manifests"
    } else {
        "the manifest"
    };
    if changed.is_empty() {
        out.push_str(&format!(
            "No changes. Tenant {} matches {matches}.\n",
            doc.tenant_id
        ));
        out.push_str(&partial_note(doc));
    } else {
        out.push_str(&format!(
            "Tenant {}: provision will perform these actions.\n",
            doc.tenant_id
        ));
        out.push_str(&partial_note(doc));
        let mut group: Option<&str> = None;
        for c in changed {
            if let Some(m) = c.manifest.as_deref()
                && group != Some(m)
            {
                group = Some(m);
                out.push_str(&format!("\nManifest {m}:\n"));
            }
            out.push('\n');
            out.push_str(&format!("  # {} {}", c.address, verb(c.action)));
            if let Some(r) = &c.reason {
                out.push_str(&format!(" ({r})"));
            }
            out.push('\n');
            out.push_str(&format!("  {} {}\n", sign(c.action), c.kind.replace('_', " ")));
            let width = c.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
            for f in &c.fields {
                render_field(&mut out, c.action, f, width);
            }
        }
        out.push_str(&format!("\nPlan: {}\n", summary_words(&doc.summary)));
        for part in doc.manifests.iter().flatten() {
            let words = if part.summary.total() == 0 {
                "no changes.".to_owned()
            } else {
                summary_words(&part.summary)
            };
            out.push_str(&format!("  {}: {words}\n", part.path));
        }
    }
    // The signed-in identity kept as an owner the manifest does not list (issue 17).
    for c in doc.changes.iter().filter(|c| {
        c.kind == "owner"
            && c.action == Action::NoOp
            && matches!(c.reason, Some(Reason::SignedInIdentityKept { .. }))
    }) {
        out.push_str(&format!(
            "\nNote: {} is left as it is: {}.\n",
            c.address,
            c.reason.as_ref().map(ToString::to_string).unwrap_or_default()
        ));
    }
    for (app, url) in &doc.admin_consent_urls {
        out.push_str(&format!(
            "\nConsent for `{app}` is left to an administrator: {url}\n"
        ));
    }
    out
}

/// `N to create, N to update, N to delete.` (restores named only when there are some).
fn summary_words(s: &Summary) -> String {
    let restore = if s.restore > 0 {
        format!("{} to restore, ", s.restore)
    } else {
        String::new()
    };
    format!(
        "{restore}{} to create, {} to update, {} to delete.",
        s.create, s.update, s.delete
    )
}

/// The line that says a run is partial (`--target`), or nothing.
fn partial_note(doc: &PlanDocument<'_>) -> String {
    match &doc.targets {
        Some(t) => format!(
            "Partial run (--target): only {}; no other app is read or changed.\n",
            t.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ),
        None => String::new(),
    }
}

fn render_field(out: &mut String, action: Action, f: &FieldChange, width: usize) {
    match (&f.before, &f.after) {
        (Value::Array(before), Value::Array(_)) if action == Action::Delete => {
            out.push_str(&format!("      - {}\n", f.name));
            for item in before {
                out.push_str(&format!("          - {}\n", plain(item)));
            }
        }
        (Value::Array(before), Value::Array(after)) if action != Action::Create => {
            out.push_str(&format!("      ~ {}\n", f.name));
            for item in before.iter().filter(|i| !after.contains(i)) {
                out.push_str(&format!("          - {}\n", plain(item)));
            }
            for item in after.iter().filter(|i| !before.contains(i)) {
                out.push_str(&format!("          + {}\n", plain(item)));
            }
        }
        (_, Value::Array(after)) if action == Action::Create => {
            out.push_str(&format!("      + {}\n", f.name));
            for item in after {
                out.push_str(&format!("          + {}\n", plain(item)));
            }
        }
        (Value::Null, after) => out.push_str(&format!("      + {:width$} = {}\n", f.name, show(after))),
        (before, Value::Null) if action == Action::Delete => {
            out.push_str(&format!("      - {:width$} = {}\n", f.name, show(before)))
        }
        (before, after) => out.push_str(&format!(
            "      ~ {:width$} = {} -> {}\n",
            f.name,
            show(before),
            show(after)
        )),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // A permission of `api_permissions`.
        Value::Object(o) if o.contains_key("api") && o.contains_key("permission") => format!(
            "{}: {} ({})",
            o["api"].as_str().unwrap_or_default(),
            o["permission"].as_str().unwrap_or_default(),
            o.get("type").and_then(Value::as_str).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// One step of a run as a result line: `+ app.x: created (id …)`, `! app.x.consent["…"]:
/// failed: …`, `  app.x.service_principal: not attempted`. From the same data as the JSON.
pub fn step_line(step: &crate::apply::StepResult) -> String {
    use crate::apply::Status;
    let id = step
        .id
        .as_deref()
        .map(|id| format!(" (id {id})"))
        .unwrap_or_default();
    match step.status {
        Status::Done => {
            let done = match step.action {
                Action::Create => "created",
                Action::Update => "updated",
                Action::Delete => "deleted",
                Action::Restore => "restored",
                Action::NoOp => "unchanged",
            };
            format!("{} {}: {done}{id}", sign(step.action), step.address)
        }
        Status::Failed => {
            let why = step.error.as_ref().map(failure_text).unwrap_or_default();
            format!(
                "! {}: failed to {}: {why}",
                step.address,
                action_word(step.action)
            )
        }
        Status::NotAttempted => format!(
            "  {}: not attempted ({} {})",
            step.address,
            action_word(step.action),
            step.kind.replace('_', " ")
        ),
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Restore => "restore",
        Action::NoOp => "keep",
    }
}

/// Graph's answer in one line: `POST /path answered 500 Code: message (request-id …)`.
pub fn failure_text(f: &crate::apply::GraphFailure) -> String {
    let mut out = format!("{} {}", f.method, f.path);
    match f.status {
        Some(status) => out.push_str(&format!(" answered {status}")),
        None => out.push(':'),
    }
    if let Some(code) = &f.code {
        out.push_str(&format!(" {code}"));
    }
    if !f.message.is_empty() {
        out.push_str(&format!(
            "{}{}",
            if f.status.is_some() { ": " } else { " " },
            f.message
        ));
    }
    if let Some(id) = &f.request_id {
        out.push_str(&format!(" (request-id {id})"));
    }
    out
}

/// The closing line of a run (`verb`: `Apply`, `Destroy`): what was done, what failed, what
/// was not attempted.
pub fn tally_text(verb: &str, t: &crate::apply::Tally, complete: bool) -> String {
    // Restores are rare: named only when there were some, so the usual line stays as it was.
    let restored = if t.restored > 0 {
        format!("{} restored, ", t.restored)
    } else {
        String::new()
    };
    if complete {
        format!(
            "{verb} complete: {restored}{} created, {} updated, {} deleted.",
            t.created, t.updated, t.deleted
        )
    } else {
        format!(
            "{verb} did not finish: {restored}{} created, {} updated, {} deleted; {} failed, {} not attempted.",
            t.created, t.updated, t.deleted, t.failed, t.not_attempted
        )
    }
}
