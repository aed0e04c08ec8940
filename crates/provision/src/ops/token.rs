//! `token`: the last step of the portal procedure. Observe (the output file and the manifest,
//! on this machine: which app, which API, which permissions), plan (the authority, the scopes,
//! the flow), execute (sign in as the app and print the token). It writes nothing to the
//! tenant, so it has no guard and no confirmation. Signs in with
//! a device code (or `--browser`: authorization code + PKCE) as the provisioned public client (its client ID, tenant and authority from the
//! output file; the delegated scopes of one API), prints the access token, and with `--verify`
//! checks it as the API would.
//!
//! A manifest is read through the output file its `[output]` names: the IDs come from what apply
//! wrote, not from a tenant read, so no administrator sign-in is needed; the scopes expected in
//! `scp` are the manifest's (so a manifest edited since the last apply shows in the check). An
//! output file (json, toml or env) stands on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::auth::cache::TokenCache;
use crate::auth::entra::{Failure, codes};
use crate::auth::{self, browser, device, verify};
use crate::context::{Context, check_endpoint};
use crate::error::{Error, Result};
use crate::model::{ApiPermission, ApiRef, Desired};

use crate::auth::EMULATOR_CACHE_AUTHORITY;

/// OpenID Connect scopes: sent bare, never in `scp` (`scopes-oidc.md`).
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

use crate::outfile::{ApiEntry as OutApi, Entry as OutEntry};

/// What `provision token` was asked.
#[derive(Debug)]
pub(crate) struct Options {
    /// The manifest (its `[output]` file holds the IDs) or the output file itself.
    pub target: PathBuf,
    /// Which app, by `unique_name`.
    pub app: Option<String>,
    /// Which API, by name, appId or resource URL.
    pub api: Option<String>,
    /// Print the token's header and claims instead of the token.
    pub decode: bool,
    /// Check the token as the API would.
    pub verify: bool,
    /// Sign in in the system browser.
    pub browser: bool,
}

/// Everything the sign-in and the check need.
#[derive(Debug)]
pub(crate) struct Target {
    app: String,
    entry: OutEntry,
    api: OutApi,
    /// Delegated permission values to request (bare, e.g. `Incident.Read`).
    permissions: BTreeSet<String>,
    /// Whether the permissions come from a manifest (for messages).
    manifest: Option<PathBuf>,
    /// The manifest asks for browser sign-in (`sign_in = "browser"`).
    browser: bool,
    /// An app-only token (client credentials as the app, issue 17): the application
    /// permissions `roles` must hold.
    app_only: Option<BTreeSet<String>>,
}

/// The API of an app-only token: the one `--api` names when it has application permissions and
/// no delegated ones, else (without `--api`) the first with application permissions when no API
/// has delegated ones.
fn app_only_api(entry: &OutEntry, wanted: Option<&str>) -> Option<OutApi> {
    match wanted {
        Some(w) => entry
            .apis
            .iter()
            .find(|a| api_matches(a, w) && a.scopes.is_empty() && !a.roles.is_empty())
            .cloned(),
        None if entry.apis.iter().all(|a| a.scopes.is_empty()) => {
            entry.apis.iter().find(|a| !a.roles.is_empty()).cloned()
        }
        None => None,
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let mut err = Error::failure(format!("cannot read `{}`", path.display())).with_source(e);
        err = err.with_help("pass the manifest or the output file `provision apply` wrote");
        err
    })
}

/// The output file's entry for `wanted`, or the only one.
fn pick<'a>(
    entries: &'a BTreeMap<String, OutEntry>,
    wanted: Option<&str>,
    path: &Path,
) -> Result<(String, &'a OutEntry)> {
    let names = || {
        entries
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(w) => {
            let env_key = w.to_ascii_uppercase().replace(['-', '.'], "_");
            entries
                .iter()
                .find(|(k, _)| k.as_str() == w || **k == env_key)
                .map(|(k, e)| (k.clone(), e))
                .ok_or_else(|| {
                    Error::failure(format!("`{}` has no app `{w}`", path.display())).with_help(format!(
                        "it has {}; run `provision apply` if the app is new",
                        names()
                    ))
                })
        }
        None if entries.len() == 1 => Ok(entries
            .iter()
            .next()
            .map(|(k, e)| (k.clone(), e))
            .ok_or_else(|| Error::failure(format!("`{}` names no app", path.display())))?),
        None => Err(Error::failure(format!("`{}` holds several apps", path.display()))
            .with_help(format!("choose one with --app: {}", names()))),
    }
}

fn bare(resource_url: &str, scope: &str) -> String {
    scope
        .strip_prefix(resource_url.trim_end_matches('/'))
        .map(|s| s.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| scope.to_owned())
}

fn api_matches(api: &OutApi, wanted: &str) -> bool {
    [&api.name, &api.app_id, &api.resource_url].iter().any(|v| {
        !v.is_empty()
            && v.trim_end_matches('/')
                .eq_ignore_ascii_case(wanted.trim_end_matches('/'))
    })
}

fn pick_api(entry: &OutEntry, wanted: Option<&str>, printer: &crate::output::Printer) -> Result<OutApi> {
    let with_scopes: Vec<&OutApi> = entry.apis.iter().filter(|a| !a.scopes.is_empty()).collect();
    if let Some(w) = wanted {
        return entry
            .apis
            .iter()
            .find(|a| api_matches(a, w))
            .cloned()
            .ok_or_else(|| {
                Error::failure(format!("the app has no API `{w}`")).with_help(format!(
                    "its APIs: {}",
                    entry
                        .apis
                        .iter()
                        .map(|a| format!("`{}`", a.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
    }
    let first = with_scopes.first().copied().cloned().ok_or_else(|| {
        Error::failure("the app has no delegated permissions, so there is no user token to get")
            .with_help("add `delegated = [...]` to an `[[app.api_permissions]]` and run `provision apply`")
    })?;
    if with_scopes.len() > 1 {
        printer.status(&format!(
            "signing in for `{}`; the app has delegated permissions on {} APIs (--api chooses)",
            first.name,
            with_scopes.len()
        ));
    }
    Ok(first)
}

/// What the manifest's app asks for on `api` (its `[[app.api_permissions]]` entry).
fn manifest_permission<'a>(desired: &'a Desired, app: &str, api: &OutApi) -> Option<&'a ApiPermission> {
    let app = desired
        .apps
        .iter()
        .find(|a| a.unique_name.eq_ignore_ascii_case(app))?;
    app.api_permissions.iter().find(|p| {
        let named = match &p.api {
            ApiRef::Known(id) | ApiRef::AppId(id) => id.eq_ignore_ascii_case(&api.app_id),
            ApiRef::Name(n) => api_matches(api, n),
        };
        named || api_matches(api, &p.api_text)
    })
}

/// Find the app, its API and the permissions to ask for, from the output file (through the
/// manifest when one is named): all on this machine, before any sign-in.
pub(crate) fn target(args: &Options, printer: &crate::output::Printer) -> Result<Target> {
    let path = &args.target;
    let text = read(path)?;
    let is_manifest = path.extension().is_some_and(|e| e == "toml")
        && toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("app"));
    if !is_manifest {
        let entries = crate::outfile::parse(path, &text)?;
        let (app, entry) = pick(&entries, args.app.as_deref(), path)?;
        if let Some(api) = app_only_api(entry, args.api.as_deref()) {
            return Ok(Target {
                app,
                entry: entry.clone(),
                app_only: Some(api.roles.iter().cloned().collect()),
                api,
                permissions: BTreeSet::new(),
                manifest: None,
                browser: false,
            });
        }
        let api = pick_api(entry, args.api.as_deref(), printer)?;
        let permissions = api.scopes.iter().map(|s| bare(&api.resource_url, s)).collect();
        return Ok(Target {
            app,
            entry: entry.clone(),
            api,
            permissions,
            manifest: None,
            browser: false,
            app_only: None,
        });
    }
    let desired = crate::manifest::load_reporting(path, printer)?;
    let Some(output) = &desired.output else {
        return Err(Error::failure(format!(
            "the manifest `{}` has no `[output]`, so there is no file with the app's IDs",
            path.display()
        ))
        .with_help(
            "add `[output]` with `path = \"out/app.json\"` and run `provision apply`, or pass an output file",
        ));
    };
    let out_path = path.parent().unwrap_or(Path::new(".")).join(&output.path);
    let out_text = std::fs::read_to_string(&out_path).map_err(|e| {
        Error::failure(format!("cannot read the output file `{}`", out_path.display()))
            .with_source(e)
            .with_help(format!("run `provision apply {}` first", path.display()))
    })?;
    let entries = crate::outfile::parse(&out_path, &out_text)?;
    let wanted = match (&args.app, desired.apps.as_slice()) {
        (Some(a), _) => Some(a.clone()),
        (None, [only]) => Some(only.unique_name.clone()),
        (None, _) => None,
    };
    let (app, entry) = pick(&entries, wanted.as_deref(), &out_path).map_err(|e| match &args.app {
        None if desired.apps.len() == 1 => e.with_help(format!(
            "the output file has no entry for `{}`: run `provision apply {}` first",
            desired.apps[0].unique_name,
            path.display()
        )),
        _ => e,
    })?;
    if let Some(api) = app_only_api(entry, args.api.as_deref()) {
        let roles = manifest_permission(&desired, &app, &api)
            .map(|p| p.application.clone())
            .unwrap_or_else(|| api.roles.iter().cloned().collect());
        return Ok(Target {
            app,
            entry: entry.clone(),
            api,
            permissions: BTreeSet::new(),
            manifest: Some(path.clone()),
            browser: false,
            app_only: Some(roles),
        });
    }
    let api = pick_api(entry, args.api.as_deref(), printer)?;
    let permissions = manifest_permission(&desired, &app, &api)
        .map(|p| p.delegated.clone())
        .unwrap_or_else(|| api.scopes.iter().map(|s| bare(&api.resource_url, s)).collect());
    let browser = desired
        .apps
        .iter()
        .find(|a| a.unique_name.eq_ignore_ascii_case(&app))
        .and_then(|a| a.public_client.as_ref())
        .is_some_and(|pc| pc.browser_sign_in);
    Ok(Target {
        browser,
        app,
        entry: entry.clone(),
        api,
        permissions,
        manifest: Some(path.clone()),
        app_only: None,
    })
}

/// `--format json`: `format_version` first.
#[derive(Serialize)]
struct Document<'a> {
    format_version: &'static str,
    app: &'a str,
    client_id: &'a str,
    tenant_id: &'a str,
    resource: &'a str,
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification: Option<&'a verify::Report>,
}

/// Sign in as the app of `t` and print its token (checked with `--verify`).
pub(crate) async fn run(ctx: &Context, args: &Options, t: &Target) -> Result<i32> {
    let tenant_id = t.entry.tenant_id.as_str();
    let authority = if ctx.emulator.is_some() {
        let emulator_tenant = ctx.tenant.as_deref().unwrap_or_default();
        if !emulator_tenant.eq_ignore_ascii_case(tenant_id) {
            return Err(Error::failure(format!(
                "the output file is for tenant `{tenant_id}`, the emulator's tenant is `{emulator_tenant}`"
            ))
            .with_help("run `provision apply MANIFEST --emulator` first, with the same --emulator-state"));
        }
        ctx.endpoints.authority_url.clone()
    } else if ctx.authority_overridden {
        ctx.endpoints.authority_url.clone()
    } else {
        t.entry
            .authority
            .trim_end_matches('/')
            .strip_suffix(&format!("/{tenant_id}"))
            .unwrap_or(&t.entry.authority)
            .to_owned()
    };
    check_endpoint("the authority URL", &authority)?;
    let resource = t.api.resource_url.trim_end_matches('/');
    if let Some(roles) = &t.app_only {
        let token = app_only_token(ctx, t, &authority, resource).await?;
        return finish(
            ctx,
            args,
            t,
            &authority,
            resource,
            token.secret(),
            Some(roles.clone()),
        )
        .await;
    }
    let scopes: Vec<String> = t
        .permissions
        .iter()
        .map(|p| {
            if OIDC_SCOPES.contains(&p.as_str()) {
                p.clone()
            } else {
                format!("{resource}/{p}")
            }
        })
        .collect();
    let cache = TokenCache::default_location().ok();
    ctx.printer.verbose(&format!(
        "signing in as app `{}` (client {}) to tenant {tenant_id} at {authority} for {}",
        t.app,
        t.entry.client_id,
        scopes.join(" ")
    ));
    let request = device::Request {
        authority_url: &authority,
        tenant: tenant_id,
        client_id: &t.entry.client_id,
        scopes: scopes.clone(),
        http: &ctx.http,
        printer: &ctx.printer,
        cache: cache.as_ref(),
        cache_as: if ctx.emulator.is_some() {
            EMULATOR_CACHE_AUTHORITY
        } else {
            &authority
        },
        prompt: true,
    };
    let use_browser = args.browser || t.browser;
    let result = if use_browser {
        check_loopback_redirect(t)?;
        browser::acquire(&request, browser::timeout()).await
    } else {
        device::acquire(&request).await
    };
    let token = result.map_err(|f| sign_in_error(f, t, &authority, use_browser))?;
    ctx.printer.verbose(&format!("signed in ({})", token.how));
    finish(ctx, args, t, &authority, resource, token.secret(), None).await
}

/// Client credentials as the app, with the password value the output file holds, else its
/// certificate (`scope = {resource}/.default`).
async fn app_only_token(
    ctx: &Context,
    t: &Target,
    authority: &str,
    resource: &str,
) -> Result<crate::auth::GraphToken> {
    let scope = format!("{resource}/.default");
    let secret = t
        .entry
        .passwords
        .iter()
        .find_map(|p| p.secret.as_ref().map(|s| s.expose()));
    let cert = t.entry.certificates.iter().find_map(|c| c.path.as_deref());
    let credential = match (secret, cert) {
        (Some(s), _) => auth::AppCredential::Secret(s),
        (None, Some(p)) => auth::AppCredential::CertificatePath(Path::new(p)),
        (None, None) => {
            return Err(Error::failure(format!(
                "app `{}` has only application permissions, and the output file holds no credential to sign in as it",
                t.app
            ))
            .with_help(
                "add `[[app.passwords]]` or `[[app.certificates]]` with `generate = true` to the manifest and run `provision apply`",
            ));
        }
    };
    ctx.printer.verbose(&format!(
        "signing in as app `{}` (client {}) with {} for {scope}",
        t.app,
        t.entry.client_id,
        match credential {
            auth::AppCredential::Secret(_) => "its password",
            auth::AppCredential::CertificatePath(_) => "its certificate",
        }
    ));
    auth::app_token(
        &ctx.http,
        &ctx.printer,
        authority,
        &t.entry.tenant_id,
        &t.entry.client_id,
        &scope,
        credential,
    )
    .await
}

/// Verify (when asked), then print the token.
async fn finish(
    ctx: &Context,
    args: &Options,
    t: &Target,
    authority: &str,
    resource: &str,
    access_token: &str,
    roles: Option<BTreeSet<String>>,
) -> Result<i32> {
    let tenant_id = t.entry.tenant_id.as_str();
    let authority = authority.to_owned();
    let report = if args.verify {
        let expected = verify::Expected {
            roles,
            tenant_id: tenant_id.to_owned(),
            client_id: t.entry.client_id.clone(),
            audiences: [resource.to_owned(), t.api.app_id.clone()]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect(),
            scopes: t
                .permissions
                .iter()
                .filter(|p| !OIDC_SCOPES.contains(&p.as_str()))
                .cloned()
                .collect(),
        };
        let report = verify::verify(
            &ctx.http,
            &authority,
            access_token,
            &expected,
            chrono::Utc::now().timestamp(),
        )
        .await?;
        if !report.ok() {
            let wrong: Vec<String> = report
                .failures()
                .iter()
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            let mut e = Error::auth(format!(
                "the access token for app `{}` failed verification: {}",
                t.app,
                wrong.join("; ")
            ));
            if report.failures().iter().any(|c| c.name == "roles") {
                e = e.with_help(format!(
                    "grant the application permissions (app role assignments), e.g. with `provision apply` and `grant = \"admin\"`, or at {}",
                    crate::render::admin_consent_url(&authority, tenant_id, &t.entry.client_id)
                ));
            }
            if report.failures().iter().any(|c| c.name == "scp") {
                e = e.with_help(format!(
                    "grant consent for the missing permissions ({}), e.g. with `provision apply` and `grant = \"admin\"`",
                    crate::render::admin_consent_url(&authority, tenant_id, &t.entry.client_id)
                ));
            }
            return Err(e);
        }
        Some(report)
    } else {
        None
    };

    let header = args
        .decode
        .then(|| auth::unverified_header(access_token))
        .flatten();
    let claims = args
        .decode
        .then(|| auth::unverified_claims(access_token))
        .flatten();
    if let Some(report) = &report {
        for c in &report.checks {
            ctx.printer.status(&format!("verified {}: {}", c.name, c.detail));
        }
    }
    let decoded = args
        .decode
        .then(|| serde_json::json!({ "header": header, "claims": claims }));
    let doc = Document {
        format_version: crate::render::FORMAT_VERSION,
        app: &t.app,
        client_id: &t.entry.client_id,
        tenant_id,
        resource,
        access_token,
        header,
        claims,
        verification: report.as_ref(),
    };
    // In text: the decoded token, or the token alone (for `$(provision token …)`).
    ctx.printer.result(&doc, || match &decoded {
        Some(d) => serde_json::to_string_pretty(d).unwrap_or_default() + "\n",
        None => format!("{access_token}\n"),
    })?;
    Ok(0)
}

fn manifest_name(t: &Target) -> String {
    t.manifest
        .as_ref()
        .map(|m| format!("`{}`", m.display()))
        .unwrap_or_else(|| "the manifest".to_owned())
}

/// Entra refuses a browser sign-in whose redirect URI the app does not have (AADSTS50011, on
/// its error page, so the tool would only see a timeout): when the output file lists the app's
/// redirect URIs and none is a loopback one, say so before opening the browser.
fn check_loopback_redirect(t: &Target) -> Result<()> {
    if t.entry.redirect_uris.is_empty()
        || t.entry
            .redirect_uris
            .iter()
            .any(|u| browser::is_loopback_redirect(u))
    {
        return Ok(());
    }
    Err(Error::auth(format!(
        "app `{}` has no loopback redirect URI, so Entra would refuse its browser sign-in (AADSTS50011)",
        t.app
    ))
    .with_help(format!(
        "add `{}` to `redirect_uris` under `[app.public_client]` in {} and run `provision apply`; or sign in without --browser (device code)",
        browser::LOOPBACK_REDIRECT_URI,
        manifest_name(t)
    )))
}

/// Sign-in refusals explained in the manifest's terms.
fn sign_in_error(f: Failure, t: &Target, authority: &str, browser: bool) -> Error {
    let requested: Vec<String> = t
        .permissions
        .iter()
        .filter(|p| !OIDC_SCOPES.contains(&p.as_str()))
        .map(|p| format!("`{p}`"))
        .collect();
    let consent_url = crate::render::admin_consent_url(authority, &t.entry.tenant_id, &t.entry.client_id);
    if let Failure::Refused(r) = &f {
        match r.aadsts {
            Some(codes::CONSENT_REQUIRED) => {
                return Error::auth(format!(
                    "app `{}` has no consent for {} on `{}` (AADSTS65001)",
                    t.app,
                    requested.join(", "),
                    t.api.name
                ))
                .with_help(format!(
                    "an administrator grants it at {consent_url}; or set `grant = \"admin\"` under `[app.consent]` and run `provision apply`"
                ));
            }
            Some(codes::CREDENTIAL_REQUIRED) => {
                return Error::auth(format!(
                    "app `{}` is not a public client, so Entra refuses its device-code sign-in (AADSTS7000218)",
                    t.app
                ))
                .with_help(format!(
                    "set `allow_public_client_flows = true` under `[app.public_client]` in {} and run `provision apply`",
                    manifest_name(t)
                ));
            }
            Some(codes::CONDITIONAL_ACCESS) => {
                return Error::auth(format!(
                    "a Conditional Access policy blocked the {} sign-in as app `{}` (AADSTS53003)",
                    if browser { "browser" } else { "device code" },
                    t.app
                ))
                .with_help(if browser {
                    "try the device code sign-in (without --browser) from an allowed device or network, or ask an administrator which sign-in the policy allows"
                } else {
                    "try `provision token --browser` (policies often block device code; the app needs the redirect URI http://localhost), or ask an administrator which sign-in the policy allows"
                });
            }
            Some(codes::DECLINED) if browser => {
                return Error::auth(format!(
                    "the sign-in as app `{}` was cancelled or declined in the browser (AADSTS65004)",
                    t.app
                ))
                .with_help("run the command again and accept the sign-in and the permissions");
            }
            Some(codes::UNKNOWN_CLIENT) => {
                return Error::auth(format!(
                    "app `{}` (client `{}`) does not exist in tenant `{}` (AADSTS700016)",
                    t.app, t.entry.client_id, t.entry.tenant_id
                ))
                .with_help(
                    "run `provision apply` for the manifest; the output file may be from another tenant",
                );
            }
            _ => {}
        }
    }
    f.into_error(&format!("app `{}`", t.app), |_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_output_files_are_read_back() {
        let text = "MTP_API_CLIENT_AZURE_TENANT_ID='t-1'\nMTP_API_CLIENT_AZURE_CLIENT_ID='c-1'\n\
                    MTP_API_CLIENT_AZURE_AUTHORITY_HOST='https://login.microsoftonline.com'\n\
                    MTP_API_CLIENT_RESOURCE_URL='https://api.security.microsoft.com'\n\
                    MTP_API_CLIENT_SCOPES='https://api.security.microsoft.com/Incident.Read'\n\
                    B_AZURE_CLIENT_ID='it'\\''s'\n";
        let entries = crate::outfile::env_entries(text);
        let e = &entries["MTP_API_CLIENT"];
        assert_eq!(e.client_id, "c-1");
        assert_eq!(e.authority, "https://login.microsoftonline.com/t-1");
        assert_eq!(
            bare(&e.apis[0].resource_url, &e.apis[0].scopes[0]),
            "Incident.Read"
        );
        assert_eq!(entries["B"].client_id, "it's");
        let (name, _) = pick(&entries, Some("mtp-api-client"), Path::new("x.env")).unwrap();
        assert_eq!(name, "MTP_API_CLIENT");
        assert!(pick(&entries, None, Path::new("x.env")).is_err());
    }
}
