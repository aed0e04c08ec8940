//! From the raw schema to `model::Desired`: applies the value rules, the defaults, the checks
//! that span several values (duplicates, limits) and the offline permission check against the
//! first-party catalog. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;

use super::diagnostic::{Diagnostic, Diagnostics, location};
use super::raw::{RawApiPermission, RawApp, RawManifest, RawOutput, Sp};
use super::rules::{self, Finding};
use crate::catalog::{self, KnownApi};
use crate::model::{
    ApiPermission, ApiRef, ConsentMode, Desired, DesiredApp, OutputFormat, OutputSpec, PublicClient,
    SignInAudience,
};

/// Known APIs whose catalog entry lists every permission the API publishes (taken from a dump
/// of the tenant service principal: docs/graph-notes.md §8), so a
/// name missing from it is surely wrong. Microsoft Graph's entry holds only the ~45 permissions
/// that docs/graph-notes.md §8 names out of several hundred, so there a missing name is only a
/// warning and the tenant decides at plan time.
const COMPLETE_CATALOGS: &[&str] = &["microsoft-threat-protection", "windows-defender-atp"];

/// Limits of `requiredResourceAccess`: "No more than 50 resource services (APIs)" and at most
/// 400 permissions in total, 30 for the audiences with personal accounts
/// (learn:/graph/api/resources/application; docs/graph-notes.md §1).
const MAX_APIS: usize = 50;

fn max_permissions(audience: SignInAudience) -> usize {
    match audience {
        SignInAudience::AzureADMyOrg | SignInAudience::AzureADMultipleOrgs => 400,
        _ => 30,
    }
}

/// Report a rule's finding about the string value at `span`, narrowed to the offending part
/// when the rule names one and the value is written without escapes (so byte offsets in the
/// value are offsets in the text).
pub(super) fn push(diags: &mut Diagnostics, text: &str, finding: Finding, span: Range<usize>) {
    let span = match &finding.at {
        Some(at) => narrow(text, &span, at).unwrap_or(span),
        None => span,
    };
    let mut d = Diagnostic::error(finding.message, span).help_opt(finding.help);
    if let Some(label) = finding.label {
        d = d.label(label);
    }
    diags.push(d);
}

fn narrow(text: &str, span: &Range<usize>, at: &Range<usize>) -> Option<Range<usize>> {
    let raw = text.get(span.clone())?;
    let quote = raw.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    if raw.len() < 2 || raw.starts_with("\"\"\"") || raw.starts_with("'''") || !raw.ends_with(quote) {
        return None;
    }
    let inner = &raw[1..raw.len() - 1];
    if quote == '"' && inner.contains('\\') {
        return None;
    }
    let start = span.start + 1;
    (at.end <= inner.len() && at.start <= at.end).then(|| start + at.start..start + at.end)
}

/// Build the desired model; `None` when an error was found (every error is in `diags`).
pub fn build(origin: &str, text: &str, raw: RawManifest, diags: &mut Diagnostics) -> Option<Desired> {
    let tenant = raw.tenant.and_then(|t| match rules::check_tenant(&t.value) {
        // A tenant GUID in Graph's lower case, so that comparing it with the token's `tid` is
        // a plain string comparison.
        Ok(()) => Some(rules::parse_guid(&t.value).unwrap_or(t.value)),
        Err(f) => {
            push(diags, text, f, t.span);
            None
        }
    });
    let output = raw.output.and_then(|o| build_output(text, o, diags));

    let mut apps = Vec::new();
    // unique_name → span of its first use; uniqueness compared without case [derived: Entra
    // alternate keys, like other directory names, are matched without regard to case].
    let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut app_ids: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut display_names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for app in raw.apps {
        if let Some(n) = &app.unique_name {
            let key = n.value.to_ascii_lowercase();
            if let Some(first) = names.get(&key) {
                diags.push(
                    Diagnostic::error(format!("duplicate `unique_name` `{}`", n.value), n.span.clone())
                        .label("used again here")
                        .related(first.clone(), "first used here")
                        .help("each app needs its own `unique_name`: it is the app's identity in the tenant"),
                );
            } else {
                names.insert(key, n.span.clone());
            }
        }
        if let Some(id) = &app.app_id
            && let Some(guid) = rules::parse_guid(&id.value)
        {
            if let Some(first) = app_ids.get(&guid) {
                diags.push(
                    Diagnostic::error(
                        format!("two apps pin the same `app_id` `{}`", id.value),
                        id.span.clone(),
                    )
                    .label("pinned again here")
                    .related(first.clone(), "first pinned here")
                    .help("an `app_id` names one registration: keep it on one app"),
                );
            } else {
                app_ids.insert(guid, id.span.clone());
            }
        }
        if let Some(d) = &app.display_name {
            // Entra allows equal display names, but two apps that look the same in the portal
            // and on consent prompts are a trap for whoever picks one there.
            if let Some(first) = display_names.get(&d.value) {
                diags.push(
                    Diagnostic::warning(
                        format!("two apps share the display name `{}`", d.value),
                        d.span.clone(),
                    )
                    .label("used again here")
                    .related(first.clone(), "first used here")
                    .help("give each app a distinct `display_name` so people can tell them apart"),
                );
            } else {
                display_names.insert(d.value.clone(), d.span.clone());
            }
        }
        if let Some(app) = build_app(text, app, diags) {
            apps.push(app);
        }
    }

    // credentials (issue 17): what needs `[output]`.
    super::credentials::check_with_output(&apps, output.as_ref(), diags);

    if diags.has_errors() {
        return None;
    }
    Some(Desired {
        source: PathBuf::from(origin),
        tenant,
        apps,
        output,
    })
}

fn build_app(text: &str, app: RawApp, diags: &mut Diagnostics) -> Option<DesiredApp> {
    let before = diags.error_count();

    let unique_name = app
        .unique_name
        .and_then(|n| match rules::check_unique_name(&n.value) {
            Ok(()) => Some(n.value),
            Err(f) => {
                push(diags, text, f, n.span);
                None
            }
        });
    let app_id = app.app_id.and_then(|id| match rules::parse_guid(&id.value) {
        Some(guid) => Some(guid),
        None => {
            push(diags, text, rules::malformed_guid("`app_id`", &id.value), id.span);
            None
        }
    });
    let display_name = app
        .display_name
        .and_then(|d| match rules::check_display_name(&d.value) {
            Ok(()) => Some(d.value),
            Err(f) => {
                push(diags, text, f, d.span);
                None
            }
        });
    // Graph's default audience (learn:/graph/api/resources/application: "AzureADMyOrg (default)").
    let sign_in_audience = match app.sign_in_audience {
        None => SignInAudience::AzureADMyOrg,
        Some(a) => match SignInAudience::parse(&a.value) {
            Some(v) => v,
            None => {
                let names = SignInAudience::ALL.map(SignInAudience::as_str);
                let help = match rules::closest(&a.value, names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("use one of {}", backticked(&names)),
                };
                diags.push(
                    Diagnostic::error(format!("unknown `sign_in_audience` `{}`", a.value), a.span)
                        .label("not a sign-in audience")
                        .help(help),
                );
                SignInAudience::AzureADMyOrg
            }
        },
    };
    let notes = app.notes.and_then(|n| match rules::check_notes(&n.value) {
        Ok(()) => Some(n.value),
        Err(f) => {
            push(diags, text, f, n.span);
            None
        }
    });
    let tags = app
        .tags
        .map(|tags| unique_strings(text, "tag", tags.value, rules::check_tag, diags))
        .unwrap_or_default();

    let public_client_uris = app
        .public_client
        .as_ref()
        .and_then(|pc| pc.redirect_uris.as_ref())
        .map_or(0, |u| u.value.len());
    let props = super::props::build(
        text,
        super::props::RawProps {
            identifier_uris: app.identifier_uris,
            web: app.web,
            spa: app.spa,
            api: app.api,
            app_roles: app.app_roles,
        },
        sign_in_audience,
        public_client_uris,
        diags,
    );
    let public_client = app.public_client.map(|pc| {
        let redirect_span = pc.redirect_uris.as_ref().map(|u| u.span.clone());
        let uris = pc
            .redirect_uris
            .map(|u| check_redirect_uris(text, u, sign_in_audience, diags));
        let browser_sign_in = match &pc.sign_in {
            None => false,
            Some(s) if s.value == "browser" => true,
            Some(s) if s.value == "device-code" => false,
            Some(s) => {
                diags.push(
                    Diagnostic::error(format!("unknown sign-in `{}`", s.value), s.span.clone())
                        .label("expected `browser` or `device-code`")
                        .help("`sign_in` says how `provision token` signs in as the app: \"browser\" or \"device-code\" (the default)"),
                );
                false
            }
        };
        // A browser sign-in comes back to a loopback redirect URI (`http://localhost`, any
        // port); without one Entra shows AADSTS50011 instead (reply-url.md, "Localhost
        // exceptions").
        if let Some(s) = pc.sign_in.as_ref().filter(|_| browser_sign_in)
            && !uris
                .iter()
                .flatten()
                .any(|u| crate::auth::browser::is_loopback_redirect(u))
        {
            diags.push(
                Diagnostic::warning(
                    "browser sign-in needs the loopback redirect URI `http://localhost`",
                    redirect_span.unwrap_or_else(|| s.span.clone()),
                )
                .label("no loopback redirect URI here")
                .related(s.span.clone(), "browser sign-in asked for here")
                .help("add \"http://localhost\" to `redirect_uris` (Entra accepts any port on it); without it the sign-in stops at AADSTS50011"),
            );
        }
        PublicClient {
            browser_sign_in,
            redirect_uris: uris.unwrap_or_default(),
            // A `[app.public_client]` section declares a public client, and the device code flow
            // (what `provision token` uses) needs `isFallbackPublicClient` = true, else Entra
            // answers AADSTS7000218 (docs/graph-notes.md §1, isFallbackPublicClient). So the
            // section turns it on unless the manifest says `false`; Graph's own default is false.
            allow_public_client_flows: pc.allow_public_client_flows.is_none_or(|b| b.value),
        }
    });

    let mut api_permissions: Vec<ApiPermission> = Vec::new();
    let mut seen_apis: BTreeMap<ApiRef, Range<usize>> = BTreeMap::new();
    let mut total = 0usize;
    let mut last_span = app.span.clone();
    for raw in app.api_permissions {
        last_span = raw.span.clone();
        if let Some(p) = build_permission(text, raw, &mut seen_apis, diags) {
            total += p.delegated.len() + p.application.len();
            api_permissions.push(p);
        }
    }
    if api_permissions.len() > MAX_APIS {
        diags.push(
            Diagnostic::error(
                format!(
                    "the app asks for {} APIs, more than Graph's {MAX_APIS}",
                    api_permissions.len()
                ),
                last_span.clone(),
            )
            .label("one API too many")
            .help("split the work between several apps"),
        );
    }
    let max = max_permissions(sign_in_audience);
    if total > max {
        diags.push(
            Diagnostic::error(
                format!(
                    "the app asks for {total} permissions, more than the {max} Graph allows for `{}`",
                    sign_in_audience.as_str()
                ),
                last_span,
            )
            .label("limit passed here"),
        );
    }

    let consent = match app.consent.and_then(|c| c.grant) {
        None => ConsentMode::Admin,
        Some(g) => {
            match g.value.as_str() {
                "admin" => ConsentMode::Admin,
                "none" => ConsentMode::None,
                other => {
                    let help = match rules::closest(other, ["admin", "none"]) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "use `admin` (grant tenant-wide consent now) or `none` (print the admin-consent URL)"
                        .to_owned(),
                };
                    diags.push(
                        Diagnostic::error(format!("unknown consent `grant` `{other}`"), g.span)
                            .label("expected `admin` or `none`")
                            .help(help),
                    );
                    ConsentMode::Admin
                }
            }
        }
    };

    let owners = app.owners.map(|o| super::ownership::build_owners(text, o, diags));
    let federated_credentials = app
        .federated_credentials
        .map(|f| super::ownership::build_federated_credentials(text, f, diags));
    // credentials (issue 17)
    let passwords = super::credentials::build_passwords(text, app.passwords, diags);
    let certificates = super::credentials::build_certificates(text, app.certificates, diags);

    if diags.error_count() > before {
        return None;
    }
    Some(DesiredApp {
        owners,
        federated_credentials,
        passwords,
        certificates,
        unique_name: unique_name?,
        app_id,
        display_name: display_name?,
        sign_in_audience,
        notes,
        tags,
        public_client,
        api_permissions,
        consent,
        props,
        location: location(text, app.span.start),
    })
}

pub(super) fn check_redirect_uris(
    text: &str,
    uris: Sp<Vec<Sp<String>>>,
    audience: SignInAudience,
    diags: &mut Diagnostics,
) -> Vec<String> {
    check_platform_redirect_uris(text, uris, audience, rules::Platform::PublicClient, diags)
}

pub(super) fn check_platform_redirect_uris(
    text: &str,
    uris: Sp<Vec<Sp<String>>>,
    audience: SignInAudience,
    platform: rules::Platform,
    diags: &mut Diagnostics,
) -> Vec<String> {
    let max = rules::max_redirect_uris(audience);
    if let Some(extra) = uris.value.get(max) {
        diags.push(
            Diagnostic::error(
                format!(
                    "{} redirect URIs, more than the {max} Entra allows for `{}`",
                    uris.value.len(),
                    audience.as_str()
                ),
                extra.span.clone(),
            )
            .label(format!("redirect URI number {}", max + 1)),
        );
    }
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut loopback: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
    for uri in uris.value {
        if let Err(f) = rules::check_redirect_uri_on(&uri.value, audience, platform) {
            push(diags, text, f, uri.span);
            continue;
        }
        if let Some(first) = seen.get(&uri.value) {
            diags.push(
                Diagnostic::error(
                    format!("duplicate redirect URI `{}`", uri.value),
                    uri.span.clone(),
                )
                .label("listed again here")
                .related(first.clone(), "first listed here")
                .help("remove one of them"),
            );
            continue;
        }
        seen.insert(uri.value.clone(), uri.span.clone());
        if let Some(key) = rules::loopback_without_port(&uri.value) {
            if let Some((other, first)) = loopback.get(&key) {
                // reply-url.md, "Localhost exceptions": the port is ignored when matching, and
                // with two such URIs "the login server will pick one arbitrarily".
                diags.push(
                    Diagnostic::warning(
                        format!("redirect URIs `{other}` and `{}` differ only by port", uri.value),
                        uri.span.clone(),
                    )
                    .label("same URI to Entra")
                    .related(first.clone(), "the other one")
                    .help("Entra ignores the port of loopback redirect URIs; tell them apart by path"),
                );
            } else {
                loopback.insert(key, (uri.value.clone(), uri.span.clone()));
            }
        }
        out.push(uri.value);
    }
    out
}

/// Strings that must each pass `check` and appear once.
fn unique_strings(
    text: &str,
    what: &str,
    items: Vec<Sp<String>>,
    check: fn(&str) -> Result<(), Finding>,
    diags: &mut Diagnostics,
) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for item in items {
        if let Err(f) = check(&item.value) {
            push(diags, text, f, item.span);
            continue;
        }
        if let Some(first) = seen.get(&item.value) {
            diags.push(
                Diagnostic::error(format!("duplicate {what} `{}`", item.value), item.span.clone())
                    .label("listed again here")
                    .related(first.clone(), "first listed here")
                    .help("remove one of them"),
            );
            continue;
        }
        seen.insert(item.value, item.span);
    }
    seen.into_keys().collect()
}

/// How the manifest's `api` text resolves offline.
fn resolve_api(
    text: &str,
    api: &Sp<String>,
    diags: &mut Diagnostics,
) -> Option<(ApiRef, Option<&'static KnownApi>)> {
    let name = api.value.as_str();
    if name.trim().is_empty() {
        diags.push(
            Diagnostic::error("`api` is empty", api.span.clone())
                .label("empty")
                .help("name the API by display name, appId, identifier URI or a built-in alias such as `microsoft-graph`"),
        );
        return None;
    }
    if let Some(known) = catalog::lookup(name) {
        return Some((ApiRef::Known(known.app_id.clone()), Some(known)));
    }
    if let Some(guid) = rules::parse_guid(name) {
        return Some((ApiRef::AppId(guid), None));
    }
    if rules::looks_like_guid(name) {
        push(
            diags,
            text,
            rules::malformed_guid("`api`", name),
            api.span.clone(),
        );
        return None;
    }
    // Not built in: resolved against the tenant at plan time. A near miss of a built-in name is
    // most likely a typo, but could be a real API of that name, hence a warning.
    let names: Vec<&str> = catalog::known_apis()
        .iter()
        .flat_map(|k| [k.alias.as_str(), k.display_name.as_str()])
        .collect();
    if let Some(best) = rules::closest(name, names) {
        diags.push(
            Diagnostic::warning(format!("`{name}` is not a built-in API"), api.span.clone())
                .label("resolved against the tenant at plan time")
                .help(format!("did you mean `{best}`?")),
        );
    }
    Some((ApiRef::Name(name.to_owned()), None))
}

fn build_permission(
    text: &str,
    raw: RawApiPermission,
    seen: &mut BTreeMap<ApiRef, Range<usize>>,
    diags: &mut Diagnostics,
) -> Option<ApiPermission> {
    let before = diags.error_count();
    let resolved = raw.api.as_ref().and_then(|api| {
        let (r, known) = resolve_api(text, api, diags)?;
        // Names are compared without case: Entra matches display names and identifier URIs so.
        let key = match &r {
            ApiRef::Name(n) => ApiRef::Name(n.to_lowercase()),
            other => other.clone(),
        };
        if let Some(first) = seen.get(&key) {
            let same = match known {
                Some(k) => format!(" (both name {})", k.display_name),
                None => String::new(),
            };
            diags.push(
                Diagnostic::error(
                    format!("the app lists the API `{}` twice{same}", api.value),
                    api.span.clone(),
                )
                .label("listed again here")
                .related(first.clone(), "first listed here")
                .help("merge the two `[[app.api_permissions]]` entries into one"),
            );
        } else {
            seen.insert(key, api.span.clone());
        }
        Some((r, known))
    });
    let known = resolved.as_ref().and_then(|(_, k)| *k);

    let delegated = raw
        .delegated
        .as_ref()
        .map(|list| permission_list(text, list, Kind::Delegated, known, diags))
        .unwrap_or_default();
    let application = raw
        .application
        .as_ref()
        .map(|list| permission_list(text, list, Kind::Application, known, diags))
        .unwrap_or_default();
    let listed = |l: &Option<Sp<Vec<Sp<String>>>>| l.as_ref().is_some_and(|l| !l.value.is_empty());
    if !listed(&raw.delegated) && !listed(&raw.application) {
        let (span, what) = match &raw.api {
            Some(api) => (api.span.clone(), format!("`{}`", api.value)),
            None => (raw.span.clone(), "this API".to_owned()),
        };
        diags.push(
            Diagnostic::error(format!("no permission is asked for on {what}"), span)
                .label("both `delegated` and `application` are empty")
                .help("list permissions in `delegated = [\"…\"]` (signed-in user) or `application = [\"…\"]` (app only), or remove the entry"),
        );
    }

    if diags.error_count() > before {
        return None;
    }
    let (api, _) = resolved?;
    let api_text = raw.api?.value;
    Some(ApiPermission {
        api,
        api_text,
        delegated,
        application,
        location: location(text, raw.span.start),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Delegated,
    Application,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Delegated => "delegated permission",
            Kind::Application => "application permission",
        }
    }
    fn a_noun(self) -> &'static str {
        match self {
            Kind::Delegated => "a delegated permission",
            Kind::Application => "an application permission",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Kind::Delegated => "delegated",
            Kind::Application => "application",
        }
    }
    fn other(self) -> Kind {
        match self {
            Kind::Delegated => Kind::Application,
            Kind::Application => Kind::Delegated,
        }
    }
    fn of(self, api: &KnownApi) -> Vec<&str> {
        let list = match self {
            Kind::Delegated => &api.scopes,
            Kind::Application => &api.roles,
        };
        list.iter().map(|p| p.value.as_str()).collect()
    }
}

fn permission_list(
    text: &str,
    list: &Sp<Vec<Sp<String>>>,
    kind: Kind,
    known: Option<&KnownApi>,
    diags: &mut Diagnostics,
) -> BTreeSet<String> {
    let names = unique_strings(
        text,
        match kind {
            Kind::Delegated => "delegated permission",
            Kind::Application => "application permission",
        },
        list.value.clone(),
        rules::check_permission_value,
        diags,
    );
    if let Some(api) = known {
        for item in &list.value {
            if names.contains(&item.value) {
                check_known_permission(item, kind, api, diags);
            }
        }
    }
    names
}

/// The offline permission check for a built-in API: the name must be one the API publishes as
/// that kind of permission (`oauth2PermissionScopes` for delegated, `appRoles` for application;
/// docs/graph-notes.md §2, §8).
fn check_known_permission(item: &Sp<String>, kind: Kind, api: &KnownApi, diags: &mut Diagnostics) {
    let valid = kind.of(api);
    let name = item.value.as_str();
    if valid.contains(&name) {
        return;
    }
    let span = item.span.clone();
    // Permission values are matched exactly when names become GUIDs in requiredResourceAccess.
    if let Some(exact) = valid.iter().find(|v| v.eq_ignore_ascii_case(name)) {
        diags.push(
            Diagnostic::error(
                format!("{} has no {} `{name}`", api.display_name, kind.noun()),
                span,
            )
            .label("wrong case")
            .help(format!("write `{exact}`")),
        );
        return;
    }
    let complete = COMPLETE_CATALOGS.contains(&api.alias.as_str());
    let other = kind.other();
    if other.of(api).contains(&name) {
        let d = if complete {
            Diagnostic::error(
                format!(
                    "`{name}` is {} of {}, not {}",
                    other.a_noun(),
                    api.display_name,
                    kind.a_noun()
                ),
                span,
            )
        } else {
            Diagnostic::warning(
                format!(
                    "provision knows `{name}` only as {} of {}",
                    other.a_noun(),
                    api.display_name
                ),
                span,
            )
        };
        let also = rules::closest_n(name, valid.iter().copied(), 1);
        let help = match also.first() {
            Some(v) => format!("move it to `{}`, or use the {} `{v}`", other.key(), kind.noun()),
            None => format!("move it to `{}`", other.key()),
        };
        diags.push(d.label(format!("not {}", kind.a_noun())).help(help));
        return;
    }
    let near = rules::closest_n(name, valid.iter().copied(), 3);
    let suggestion = if near.is_empty() {
        None
    } else {
        Some(format!("did you mean {}?", or_list(&near)))
    };
    if complete {
        let help = suggestion.unwrap_or_else(|| {
            if valid.len() <= 8 {
                format!(
                    "the {}s of {} are {}",
                    kind.noun(),
                    api.display_name,
                    backticked(&valid)
                )
            } else {
                format!(
                    "see the {}s of {} with `provision import` or in the portal",
                    kind.noun(),
                    api.display_name
                )
            }
        });
        diags.push(
            Diagnostic::error(
                format!("{} has no {} `{name}`", api.display_name, kind.noun()),
                span,
            )
            .label(format!("unknown {}", kind.noun()))
            .help(help),
        );
    } else {
        diags.push(
            Diagnostic::warning(
                format!(
                    "`{name}` is not among the {} {}s provision knows offline",
                    api.display_name,
                    kind.noun()
                ),
                span,
            )
            .label("checked against the tenant at plan time")
            .help_opt(suggestion),
        );
    }
}

fn build_output(text: &str, o: RawOutput, diags: &mut Diagnostics) -> Option<OutputSpec> {
    let format = match &o.format {
        None => None,
        Some(f) => match f.value.as_str() {
            "json" => Some(OutputFormat::Json),
            "env" => Some(OutputFormat::Env),
            "toml" => Some(OutputFormat::Toml),
            other => {
                let help = match rules::closest(other, ["json", "env", "toml"]) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "use `json`, `env` or `toml`".to_owned(),
                };
                diags.push(
                    Diagnostic::error(format!("unknown `output.format` `{other}`"), f.span.clone())
                        .label("expected `json`, `env` or `toml`")
                        .help(help),
                );
                return None;
            }
        },
    };
    let path = o.path?;
    let p = path.value.as_str();
    let bad = |why: &str| Finding {
        message: if p.is_empty() {
            "`output.path` is empty".to_owned()
        } else {
            format!("`output.path` `{p}` is not a file name")
        },
        label: Some(why.to_owned()),
        help: Some(
            "name the file to write, like `out/app.json` (relative to the manifest's folder)".to_owned(),
        ),
        at: None,
    };
    let last = p.rsplit(['/', '\\']).next().unwrap_or_default();
    let problem = if p.trim().is_empty() {
        Some(bad("empty"))
    } else if p.contains('\0') {
        Some(bad("contains a NUL character"))
    } else if p.ends_with('/') || p.ends_with('\\') {
        Some(bad("ends with a path separator"))
    } else if last == "." || last == ".." {
        Some(bad("names a folder"))
    } else {
        None
    };
    if let Some(f) = problem {
        push(diags, text, f, path.span);
        return None;
    }
    let from_extension = match last.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()) {
        Some(ext) if ext == "json" => Some(OutputFormat::Json),
        Some(ext) if ext == "env" => Some(OutputFormat::Env),
        Some(ext) if ext == "toml" => Some(OutputFormat::Toml),
        _ => None,
    };
    if let (Some(f), Some(format), Some(ext)) = (&o.format, format, from_extension)
        && ext != format
    {
        diags.push(
            Diagnostic::warning(
                format!("`output.path` `{p}` will hold `{}` content", f.value),
                path.span.clone(),
            )
            .label("extension does not match `format`")
            .related(f.span.clone(), "format set here")
            .help("make the extension match the format, so tools that look at it read the file right"),
        );
    }
    Some(OutputSpec {
        path_span: path.span.clone(),
        path: PathBuf::from(p),
        // Without `format`, the file's extension decides, else JSON.
        format: format.or(from_extension).unwrap_or(OutputFormat::Json),
    })
}

fn backticked(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_list(items: &[&str]) -> String {
    let b: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match b.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
