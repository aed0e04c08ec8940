//! `import` of the application properties beyond the public client (issue 17): identifier URIs,
//! `[app.web]`, `[app.spa]`, `[app.api]` with its scopes, and `[[app.app_roles]]`, written as
//! keys so that `plan` shows no changes. A property whose value the manifest would refuse is
//! left out (plan and apply then leave it alone) and named in the "not expressed" comment.
//! Pure: no I/O.

use super::{toml_list, toml_str};
use crate::graph::types::{AppRole, Application, PermissionScope};
use crate::manifest::rules::{self, Platform};
use crate::model::SignInAudience;

/// The `identifier_uris` line of `[app]` (empty when there is nothing to write).
pub(super) fn identifier_uris(app: &Application, left_alone: &mut Vec<String>) -> String {
    let uris = &app.identifier_uris;
    if uris.is_empty() {
        return String::new();
    }
    let refused: Vec<&str> = uris
        .iter()
        .filter(|u| rules::check_identifier_uri(u).is_err())
        .map(String::as_str)
        .collect();
    if refused.is_empty() {
        // The app's own `api://<appId>` as the manifest's placeholder, so the manifest also
        // fits a copy of the app made elsewhere.
        let own = format!("api://{}", app.app_id);
        let uris: Vec<String> = uris
            .iter()
            .map(|u| {
                if u.eq_ignore_ascii_case(&own) {
                    format!("api://{}", crate::plan::APP_ID_PLACEHOLDER)
                } else {
                    u.clone()
                }
            })
            .collect();
        format!("identifier_uris = {}\n", toml_list(&uris))
    } else {
        left_alone.push(format!(
            "identifier URIs, because the manifest does not accept {}: {}",
            refused.join(", "),
            uris.join(", ")
        ));
        String::new()
    }
}

fn uris_ok(uris: &[String], audience: SignInAudience, platform: Platform) -> Result<(), Vec<&str>> {
    let refused: Vec<&str> = uris
        .iter()
        .filter(|u| rules::check_redirect_uri_on(u, audience, platform).is_err())
        .map(String::as_str)
        .collect();
    if refused.is_empty() { Ok(()) } else { Err(refused) }
}

/// The sections that follow `[app.public_client]`.
pub(super) fn sections(app: &Application, audience: SignInAudience, left_alone: &mut Vec<String>) -> String {
    let mut t = String::new();
    if let Some(web) = &app.web {
        let grants = web.implicit_grant_settings.clone().unwrap_or_default();
        let id_tokens = grants.enable_id_token_issuance.unwrap_or(false);
        let access_tokens = grants.enable_access_token_issuance.unwrap_or(false);
        let has_any = !web.redirect_uris.is_empty()
            || web.home_page_url.is_some()
            || web.logout_url.is_some()
            || id_tokens
            || access_tokens;
        if has_any {
            let mut s = String::from("\n[app.web]\n");
            match uris_ok(&web.redirect_uris, audience, Platform::Web) {
                Ok(()) => s.push_str(&format!("redirect_uris = {}\n", toml_list(&web.redirect_uris))),
                Err(refused) => {
                    left_alone.push(format!(
                        "web redirect URIs, because the manifest does not accept {}: {}",
                        refused.join(", "),
                        web.redirect_uris.join(", ")
                    ));
                    // Without the key, `[app.web]` would set them to none.
                    s.clear();
                }
            }
            if !s.is_empty() {
                for (key, url) in [
                    ("home_page_url", &web.home_page_url),
                    ("logout_url", &web.logout_url),
                ] {
                    match url.as_deref().filter(|u| !u.is_empty()) {
                        Some(u) if rules::check_web_url(key, u).is_ok() => {
                            s.push_str(&format!("{key} = {}\n", toml_str(u)));
                        }
                        Some(u) => left_alone.push(format!("web `{key}` {u}")),
                        None => {}
                    }
                }
                s.push_str(&format!(
                    "enable_id_token_issuance = {id_tokens}\nenable_access_token_issuance = {access_tokens}\n"
                ));
                t.push_str(&s);
            }
        }
    }
    if let Some(spa) = app.spa.as_ref().filter(|s| !s.redirect_uris.is_empty()) {
        match uris_ok(&spa.redirect_uris, audience, Platform::Spa) {
            Ok(()) => t.push_str(&format!(
                "\n[app.spa]\nredirect_uris = {}\n",
                toml_list(&spa.redirect_uris)
            )),
            Err(refused) => left_alone.push(format!(
                "SPA redirect URIs, because the manifest does not accept {}: {}",
                refused.join(", "),
                spa.redirect_uris.join(", ")
            )),
        }
    }

    let api = app.api.clone().unwrap_or_default();
    let version = api.requested_access_token_version.filter(|v| *v == 1 || *v == 2);
    let scopes = entries(
        &api.oauth2_permission_scopes,
        scope_toml,
        "delegated permissions the app exposes",
        left_alone,
    );
    if version.is_some() || !scopes.is_empty() {
        t.push_str("\n[app.api]\n");
        if let Some(v) = version {
            t.push_str(&format!("requested_access_token_version = {v}\n"));
        }
        for s in scopes {
            t.push_str("\n[[app.api.scopes]]\n");
            t.push_str(&s);
        }
    }
    for r in entries(&app.app_roles, role_toml, "app roles the app defines", left_alone) {
        t.push_str("\n[[app.app_roles]]\n");
        t.push_str(&r);
    }
    t
}

/// Every entry as TOML, or none (with a "left alone" line) when one of them cannot be written:
/// the manifest's list is authoritative, so a partial list would remove the others.
fn entries<T>(
    list: &[T],
    render: fn(&T) -> Result<String, String>,
    what: &str,
    left_alone: &mut Vec<String>,
) -> Vec<String> {
    let rendered: Vec<Result<String, String>> = list.iter().map(render).collect();
    let refused: Vec<&String> = rendered.iter().filter_map(|r| r.as_ref().err()).collect();
    if refused.is_empty() {
        return rendered.into_iter().flatten().collect();
    }
    left_alone.push(format!(
        "{what}, because the manifest cannot hold {}",
        refused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
    ));
    Vec::new()
}

/// A required text of a scope or role: present and not blank.
fn required(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.trim().is_empty())
}

fn scope_toml(s: &PermissionScope) -> Result<String, String> {
    let label = s.value.clone().unwrap_or_else(|| s.id.clone());
    let value = s
        .value
        .as_deref()
        .filter(|v| rules::check_entitlement_value(v).is_ok())
        .ok_or_else(|| format!("the scope value `{label}`"))?;
    let id = rules::parse_guid(&s.id).ok_or_else(|| format!("the id of scope `{label}`"))?;
    let kind = s
        .kind
        .as_deref()
        .filter(|k| *k == "User" || *k == "Admin")
        .ok_or_else(|| format!("the type of scope `{label}`"))?;
    let (Some(admin_name), Some(admin_description)) = (
        required(&s.admin_consent_display_name),
        required(&s.admin_consent_description),
    ) else {
        return Err(format!("scope `{label}` without admin consent texts"));
    };
    let mut t = format!(
        "value = {}\nid = {}\ntype = {}\nadmin_consent_display_name = {}\nadmin_consent_description = {}\n",
        toml_str(value),
        toml_str(&id),
        toml_str(kind),
        toml_str(admin_name),
        toml_str(admin_description)
    );
    for (key, v) in [
        ("user_consent_display_name", &s.user_consent_display_name),
        ("user_consent_description", &s.user_consent_description),
    ] {
        if let Some(v) = required(v) {
            t.push_str(&format!("{key} = {}\n", toml_str(v)));
        }
    }
    if s.is_enabled == Some(false) {
        t.push_str("enabled = false\n");
    }
    Ok(t)
}

fn role_toml(r: &AppRole) -> Result<String, String> {
    let label = r.value.clone().unwrap_or_else(|| r.id.clone());
    let value = r
        .value
        .as_deref()
        .filter(|v| rules::check_entitlement_value(v).is_ok())
        .ok_or_else(|| format!("the app role value `{label}`"))?;
    let id = rules::parse_guid(&r.id).ok_or_else(|| format!("the id of app role `{label}`"))?;
    let (Some(name), Some(description)) = (required(&r.display_name), required(&r.description)) else {
        return Err(format!("app role `{label}` without display name or description"));
    };
    let mut types = r.allowed_member_types.clone();
    types.sort();
    if types.is_empty() || types.iter().any(|t| t != "User" && t != "Application") {
        return Err(format!("the member types of app role `{label}`"));
    }
    let mut t = format!(
        "value = {}\nid = {}\ndisplay_name = {}\ndescription = {}\nallowed_member_types = {}\n",
        toml_str(value),
        toml_str(&id),
        toml_str(name),
        toml_str(description),
        toml_list(&types)
    );
    if r.is_enabled == Some(false) {
        t.push_str("enabled = false\n");
    }
    Ok(t)
}
