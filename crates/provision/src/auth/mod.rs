//! Signing in to Microsoft Graph: the credential sources, chosen by `--auth` or tried in order by
//! `auto`, each producing a bearer token whose `tid` claim names the tenant (README.md
//! "Signing in": the tenant ID is read from the token, not fetched). Tokens, secrets and assertions never reach messages:
//! the types that hold them keep them out of `Debug`, and `-v` names sources, never values.
//!
//! | source | configured by | flow |
//! | --- | --- | --- |
//! | access token | `PROVISION_ACCESS_TOKEN` | used as it is |
//! | client secret | `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` | client credentials |
//! | certificate | `AZURE_CLIENT_ID`, `AZURE_CLIENT_CERTIFICATE_PATH` | client credentials, signed assertion ([`certificate`]) |
//! | federated | `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` or GitHub's `ACTIONS_ID_TOKEN_REQUEST_*` | client credentials, external assertion ([`federated`]) |
//! | Azure CLI | `az` on PATH, signed in | `az account get-access-token` ([`azure_cli`]) |
//! | browser | a terminal and a browser (`$BROWSER` or a desktop) | delegated, authorization code + PKCE ([`browser`]) |
//! | device code | a terminal, or a cached sign-in | delegated, as an administrator ([`device`], [`cache`]) |
//!
//! `auto` tries them in this order (README.md "Signing in"). A source that is configured and fails
//! stops `auto` with its error, as the Azure SDKs' `DefaultAzureCredential` does for its
//! environment credential; only an Azure CLI that is missing or signed out is passed over.

pub mod azure_cli;
pub mod browser;
pub mod cache;
pub mod certificate;
pub mod device;
pub mod entra;
pub mod federated;
pub mod verify;

use std::fmt;
use std::path::PathBuf;

use base64::Engine;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

use self::cache::TokenCache;
use self::entra::{Failure, Refusal, codes};
use crate::cli::AuthMethod;
use crate::error::{Error, Result};
use crate::output::Printer;

/// The Microsoft Graph Command Line Tools, Microsoft's public client for administrators'
/// sign-ins to Graph (the default client of Microsoft Graph PowerShell:
/// microsoftgraph/msgraph-sdk-powershell `src/Authentication/Authentication/Models/AuthContext.cs`).
pub const GRAPH_COMMAND_LINE_TOOLS: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// The delegated Microsoft Graph permissions an administrator's sign-in asks for: what apply
/// needs to write applications, service principals, grants and app role assignments.
pub const ADMIN_SCOPES: [&str; 3] = [
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];

/// `client_assertion_type` of a JWT client assertion (RFC 7523; `certificate-credentials.md`).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A bearer token for Microsoft Graph and the tenant it is for.
pub struct GraphToken {
    secret: String,
    pub tenant_id: String,
    /// Which source produced it (for `-v`).
    pub source: &'static str,
}

impl GraphToken {
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for GraphToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphToken")
            .field("tenant_id", &self.tenant_id)
            .field("source", &self.source)
            .finish()
    }
}

/// Credentials given explicitly (by `--emulator`) instead of through the environment.
#[derive(Clone)]
pub struct ClientSecretCredential {
    pub client_id: String,
    pub client_secret: String,
}

/// The credentials the environment names, by the Azure SDK conventions (README.md "Signing in").
#[derive(Clone, Default)]
pub struct EnvCredentials {
    pub access_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub certificate_path: Option<PathBuf>,
    pub federated_token_file: Option<PathBuf>,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub github_actions: Option<(String, String)>,
    /// Whether a browser can be opened (`$BROWSER`, or a desktop session).
    pub browser: bool,
}

impl fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("access_token", &self.access_token.is_some())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.is_some())
            .field("certificate_path", &self.certificate_path)
            .field("federated_token_file", &self.federated_token_file)
            .field("github_actions", &self.github_actions.is_some())
            .field("browser", &self.browser)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl EnvCredentials {
    pub fn from_env() -> Self {
        EnvCredentials {
            access_token: env("PROVISION_ACCESS_TOKEN"),
            client_id: env("AZURE_CLIENT_ID"),
            client_secret: env("AZURE_CLIENT_SECRET"),
            certificate_path: env("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            federated_token_file: env("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            github_actions: env("ACTIONS_ID_TOKEN_REQUEST_URL").zip(env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")),
            browser: browser::available(),
        }
    }

    fn federated_source(&self) -> Option<federated::AssertionSource> {
        if let Some(file) = &self.federated_token_file {
            return Some(federated::AssertionSource::File(file.clone()));
        }
        self.github_actions.clone().map(|(request_url, request_token)| {
            federated::AssertionSource::GitHubActions {
                request_url,
                request_token,
            }
        })
    }
}

/// One credential source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    AccessToken,
    ClientSecret,
    Certificate,
    Federated,
    AzureCli,
    Browser,
    DeviceCode,
}

impl Source {
    /// `auto`'s order (README.md "Signing in"); the browser comes before the device code, as in
    /// the Azure CLI and MSAL, whose interactive sign-in is the browser's.
    pub const AUTO_ORDER: [Source; 7] = [
        Source::AccessToken,
        Source::ClientSecret,
        Source::Certificate,
        Source::Federated,
        Source::AzureCli,
        Source::Browser,
        Source::DeviceCode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::AccessToken => "PROVISION_ACCESS_TOKEN",
            Source::ClientSecret => "client secret",
            Source::Certificate => "certificate",
            Source::Federated => "federated token",
            Source::AzureCli => "Azure CLI",
            Source::Browser => "browser",
            Source::DeviceCode => "device code",
        }
    }

    fn of(method: AuthMethod) -> Option<Source> {
        Some(match method {
            AuthMethod::Auto => return None,
            AuthMethod::AccessToken => Source::AccessToken,
            AuthMethod::ClientSecret => Source::ClientSecret,
            AuthMethod::Certificate => Source::Certificate,
            AuthMethod::Federated => Source::Federated,
            AuthMethod::AzureCli => Source::AzureCli,
            AuthMethod::Browser => Source::Browser,
            AuthMethod::DeviceCode => Source::DeviceCode,
        })
    }

    /// Whether the environment configures this source; `Err` says what is missing. Pure.
    pub fn configured(
        self,
        env: &EnvCredentials,
        device_code_possible: bool,
    ) -> std::result::Result<(), String> {
        let need_client_id = |what: &str| {
            if env.client_id.is_some() {
                Ok(())
            } else {
                Err(format!("{what} is set but AZURE_CLIENT_ID is not"))
            }
        };
        match self {
            Source::AccessToken => env
                .access_token
                .as_ref()
                .map(|_| ())
                .ok_or_else(|| "PROVISION_ACCESS_TOKEN is not set".to_owned()),
            Source::ClientSecret => match env.client_secret {
                Some(_) => need_client_id("AZURE_CLIENT_SECRET"),
                None => Err("AZURE_CLIENT_SECRET is not set".to_owned()),
            },
            Source::Certificate => match env.certificate_path {
                Some(_) => need_client_id("AZURE_CLIENT_CERTIFICATE_PATH"),
                None => Err("AZURE_CLIENT_CERTIFICATE_PATH is not set".to_owned()),
            },
            Source::Federated => {
                if env.federated_token_file.is_some() {
                    need_client_id("AZURE_FEDERATED_TOKEN_FILE")
                } else if env.github_actions.is_some() {
                    need_client_id("ACTIONS_ID_TOKEN_REQUEST_URL")
                } else {
                    Err("neither AZURE_FEDERATED_TOKEN_FILE nor ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are set"
                        .to_owned())
                }
            }
            Source::AzureCli => Ok(()),
            Source::Browser => {
                if !device_code_possible {
                    Err("stdin is not a terminal and no sign-in is cached".to_owned())
                } else if !env.browser {
                    Err("no browser: BROWSER is not set and there is no desktop session".to_owned())
                } else {
                    Ok(())
                }
            }
            Source::DeviceCode => {
                if device_code_possible {
                    Ok(())
                } else {
                    Err("stdin is not a terminal and no sign-in is cached".to_owned())
                }
            }
        }
    }
}

/// What sign-in needs to know.
pub struct SignIn<'a> {
    pub method: AuthMethod,
    pub authority_url: &'a str,
    pub tenant: Option<&'a str>,
    /// `https://graph.microsoft.com/.default` for the public cloud.
    pub graph_scope: &'a str,
    pub http: &'a reqwest::Client,
    pub explicit: Option<ClientSecretCredential>,
    pub printer: &'a Printer,
    /// The public client of a device-code sign-in (`--client-id`).
    pub device_client_id: Option<&'a str>,
    /// Whether stdin is a terminal (a device code may be asked for in `auto`).
    pub interactive: bool,
    pub cache: Option<&'a TokenCache>,
    /// The authority the cache files a sign-in under, when not `authority_url` (the
    /// in-process emulator's, whose port changes on every run).
    pub cache_as: Option<&'a str>,
}

/// The cache's name for the in-process emulator's authority.
pub const EMULATOR_CACHE_AUTHORITY: &str = "provision-emulator";

impl SignIn<'_> {
    /// Microsoft Graph's resource identifier: the scope without `/.default`.
    fn graph_resource(&self) -> &str {
        self.graph_scope.trim_end_matches("/.default")
    }

    fn device_client(&self) -> &str {
        self.device_client_id.unwrap_or(GRAPH_COMMAND_LINE_TOOLS)
    }

    /// The tenant segment of a delegated sign-in: as given, else any work or school tenant.
    fn device_tenant(&self) -> &str {
        self.tenant.unwrap_or("organizations")
    }

    fn has_cached_sign_in(&self) -> bool {
        self.cache.is_some_and(|c| {
            c.get(
                self.cache_as.unwrap_or(self.authority_url),
                self.device_tenant(),
                self.device_client(),
            )
            .is_some()
        })
    }
}

enum Attempt {
    Token(GraphToken),
    Unavailable(String),
}

pub async fn sign_in(s: &SignIn<'_>) -> Result<GraphToken> {
    if let Some(cred) = &s.explicit {
        return client_credentials(
            s,
            &cred.client_id,
            Credential::Secret(&cred.client_secret),
            "client secret",
        )
        .await;
    }
    let env = EnvCredentials::from_env();
    if let Some(source) = Source::of(s.method) {
        // Chosen explicitly: a device code may be asked for without a terminal (the prompt
        // goes to stderr), because the user asked for it.
        source
            .configured(&env, true)
            .map_err(|why| missing_configuration(source, &why))?;
        return match attempt(s, &env, source, true).await? {
            Attempt::Token(t) => Ok(t),
            Attempt::Unavailable(why) => Err(Error::auth(format!("the Azure CLI cannot sign in: {why}"))
                .with_help("install the Azure CLI and run `az login`, or choose another --auth")),
        };
    }
    let device_code_possible = s.interactive || s.has_cached_sign_in();
    for source in Source::AUTO_ORDER {
        if let Err(why) = source.configured(&env, device_code_possible) {
            s.printer
                .verbose(&format!("sign-in: skipping {}: {why}", source.name()));
            continue;
        }
        s.printer.verbose(&format!("sign-in: trying {}", source.name()));
        match attempt(s, &env, source, s.interactive).await? {
            Attempt::Token(t) => return Ok(t),
            Attempt::Unavailable(why) => {
                s.printer
                    .verbose(&format!("sign-in: skipping {}: {why}", source.name()));
            }
        }
    }
    Err(Error::auth("no credentials for Microsoft Graph were found").with_help(
        "set AZURE_CLIENT_ID and AZURE_TENANT_ID with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or \
         AZURE_FEDERATED_TOKEN_FILE; or sign in with `az login`; or run in a terminal to sign in with a device \
         code; or add --emulator to run against the built-in emulator (-v shows what was tried)",
    ))
}

fn missing_configuration(source: Source, why: &str) -> Error {
    let help = match source {
        Source::AccessToken => "set PROVISION_ACCESS_TOKEN to a bearer token for Microsoft Graph",
        Source::ClientSecret => {
            "set AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, and the tenant with --tenant or AZURE_TENANT_ID"
        }
        Source::Certificate => {
            "set AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (a PEM file with the certificate and its private key)"
        }
        Source::Federated => {
            "set AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE, or run in GitHub Actions with `permissions: id-token: write`"
        }
        Source::AzureCli | Source::Browser | Source::DeviceCode => "",
    };
    let flag = match source {
        Source::AccessToken => "access-token",
        Source::ClientSecret => "client-secret",
        Source::Certificate => "certificate",
        Source::Federated => "federated",
        Source::AzureCli => "azure-cli",
        Source::Browser => "browser",
        Source::DeviceCode => "device-code",
    };
    Error::auth(format!("`--auth {flag}` cannot sign in: {why}")).with_help(help)
}

async fn attempt(s: &SignIn<'_>, env: &EnvCredentials, source: Source, prompt: bool) -> Result<Attempt> {
    let client_id = env.client_id.as_deref().unwrap_or_default();
    match source {
        Source::AccessToken => {
            let token = env.access_token.clone().unwrap_or_default();
            Ok(Attempt::Token(access_token(token, "PROVISION_ACCESS_TOKEN")?))
        }
        Source::ClientSecret => {
            let secret = env.client_secret.as_deref().unwrap_or_default();
            client_credentials(s, client_id, Credential::Secret(secret), "client secret")
                .await
                .map(Attempt::Token)
        }
        Source::Certificate => {
            let path = env.certificate_path.clone().unwrap_or_default();
            certificate(s, client_id, &path).await.map(Attempt::Token)
        }
        Source::Federated => {
            let Some(from) = env.federated_source() else {
                return Ok(Attempt::Unavailable("no federated token".to_owned()));
            };
            s.printer
                .verbose(&format!("sign-in: federated assertion from {}", from.describe()));
            let assertion = from.assertion(s.http).await?;
            client_credentials(s, client_id, Credential::Federated(&assertion), "federated token")
                .await
                .map(Attempt::Token)
        }
        Source::AzureCli => match azure_cli::get_access_token(s.graph_resource(), s.tenant).await? {
            azure_cli::Outcome::Unavailable(why) => Ok(Attempt::Unavailable(why)),
            azure_cli::Outcome::Token(t) => Ok(Attempt::Token(access_token(t.0, "Azure CLI")?)),
        },
        Source::Browser => interactive(s, prompt, Flow::Browser).await.map(Attempt::Token),
        Source::DeviceCode => interactive(s, prompt, Flow::DeviceCode).await.map(Attempt::Token),
    }
}

/// A token handed over ready-made: it must at least say which tenant it is for.
fn access_token(token: String, source: &'static str) -> Result<GraphToken> {
    let tenant_id = tenant_of(&token).ok_or_else(|| {
        Error::auth(format!("the token from {source} is not a Microsoft Entra access token"))
            .with_help("the token must be a JWT with a `tid` claim, e.g. from `az account get-access-token --resource https://graph.microsoft.com`")
    })?;
    Ok(GraphToken {
        secret: token,
        tenant_id,
        source,
    })
}

/// How a confidential client proves itself.
enum Credential<'a> {
    Secret(&'a str),
    Certificate { assertion: &'a str, thumbprint: &'a str },
    Federated(&'a str),
}

fn token_endpoint(authority: &str, tenant: &str) -> String {
    format!("{}/{}/oauth2/v2.0/token", authority.trim_end_matches('/'), tenant)
}

fn require_tenant<'a>(s: &SignIn<'a>, what: &str) -> Result<&'a str> {
    s.tenant.ok_or_else(|| {
        Error::auth(format!("signing in with {what} needs the tenant"))
            .with_help("pass --tenant, or set PROVISION_TENANT or AZURE_TENANT_ID")
    })
}

async fn certificate(s: &SignIn<'_>, client_id: &str, path: &std::path::Path) -> Result<GraphToken> {
    let tenant = require_tenant(s, "a certificate")?;
    let pem = tokio::fs::read_to_string(path).await.map_err(|e| {
        Error::auth(format!("cannot read the certificate `{}`", path.display()))
            .with_source(e)
            .with_help(
                "AZURE_CLIENT_CERTIFICATE_PATH must name a PEM file with the certificate and its private key",
            )
    })?;
    let cert = certificate::ClientCertificate::from_pem(&pem).map_err(|e| {
        Error::auth(format!("cannot use the certificate `{}`", path.display()))
            .with_source(e)
            .with_help("AZURE_CLIENT_CERTIFICATE_PATH must name a PEM file with the certificate and its unencrypted private key, e.g. `cat cert.pem key.pem > client.pem`")
    })?;
    let now = chrono::Utc::now().timestamp();
    let date = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    if cert.not_after < now {
        return Err(Error::auth(format!(
            "the certificate `{}` expired on {}",
            path.display(),
            date(cert.not_after)
        ))
        .with_help("create a new certificate, add it to the app registration's certificates, and point AZURE_CLIENT_CERTIFICATE_PATH at it"));
    }
    if cert.not_before > now + 300 {
        return Err(Error::auth(format!(
            "the certificate `{}` is not valid before {}",
            path.display(),
            date(cert.not_before)
        )));
    }
    s.printer.verbose(&format!(
        "sign-in: certificate `{}` (x5t#S256 {}, valid until {})",
        path.display(),
        cert.thumbprint_s256,
        date(cert.not_after)
    ));
    let assertion = cert
        .assertion(client_id, &token_endpoint(s.authority_url, tenant), now)
        .map_err(|e| Error::auth("cannot sign the client assertion").with_source(e))?;
    client_credentials(
        s,
        client_id,
        Credential::Certificate {
            assertion: &assertion,
            thumbprint: &cert.thumbprint_s256,
        },
        "certificate",
    )
    .await
}

/// The client credentials grant (`v2-oauth2-client-creds-grant-flow.md`) for Graph's `.default`.
async fn client_credentials(
    s: &SignIn<'_>,
    client_id: &str,
    credential: Credential<'_>,
    source: &'static str,
) -> Result<GraphToken> {
    let what = match credential {
        Credential::Secret(_) => "a client secret",
        Credential::Certificate { .. } => "a certificate",
        Credential::Federated(_) => "a federated token",
    };
    let tenant = require_tenant(s, what)?;
    let url = token_endpoint(s.authority_url, tenant);
    let token_url = TokenUrl::new(url.clone())
        .map_err(|e| Error::failure(format!("invalid token endpoint `{url}`")).with_source(e))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url);
    if let Credential::Secret(secret) = credential {
        client = client.set_client_secret(ClientSecret::new(secret.to_owned()));
    }
    let mut request = client
        .exchange_client_credentials()
        .add_scope(Scope::new(s.graph_scope.to_owned()));
    if let Credential::Certificate { assertion, .. } | Credential::Federated(assertion) = credential {
        request = request
            .add_extra_param("client_assertion_type", JWT_BEARER)
            .add_extra_param("client_assertion", assertion.to_owned());
    }
    let response = request
        .request_async(&crate::trace::OAuthHttp(s.http))
        .await
        .map_err(|e| {
            Failure::from_oauth(e).into_error(&format!("client `{client_id}`"), |r| {
                confidential_help(r, client_id, &credential)
            })
        })?;
    let token = response.access_token().secret().to_owned();
    let tenant_id = tenant_of(&token)
        .ok_or_else(|| Error::auth("the sign-in endpoint returned an access token without a `tid` claim"))?;
    Ok(GraphToken {
        secret: token,
        tenant_id,
        source,
    })
}

fn confidential_help(r: &Refusal, client_id: &str, credential: &Credential<'_>) -> Option<String> {
    match (credential, r.aadsts?) {
        (Credential::Certificate { thumbprint, .. }, codes::BAD_ASSERTION) => Some(format!(
            "the certificate (x5t#S256 `{thumbprint}`) is not one of app `{client_id}`'s current certificates: \
             upload it under the app registration's Certificates & secrets, or check AZURE_CLIENT_CERTIFICATE_PATH"
        )),
        (Credential::Federated(assertion), codes::NO_FEDERATED_MATCH) => {
            let (iss, sub) = federated::issuer_and_subject(assertion)?;
            Some(format!(
                "add a federated credential to app `{client_id}` with issuer `{iss}`, subject `{sub}` and audience `{}`",
                federated::TOKEN_EXCHANGE_AUDIENCE
            ))
        }
        (Credential::Federated(_), codes::BAD_ASSERTION | codes::ASSERTION_EXPIRED) => Some(
            "the federated token was refused (unknown issuer key, bad signature or expired): check the identity provider that wrote it"
                .to_owned(),
        ),
        _ => None,
    }
}

/// An administrator's interactive sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Browser,
    DeviceCode,
}

/// The administrator's delegated sign-in to Graph in the browser or with a device code (a
/// cached sign-in of the same client first, whichever flow made it).
async fn interactive(s: &SignIn<'_>, prompt: bool, flow: Flow) -> Result<GraphToken> {
    let resource = s.graph_resource();
    let client_id = s.device_client();
    let tenant = s.device_tenant();
    let scopes: Vec<String> = ADMIN_SCOPES.iter().map(|p| format!("{resource}/{p}")).collect();
    let request = device::Request {
        authority_url: s.authority_url,
        tenant,
        client_id,
        scopes,
        http: s.http,
        printer: s.printer,
        cache: s.cache,
        cache_as: s.cache_as.unwrap_or(s.authority_url),
        prompt,
    };
    let result = match flow {
        Flow::Browser => browser::acquire(&request, browser::timeout()).await,
        Flow::DeviceCode => device::acquire(&request).await,
    };
    let token = result.map_err(|f| {
        f.into_error(&format!("client `{client_id}`"), |r| match r.aadsts? {
            codes::CREDENTIAL_REQUIRED => Some(format!(
                "client `{client_id}` does not allow public client flows: pass --client-id of an app with \
                 \"Allow public client flows\" enabled"
            )),
            codes::CONSENT_REQUIRED => Some(format!(
                "an administrator must consent to {} for client `{client_id}`: {}",
                ADMIN_SCOPES.join(", "),
                crate::render::admin_consent_url(s.authority_url, tenant, client_id)
            )),
            codes::CONDITIONAL_ACCESS => Some(match flow {
                Flow::DeviceCode => "a Conditional Access policy blocks this sign-in (device code is often blocked): \
                     try `--auth browser`, or ask an administrator which sign-in the policy allows"
                    .to_owned(),
                Flow::Browser => "a Conditional Access policy blocks this sign-in: try `--auth device-code` \
                     from an allowed device or network, or ask an administrator which sign-in the policy allows"
                    .to_owned(),
            }),
            _ => None,
        })
    })?;
    let secret = token.secret().to_owned();
    let source = match token.how {
        "device code" => "device code",
        "browser" => "browser",
        _ => "cached sign-in",
    };
    access_token(secret, source)
}

/// The `tid` claim of a JWT, read without verifying it (Graph verifies it; we only route).
pub fn tenant_of(token: &str) -> Option<String> {
    let claims = unverified_claims(token)?;
    claims.get("tid")?.as_str().map(str::to_owned)
}

/// The payload of a JWT as JSON, without verifying the signature.
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The header of a JWT as JSON, without verifying the signature.
pub fn unverified_header(token: &str) -> Option<serde_json::Value> {
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

// --- app-only sign-in as a provisioned app (issue 17) ----------------------------------------

/// The credential of a provisioned confidential app, from the output file.
pub enum AppCredential<'a> {
    Secret(&'a str),
    /// A PEM file with the certificate and its private key.
    CertificatePath(&'a std::path::Path),
}

/// Client credentials as the app itself, for `scope` (`{resource}/.default`).
pub async fn app_token(
    http: &reqwest::Client,
    printer: &Printer,
    authority_url: &str,
    tenant: &str,
    client_id: &str,
    scope: &str,
    credential: AppCredential<'_>,
) -> Result<GraphToken> {
    let s = SignIn {
        method: AuthMethod::Auto,
        authority_url,
        tenant: Some(tenant),
        graph_scope: scope,
        http,
        explicit: None,
        printer,
        device_client_id: None,
        interactive: false,
        cache: None,
        cache_as: None,
    };
    match credential {
        AppCredential::Secret(secret) => {
            client_credentials(&s, client_id, Credential::Secret(secret), "client secret").await
        }
        AppCredential::CertificatePath(path) => certificate(&s, client_id, path).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_is_read_from_the_token() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"tid":"84841066-274d-4ec0-a5c1-276be684bdd3","aud":"https://graph.microsoft.com"}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        assert_eq!(
            tenant_of(&token).as_deref(),
            Some("84841066-274d-4ec0-a5c1-276be684bdd3")
        );
        assert_eq!(unverified_header(&token).unwrap()["alg"], "none");
        assert_eq!(tenant_of("not-a-jwt"), None);
        let dbg = format!(
            "{:?}",
            GraphToken {
                secret: token,
                tenant_id: "t".into(),
                source: "x"
            }
        );
        assert!(
            !dbg.contains(&payload),
            "the token must not appear in Debug output"
        );
    }

    fn configured(env: &EnvCredentials, terminal: bool) -> Vec<Source> {
        Source::AUTO_ORDER
            .into_iter()
            .filter(|s| s.configured(env, terminal).is_ok())
            .collect()
    }

    #[test]
    fn auto_order_follows_the_spec() {
        let all = EnvCredentials {
            access_token: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some("s".into()),
            certificate_path: Some("c.pem".into()),
            federated_token_file: Some("f".into()),
            github_actions: None,
            browser: true,
        };
        assert_eq!(configured(&all, true), Source::AUTO_ORDER.to_vec());
        // Without a terminal or a cached sign-in, neither browser nor device code is tried; the
        // Azure CLI is always worth a try (it reports itself unavailable).
        let none = EnvCredentials::default();
        assert_eq!(configured(&none, false), vec![Source::AzureCli]);
        // On a terminal without a browser, device code is the interactive sign-in.
        assert_eq!(
            configured(&none, true),
            vec![Source::AzureCli, Source::DeviceCode]
        );
        // A secret without its client id is not a configuration, and says so.
        let half = EnvCredentials {
            client_secret: Some("s".into()),
            ..Default::default()
        };
        assert_eq!(
            Source::ClientSecret.configured(&half, false).unwrap_err(),
            "AZURE_CLIENT_SECRET is set but AZURE_CLIENT_ID is not"
        );
        let gh = EnvCredentials {
            client_id: Some("c".into()),
            github_actions: Some(("https://x".into(), "secret-request-token".into())),
            ..Default::default()
        };
        assert!(Source::Federated.configured(&gh, false).is_ok());
        assert!(!format!("{gh:?}").contains("secret-request-token"));
    }
}
