//! The rules of the scopes (`api.oauth2PermissionScopes`) and app roles (`appRoles`) an
//! application defines, and of `api.requestedAccessTokenVersion`, as Graph enforces them on a
//! create or update. Pure: no I/O.
//!
//! - A scope or role that is enabled cannot be removed or changed: Graph answers 400
//!   `CannotDeleteOrUpdateEnabledEntitlement`, "Permission (scope or role) cannot be deleted or
//!   updated unless disabled first." (terraform-provider-azuread `internal/helpers/odata`
//!   error constants and its retry on that text; msgraph-sdk-dotnet issue #1888). Setting
//!   `isEnabled` to false alone is the way out.
//! - Ids and values are unique across both collections: 400 `DuplicateValue`, "Request
//!   contains a property with duplicate values." with a detail naming the property
//!   (microsoft-graph-docs issue #21667).
//! - Access tokens of version 2 are required where personal accounts sign in: "Property
//!   api.requestedAccessTokenVersion is invalid." (the message the portal and Graph show; the
//!   code is the directory's generic one [derived]).
//! - Each entry's shape (a GUID `id`, a `value` that does not begin with `.`, `type` `User` or
//!   `Admin`, member types `User`/`Application`) [derived: the invalid-value message Graph uses
//!   for other properties].

use std::collections::BTreeSet;

use serde_json::Value;

use super::{GraphError, GraphResult, Object};

pub const ENABLED_ENTITLEMENT: &str =
    "Permission (scope or role) cannot be deleted or updated unless disabled first.";

fn invalid(property: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource 'Application'."
    ))
}

fn duplicate(target: &str) -> GraphError {
    GraphError::new(
        400,
        "DuplicateValue",
        "Request contains a property with duplicate values.",
    )
    .with_detail("DuplicateValue", target)
}

fn scopes_of(o: &Object) -> Option<&Vec<Value>> {
    o.get("api")?.get("oauth2PermissionScopes")?.as_array()
}

fn roles_of(o: &Object) -> Option<&Vec<Value>> {
    o.get("appRoles")?.as_array()
}

/// Check what `body` writes against what the application holds (`existing`, none on create).
pub fn check(body: &Object, existing: Option<&Object>, audience: &str) -> GraphResult<()> {
    if let Some(api) = body.get("api") {
        if !(api.is_object() || api.is_null()) {
            return Err(invalid("api"));
        }
        if let Some(list) = api.get("oauth2PermissionScopes")
            && !(list.is_array() || list.is_null())
        {
            return Err(invalid("api"));
        }
    }
    if let Some(list) = body.get("appRoles")
        && !list.is_array()
    {
        return Err(invalid("appRoles"));
    }
    let new_scopes = scopes_of(body);
    let new_roles = roles_of(body);
    for s in new_scopes.into_iter().flatten() {
        if !shape_ok(s, "type", &["User", "Admin"]) {
            return Err(invalid("api"));
        }
    }
    for r in new_roles.into_iter().flatten() {
        let types_ok = r["allowedMemberTypes"].as_array().is_some_and(|t| {
            !t.is_empty()
                && t.iter()
                    .all(|t| matches!(t.as_str(), Some("User" | "Application")))
        });
        if !shape_ok(r, "", &[]) || !types_ok {
            return Err(invalid("appRoles"));
        }
    }
    // What the app holds after the write, for the checks across both collections.
    let scopes = new_scopes.or_else(|| existing.and_then(scopes_of));
    let roles = new_roles.or_else(|| existing.and_then(roles_of));
    for (list, target) in [(new_scopes, "oauth2PermissionScopes"), (new_roles, "appRoles")] {
        let Some(list) = list else { continue };
        let mut ids = BTreeSet::new();
        let mut values = BTreeSet::new();
        for e in list {
            let id = e["id"].as_str().unwrap_or_default().to_ascii_lowercase();
            let value = e["value"].as_str().map(str::to_lowercase);
            if !ids.insert(id) || value.is_some_and(|v| !values.insert(v)) {
                return Err(duplicate(target));
            }
        }
    }
    // One value as a scope and as a role is allowed only for one id (the same permission).
    if new_scopes.is_some() || new_roles.is_some() {
        for s in scopes.into_iter().flatten() {
            let clash = roles.into_iter().flatten().any(|r| {
                r["value"].as_str().map(str::to_lowercase) == s["value"].as_str().map(str::to_lowercase)
                    && r["value"].is_string()
                    && !r["id"]
                        .as_str()
                        .unwrap_or_default()
                        .eq_ignore_ascii_case(s["id"].as_str().unwrap_or_default())
            });
            if clash {
                return Err(duplicate(if new_roles.is_some() {
                    "appRoles"
                } else {
                    "oauth2PermissionScopes"
                }));
            }
        }
    }
    if let Some(existing) = existing {
        if let Some(new) = new_scopes {
            check_enabled(existing_list(scopes_of(existing)), new)?;
        }
        if let Some(new) = new_roles {
            check_enabled(existing_list(roles_of(existing)), new)?;
        }
    }
    check_token_version(body, existing, audience)
}

fn existing_list(list: Option<&Vec<Value>>) -> &[Value] {
    list.map(Vec::as_slice).unwrap_or_default()
}

/// A GUID `id`, a `value` (null, or a string not beginning with `.`), a boolean `isEnabled`,
/// and `kind` (when named) one of `allowed`.
fn shape_ok(e: &Value, kind: &str, allowed: &[&str]) -> bool {
    let Some(o) = e.as_object() else {
        return false;
    };
    let id_ok = o
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok());
    let value_ok = match o.get("value") {
        None | Some(Value::Null) => true,
        Some(Value::String(v)) => {
            !v.is_empty() && !v.starts_with('.') && !v.contains(' ') && v.chars().count() <= 120
        }
        Some(_) => false,
    };
    let enabled_ok = matches!(o.get("isEnabled"), None | Some(Value::Bool(_)));
    let kind_ok = kind.is_empty()
        || o.get(kind)
            .and_then(Value::as_str)
            .is_some_and(|k| allowed.contains(&k));
    id_ok && value_ok && enabled_ok && kind_ok
}

/// Every enabled entry of `old` must stay, unchanged but for `isEnabled`.
fn check_enabled(old: &[Value], new: &[Value]) -> GraphResult<()> {
    let refused = || GraphError::new(400, "CannotDeleteOrUpdateEnabledEntitlement", ENABLED_ENTITLEMENT);
    for o in old.iter().filter(|o| o["isEnabled"] != Value::Bool(false)) {
        let id = o["id"].as_str().unwrap_or_default();
        let Some(n) = new
            .iter()
            .find(|n| n["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        else {
            return Err(refused());
        };
        let (Some(o), Some(n)) = (o.as_object(), n.as_object()) else {
            return Err(refused());
        };
        let changed = o
            .keys()
            .chain(n.keys())
            .filter(|k| !matches!(k.as_str(), "isEnabled" | "id" | "origin"))
            .any(|k| same_text(o.get(k)) != same_text(n.get(k)));
        if changed {
            return Err(refused());
        }
    }
    Ok(())
}

/// A property for comparison: absent and null alike, member types as a set.
fn same_text(v: Option<&Value>) -> Value {
    match v {
        None => Value::Null,
        Some(Value::Array(a)) => {
            let mut a = a.clone();
            a.sort_by_key(Value::to_string);
            Value::Array(a)
        }
        Some(v) => v.clone(),
    }
}

fn check_token_version(body: &Object, existing: Option<&Object>, audience: &str) -> GraphResult<()> {
    let written = body.get("api").and_then(|a| a.get("requestedAccessTokenVersion"));
    if let Some(v) = written
        && !matches!(v, Value::Null)
        && !matches!(v.as_i64(), Some(1 | 2))
    {
        return Err(invalid("api"));
    }
    // Only a write that sets the version or the audience is judged: a new app without a
    // version gets the one its audience needs.
    let audience_written = body.contains_key("signInAudience");
    if written.is_none() && !audience_written {
        return Ok(());
    }
    let version = match written {
        Some(v) => v.as_i64(),
        None => match existing {
            Some(e) => e
                .get("api")
                .and_then(|a| a.get("requestedAccessTokenVersion"))
                .and_then(Value::as_i64),
            None => return Ok(()),
        },
    };
    if audience.contains("Personal") && version != Some(2) {
        return Err(GraphError::bad_request(
            "Property api.requestedAccessTokenVersion is invalid.",
        ));
    }
    Ok(())
}
