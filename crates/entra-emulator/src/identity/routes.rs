//! The identity platform's HTTP surface: the v2.0 sign-in endpoints under `/{tenant}/`, the
//! discovery documents, the Azure Resource Manager reads the Azure CLI makes at sign-in, and the
//! control routes for device codes and trusted federated issuers. Wire format only: decisions
//! are in `signin` and `device`.
//!
//! | route | answers |
//! | --- | --- |
//! | `POST /{tenant}/oauth2/v2.0/token` | client credentials, device code, authorization code, refresh token |
//! | `POST /{tenant}/oauth2/v2.0/devicecode` | a new device code (`v2-oauth2-device-code.md`) |
//! | `GET /{tenant}/v2.0/.well-known/openid-configuration` | the captured document, our host |
//! | `GET /{tenant}/.well-known/openid-configuration` | the v1.0 document (issuer `sts.windows.net`) |
//! | `GET /{tenant}/discovery/v2.0/keys`, `/{tenant}/discovery/keys` | the JWKS |
//! | `GET /{tenant}/discovery/instance` | MSAL instance discovery (captured body, our host) |
//! | `GET /metadata/endpoints` | the ARM cloud metadata `az cloud register` reads |
//! | `GET /subscriptions`, `GET /tenants` | ARM reads of `az login`: no subscriptions, one tenant |
//! | `GET /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/login`, `/{tenant}/Consent/Set` | the sign-in and consent pages ([`super::pages`]) |
//! | `GET`/`POST /devicelogin` | the device login page: enter the code, sign in, continue or cancel |
//! | `GET`/`PUT /_emulator/conditional-access` | flows a Conditional Access policy blocks (AADSTS53003) |
//! | `POST /_emulator/devicecode/{user_code}/approve` and `/deny` | decide a pending sign-in |
//! | `GET`/`POST /_emulator/issuers` | external issuers trusted for federated assertions |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::{Value, json};

use super::authorize::{Authorizations, BlockedFlow};
use super::device::{Decision, DeviceCodes};
use super::error::OAuthError;
use super::pages;
use super::scope::Scopes;
use super::signin::{self, ClientKind, Context, Form, SignedInUser, TenantRoute};
use super::token::{self, Keys, TokenVersion};
use crate::log::RequestKind;
use crate::state::Shared;
use crate::store::Tenant;

/// Knobs of the identity platform (defaults are Entra's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `expires_in` of a device code: 900 s (docs/graph-notes.md §7).
    pub device_code_lifetime_secs: i64,
    /// `interval` of a device code: 5 s, as in the captured response.
    pub device_code_interval_secs: u64,
    /// `expires_in` of access tokens: 3599 s, as in the doc examples.
    pub access_token_lifetime_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device_code_lifetime_secs: 900,
            device_code_interval_secs: 5,
            access_token_lifetime_secs: 3599,
        }
    }
}

/// What the identity routes share beyond the tenant.
pub struct Identity {
    pub(super) shared: Arc<Shared>,
    settings: Settings,
    pub(super) devices: Mutex<DeviceCodes>,
    issuers: Mutex<HashMap<String, JwkSet>>,
    /// Sign-in transactions of the pages and issued authorization codes.
    pub(super) authorizations: Mutex<Authorizations>,
    /// The flows a Conditional Access policy blocks (`PUT /_emulator/conditional-access`).
    pub(super) blocked: Mutex<Vec<BlockedFlow>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update here is a single insert or field write, so a poisoned lock still guards
    // consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The identity routes, to be merged into the emulator's router (any state type: these carry
/// their own).
pub fn router<S: Clone + Send + Sync + 'static>(shared: Arc<Shared>, settings: Settings) -> Router<S> {
    let identity = Arc::new(Identity {
        shared,
        settings,
        devices: Mutex::new(DeviceCodes::default()),
        issuers: Mutex::new(HashMap::new()),
        authorizations: Mutex::new(Authorizations::default()),
        blocked: Mutex::new(Vec::new()),
    });
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode_endpoint))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks_v2))
        .route("/{tenant}/discovery/keys", get(jwks_v1))
        .route("/{tenant}/discovery/instance", get(instance_discovery))
        .route("/metadata/endpoints", get(metadata_endpoints))
        .route("/subscriptions", get(subscriptions))
        .route("/tenants", get(tenants))
        .route("/{tenant}/oauth2/v2.0/authorize", get(pages::authorize))
        .route("/{tenant}/login", post(pages::login))
        .route("/{tenant}/Consent/Set", post(pages::consent))
        .route(
            "/devicelogin",
            get(pages::devicelogin).post(pages::devicelogin_code),
        )
        // The latency knob delays sign-in like any other request to Entra; control routes
        // below are not delayed.
        .route_layer(axum::middleware::from_fn_with_state(
            identity.clone(),
            add_latency,
        ))
        .route("/_emulator/devicecode/{user_code}/approve", post(approve))
        .route("/_emulator/devicecode/{user_code}/deny", post(deny))
        .route("/_emulator/issuers", get(list_issuers).post(add_issuer))
        .route(
            "/_emulator/conditional-access",
            get(pages::conditional_access).put(pages::set_conditional_access),
        )
        .layer(axum::middleware::from_fn(tag_kind))
        .with_state(identity)
}

/// The `latency_ms` knob, as on Graph requests.
async fn add_latency(
    State(id): State<Arc<Identity>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let latency = id.shared.injector().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(req).await
}

/// Names each identity request's kind for `/_emulator/stats`.
async fn tag_kind(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    let kind = if path.ends_with("/oauth2/v2.0/token") {
        "identity.token"
    } else if path.ends_with("/oauth2/v2.0/devicecode") {
        "identity.devicecode"
    } else if path == "/metadata/endpoints" || path == "/subscriptions" || path == "/tenants" {
        "identity.arm"
    } else if path.starts_with("/_emulator/") {
        "identity.control"
    } else if path.ends_with("/oauth2/v2.0/authorize")
        || path.ends_with("/login")
        || path.ends_with("/consent/set")
        || path == "/devicelogin"
    {
        "identity.page"
    } else {
        "identity.discovery"
    };
    let mut response = next.run(req).await;
    if response.extensions().get::<RequestKind>().is_none() {
        response.extensions_mut().insert(RequestKind(kind));
    }
    response
}

// ---- helpers -----------------------------------------------------------------------------

/// `scheme://host[:port]` of this request: the scheme the emulator serves, the host the client
/// used (so `localhost` and `127.0.0.1` each get documents naming themselves).
pub(super) fn origin(shared: &Shared, headers: &HeaderMap) -> String {
    let scheme = shared.base_url.split("://").next().unwrap_or("http");
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("{scheme}://{host}"),
        _ => shared.base_url.trim_end_matches('/').to_owned(),
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(e: &OAuthError, headers: &HeaderMap) -> Response {
    let correlation = headers.get("client-request-id").and_then(|v| v.to_str().ok());
    let body = e.body(Utc::now(), correlation);
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let trace = body["trace_id"].as_str().unwrap_or_default().to_owned();
    let mut response = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(&trace) {
        response.headers_mut().insert("x-ms-request-id", v);
    }
    if e.status == 401 {
        // RFC 6749 §5.2: invalid_client over 401 names the scheme.
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"emulator\""),
        );
    }
    response
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Form {
    let mut fields = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        fields.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    Form {
        fields,
        basic: basic_credentials(headers),
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

// ---- token and device code endpoints ----------------------------------------------------

async fn token_endpoint(
    State(id): State<Arc<Identity>>,
    Path(tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&headers, &body);
    let origin = origin(&id.shared, &headers);
    match token_grant(&id, &tenant_segment, &origin, &form) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => oauth_error(&e, &headers),
    }
}

fn token_grant(id: &Identity, tenant_segment: &str, origin: &str, form: &Form) -> Result<Value, OAuthError> {
    let tenant = id.shared.tenant();
    let route = signin::resolve_tenant(&tenant, tenant_segment)?;
    let issuers = lock(&id.issuers);
    let ctx = Context {
        tenant: &tenant,
        key: &id.shared.signing_key,
        origin,
        now: id.shared.clock.now(),
        access_token_lifetime_secs: id.settings.access_token_lifetime_secs,
        issuers: &issuers,
    };
    let grant_type = form.require("grant_type")?;
    match grant_type {
        "client_credentials" => signin::client_credentials(&ctx, route, form),
        "refresh_token" => {
            signin::check_audience(&ctx, route, form)?;
            let body = signin::refresh(&ctx, form)?;
            Ok(signin::with_client_info(body, form))
        }
        signin::DEVICE_CODE_GRANT | "device_code" => {
            signin::check_audience(&ctx, route, form)?;
            let body = device_code_grant(id, &ctx, &tenant, form)?;
            Ok(signin::with_client_info(body, form))
        }
        "authorization_code" => {
            signin::check_audience(&ctx, route, form)?;
            let body = authorization_code_grant(id, &ctx, form)?;
            Ok(signin::with_client_info(body, form))
        }
        other => Err(OAuthError::unsupported_grant_type(other)),
    }
}

/// A poll with a device code. The client is checked first, as Entra does: a confidential client
/// without a credential gets AADSTS7000218 even while the code is pending.
fn device_code_grant(
    id: &Identity,
    ctx: &Context<'_>,
    tenant: &Tenant,
    form: &Form,
) -> Result<Value, OAuthError> {
    let client = signin::authenticate_client(ctx, form, ClientKind::PublicAllowed)?;
    let device_code = form.require("device_code")?;
    let admin_id = tenant
        .admin_user()
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let auto = (!id.shared.manual_approval).then_some(admin_id.as_str());
    // Approving automatically plays the administrator signing in: a Conditional Access policy
    // that blocks device code stops that sign-in.
    if auto.is_some() && lock(&id.blocked).contains(&BlockedFlow::DeviceCode) {
        return Err(OAuthError {
            error: "invalid_grant",
            ..OAuthError::blocked_by_conditional_access()
        });
    }
    let approved = lock(&id.devices).poll(device_code, client.app_id(), ctx.now, auto)?;
    let user = tenant
        .user(&approved.user_id)
        .map(SignedInUser::from_object)
        .ok_or_else(OAuthError::bad_verification_code)?;
    let scopes = Scopes::parse(&approved.scope)?;
    let body = signin::delegated(ctx, &client, &user, &scopes)?;
    lock(&id.devices).redeemed(device_code);
    Ok(body)
}

/// `grant_type=authorization_code`: the code from the redirect, its redirect URI and PKCE
/// verifier. A code sent to a `publicClient` redirect URI is redeemed without a credential; one
/// sent to a `web` redirect URI needs the client's secret or assertion.
fn authorization_code_grant(id: &Identity, ctx: &Context<'_>, form: &Form) -> Result<Value, OAuthError> {
    let client_id = form.client_id()?;
    let app = ctx
        .tenant
        .client_application(client_id)
        .ok_or_else(|| OAuthError::unknown_client(client_id, ctx.tenant.tenant_id()))?;
    let code = form.require("code")?;
    let redirect_uri = form.require("redirect_uri")?;
    let redeemed =
        lock(&id.authorizations).redeem(code, app, redirect_uri, form.get("code_verifier"), ctx.now)?;
    let client = if redeemed.public {
        signin::Client {
            app,
            auth: token::ClientAuth::Public,
        }
    } else {
        signin::authenticate_client(ctx, form, ClientKind::Confidential)?
    };
    let user = ctx
        .tenant
        .user(&redeemed.user_id)
        .map(SignedInUser::from_object)
        .ok_or_else(OAuthError::invalid_code)?;
    let scopes = Scopes::parse(&redeemed.scope)?;
    let mut body = signin::delegated(ctx, &client, &user, &scopes)?;
    // The id token carries the request's `nonce`, which MSAL checks (OpenID Connect Core
    // §3.1.3.6, "nonce").
    if let (Some(nonce), Some(id_token)) = (redeemed.nonce, body.get("id_token").and_then(Value::as_str)) {
        let mut claims: Value =
            token::decode_unverified_as(id_token).map_err(|_| OAuthError::temporarily_unavailable())?;
        claims["nonce"] = Value::String(nonce);
        let signed = token::issue_any(ctx.key, &claims).map_err(|_| OAuthError::temporarily_unavailable())?;
        body["id_token"] = Value::String(signed);
    }
    Ok(body)
}

async fn devicecode_endpoint(
    State(id): State<Arc<Identity>>,
    Path(tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&headers, &body);
    let origin = origin(&id.shared, &headers);
    match start_device_code(&id, &tenant_segment, &origin, &form) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => oauth_error(&e, &headers),
    }
}

/// `/devicecode`: the client must exist and the scope parse; consent and the public-client
/// setting are checked when the code is redeemed, as Entra does.
fn start_device_code(
    id: &Identity,
    tenant_segment: &str,
    origin: &str,
    form: &Form,
) -> Result<Value, OAuthError> {
    let tenant = id.shared.tenant();
    let route = signin::resolve_tenant(&tenant, tenant_segment)?;
    let client_id = form.client_id()?;
    let Some(app) = tenant.client_application(client_id) else {
        return Err(OAuthError::unknown_client(client_id, tenant.tenant_id()));
    };
    signin::check_app_audience(app, route)?;
    let scope = form.require("scope")?;
    Scopes::parse(scope)?;
    drop(tenant);
    let now = id.shared.clock.now();
    let lifetime = id.settings.device_code_lifetime_secs;
    let mut devices = lock(&id.devices);
    devices.prune(now);
    let auth = devices.start(client_id, scope, now + chrono::Duration::seconds(lifetime));
    let verification_uri = format!("{origin}/devicelogin");
    Ok(json!({
        "user_code": auth.user_code,
        "device_code": auth.device_code,
        "verification_uri": verification_uri,
        "expires_in": lifetime,
        "interval": id.settings.device_code_interval_secs,
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {} to authenticate.",
            auth.user_code
        ),
    }))
}

async fn approve(State(id): State<Arc<Identity>>, Path(user_code): Path<String>) -> Response {
    let admin_id = {
        let tenant = id.shared.tenant();
        tenant
            .admin_user()
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let result = lock(&id.devices).approve(&user_code, &admin_id, id.shared.clock.now());
    decision_response(result, &user_code)
}

async fn deny(State(id): State<Arc<Identity>>, Path(user_code): Path<String>) -> Response {
    let result = lock(&id.devices).deny(&user_code, id.shared.clock.now());
    decision_response(result, &user_code)
}

fn decision_response(result: Result<(), Decision>, user_code: &str) -> Response {
    let (status, message) = match result {
        Ok(()) => return StatusCode::NO_CONTENT.into_response(),
        Err(Decision::UnknownCode) => (
            StatusCode::NOT_FOUND,
            format!("no device code has the user code `{user_code}`"),
        ),
        Err(Decision::AlreadyDecided) => (
            StatusCode::CONFLICT,
            format!("the sign-in with user code `{user_code}` was already approved or declined"),
        ),
        Err(Decision::Expired) => (
            StatusCode::GONE,
            format!("the device code with user code `{user_code}` has expired"),
        ),
    };
    json_response(
        status,
        json!({"error": {"code": status.canonical_reason(), "message": message}}),
    )
}

// ---- federated issuers -------------------------------------------------------------------

#[derive(Deserialize)]
struct IssuerRegistration {
    issuer: String,
    jwks: JwkSet,
}

/// `POST /_emulator/issuers` `{"issuer": "https://token.actions.githubusercontent.com",
/// "jwks": {"keys": [...]}}`: trust this issuer's keys for federated client assertions. A test
/// plays the external identity provider by signing its own JWTs with one of these keys.
async fn add_issuer(State(id): State<Arc<Identity>>, body: Bytes) -> Response {
    match serde_json::from_slice::<IssuerRegistration>(&body) {
        Ok(reg) if !reg.issuer.is_empty() && !reg.jwks.keys.is_empty() => {
            lock(&id.issuers).insert(reg.issuer, reg.jwks);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "BadRequest", "message": "`issuer` and at least one key in `jwks.keys` are required"}}),
        ),
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "BadRequest", "message": format!("expected {{\"issuer\": …, \"jwks\": {{\"keys\": […]}}}}: {e}")}}),
        ),
    }
}

async fn list_issuers(State(id): State<Arc<Identity>>) -> Response {
    let mut names: Vec<String> = lock(&id.issuers).keys().cloned().collect();
    names.sort();
    json_response(StatusCode::OK, json!({"issuers": names}))
}

// ---- discovery ---------------------------------------------------------------------------

/// How a discovery document names the tenant: in its endpoints, the tenant id for a tenant
/// path and the segment itself (`organizations`, `common`) otherwise; in `issuer` (and the
/// keys' `issuer`), the tenant id or the literal `{tenantid}`. Entra's
/// `https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration`
/// answers `"token_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"`
/// and `"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"`
/// (learn.microsoft.com/entra/identity-platform/v2-protocols-oidc, "Find your app's OpenID
/// configuration document URI").
struct DiscoveryTenant {
    /// The path segment of every endpoint.
    path: String,
    /// The tenant in `issuer`.
    issuer: String,
}

fn discovery_tenant(tenant: &Tenant, segment: &str) -> Result<DiscoveryTenant, OAuthError> {
    let route = signin::resolve_tenant(tenant, segment)?;
    Ok(match route {
        TenantRoute::Specific => DiscoveryTenant {
            path: tenant.tenant_id().to_owned(),
            issuer: tenant.tenant_id().to_owned(),
        },
        TenantRoute::Organizations | TenantRoute::Common => DiscoveryTenant {
            path: segment.to_ascii_lowercase(),
            issuer: "{tenantid}".to_owned(),
        },
    })
}

async fn openid_configuration_v2(
    State(id): State<Arc<Identity>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = origin(&id.shared, &headers);
    let tenant = id.shared.tenant();
    let DiscoveryTenant { path: t, issuer } = match discovery_tenant(&tenant, &segment) {
        Ok(x) => x,
        Err(e) => return oauth_error(&e, &headers),
    };
    let host = origin.split("://").nth(1).unwrap_or_default();
    // The captured document (docs/graph-notes.md §7 "OIDC metadata and JWKS") with this emulator's host and tenant.
    let doc = json!({
        "token_endpoint": format!("{origin}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{origin}/{t}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{origin}/{issuer}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{origin}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{origin}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{origin}/{t}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{origin}/{t}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": host,
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": host,
        "rbac_url": "https://pas.windows.net"
    });
    discovery_response(doc)
}

/// The v1.0 document, needed to validate `ver` 1.0 tokens (docs/graph-notes.md §7,
/// access-token claims): issuer `https://sts.windows.net/{tid}/` [derived: the
/// v2 document with the v1 endpoints].
async fn openid_configuration_v1(
    State(id): State<Arc<Identity>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let origin = origin(&id.shared, &headers);
    let tenant = id.shared.tenant();
    let DiscoveryTenant { path: t, issuer } = match discovery_tenant(&tenant, &segment) {
        Ok(x) => x,
        Err(e) => return oauth_error(&e, &headers),
    };
    let doc = json!({
        "token_endpoint": format!("{origin}/{t}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{origin}/{t}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": TokenVersion::V1.issuer(&origin, &issuer),
        "authorization_endpoint": format!("{origin}/{t}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{origin}/{t}/oauth2/devicecode"),
        "end_session_endpoint": format!("{origin}/{t}/oauth2/logout"),
        "tenant_region_scope": "WW",
    });
    discovery_response(doc)
}

fn discovery_response(doc: Value) -> Response {
    let mut response = (StatusCode::OK, axum::Json(doc)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, OPTIONS"),
    );
    response
}

async fn jwks_v2(
    State(id): State<Arc<Identity>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    jwks(&id, &segment, &headers, TokenVersion::V2)
}

async fn jwks_v1(
    State(id): State<Arc<Identity>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    jwks(&id, &segment, &headers, TokenVersion::V1)
}

/// One signing key, in Entra's JWKS entry shape. v2 entries name the v2 issuer (with
/// `{tenantid}` for the multi-tenant paths, as Entra's); v1 entries carry no issuer.
fn jwks(id: &Identity, segment: &str, headers: &HeaderMap, version: TokenVersion) -> Response {
    let origin = origin(&id.shared, headers);
    let tenant = id.shared.tenant();
    let issuer = match discovery_tenant(&tenant, segment) {
        Ok(x) => x.issuer,
        Err(e) => return oauth_error(&e, headers),
    };
    let mut key = id.shared.signing_key.jwk(&format!("{origin}/{issuer}/v2.0"));
    if version == TokenVersion::V1
        && let Some(map) = key.as_object_mut()
    {
        map.remove("issuer");
    }
    discovery_response(json!({"keys": [key]}))
}

#[derive(Deserialize)]
struct InstanceQuery {
    authorization_endpoint: Option<String>,
}

/// MSAL's instance discovery (docs/graph-notes.md §7),
/// with this emulator as the first cloud and its own aliases.
async fn instance_discovery(
    State(id): State<Arc<Identity>>,
    headers: HeaderMap,
    Query(query): Query<InstanceQuery>,
) -> Response {
    let origin = origin(&id.shared, &headers);
    let host = origin.split("://").nth(1).unwrap_or_default().to_owned();
    let tenant = query
        .authorization_endpoint
        .as_deref()
        .and_then(|a| url::Url::parse(a).ok())
        .and_then(|u| u.path_segments().and_then(|mut s| s.next().map(str::to_owned)))
        .unwrap_or_else(|| "common".to_owned());
    discovery_response(json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [
            {"preferred_network": host, "preferred_cache": host, "aliases": [host]},
            {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
             "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]},
            {"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn",
             "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
            {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us",
             "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]}
        ]
    }))
}

// ---- Azure Resource Manager reads of the Azure CLI --------------------------------------

#[derive(Deserialize)]
struct ApiVersion {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

/// The cloud metadata document `az cloud register --endpoint-resource-manager URL` reads from
/// `URL/metadata/endpoints?api-version=2022-09-01` (azure-cli `command_modules/cloud/custom.py`
/// `_populate_from_metadata_endpoint`, mapped by `core/cloud.py` `_arm_to_cli_mapper`, which
/// requires `name`, `authentication.loginEndpoint`, `authentication.audiences` and `suffixes`).
/// `2022-09-01` answers one object; older versions an array of clouds (the public schema as
/// published by ARM). Everything points at this emulator: it is the login endpoint, the ARM
/// audience and, as `microsoftGraphResourceId`, both Graph's token audience and Graph's base URL
/// (the Azure CLI's Graph client uses that one value for both: `role/_msgrpah/_graph_client.py`).
async fn metadata_endpoints(
    State(id): State<Arc<Identity>>,
    headers: HeaderMap,
    Query(query): Query<ApiVersion>,
) -> Response {
    let origin = origin(&id.shared, &headers);
    let host = origin.split("://").nth(1).unwrap_or_default();
    let host_name = host.split(':').next().unwrap_or(host);
    let doc = json!({
        "portal": origin,
        "authentication": {
            "loginEndpoint": origin,
            "audiences": [format!("{origin}/")],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "media": origin,
        "graphAudience": format!("{origin}/"),
        "graph": format!("{origin}/"),
        "name": "ProvisionEmulator",
        "suffixes": {
            "acrLoginServer": host_name,
            "sqlServerHostname": host_name,
            "keyVaultDns": host_name,
            "storage": host_name
        },
        "batch": format!("{origin}/"),
        "resourceManager": format!("{origin}/"),
        "vmImageAliasDoc": format!("{origin}/metadata/vm-image-aliases"),
        "activeDirectoryDataLake": format!("{origin}/"),
        "sqlManagement": format!("{origin}/"),
        "microsoftGraphResourceId": format!("{origin}/"),
    });
    let modern = query.api_version.as_deref().is_some_and(|v| v >= "2022-09-01");
    json_response(StatusCode::OK, if modern { doc } else { json!([doc]) })
}

/// ARM checks the bearer token (`None`: accepted); the answers are `AuthenticationFailed` /
/// `InvalidAuthenticationToken`, ARM's codes for a missing and a bad token.
fn arm_rejection(id: &Identity, headers: &HeaderMap) -> Option<Response> {
    let origin = origin(&id.shared, headers);
    let unauthorized = |code: &str, message: &str| {
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": code, "message": message}}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        r
    };
    let Some(raw) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Some(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let token = raw.strip_prefix("Bearer ").unwrap_or_default().trim();
    let audiences = [
        origin.as_str(),
        id.shared.base_url.as_str(),
        "https://management.core.windows.net/",
        "https://management.azure.com/",
    ];
    let tenant_id = id.shared.tenant().tenant_id().to_owned();
    match token::verify_at(
        Keys::Signing(&id.shared.signing_key),
        token,
        &audiences,
        id.shared.clock.now().timestamp(),
    ) {
        Ok(claims) if claims.tid.eq_ignore_ascii_case(&tenant_id) => None,
        Err(token::VerifyError::Expired) => Some(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )),
        _ => Some(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
    }
}

/// `GET /subscriptions`: the tenant has none (`az login --allow-no-subscriptions`).
async fn subscriptions(State(id): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    if let Some(r) = arm_rejection(&id, &headers) {
        return r;
    }
    json_response(
        StatusCode::OK,
        json!({"value": [], "count": {"type": "Total", "value": 0}}),
    )
}

/// `GET /tenants`: the one tenant, in ARM's `TenantIdDescription` shape.
async fn tenants(State(id): State<Arc<Identity>>, headers: HeaderMap) -> Response {
    if let Some(r) = arm_rejection(&id, &headers) {
        return r;
    }
    let tenant = id.shared.tenant();
    let display = tenant
        .organization
        .get("displayName")
        .cloned()
        .unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        json!({"value": [{
            "id": format!("/tenants/{}", tenant.tenant_id()),
            "tenantId": tenant.tenant_id(),
            "countryCode": "US",
            "displayName": display,
            "domains": [tenant.domain()],
            "tenantCategory": "Home",
            "defaultDomain": tenant.domain(),
            "tenantType": "AAD"
        }]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20app:a%2Bb%3Ac");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("my app".to_owned(), "a+b:c".to_owned()))
        );
    }
}
