//! The authorization code flow with PKCE as Entra runs it (`v2-oauth2-auth-code-flow.md`): the
//! checks of an `/authorize` request, the sign-in transactions the pages carry forward (also
//! for the device login page), consent, the authorization codes and their redemption at the
//! token endpoint. Pure apart from drawing random values: the caller passes the clock and the
//! tenant.
//!
//! What Entra enforces and the emulator copies:
//! - the redirect URI must be one registered on the app (`publicClient` or `web`); for the
//!   loopback hosts `localhost`, `127.0.0.1` and `[::1]` over `http` the port is ignored
//!   (`reply-url.md`, "Localhost exceptions"); a mismatch is AADSTS50011 on an error page, never
//!   a redirect to the unregistered URI;
//! - codes live 10 minutes ("Authorization codes are short lived, typically they expire after
//!   about 10 minutes", `v2-oauth2-auth-code-flow.md`), are redeemed once (AADSTS54005), by the
//!   client and with the redirect URI they were issued for (AADSTS500112);
//! - a `code_challenge` (`S256` or `plain`) must be matched by the `code_verifier`
//!   (AADSTS501481).

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde_json::Value;
use sha2::Digest as _;

use super::error::OAuthError;
use super::scope::Scopes;
use super::signin::{Context, consented_scopes, resource_service_principal};
use crate::store::{Entity, Tenant, as_object};

/// Lifetime of an authorization code.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// Lifetime of a sign-in transaction (the pages between `/authorize` and the redirect).
pub const FLOW_LIFETIME_SECS: i64 = 3600;

/// An `/authorize` request, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub tenant_segment: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    /// `response_mode=form_post`: the answer is a form posted to the redirect URI (MSAL
    /// Python's choice) instead of a redirect with a query (`query`, the default for `code`).
    pub form_post: bool,
}

/// What a sign-in transaction is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Authorize(AuthRequest),
    /// The device login page, for the pending device code with this user code.
    Device {
        user_code: String,
        client_id: String,
        scope: String,
    },
}

impl Purpose {
    pub fn client_id(&self) -> &str {
        match self {
            Purpose::Authorize(r) => &r.client_id,
            Purpose::Device { client_id, .. } => client_id,
        }
    }
    pub fn scope(&self) -> &str {
        match self {
            Purpose::Authorize(r) => &r.scope,
            Purpose::Device { scope, .. } => scope,
        }
    }
}

/// One sign-in in progress, carried from page to page by its `flowToken`.
#[derive(Debug, Clone)]
pub struct Flow {
    pub purpose: Purpose,
    /// The user, once the password was checked.
    pub user_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
struct Code {
    request: AuthRequest,
    user_id: String,
    expires_at: DateTime<Utc>,
    redeemed: bool,
}

/// What a redeemed code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: String,
    pub scope: String,
    /// The `nonce` of the request, for the id token (OpenID Connect Core §3.1.3.6).
    pub nonce: Option<String>,
    /// Whether the redirect URI is a `publicClient` one: the client then proves nothing.
    pub public: bool,
}

/// Sign-in transactions and authorization codes since start.
#[derive(Debug, Default)]
pub struct Authorizations {
    flows: HashMap<String, Flow>,
    codes: HashMap<String, Code>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl Authorizations {
    /// Starts a sign-in transaction; returns its `flowToken`.
    pub fn start(&mut self, purpose: Purpose, now: DateTime<Utc>) -> String {
        self.prune(now);
        let token = random_token(32);
        self.flows.insert(
            token.clone(),
            Flow {
                purpose,
                user_id: None,
                expires_at: now + chrono::Duration::seconds(FLOW_LIFETIME_SECS),
            },
        );
        token
    }

    /// The transaction of a `flowToken`, while it lasts.
    pub fn flow(&self, token: &str, now: DateTime<Utc>) -> Option<&Flow> {
        self.flows.get(token).filter(|f| f.expires_at > now)
    }

    pub fn signed_in(&mut self, token: &str, user_id: &str) {
        if let Some(f) = self.flows.get_mut(token) {
            f.user_id = Some(user_id.to_owned());
        }
    }

    /// Ends a transaction (after the redirect or the device decision).
    pub fn finish(&mut self, token: &str) -> Option<Flow> {
        self.flows.remove(token)
    }

    /// Issues a code for a finished `/authorize` transaction.
    pub fn issue_code(&mut self, request: &AuthRequest, user_id: &str, now: DateTime<Utc>) -> String {
        let code = random_token(48);
        self.codes.insert(
            code.clone(),
            Code {
                request: request.clone(),
                user_id: user_id.to_owned(),
                expires_at: now + chrono::Duration::seconds(CODE_LIFETIME_SECS),
                redeemed: false,
            },
        );
        code
    }

    /// `grant_type=authorization_code`: the code, for this client, with the redirect URI and
    /// verifier of its request. A code is spent by its first redemption, also a failed one
    /// past the lookup (as Entra: a code is single-use).
    pub fn redeem(
        &mut self,
        code: &str,
        client: &Entity,
        redirect_uri: &str,
        verifier: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Redeemed, OAuthError> {
        let entry = self.codes.get_mut(code).ok_or_else(OAuthError::invalid_code)?;
        if entry.redeemed {
            return Err(OAuthError::code_redeemed());
        }
        if now >= entry.expires_at {
            return Err(OAuthError::code_expired());
        }
        if !entry.request.client_id.eq_ignore_ascii_case(client.app_id()) {
            return Err(OAuthError::invalid_code());
        }
        entry.redeemed = true;
        if entry.request.redirect_uri != redirect_uri {
            return Err(OAuthError::redirect_uri_differs(
                redirect_uri,
                &entry.request.redirect_uri,
            ));
        }
        if let Some(challenge) = &entry.request.code_challenge {
            let verifier = verifier.unwrap_or_default();
            let computed = if entry.request.code_challenge_method == "plain" {
                verifier.to_owned()
            } else {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()))
            };
            if verifier.is_empty() || computed != *challenge {
                return Err(OAuthError::code_verifier_mismatch());
            }
        }
        Ok(Redeemed {
            user_id: entry.user_id.clone(),
            scope: entry.request.scope.clone(),
            nonce: entry.request.nonce.clone(),
            public: registered(public_redirect_uris(client), redirect_uri),
        })
    }

    /// Forgets expired transactions and codes, so the tables do not grow forever.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.flows.retain(|_, f| f.expires_at > now);
        self.codes
            .retain(|_, c| now - c.expires_at < chrono::Duration::hours(1));
    }
}

// ---- the /authorize request ----------------------------------------------------------------

/// Why an `/authorize` request cannot go on: shown on Entra's error page (the redirect URI is not
/// trusted yet), or sent back to the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Page(OAuthError),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        form_post: bool,
        error: OAuthError,
    },
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn public_redirect_uris(app: &Entity) -> Vec<&str> {
    strings(app.data.get("publicClient").and_then(|p| p.get("redirectUris")))
}

fn web_redirect_uris(app: &Entity) -> Vec<&str> {
    strings(app.data.get("web").and_then(|p| p.get("redirectUris")))
}

fn is_loopback(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// Whether `requested` matches one of `registered`: exactly, or for a loopback URI with any
/// port (the path still has to match; `http://localhost` and `http://localhost/` are one).
pub fn registered(registered: Vec<&str>, requested: &str) -> bool {
    let Ok(req) = url::Url::parse(requested) else {
        return false;
    };
    registered.iter().any(|r| {
        if *r == requested {
            return true;
        }
        let Ok(reg) = url::Url::parse(r) else {
            return false;
        };
        is_loopback(&req)
            && is_loopback(&reg)
            && reg.host() == req.host()
            && reg.path() == req.path()
            && reg.query() == req.query()
    })
}

/// Checks an `/authorize` request in Entra's order: tenant, client, redirect URI (errors on the
/// page), then response type, PKCE and scope (errors sent to the redirect URI).
pub fn check_request(
    tenant: &Tenant,
    tenant_segment: &str,
    params: &HashMap<String, String>,
) -> Result<AuthRequest, Refused> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let route = super::signin::resolve_tenant(tenant, tenant_segment).map_err(Refused::Page)?;
    let client_id =
        get("client_id").ok_or_else(|| Refused::Page(OAuthError::missing_parameter("client_id")))?;
    let app = tenant
        .client_application(client_id)
        .ok_or_else(|| Refused::Page(OAuthError::unknown_client(client_id, tenant.tenant_id())))?;
    super::signin::check_app_audience(app, route).map_err(Refused::Page)?;
    let redirect_uri =
        get("redirect_uri").ok_or_else(|| Refused::Page(OAuthError::missing_parameter("redirect_uri")))?;
    let mut all = public_redirect_uris(app);
    all.extend(web_redirect_uris(app));
    if !registered(all, redirect_uri) {
        return Err(Refused::Page(OAuthError::redirect_uri_not_registered(
            redirect_uri,
            app.app_id(),
        )));
    }
    let state = get("state").map(str::to_owned);
    let form_post = get("response_mode") == Some("form_post");
    let back = |error: OAuthError| Refused::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        form_post,
        error,
    };
    if let Some(mode) = get("response_mode").filter(|m| !matches!(*m, "query" | "form_post")) {
        return Err(back(OAuthError::unsupported_response_mode(mode)));
    }
    match get("response_type") {
        Some("code") => {}
        Some(other) => return Err(back(OAuthError::unsupported_response_type(other))),
        None => return Err(back(OAuthError::missing_parameter("response_type"))),
    }
    let method = get("code_challenge_method").unwrap_or("plain");
    let code_challenge = get("code_challenge").map(str::to_owned);
    if code_challenge.is_some() && !matches!(method, "S256" | "plain") {
        return Err(back(OAuthError::invalid_code_challenge_method(method)));
    }
    let scope = get("scope").ok_or_else(|| back(OAuthError::missing_parameter("scope")))?;
    Scopes::parse(scope).map_err(back)?;
    Ok(AuthRequest {
        tenant_segment: tenant_segment.to_owned(),
        client_id: app.app_id().to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state,
        code_challenge,
        code_challenge_method: method.to_owned(),
        nonce: get("nonce").map(str::to_owned),
        form_post,
    })
}

// ---- consent ---------------------------------------------------------------------------------

/// One permission a consent page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub value: String,
    /// `adminConsentDisplayName` for an administrator (Entra shows it on the admin's prompt).
    pub display_name: String,
    pub description: String,
}

/// What the consent page asks about: the client, the resource and the permissions the user has
/// not consented to yet (empty: nothing to ask).
#[derive(Debug, Clone)]
pub struct ConsentNeed {
    pub client_name: String,
    pub resource_name: String,
    pub missing: Vec<Permission>,
}

/// The permissions of `scope` that `user_id` has not consented to for `client_id`.
pub fn consent_need(
    ctx: &Context<'_>,
    client: &Entity,
    scope: &str,
    user_id: &str,
) -> Result<ConsentNeed, OAuthError> {
    let scopes = Scopes::parse(scope)?;
    let mut need = ConsentNeed {
        client_name: client.str("displayName").to_owned(),
        resource_name: String::new(),
        missing: Vec::new(),
    };
    let Some(resource) = scopes.resource.as_deref() else {
        return Ok(need);
    };
    let resource_sp = resource_service_principal(ctx, resource)?;
    need.resource_name = resource_sp.str("displayName").to_owned();
    let granted = ctx
        .tenant
        .service_principal_by_app_id(client.app_id())
        .map(|sp| consented_scopes(ctx.tenant, sp, resource_sp, user_id))
        .unwrap_or_default();
    let published: Vec<&Value> = resource_sp.data["oauth2PermissionScopes"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let wanted: Vec<String> = if scopes.default {
        // `.default`: the permissions the app registration lists for this resource.
        client.data["requiredResourceAccess"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["resourceAppId"].as_str() == Some(resource_sp.app_id()))
            .flat_map(|r| r["resourceAccess"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["type"] == "Scope")
            .filter_map(|a| {
                let id = a["id"].as_str()?;
                published
                    .iter()
                    .find(|p| p["id"].as_str() == Some(id))
                    .and_then(|p| p["value"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    } else {
        scopes.values.clone()
    };
    for value in wanted {
        if granted.iter().any(|g| g.eq_ignore_ascii_case(&value)) {
            continue;
        }
        let p = published.iter().find(|p| {
            p["value"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case(&value))
        });
        let text = |k: &str| {
            p.and_then(|p| p[k].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        need.missing.push(Permission {
            display_name: text("adminConsentDisplayName").unwrap_or_else(|| value.clone()),
            description: text("adminConsentDescription").unwrap_or_default(),
            value,
        });
    }
    Ok(need)
}

/// Records the user's consent: the client's service principal when the tenant has none yet, and
/// a delegated permission grant for the user (`Principal`) or, when an administrator consents
/// on behalf of the organization, for everyone (`AllPrincipals`), merged into an existing one.
/// Written by the sign-in service itself, so visible at once (no replication window).
pub fn record_consent(
    tenant: &mut Tenant,
    origin: &str,
    client_id: &str,
    scope: &str,
    user_id: &str,
    for_organization: bool,
) -> Result<(), String> {
    let scopes = Scopes::parse(scope).map_err(|e| e.text)?;
    let Some(resource) = scopes.resource.clone() else {
        return Ok(());
    };
    let lookup = if super::signin::emulator_audiences(origin)
        .iter()
        .any(|a| super::scope::same_resource(&resource, a))
    {
        super::scope::GRAPH_RESOURCE.to_owned()
    } else {
        resource.clone()
    };
    let resource_sp_id = tenant
        .service_principal_by_name(&lookup)
        .map(|sp| sp.id().to_owned())
        .ok_or_else(|| format!("no service principal for `{resource}`"))?;
    let wanted = scopes.values.clone();
    if tenant.service_principal_by_app_id(client_id).is_none() {
        tenant
            .create_service_principal(as_object(serde_json::json!({ "appId": client_id })))
            .map_err(|e| e.message)?;
        if let Some(sp) = tenant.service_principals.last_mut() {
            sp.created_ms = 0;
        }
    }
    let client_sp_id = tenant
        .service_principal_by_app_id(client_id)
        .map(|sp| sp.id().to_owned())
        .ok_or_else(|| "no service principal for the client".to_owned())?;
    let principal = (!for_organization).then(|| user_id.to_owned());
    let id = crate::store::grants::grant_id(&client_sp_id, &resource_sp_id, principal.as_deref())
        .ok_or_else(|| "invalid object ids".to_owned())?;
    match tenant.grants.iter().find(|g| g.id() == id) {
        Some(existing) => {
            let mut values: Vec<String> = existing
                .str("scope")
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for w in wanted {
                if !values.iter().any(|v| v.eq_ignore_ascii_case(&w)) {
                    values.push(w);
                }
            }
            tenant
                .update_grant(&id, as_object(serde_json::json!({ "scope": values.join(" ") })))
                .map_err(|e| e.message)
        }
        None => {
            let body = serde_json::json!({
                "clientId": client_sp_id,
                "consentType": if for_organization { "AllPrincipals" } else { "Principal" },
                "principalId": principal,
                "resourceId": resource_sp_id,
                "scope": wanted.join(" "),
            });
            let mut body = as_object(body);
            if for_organization {
                body.remove("principalId");
            }
            tenant.create_grant(body).map_err(|e| e.message)?;
            if let Some(g) = tenant.grants.last_mut() {
                g.created_ms = 0;
            }
            Ok(())
        }
    }
}

// ---- Entra's answers -------------------------------------------------------------------------

impl OAuthError {
    fn entra(status: u16, error: &'static str, code: u32, text: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            code,
            text: text.into(),
        }
    }

    /// AADSTS50011: the redirect URI is not registered on the app (shown on the error page).
    pub fn redirect_uri_not_registered(redirect_uri: &str, client_id: &str) -> Self {
        Self::entra(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        )
    }

    /// AADSTS700054: a `response_type` the app is not enabled for (only `code` is served).
    pub fn unsupported_response_type(response_type: &str) -> Self {
        Self::entra(
            400,
            "unsupported_response_type",
            700054,
            format!("response_type '{response_type}' is not enabled for the application."),
        )
    }

    /// AADSTS501491-style refusal of a `code_challenge_method` other than `S256` or `plain`.
    pub fn invalid_code_challenge_method(method: &str) -> Self {
        Self::entra(
            400,
            "invalid_request",
            501491,
            format!("Invalid code_challenge_method '{method}'. Supported values are 'S256' and 'plain'."),
        )
    }

    /// AADSTS70000: the code is not one the emulator issued, or was issued to another client.
    pub fn invalid_code() -> Self {
        Self::entra(
            400,
            "invalid_grant",
            70000,
            "The provided value for the 'code' parameter is not valid.",
        )
    }

    /// AADSTS54005: the code was redeemed before (`v2-oauth2-auth-code-flow.md`).
    pub fn code_redeemed() -> Self {
        Self::entra(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// AADSTS70008: the code outlived its 10 minutes.
    pub fn code_expired() -> Self {
        Self::entra(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// AADSTS500112: the token request names another redirect URI than the code's request.
    pub fn redirect_uri_differs(sent: &str, original: &str) -> Self {
        Self::entra(
            400,
            "invalid_grant",
            500112,
            format!(
                "The reply address '{sent}' does not match the reply address '{original}' provided when requesting Authorization code."
            ),
        )
    }

    /// AADSTS900352-style refusal of a `response_mode` other than `query` or `form_post` (a
    /// code never travels in a fragment to a native client).
    pub fn unsupported_response_mode(mode: &str) -> Self {
        Self::entra(
            400,
            "invalid_request",
            900352,
            format!(
                "The response_mode '{mode}' is not supported for this request. Use 'query' or 'form_post'."
            ),
        )
    }

    /// AADSTS501481: the PKCE verifier does not match the challenge.
    pub fn code_verifier_mismatch() -> Self {
        Self::entra(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// AADSTS65004 with `access_denied`: the user cancelled on the consent page.
    pub fn user_cancelled() -> Self {
        Self::entra(
            400,
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        )
    }

    /// AADSTS53003: a Conditional Access policy blocks this sign-in.
    pub fn blocked_by_conditional_access() -> Self {
        Self::entra(
            400,
            "access_denied",
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        )
    }

    /// AADSTS50126: wrong user name or password.
    pub fn invalid_credentials() -> Self {
        Self::entra(
            400,
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    /// AADSTS50034: no such user in the tenant.
    pub fn unknown_user(name: &str, tenant: &str) -> Self {
        Self::entra(
            400,
            "invalid_grant",
            50034,
            format!(
                "The user account {name} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }
}

// ---- Conditional Access ------------------------------------------------------------------

/// The sign-in flows a Conditional Access policy can block (the "authentication flows"
/// condition blocks device code; any policy can block a browser sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedFlow {
    DeviceCode,
    AuthorizationCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_match_on_any_port() {
        let reg = || {
            vec![
                "http://localhost",
                "https://portal.azure.com",
                "http://127.0.0.1/cb",
            ]
        };
        assert!(registered(reg(), "http://localhost:53412"));
        assert!(registered(reg(), "http://localhost:53412/"));
        assert!(registered(reg(), "http://localhost"));
        assert!(registered(reg(), "https://portal.azure.com"));
        assert!(registered(reg(), "http://127.0.0.1:9/cb"));
        assert!(!registered(reg(), "http://127.0.0.1:9/"), "another path");
        assert!(!registered(reg(), "http://localhost:53412/other"));
        assert!(
            !registered(reg(), "https://localhost:53412"),
            "https is not the loopback exception"
        );
        assert!(!registered(reg(), "https://portal.azure.com:444"));
        assert!(!registered(
            vec!["https://portal.azure.com"],
            "http://localhost:1"
        ));
    }

    fn request(challenge: Option<&str>) -> AuthRequest {
        AuthRequest {
            tenant_segment: "organizations".into(),
            client_id: "c".into(),
            redirect_uri: "http://localhost:1".into(),
            scope: "openid".into(),
            state: Some("s".into()),
            code_challenge: challenge.map(str::to_owned),
            code_challenge_method: "S256".into(),
            nonce: None,
            form_post: false,
        }
    }

    fn client() -> Entity {
        Entity::new(
            as_object(
                serde_json::json!({"appId": "c", "publicClient": {"redirectUris": ["http://localhost"]}}),
            ),
            0,
        )
    }

    #[test]
    fn codes_are_single_use_short_lived_and_checked_with_pkce() {
        let now = Utc::now();
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        // RFC 7636 appendix B.
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let mut a = Authorizations::default();
        let code = a.issue_code(&request(Some(challenge)), "u", now);
        let other = Entity::new(as_object(serde_json::json!({"appId": "other"})), 0);
        assert_eq!(
            a.redeem(&code, &other, "http://localhost:1", Some(verifier), now)
                .unwrap_err()
                .code,
            70000
        );
        let ok = a
            .redeem(&code, &client(), "http://localhost:1", Some(verifier), now)
            .unwrap();
        assert_eq!((ok.user_id.as_str(), ok.public), ("u", true));
        assert_eq!(
            a.redeem(&code, &client(), "http://localhost:1", Some(verifier), now)
                .unwrap_err()
                .code,
            54005
        );

        let code = a.issue_code(&request(Some(challenge)), "u", now);
        assert_eq!(
            a.redeem(&code, &client(), "http://localhost:1", Some("wrong"), now)
                .unwrap_err()
                .code,
            501481
        );
        let code = a.issue_code(&request(Some(challenge)), "u", now);
        assert_eq!(
            a.redeem(&code, &client(), "http://localhost:1", None, now)
                .unwrap_err()
                .code,
            501481
        );
        let code = a.issue_code(&request(None), "u", now);
        assert_eq!(
            a.redeem(&code, &client(), "http://localhost:2", None, now)
                .unwrap_err()
                .code,
            500112
        );
        let code = a.issue_code(&request(None), "u", now);
        let later = now + chrono::Duration::seconds(CODE_LIFETIME_SECS);
        assert_eq!(
            a.redeem(&code, &client(), "http://localhost:1", None, later)
                .unwrap_err()
                .code,
            70008
        );
        assert_eq!(
            a.redeem("nope", &client(), "http://localhost:1", None, now)
                .unwrap_err()
                .code,
            70000
        );
    }
}
