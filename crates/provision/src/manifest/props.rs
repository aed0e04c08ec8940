//! The application properties beyond the public client (issue 17): `[app.web]`, `[app.spa]`,
//! `identifier_uris`, `[app.api]` with its `[[app.api.scopes]]`, and `[[app.app_roles]]`, from
//! the raw schema to `model::AppProps`, with the rules Graph and Entra set for each. Pure: no I/O.

use std::collections::BTreeMap;
use std::ops::Range;

use super::build::{check_platform_redirect_uris, push};
use super::diagnostic::{Diagnostic, Diagnostics, location};
use super::raw::{RawApi, RawAppRole, RawScope, RawSpa, RawWeb, Sp};
use super::rules::{self, Platform};
use crate::model::{AppProps, AppRoleDef, ScopeDef, SignInAudience, Spa, Web};

/// "The total number of app roles and delegated permissions an application can define is
/// 700" (learn:/graph/api/resources/application, `appRoles` and `api`).
const MAX_ENTITLEMENTS: usize = 700;

/// The parts of a raw app this module reads.
pub(super) struct RawProps {
    pub identifier_uris: Option<Sp<Vec<Sp<String>>>>,
    pub web: Option<RawWeb>,
    pub spa: Option<RawSpa>,
    pub api: Option<RawApi>,
    pub app_roles: Option<Sp<Vec<RawAppRole>>>,
}

pub(super) fn build(
    text: &str,
    raw: RawProps,
    audience: SignInAudience,
    public_client_uris: usize,
    diags: &mut Diagnostics,
) -> AppProps {
    // "Maximum number of redirect URIs" (reply-url.md) counts every platform of the app.
    let max = rules::max_redirect_uris(audience);
    let mut counted = public_client_uris;
    for (list, platform) in [
        (raw.web.as_ref().and_then(|w| w.redirect_uris.as_ref()), "web"),
        (raw.spa.as_ref().and_then(|s| s.redirect_uris.as_ref()), "SPA"),
    ] {
        let Some(list) = list else { continue };
        if public_client_uris <= max
            && counted <= max
            && let Some(extra) = list.value.get(max.saturating_sub(counted))
        {
            diags.push(
                Diagnostic::error(
                    format!(
                        "the app has {} redirect URIs in all, more than the {max} Entra allows for `{}`",
                        counted + list.value.len(),
                        audience.as_str()
                    ),
                    extra.span.clone(),
                )
                .label(format!("{platform} redirect URI past the limit"))
                .help("the limit counts the public-client, web and SPA redirect URIs together"),
            );
        }
        counted += list.value.len();
    }

    let web = raw.web.map(|w| Web {
        redirect_uris: w
            .redirect_uris
            .map(|u| check_platform_redirect_uris(text, u, audience, Platform::Web, diags))
            .unwrap_or_default(),
        home_page_url: w
            .home_page_url
            .and_then(|u| url_value(text, "home_page_url", u, diags)),
        logout_url: w.logout_url.and_then(|u| url_value(text, "logout_url", u, diags)),
        enable_id_token_issuance: w.enable_id_token_issuance.map(|b| b.value),
        enable_access_token_issuance: w.enable_access_token_issuance.map(|b| b.value),
    });
    let spa = raw.spa.map(|s| Spa {
        redirect_uris: s
            .redirect_uris
            .map(|u| check_platform_redirect_uris(text, u, audience, Platform::Spa, diags))
            .unwrap_or_default(),
    });

    let identifier_uris = raw.identifier_uris.map(|uris| {
        let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
        let mut out = Vec::new();
        for uri in uris.value {
            if let Err(f) = rules::check_identifier_uri(&uri.value) {
                push(diags, text, f, uri.span);
                continue;
            }
            // Graph holds identifier URIs unique without regard to case.
            let key = uri.value.to_lowercase();
            if let Some(first) = seen.get(&key) {
                diags.push(
                    Diagnostic::error(
                        format!("duplicate identifier URI `{}`", uri.value),
                        uri.span.clone(),
                    )
                    .label("listed again here")
                    .related(first.clone(), "first listed here")
                    .help("remove one of them"),
                );
                continue;
            }
            seen.insert(key, uri.span);
            out.push(uri.value);
        }
        out
    });

    let personal = matches!(
        audience,
        SignInAudience::AzureADandPersonalMicrosoftAccount | SignInAudience::PersonalMicrosoftAccount
    );
    let mut requested_access_token_version = None;
    let mut scopes = None;
    if let Some(api) = raw.api {
        if let Some(v) = api.requested_access_token_version {
            match v.value {
                1 if personal => diags.push(
                    Diagnostic::error(
                        format!(
                            "`requested_access_token_version` 1 is refused for `{}`",
                            audience.as_str()
                        ),
                        v.span,
                    )
                    .label("must be 2")
                    .help("apps that sign in personal accounts take v2 access tokens (Graph: \"Property api.requestedAccessTokenVersion is invalid.\")"),
                ),
                1 | 2 => requested_access_token_version = Some(v.value as u8),
                other => diags.push(
                    Diagnostic::error(format!("`requested_access_token_version` is {other}"), v.span)
                        .label("expected 1 or 2")
                        .help("1 gives v1.0 access tokens, 2 v2.0 ones (apiApplication.requestedAccessTokenVersion)"),
                ),
            }
        }
        scopes = api.scopes.map(|list| {
            list.value
                .into_iter()
                .filter_map(|s| build_scope(text, s, diags))
                .collect::<Vec<_>>()
        });
    }
    let app_roles = raw.app_roles.map(|list| {
        list.value
            .into_iter()
            .filter_map(|r| build_role(text, r, diags))
            .collect::<Vec<_>>()
    });
    let entries = scopes
        .iter()
        .flatten()
        .map(|(s, span)| ("scope", s.value.as_str(), s.id.as_deref(), span.clone()))
        .chain(
            app_roles
                .iter()
                .flatten()
                .map(|(r, span)| ("app role", r.value.as_str(), r.id.as_deref(), span.clone())),
        );
    check_entitlements(entries, diags);
    let scopes = scopes.map(|l| l.into_iter().map(|(s, _)| s).collect());
    let app_roles = app_roles.map(|l| l.into_iter().map(|(r, _)| r).collect());

    AppProps {
        web,
        spa,
        identifier_uris,
        requested_access_token_version,
        scopes,
        app_roles,
    }
}

fn url_value(text: &str, key: &str, u: Sp<String>, diags: &mut Diagnostics) -> Option<String> {
    match rules::check_web_url(key, &u.value) {
        Ok(()) => Some(u.value),
        Err(f) => {
            push(diags, text, f, u.span);
            None
        }
    }
}

/// A required text of a scope or role: present and not blank.
fn required_text(what: &str, key: &str, v: Option<Sp<String>>, diags: &mut Diagnostics) -> Option<String> {
    // Absent: `raw` reported it already.
    let v = v?;
    if v.value.trim().is_empty() {
        diags.push(
            Diagnostic::error(format!("`{key}` of {what} is empty"), v.span)
                .label("empty")
                .help("people see this text in the portal and on consent prompts: write it"),
        );
        return None;
    }
    Some(v.value)
}

fn entitlement_id(
    text: &str,
    id: Option<Sp<String>>,
    diags: &mut Diagnostics,
) -> Result<Option<(String, Range<usize>)>, ()> {
    match id {
        None => Ok(None),
        Some(id) => match rules::parse_guid(&id.value) {
            Some(g) => Ok(Some((g, id.span))),
            None => {
                push(diags, text, rules::malformed_guid("`id`", &id.value), id.span);
                Err(())
            }
        },
    }
}

fn entitlement_value(text: &str, v: Option<Sp<String>>, diags: &mut Diagnostics) -> Option<String> {
    let v = v?;
    match rules::check_entitlement_value(&v.value) {
        Ok(()) => Some(v.value),
        Err(f) => {
            push(diags, text, f, v.span);
            None
        }
    }
}

fn build_scope(text: &str, raw: RawScope, diags: &mut Diagnostics) -> Option<(ScopeDef, Range<usize>)> {
    let before = diags.error_count();
    let what = raw
        .value
        .as_ref()
        .map_or_else(|| "a scope".to_owned(), |v| format!("scope `{}`", v.value));
    let id = entitlement_id(text, raw.id, diags);
    let span = raw
        .value
        .as_ref()
        .map_or_else(|| raw.span.clone(), |v| v.span.clone());
    let value = entitlement_value(text, raw.value, diags);
    let kind = match raw.kind {
        None => "User".to_owned(),
        Some(k) if k.value == "User" || k.value == "Admin" => k.value,
        Some(k) => {
            let help = match rules::closest(&k.value, ["User", "Admin"]) {
                Some(best) => format!("did you mean `{best}`?"),
                None => {
                    "`User`: users may consent for themselves; `Admin`: only an administrator may consent"
                        .to_owned()
                }
            };
            diags.push(
                Diagnostic::error(format!("unknown scope `type` `{}`", k.value), k.span)
                    .label("expected `User` or `Admin`")
                    .help(help),
            );
            String::new()
        }
    };
    let admin_name = required_text(
        &what,
        "admin_consent_display_name",
        raw.admin_consent_display_name,
        diags,
    );
    let admin_description = required_text(
        &what,
        "admin_consent_description",
        raw.admin_consent_description,
        diags,
    );
    if diags.error_count() > before {
        return None;
    }
    Some((
        ScopeDef {
            id: id.ok()?.map(|(g, _)| g),
            value: value?,
            kind,
            admin_consent_display_name: admin_name?,
            admin_consent_description: admin_description?,
            user_consent_display_name: raw.user_consent_display_name.map(|v| v.value),
            user_consent_description: raw.user_consent_description.map(|v| v.value),
            enabled: raw.enabled.is_none_or(|b| b.value),
            location: location(text, raw.span.start),
        },
        span,
    ))
}

fn build_role(text: &str, raw: RawAppRole, diags: &mut Diagnostics) -> Option<(AppRoleDef, Range<usize>)> {
    let before = diags.error_count();
    let what = raw
        .value
        .as_ref()
        .map_or_else(|| "an app role".to_owned(), |v| format!("app role `{}`", v.value));
    let id = entitlement_id(text, raw.id, diags);
    let span = raw
        .value
        .as_ref()
        .map_or_else(|| raw.span.clone(), |v| v.span.clone());
    let value = entitlement_value(text, raw.value, diags);
    let display_name = required_text(&what, "display_name", raw.display_name, diags);
    let description = required_text(&what, "description", raw.description, diags);
    let mut types: Vec<String> = Vec::new();
    match raw.allowed_member_types {
        None => diags.push(
            Diagnostic::error(format!("{what} has no `allowed_member_types`"), raw.span.clone())
                .label("`allowed_member_types` is required here")
                .help("add `allowed_member_types = [\"User\"]` (users and groups), `[\"Application\"]` (apps), or both"),
        ),
        Some(list) => {
            if list.value.is_empty() {
                diags.push(
                    Diagnostic::error(format!("`allowed_member_types` of {what} is empty"), list.span.clone())
                        .label("empty")
                        .help("list `User`, `Application` or both"),
                );
            }
            for t in list.value {
                if t.value != "User" && t.value != "Application" {
                    let help = match rules::closest(&t.value, ["User", "Application"]) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "use `User` (users and groups) or `Application` (apps)".to_owned(),
                    };
                    diags.push(
                        Diagnostic::error(format!("unknown member type `{}`", t.value), t.span)
                            .label("expected `User` or `Application`")
                            .help(help),
                    );
                } else if types.contains(&t.value) {
                    diags.push(
                        Diagnostic::error(format!("duplicate member type `{}`", t.value), t.span)
                            .label("listed again here")
                            .help("remove one of them"),
                    );
                } else {
                    types.push(t.value);
                }
            }
        }
    }
    types.sort();
    if diags.error_count() > before {
        return None;
    }
    Some((
        AppRoleDef {
            id: id.ok()?.map(|(g, _)| g),
            value: value?,
            display_name: display_name?,
            description: description?,
            allowed_member_types: types,
            enabled: raw.enabled.is_none_or(|b| b.value),
            location: location(text, raw.span.start),
        },
        span,
    ))
}

/// Across the scopes and roles of one app: values and ids unique (Graph answers a repeated one
/// with 400 `DuplicateValue`), a value not both a scope and a role, at most 700 in all.
fn check_entitlements<'a>(
    entries: impl Iterator<Item = (&'static str, &'a str, Option<&'a str>, Range<usize>)>,
    diags: &mut Diagnostics,
) {
    let mut values: BTreeMap<String, (&str, Range<usize>)> = BTreeMap::new();
    let mut ids: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut count = 0usize;
    let mut last = 0..0;
    for (kind, value, id, span) in entries {
        count += 1;
        last = span.clone();
        if let Some((first_kind, first)) = values.get(&value.to_lowercase()) {
            let msg = if *first_kind == kind {
                format!("two {kind}s have the value `{value}`")
            } else {
                format!("`{value}` is both a scope and an app role")
            };
            diags.push(
                Diagnostic::error(msg, span.clone())
                    .label("defined again here")
                    .related(first.clone(), "first defined here")
                    .help("give each scope and app role its own value (values are compared without case)"),
            );
        } else {
            values.insert(value.to_lowercase(), (kind, span.clone()));
        }
        if let Some(id) = id {
            if let Some(first) = ids.get(id) {
                diags.push(
                    Diagnostic::error(format!("the id `{id}` is pinned twice"), span)
                        .label("pinned again here")
                        .related(first.clone(), "first pinned here")
                        .help(
                            "each scope and app role needs its own id; remove `id` to let apply choose one",
                        ),
                );
            } else {
                ids.insert(id.to_owned(), span);
            }
        }
    }
    if count > MAX_ENTITLEMENTS {
        diags.push(
            Diagnostic::error(
                format!("the app defines {count} scopes and app roles, more than Graph's {MAX_ENTITLEMENTS}"),
                last,
            )
            .label("limit passed here"),
        );
    }
}
