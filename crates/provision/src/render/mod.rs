//! The plan as data for people and machines. `document` builds the versioned JSON document
//! (`format_version` first, deterministic order); `text` renders the same content the way
//! `terraform plan` reads: `+` create, `~` update (old → new per field), `-` delete, grants as
//! scope sets. Pure: returns strings.
//!
//! # The JSON plan (`provision plan --format json`), format 1.0
//!
//! ```json
//! {
//!   "format_version": "1.0",
//!   "tenant_id": "…",
//!   "changes": [
//!     { "address": "app.mtp-api-client", "kind": "application", "action": "create",
//!       "fields": [ { "name": "display_name", "before": null, "after": "…" } ] },
//!     { "address": "app.mtp-api-client.service_principal", "kind": "service_principal", "action": "no-op" },
//!     { "address": "app.mtp-api-client.consent[\"Microsoft Threat Protection\"]", "kind": "delegated_grant",
//!       "action": "update", "fields": [ { "name": "scopes", "before": ["…"], "after": ["…"] } ] }
//!   ],
//!   "summary": { "create": 0, "update": 1, "delete": 0 },
//!   "admin_consent_urls": { "unique-name": "https://login…/{tenant}/adminconsent?client_id=…" }
//! }
//! ```
//!
//! - `kind`: `resource_service_principal`, `application`, `service_principal`,
//!   `delegated_grant`, `app_role_assignment`.
//! - `action`: `create`, `update`, `delete`, `restore` (an application brought back from
//!   deleted items, its `reason` naming the appId) or `no-op`; every resource the manifest covers is
//!   listed, unchanged ones with `no-op`.
//! - `fields`: field-level `before`/`after`; `null` means absent. Lists are sets shown sorted.
//!   Values are data: `api_permissions` holds objects `{api, api_app_id, permission,
//!   permission_id, type}` (`type`: `delegated` or `application`).
//! - `reason`: present when an action needs explaining (display only).
//!
//! `apply --format json` prints `{format_version, plan, applied, interrupted, summary, result,
//! output_file, outputs}` where `plan` is the document above, `result` per app every planned
//! step with its `status` (`done`, `failed` with Graph's `error`, `not_attempted`) and `id`
//! (`apply::Report`), `applied` true only when every step was done, and `outputs` the entries of
//! the output file. `destroy --format json` prints `{format_version, plan, purge, destroyed,
//! interrupted, summary, result, output_file}`. Every command's document carries the same
//! `format_version` ([`FORMAT_VERSION`], a string). Fields are only added within a format
//! version; a removal or change of meaning bumps it.

use serde::Serialize;
use serde_json::Value;

use crate::plan::{Action, FieldChange, Plan, Summary};

/// Version of the JSON documents printed with `--format json`. Bumped on incompatible changes.
pub const FORMAT_VERSION: &str = "1.0";

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub address: String,
    pub kind: &'static str,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, for display only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
            reason: Some("first-party API not yet in the tenant".into()),
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
                Some(format!(
                    "appId {}",
                    app.application.app_id.as_deref().unwrap_or_default()
                ))
            } else if app.application.disable_first.is_some() {
                // Graph refuses to remove or change an enabled scope or app role.
                Some(
                    "scopes and app roles removed or changed are disabled first, in a PATCH of their own"
                        .to_owned(),
                )
            } else {
                app.application.pinned.then(|| "adopted by app_id".to_owned())
            },
        });
        out.push(Change {
            address: sp_address(name),
            kind: "service_principal",
            action: app.service_principal,
            fields: Vec::new(),
            reason: None,
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
                    .then(|| "the manifest no longer names this API".to_owned()),
            });
        }
        for a in &app.assignments {
            out.push(Change {
                address: assignment_address(name, &a.resource, &a.role),
                kind: "app_role_assignment",
                action: a.action,
                fields: Vec::new(),
                reason: None,
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
            reason: Some("--purge: the unique name can be used again".into()),
        });
    }
    out
}

#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    pub format_version: &'static str,
    pub tenant_id: &'a str,
    pub changes: Vec<Change>,
    pub summary: Summary,
    /// Apps with `consent.grant = "none"`: where an administrator grants consent.
    pub admin_consent_urls: std::collections::BTreeMap<String, String>,
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

/// The plan as text, like `terraform plan`.
pub fn plan_text(doc: &PlanDocument<'_>) -> String {
    let mut out = String::new();
    let changed: Vec<&Change> = doc.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if changed.is_empty() {
        out.push_str(&format!(
            "No changes. Tenant {} matches the manifest.\n",
            doc.tenant_id
        ));
    } else {
        out.push_str(&format!(
            "Tenant {}: provision will perform these actions.\n",
            doc.tenant_id
        ));
        for c in changed {
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
        let s = doc.summary;
        let restore = if s.restore > 0 {
            format!("{} to restore, ", s.restore)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\nPlan: {restore}{} to create, {} to update, {} to delete.\n",
            s.create, s.update, s.delete
        ));
    }
    for (app, url) in &doc.admin_consent_urls {
        out.push_str(&format!(
            "\nConsent for `{app}` is left to an administrator: {url}\n"
        ));
    }
    out
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
