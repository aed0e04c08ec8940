//! Delegated sign-in with the device authorization grant (`v2-oauth2-device-code.md`), for a
//! public client: the administrator's sign-in to Graph (`--auth device-code`) and `provision
//! token`'s sign-in as the provisioned app. A cached refresh token is redeemed first, so a
//! second command does not prompt; a refresh token Entra no longer accepts (`invalid_grant`) is
//! dropped and the user is asked to sign in again.
//!
//! The oauth2 crate runs the flow: it polls at the `interval` Entra gives, adds 5 s on
//! `slow_down` (RFC 8628) and stops on any other error (`authorization_declined`,
//! `expired_token`, `bad_verification_code`; docs/graph-notes.md §7 and §11.5).

use oauth2::StandardDeviceAuthorizationResponse;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, DeviceAuthorizationUrl, RefreshToken, Scope, TokenResponse, TokenUrl};

use super::cache::{Entry, TokenCache};
use super::entra::{Failure, Refusal};
use crate::error::Error;
use crate::output::Printer;

/// Who signs in, where, for what.
pub struct Request<'a> {
    /// e.g. `https://login.microsoftonline.com`
    pub authority_url: &'a str,
    /// A tenant GUID or domain, or `organizations`.
    pub tenant: &'a str,
    pub client_id: &'a str,
    /// Full scope strings (`https://api.security.microsoft.com/Incident.Read`) and OpenID
    /// scopes; `offline_access` is added so a refresh token comes back for the cache.
    pub scopes: Vec<String>,
    pub http: &'a reqwest::Client,
    pub printer: &'a Printer,
    pub cache: Option<&'a TokenCache>,
    /// The authority under which the sign-in is cached: `authority_url`, except for the
    /// in-process emulator, whose port changes on every run while its tenant stays.
    pub cache_as: &'a str,
    /// Whether the user may be asked to enter a code; without it only the cache is tried.
    pub prompt: bool,
}

/// A delegated access token.
pub struct Delegated {
    pub(super) access_token: String,
    /// `device code`, `browser` or `cached sign-in`, for `-v`.
    pub how: &'static str,
}

impl Delegated {
    pub fn secret(&self) -> &str {
        &self.access_token
    }
}

impl std::fmt::Debug for Delegated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegated")
            .field("how", &self.how)
            .finish_non_exhaustive()
    }
}

pub(super) fn endpoint(authority: &str, tenant: &str, path: &str) -> String {
    format!(
        "{}/{}/oauth2/v2.0/{path}",
        authority.trim_end_matches('/'),
        tenant
    )
}

pub(super) fn scopes_with_offline_access(scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = scopes.to_vec();
    if !out.iter().any(|s| s == "offline_access") {
        out.push("offline_access".to_owned());
    }
    out
}

/// The token and device authorization endpoints of a request, as an oauth2 client.
fn client(r: &Request<'_>) -> Result<Endpoints, Failure> {
    let token_url = TokenUrl::new(endpoint(r.authority_url, r.tenant, "token"))
        .map_err(|e| Failure::Transport(Error::failure("invalid token endpoint").with_source(e)))?;
    let device_url = DeviceAuthorizationUrl::new(endpoint(r.authority_url, r.tenant, "devicecode"))
        .map_err(|e| Failure::Transport(Error::failure("invalid device code endpoint").with_source(e)))?;
    Ok(BasicClient::new(ClientId::new(r.client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url)
        .set_device_authorization_url(device_url))
}

type Endpoints = BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The cached sign-in of this authority, tenant and client, redeemed: `None` when there is
/// none, or when Entra no longer accepts it (it is then dropped). Shared by the device code and
/// the browser sign-in: one refresh token serves both.
pub async fn cached(r: &Request<'_>) -> Result<Option<Delegated>, Failure> {
    let Some(cache) = r.cache else {
        return Ok(None);
    };
    let Some(entry) = cache.get(r.cache_as, r.tenant, r.client_id) else {
        return Ok(None);
    };
    let client = client(r)?;
    let scopes = scopes_with_offline_access(&r.scopes);
    r.printer.verbose(&format!(
        "sign-in: redeeming the cached sign-in of client {}",
        r.client_id
    ));
    let result = client
        .exchange_refresh_token(&RefreshToken::new(entry.refresh_token.clone()))
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .request_async(&crate::trace::OAuthHttp(r.http))
        .await;
    match result {
        Ok(response) => {
            let access = response.access_token().secret().to_owned();
            let refresh = response.refresh_token().map(|t| t.secret().to_owned());
            remember(r, cache, &access, refresh.unwrap_or(entry.refresh_token));
            Ok(Some(Delegated {
                access_token: access,
                how: "cached sign-in",
            }))
        }
        Err(e) => match Failure::from_oauth(e) {
            Failure::Refused(refusal) if refusal.needs_new_sign_in() => {
                r.printer.verbose(&format!(
                    "sign-in: the cached sign-in is no longer valid ({}); signing in again",
                    refusal
                ));
                if let Err(e) = cache.remove(r.cache_as, r.tenant, r.client_id) {
                    r.printer.warn(&e.message);
                }
                Ok(None)
            }
            other => Err(other),
        },
    }
}

/// Sign in: the cached refresh token if there is one, else the device code (when allowed).
pub async fn acquire(r: &Request<'_>) -> Result<Delegated, Failure> {
    if let Some(token) = cached(r).await? {
        return Ok(token);
    }
    let client = client(r)?;
    let scopes = scopes_with_offline_access(&r.scopes);

    if !r.prompt {
        return Err(Failure::Transport(
            Error::auth("signing in with a device code needs a terminal, and no cached sign-in was found")
                .with_help("run the command in a terminal once, or choose another --auth"),
        ));
    }

    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .request_async(&crate::trace::OAuthHttp(r.http))
        .await
        .map_err(Failure::from_oauth)?;
    let minutes = details.expires_in().as_secs().div_ceil(60);
    r.printer.status(&format!(
        "To sign in, open {} and enter the code {} (valid {minutes} minutes).",
        details.verification_uri().as_str(),
        details.user_code().secret()
    ));
    let response = client
        .exchange_device_access_token(&details)
        .request_async(&crate::trace::OAuthHttp(r.http), tokio::time::sleep, None)
        .await
        .map_err(|e| match Failure::from_oauth(e) {
            // The crate reports its own timeout as `expired_token` without an AADSTS code.
            Failure::Refused(refusal) if refusal.error == "expired_token" && refusal.aadsts.is_none() => {
                Failure::Refused(Refusal::new(
                    "expired_token",
                    Some("AADSTS70019: Verification code expired."),
                ))
            }
            other => other,
        })?;
    let access = response.access_token().secret().to_owned();
    if let (Some(cache), Some(refresh)) = (r.cache, response.refresh_token()) {
        remember(r, cache, &access, refresh.secret().to_owned());
    }
    Ok(Delegated {
        access_token: access,
        how: "device code",
    })
}

pub(super) fn remember(r: &Request<'_>, cache: &TokenCache, access: &str, refresh_token: String) {
    let claims = super::unverified_claims(access);
    let text = |k: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let entry = Entry {
        authority: r.cache_as.trim_end_matches('/').to_owned(),
        tenant: r.tenant.to_owned(),
        client_id: r.client_id.to_owned(),
        tenant_id: text("tid").unwrap_or_default(),
        account: text("upn").or_else(|| text("preferred_username")),
        refresh_token,
        saved_at: chrono::Utc::now(),
    };
    // A cache that cannot be written costs a prompt next time, not this command.
    if let Err(e) = cache.put(&entry) {
        r.printer
            .warn(&format!("{}: the sign-in will not be remembered", e.message));
    }
}
