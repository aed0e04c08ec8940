//! The sign-in decisions of the token endpoint, made against the tenant: which tenant a path
//! names, who the client is and how it proved it (secret, certificate assertion, federated
//! assertion), which resource a scope names, what roles or consented scopes the token carries,
//! and the token response itself. No HTTP and no I/O: the routes parse the form and render
//! the [`OAuthError`]s this module returns.
//!
//! Rules and AADSTS codes: docs/graph-notes.md §7
//! (`client_credentials`, `client_assertion_jwt`, `refresh_token`, `token_error_format`).

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::OAuthError;
use super::keys::{self, SigningKey};
use super::scope::{GRAPH_RESOURCE, Scopes, same_resource};
use super::token::{self, Claims, ClientAuth, Issue, TokenVersion, User};
use crate::store::{Entity, Object, Tenant};

/// `client_assertion_type` of a JWT client assertion (RFC 7523; `certificate-credentials.md`).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The device-code grant type (RFC 8628; `v2-oauth2-device-code.md`).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Lifetime of a refresh token: Entra's default for non-SPA clients is 90 days.
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// How the `{tenant}` path segment named the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRoute {
    /// The tenant id or one of its verified domains.
    Specific,
    /// `organizations`: any work or school tenant.
    Organizations,
    /// `common` or `consumers`.
    Common,
}

/// Resolves the `{tenant}` segment: the tenant id, its domain, `organizations`, `common` or
/// `consumers` (docs/graph-notes.md §7 `tenant_values`); anything else is AADSTS90002.
pub fn resolve_tenant(tenant: &Tenant, segment: &str) -> Result<TenantRoute, OAuthError> {
    if segment.eq_ignore_ascii_case(tenant.tenant_id()) || tenant.has_domain(segment) {
        Ok(TenantRoute::Specific)
    } else if segment.eq_ignore_ascii_case("organizations") {
        Ok(TenantRoute::Organizations)
    } else if segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("consumers") {
        Ok(TenantRoute::Common)
    } else {
        Err(OAuthError::tenant_not_found(segment))
    }
}

/// A user sign-in through `/organizations` or `/common` is for multi-tenant apps: a client
/// whose `signInAudience` is `AzureADMyOrg` gets AADSTS50194 there, as in Entra. An unknown
/// client is left to the grant, which answers AADSTS700016.
pub fn check_audience(ctx: &Context<'_>, route: TenantRoute, form: &Form) -> Result<(), OAuthError> {
    match ctx.tenant.application_by_app_id(form.client_id()?) {
        Some(app) => check_app_audience(app, route),
        None => Ok(()),
    }
}

/// [`check_audience`] for a known application.
pub fn check_app_audience(app: &Entity, route: TenantRoute) -> Result<(), OAuthError> {
    let single_tenant = app.str("signInAudience") == "AzureADMyOrg";
    if route != TenantRoute::Specific && single_tenant {
        return Err(OAuthError::single_tenant_app_on_common(
            app.app_id(),
            app.str("displayName"),
        ));
    }
    Ok(())
}

/// Add `client_info` to a user sign-in's token response when the request asked for it with
/// `client_info=1`, as MSAL does: base64url of `{"uid": <object id>, "utid": <tenant id>}`,
/// which MSAL keys the account with (`home_account_id` = `uid.utid`; MSAL Python
/// `msal/token_cache.py`). For user sign-ins only: app-only responses carry none.
pub fn with_client_info(mut body: Value, form: &Form) -> Value {
    if form.get("client_info") != Some("1") {
        return body;
    }
    #[derive(Deserialize)]
    struct Subject {
        oid: String,
        tid: String,
    }
    let Some(subject) = body["access_token"]
        .as_str()
        .and_then(|t| token::decode_unverified_as::<Subject>(t).ok())
    else {
        return body;
    };
    let (oid, tid) = (subject.oid, subject.tid);
    let info = json!({"uid": oid, "utid": tid}).to_string();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info);
    if let Some(map) = body.as_object_mut() {
        map.insert("client_info".into(), json!(encoded));
    }
    body
}

/// What the decisions need beyond the tenant.
pub struct Context<'a> {
    pub tenant: &'a Tenant,
    pub key: &'a SigningKey,
    /// `scheme://host[:port]` the request came to: the authority of v2 issuers, and of the token
    /// endpoint a client assertion must be addressed to.
    pub origin: &'a str,
    pub now: DateTime<Utc>,
    pub access_token_lifetime_secs: i64,
    /// External identity providers whose keys the emulator trusts for federated assertions,
    /// by issuer (`POST /_emulator/issuers`).
    pub issuers: &'a HashMap<String, JwkSet>,
}

/// The form of a token request, plus HTTP Basic client credentials when sent.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pub fields: HashMap<String, String>,
    /// `Authorization: Basic` client id and secret (RFC 6749 §2.3.1), already decoded.
    pub basic: Option<(String, String)>,
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::missing_parameter(name))
    }

    /// The client id from the form, or from Basic authentication.
    pub fn client_id(&self) -> Result<&str, OAuthError> {
        self.get("client_id")
            .or(self.basic.as_ref().map(|(id, _)| id.as_str()))
            .ok_or_else(|| OAuthError::missing_parameter("client_id"))
    }

    fn secret(&self) -> Option<&str> {
        self.get("client_secret")
            .or(self.basic.as_ref().map(|(_, s)| s.as_str()))
    }

    fn has_credential(&self) -> bool {
        self.secret().is_some() || self.get("client_assertion").is_some()
    }
}

/// Whether the grant lets a public client go without a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Client credentials: always a confidential client.
    Confidential,
    /// Device code and refresh: public when the app allows public client flows.
    PublicAllowed,
}

/// The authenticated client application.
pub struct Client<'a> {
    pub app: &'a Entity,
    pub auth: ClientAuth,
}

impl Client<'_> {
    pub fn app_id(&self) -> &str {
        self.app.app_id()
    }
    pub fn display_name(&self) -> &str {
        self.app.str("displayName")
    }
}

/// Finds the client and checks its credential. Order follows Entra's: unknown client
/// (AADSTS700016) before a missing (7000218) or wrong (7000215, 700027, 70021) credential.
pub fn authenticate_client<'a>(
    ctx: &Context<'a>,
    form: &Form,
    kind: ClientKind,
) -> Result<Client<'a>, OAuthError> {
    let client_id = form.client_id()?;
    let app = ctx
        .tenant
        .client_application(client_id)
        .ok_or_else(|| OAuthError::unknown_client(client_id, ctx.tenant.tenant_id()))?;
    let public = kind == ClientKind::PublicAllowed && app.is_fallback_public_client();
    if public {
        // A public client proves nothing; sending a credential anyway is an error (700025)
        // unless the app also has credentials of its own (then Entra treats it as confidential).
        if form.has_credential() && !has_own_credentials(app) {
            return Err(OAuthError::public_client_with_credential());
        }
        if !form.has_credential() {
            return Ok(Client {
                app,
                auth: ClientAuth::Public,
            });
        }
    }
    if let Some(secret) = form.secret() {
        return if app.secret_matches(secret, ctx.now) {
            Ok(Client {
                app,
                auth: ClientAuth::Secret,
            })
        } else {
            Err(OAuthError::invalid_secret(app.app_id()))
        };
    }
    if let Some(assertion) = form.get("client_assertion") {
        let kind = form.require("client_assertion_type")?;
        if kind != JWT_BEARER {
            return Err(OAuthError::bad_assertion(&format!(
                "The client_assertion_type `{kind}` is not supported."
            )));
        }
        verify_client_assertion(ctx, app, assertion)?;
        return Ok(Client {
            app,
            auth: ClientAuth::Certificate,
        });
    }
    Err(OAuthError::credential_required())
}

fn has_own_credentials(app: &Entity) -> bool {
    !app.secrets.is_empty()
        || !app.key_credentials().is_empty()
        || !app.federated_identity_credentials().is_empty()
}

/// Claims of a client assertion that Entra checks.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    aud: OneOrMany,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl OneOrMany {
    fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
            OneOrMany::None => Vec::new(),
        }
    }
}

/// A client assertion is either signed by the app itself with a certificate in its
/// `keyCredentials` (`iss` = `sub` = client id), or issued by an external identity provider and
/// matched to one of the app's `federatedIdentityCredentials` by issuer, subject and audience
/// (docs/graph-notes.md §7 "Client credentials").
fn verify_client_assertion(ctx: &Context<'_>, app: &Entity, assertion: &str) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| OAuthError::malformed_assertion())?;
    let claims: AssertionClaims =
        token::decode_unverified_as(assertion).map_err(|_| OAuthError::malformed_assertion())?;
    if claims.iss.eq_ignore_ascii_case(app.app_id()) {
        verify_certificate_assertion(ctx, app, assertion, &header, &claims)
    } else {
        verify_federated_assertion(ctx, app, assertion, &header, &claims)
    }
}

fn verify_certificate_assertion(
    ctx: &Context<'_>,
    app: &Entity,
    assertion: &str,
    header: &jsonwebtoken::Header,
    claims: &AssertionClaims,
) -> Result<(), OAuthError> {
    if !claims.sub.eq_ignore_ascii_case(app.app_id()) {
        return Err(OAuthError::bad_assertion(
            "The 'sub' claim must be the client id.",
        ));
    }
    if header.x5t_s256.is_none() && header.x5t.is_none() {
        return Err(OAuthError::bad_assertion(
            "The assertion header has neither 'x5t#S256' nor 'x5t'.",
        ));
    }
    // base64url with or without `=` padding: MSAL Python encodes the thumbprint with
    // `base64.urlsafe_b64encode`, which keeps it, and Entra accepts both.
    let unpadded = |v: &Option<String>| v.as_deref().map(|t| t.trim_end_matches('=').to_owned());
    let (x5t_s256, x5t) = (unpadded(&header.x5t_s256), unpadded(&header.x5t));
    let cert = app
        .key_credentials()
        .iter()
        .filter(|k| key_credential_current(k, ctx.now))
        .filter_map(|k| k["key"].as_str())
        .filter_map(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .find(|der| {
            x5t_s256.as_deref() == Some(keys::thumbprint_sha256(der).as_str())
                || x5t.as_deref() == Some(keys::thumbprint_sha1(der).as_str())
        })
        .ok_or_else(|| {
            OAuthError::bad_assertion(&format!(
                "Key was not found. The thumbprint in the assertion header matches no certificate of app '{}'.",
                app.app_id()
            ))
        })?;
    let key = keys::certificate_decoding_key(&cert)
        .map_err(|_| OAuthError::bad_assertion("The registered certificate has no RSA key."))?;
    check_signature_and_lifetime(assertion, &key, header.alg)?;
    let audiences = claims.aud.values();
    if !audiences.iter().any(|a| is_our_token_endpoint(ctx, a)) {
        return Err(OAuthError::bad_assertion(&format!(
            "The 'aud' claim must be this tenant's token endpoint, e.g. '{}/{}/oauth2/v2.0/token'.",
            ctx.origin,
            ctx.tenant.tenant_id()
        )));
    }
    Ok(())
}

fn verify_federated_assertion(
    ctx: &Context<'_>,
    app: &Entity,
    assertion: &str,
    header: &jsonwebtoken::Header,
    claims: &AssertionClaims,
) -> Result<(), OAuthError> {
    let audiences = claims.aud.values();
    let matched = app.federated_identity_credentials().iter().any(|fic| {
        fic.get("issuer").and_then(Value::as_str) == Some(claims.iss.as_str())
            && fic.get("subject").and_then(Value::as_str) == Some(claims.sub.as_str())
            && fic
                .get("audiences")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().filter_map(Value::as_str).any(|x| audiences.contains(&x)))
    });
    if !matched {
        return Err(OAuthError::no_matching_federated_credential(
            &claims.iss,
            &claims.sub,
            &audiences.join(","),
        ));
    }
    let key = issuer_key(ctx, &claims.iss, header.kid.as_deref()).ok_or_else(|| {
        OAuthError::bad_assertion(&format!(
            "No signing keys are known for issuer '{}'. Register them with POST /_emulator/issuers.",
            claims.iss
        ))
    })?;
    check_signature_and_lifetime(assertion, &key, header.alg)
}

/// The key of a trusted external issuer, or of the emulator itself when it is the issuer
/// (Entra as a federated identity provider: `iss` `{authority}/{tid}/v2.0`).
fn issuer_key(ctx: &Context<'_>, issuer: &str, kid: Option<&str>) -> Option<DecodingKey> {
    let own = [
        TokenVersion::V2.issuer(ctx.origin, ctx.tenant.tenant_id()),
        TokenVersion::V1.issuer(ctx.origin, ctx.tenant.tenant_id()),
    ];
    if own.iter().any(|o| o == issuer) {
        return Some(ctx.key.decoding_key());
    }
    let set = ctx.issuers.get(issuer)?;
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None => set.keys.first()?,
    };
    DecodingKey::from_jwk(jwk).ok()
}

fn check_signature_and_lifetime(
    assertion: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<(), OAuthError> {
    if !matches!(
        alg,
        Algorithm::RS256
            | Algorithm::PS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS384
            | Algorithm::PS512
    ) {
        return Err(OAuthError::bad_assertion(&format!(
            "The algorithm {alg:?} is not supported."
        )));
    }
    let mut validation = Validation::new(alg);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    // Entra allows five minutes of clock skew on assertions (`certificate-credentials.md`).
    validation.leeway = 300;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Value>(assertion, key, &validation)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
            | jsonwebtoken::errors::ErrorKind::ImmatureSignature => OAuthError::assertion_expired(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                OAuthError::bad_assertion("The signature does not verify with the registered key.")
            }
            _ => OAuthError::bad_assertion(&format!("The assertion is invalid: {e}.")),
        })
}

fn key_credential_current(k: &Value, now: DateTime<Utc>) -> bool {
    let parse = |name: &str| {
        k[name]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    k["usage"]
        .as_str()
        .is_none_or(|u| u.eq_ignore_ascii_case("Verify"))
        && parse("startDateTime").is_none_or(|s| s <= now)
        && parse("endDateTime").is_none_or(|e| e > now)
}

/// `{origin or login.microsoftonline.com}/{this tenant}/oauth2/v2.0/token` (or the v1
/// `/oauth2/token`), the audiences Entra accepts on a client assertion.
fn is_our_token_endpoint(ctx: &Context<'_>, aud: &str) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let origin = url.origin().ascii_serialization();
    let host_ok = origin.eq_ignore_ascii_case(ctx.origin)
        || url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("login.microsoftonline.com"));
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    let path_ok = match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] | [tenant, "oauth2", "token"] => {
            resolve_tenant(ctx.tenant, tenant).is_ok()
        }
        _ => false,
    };
    host_ok && path_ok
}

// ---- resources ---------------------------------------------------------------------------

/// The identifiers under which the emulator itself is a resource (an alias of Microsoft Graph):
/// its base URL, also with `localhost` for `127.0.0.1` and back, since clients may use either.
pub fn emulator_audiences(base_url: &str) -> Vec<String> {
    let base = base_url.trim_end_matches('/').to_owned();
    let mut out = vec![base.clone()];
    if base.contains("://127.0.0.1:") {
        out.push(base.replacen("://127.0.0.1:", "://localhost:", 1));
    } else if base.contains("://localhost:") {
        out.push(base.replacen("://localhost:", "://127.0.0.1:", 1));
    }
    out
}

/// The resource service principal a scope names: by appId or any `servicePrincipalNames`
/// entry. The emulator's own origin stands for Microsoft Graph, because the Azure CLI uses its
/// cloud's `microsoftGraphResourceId` both as token audience and as Graph's base URL
/// (`/metadata/endpoints`).
pub fn resource_service_principal<'a>(ctx: &Context<'a>, resource: &str) -> Result<&'a Entity, OAuthError> {
    let lookup = if same_resource(resource, ctx.origin)
        || emulator_audiences(ctx.origin)
            .iter()
            .any(|a| same_resource(resource, a))
    {
        GRAPH_RESOURCE
    } else {
        resource
    };
    ctx.tenant
        .service_principal_by_name(lookup)
        .ok_or_else(|| OAuthError::resource_not_found(resource, ctx.tenant.tenant_id()))
}

/// Token version and audience for a resource. A resource registered in the tenant with
/// `api.requestedAccessTokenVersion: 2` gets v2 tokens whose `aud` is its appId; everything
/// else (Microsoft Graph, the Defender APIs, apps that leave it null) gets v1 tokens whose `aud`
/// is the identifier as requested (docs/graph-notes.md §7 table, §11.4).
fn version_and_audience(ctx: &Context<'_>, resource_sp: &Entity, requested: &str) -> (TokenVersion, String) {
    let v2 = ctx
        .tenant
        .application_by_app_id(resource_sp.app_id())
        .is_some_and(|app| {
            app.data
                .get("api")
                .and_then(|a| a.get("requestedAccessTokenVersion"))
                == Some(&json!(2))
        });
    if v2 {
        (TokenVersion::V2, resource_sp.app_id().to_owned())
    } else {
        (TokenVersion::V1, requested.to_owned())
    }
}

fn issue_params<'a>(
    ctx: &'a Context<'a>,
    version: TokenVersion,
    audience: &'a str,
    client: &'a Client<'_>,
) -> Issue<'a> {
    Issue {
        version,
        authority: ctx.origin,
        tenant_id: ctx.tenant.tenant_id(),
        audience,
        client_id: client.app.app_id(),
        client_auth: client.auth,
        now: ctx.now.timestamp(),
        lifetime_secs: ctx.access_token_lifetime_secs,
    }
}

fn sign(ctx: &Context<'_>, claims: &impl Serialize) -> Result<String, OAuthError> {
    token::issue_any(ctx.key, claims).map_err(|_| OAuthError::temporarily_unavailable())
}

// ---- client credentials ------------------------------------------------------------------

/// `grant_type=client_credentials`: an app-only token whose `roles` are the app roles assigned
/// to the client's service principal on the resource (docs/graph-notes.md §7).
pub fn client_credentials(ctx: &Context<'_>, route: TenantRoute, form: &Form) -> Result<Value, OAuthError> {
    if route == TenantRoute::Common {
        return Err(OAuthError::grant_not_supported_over_common());
    }
    let client = authenticate_client(ctx, form, ClientKind::Confidential)?;
    let raw = form.require("scope")?;
    let scopes = Scopes::parse(raw)?;
    let Some(resource) = scopes.resource.as_deref().filter(|_| scopes.default) else {
        return Err(OAuthError::scope_needs_default(raw));
    };
    let resource_sp = resource_service_principal(ctx, resource)?;
    let client_sp = ctx
        .tenant
        .service_principal_by_app_id(client.app_id())
        .ok_or_else(|| {
            OAuthError::client_without_service_principal(client.app_id(), ctx.tenant.tenant_id())
        })?;
    let roles = assigned_roles(ctx.tenant, client_sp, resource_sp);
    let (version, audience) = version_and_audience(ctx, resource_sp, resource);
    let claims = Claims::app_only(
        &issue_params(ctx, version, &audience, &client),
        client_sp.id(),
        roles,
    );
    let access_token = sign(ctx, &claims)?;
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": ctx.access_token_lifetime_secs,
        "ext_expires_in": ctx.access_token_lifetime_secs,
        "access_token": access_token,
    }))
}

/// Values of the app roles assigned to `client_sp` on `resource_sp`, in the resource's order.
pub fn assigned_roles(tenant: &Tenant, client_sp: &Entity, resource_sp: &Entity) -> Vec<String> {
    let assigned: Vec<&str> = tenant
        .app_role_assignments_of(client_sp.id())
        .into_iter()
        .filter(|a| a.get("resourceId").and_then(Value::as_str) == Some(resource_sp.id()))
        .filter_map(|a| a.get("appRoleId").and_then(Value::as_str))
        .collect();
    resource_sp.data["appRoles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["id"].as_str().is_some_and(|id| assigned.contains(&id)))
        .filter_map(|r| r["value"].as_str().map(str::to_owned))
        .collect()
}

// ---- delegated tokens --------------------------------------------------------------------

/// The scopes consented for `user` to `client_sp` on `resource_sp`: the `AllPrincipals` grant
/// and the user's own `Principal` grant, merged (docs/graph-notes.md §3), in the resource's casing.
pub fn consented_scopes(
    tenant: &Tenant,
    client_sp: &Entity,
    resource_sp: &Entity,
    user_id: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for grant in tenant.grants_for(client_sp.id(), resource_sp.id()) {
        let consent = grant
            .get("consentType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let principal = grant.get("principalId").and_then(Value::as_str);
        if consent == "AllPrincipals" || (consent == "Principal" && principal == Some(user_id)) {
            for value in grant
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(' ')
            {
                if !value.is_empty() && !out.iter().any(|v| v.eq_ignore_ascii_case(value)) {
                    out.push(canonical_scope(resource_sp, value));
                }
            }
        }
    }
    out
}

fn canonical_scope(resource_sp: &Entity, value: &str) -> String {
    resource_sp.data["oauth2PermissionScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["value"].as_str())
        .find(|v| v.eq_ignore_ascii_case(value))
        .unwrap_or(value)
        .to_owned()
}

fn published_scope(resource_sp: &Entity, value: &str) -> bool {
    resource_sp.data["oauth2PermissionScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["value"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(value)))
}

/// The signed-in user as the token sees it.
pub struct SignedInUser {
    pub id: String,
    pub display_name: String,
    pub user_principal_name: String,
}

impl SignedInUser {
    pub fn from_object(user: &Object) -> SignedInUser {
        let text = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        SignedInUser {
            id: text("id"),
            display_name: text("displayName"),
            user_principal_name: text("userPrincipalName"),
        }
    }
}

/// A delegated token for `user`: only for scopes an `oauth2PermissionGrant` covers (else
/// AADSTS65001); `offline_access` adds a refresh token, `openid` an id token.
/// Entra puts every consented scope of the resource in `scp`, not only those requested.
pub fn delegated(
    ctx: &Context<'_>,
    client: &Client<'_>,
    user: &SignedInUser,
    scopes: &Scopes,
) -> Result<Value, OAuthError> {
    let resource = scopes
        .resource
        .clone()
        .unwrap_or_else(|| GRAPH_RESOURCE.to_owned());
    let resource_sp = resource_service_principal(ctx, &resource)?;
    if let Some(unknown) = scopes.values.iter().find(|v| !published_scope(resource_sp, v)) {
        return Err(OAuthError::invalid_scope(&format!(
            "{}/{unknown}",
            resource.trim_end_matches('/')
        )));
    }
    let consent_error = || OAuthError::consent_required(client.app_id(), client.display_name());
    let client_sp = ctx
        .tenant
        .service_principal_by_app_id(client.app_id())
        .ok_or_else(consent_error)?;
    let granted = consented_scopes(ctx.tenant, client_sp, resource_sp, &user.id);
    let covered = scopes
        .values
        .iter()
        .all(|v| granted.iter().any(|g| g.eq_ignore_ascii_case(v)));
    if !covered || granted.is_empty() {
        return Err(consent_error());
    }
    let (version, audience) = version_and_audience(ctx, resource_sp, &resource);
    let issue = issue_params(ctx, version, &audience, client);
    let token_user = User {
        object_id: &user.id,
        display_name: &user.display_name,
        user_principal_name: &user.user_principal_name,
    };
    let claims = Claims::delegated(&issue, &token_user, &granted);
    let mut body = serde_json::Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    let is_graph = same_resource(resource_sp.app_id(), entra_catalog::MICROSOFT_GRAPH_APP_ID);
    let mut scope_out: Vec<String> = granted
        .iter()
        .map(|s| {
            // Entra names Graph's scopes bare and other resources' with their identifier.
            if is_graph {
                s.clone()
            } else {
                format!("{}/{s}", resource.trim_end_matches('/'))
            }
        })
        .collect();
    scope_out.extend(scopes.oidc.iter().filter(|s| *s != "offline_access").cloned());
    body.insert("scope".into(), json!(scope_out.join(" ")));
    body.insert("expires_in".into(), json!(ctx.access_token_lifetime_secs));
    body.insert("ext_expires_in".into(), json!(ctx.access_token_lifetime_secs));
    body.insert("access_token".into(), json!(sign(ctx, &claims)?));
    if scopes.wants("offline_access") {
        let rt = RefreshClaims {
            typ: REFRESH_TYP.to_owned(),
            iss: TokenVersion::V2.issuer(ctx.origin, ctx.tenant.tenant_id()),
            tid: ctx.tenant.tenant_id().to_owned(),
            client_id: client.app_id().to_owned(),
            oid: user.id.clone(),
            scope: scopes.to_request_string(),
            iat: ctx.now.timestamp(),
            exp: ctx.now.timestamp() + REFRESH_TOKEN_LIFETIME_SECS,
            uti: uuid::Uuid::new_v4().to_string(),
        };
        body.insert("refresh_token".into(), json!(sign(ctx, &rt)?));
    }
    if scopes.wants("openid") {
        let id_token = IdTokenClaims {
            aud: client.app_id().to_owned(),
            iss: TokenVersion::V2.issuer(ctx.origin, ctx.tenant.tenant_id()),
            iat: ctx.now.timestamp(),
            nbf: ctx.now.timestamp(),
            exp: ctx.now.timestamp() + ctx.access_token_lifetime_secs,
            name: scopes.wants("profile").then(|| user.display_name.clone()),
            oid: user.id.clone(),
            preferred_username: scopes.wants("profile").then(|| user.user_principal_name.clone()),
            sub: claims.sub.clone(),
            tid: ctx.tenant.tenant_id().to_owned(),
            ver: "2.0".to_owned(),
        };
        body.insert("id_token".into(), json!(sign(ctx, &id_token)?));
    }
    Ok(Value::Object(body))
}

impl Scopes {
    /// The scopes again as a `scope` parameter (what a refresh token remembers).
    pub fn to_request_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(resource) = &self.resource {
            let base = resource.trim_end_matches('/');
            if self.default {
                parts.push(format!("{resource}/.default"));
            }
            parts.extend(self.values.iter().map(|v| format!("{base}/{v}")));
        }
        parts.extend(self.oidc.iter().cloned());
        parts.join(" ")
    }
}

/// The claims of an id token (`id-token-claims-reference.md`): for the client, about the user.
#[derive(Debug, Serialize, Deserialize)]
struct IdTokenClaims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    oid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    sub: String,
    tid: String,
    ver: String,
}

// ---- refresh tokens ----------------------------------------------------------------------

const REFRESH_TYP: &str = "refresh";

/// What a refresh token carries. Entra's are opaque; the emulator's are signed with its key, so
/// they survive a restart with `--state` and need no server-side table. Clients treat them as
/// opaque strings either way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    typ: String,
    iss: String,
    tid: String,
    pub client_id: String,
    pub oid: String,
    pub scope: String,
    iat: i64,
    exp: i64,
    uti: String,
}

/// `grant_type=refresh_token`: a new access token (and refresh token) for the same user, for
/// the scopes asked now or, without `scope`, those of the original request. A refresh token can
/// be redeemed for any resource the client is consented to (docs/graph-notes.md §7
/// "Refresh token").
pub fn refresh(ctx: &Context<'_>, form: &Form) -> Result<Value, OAuthError> {
    let client = authenticate_client(ctx, form, ClientKind::PublicAllowed)?;
    let raw = form.require("refresh_token")?;
    let rt = decode_refresh_token(ctx, raw)?;
    if !rt.client_id.eq_ignore_ascii_case(client.app_id()) {
        return Err(OAuthError::refresh_token_other_client());
    }
    let user = ctx
        .tenant
        .user(&rt.oid)
        .map(SignedInUser::from_object)
        .ok_or_else(OAuthError::refresh_token_other_client)?;
    let mut scopes = Scopes::parse(form.get("scope").unwrap_or(&rt.scope))?;
    // Refresh tokens keep being refresh tokens: the new response carries one too.
    if !scopes.wants("offline_access") {
        scopes.oidc.push("offline_access".to_owned());
    }
    delegated(ctx, &client, &user, &scopes)
}

fn decode_refresh_token(ctx: &Context<'_>, raw: &str) -> Result<RefreshClaims, OAuthError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<RefreshClaims>(raw, &ctx.key.decoding_key(), &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => OAuthError::refresh_token_expired(),
            _ => OAuthError::malformed_refresh_token(),
        },
    )?;
    if data.claims.typ != REFRESH_TYP || data.claims.tid != ctx.tenant.tenant_id() {
        return Err(OAuthError::malformed_refresh_token());
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_scopes_round_trip_as_a_request_string() {
        let s =
            Scopes::parse("https://api.security.microsoft.com/Incident.Read offline_access openid").unwrap();
        assert_eq!(
            s.to_request_string(),
            "https://api.security.microsoft.com/Incident.Read offline_access openid"
        );
        let d = Scopes::parse("https://graph.microsoft.com//.default offline_access").unwrap();
        assert_eq!(Scopes::parse(&d.to_request_string()).unwrap(), d);
    }
}
