//! Signing in to Microsoft Graph: the credential sources, chosen by `--auth` or tried in order by
//! `auto`, each producing a bearer token whose `tid` claim names the tenant (SPEC.md: the tenant
//! ID is read from the token, not fetched). Tokens and secrets never reach messages.

use std::fmt;

use base64::Engine;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};

use crate::cli::AuthMethod;
use crate::error::{Error, Result};

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

/// What sign-in needs to know.
pub struct SignIn<'a> {
    pub method: AuthMethod,
    pub authority_url: &'a str,
    pub tenant: Option<&'a str>,
    /// `https://graph.microsoft.com/.default` for the public cloud.
    pub graph_scope: &'a str,
    pub http: &'a reqwest::Client,
    pub explicit: Option<ClientSecretCredential>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub async fn sign_in(s: &SignIn<'_>) -> Result<GraphToken> {
    if let Some(cred) = &s.explicit {
        return client_secret(s, cred.clone()).await;
    }
    let secret_from_env = || -> Option<ClientSecretCredential> {
        Some(ClientSecretCredential {
            client_id: env("AZURE_CLIENT_ID")?,
            client_secret: env("AZURE_CLIENT_SECRET")?,
        })
    };
    match s.method {
        AuthMethod::AccessToken => match env("PROVISION_ACCESS_TOKEN") {
            Some(t) => access_token(t),
            None => Err(Error::auth("`--auth access-token` needs PROVISION_ACCESS_TOKEN")
                .with_help("set PROVISION_ACCESS_TOKEN to a bearer token for Microsoft Graph")),
        },
        AuthMethod::ClientSecret => match secret_from_env() {
            Some(c) => client_secret(s, c).await,
            None => Err(
                Error::auth("`--auth client-secret` needs AZURE_CLIENT_ID and AZURE_CLIENT_SECRET")
                    .with_help("set both, and the tenant with --tenant or AZURE_TENANT_ID"),
            ),
        },
        AuthMethod::Auto => {
            if let Some(t) = env("PROVISION_ACCESS_TOKEN") {
                return access_token(t);
            }
            if let Some(c) = secret_from_env() {
                return client_secret(s, c).await;
            }
            Err(Error::auth("no credentials for Microsoft Graph were found").with_help(
                "set AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID, or PROVISION_ACCESS_TOKEN; \
                 or add --emulator to run against the built-in emulator",
            ))
        }
    }
}

fn access_token(token: String) -> Result<GraphToken> {
    let tenant_id = tenant_of(&token).ok_or_else(|| {
        Error::auth("PROVISION_ACCESS_TOKEN is not a Microsoft Entra access token")
            .with_help("the token must be a JWT with a `tid` claim, e.g. from `az account get-access-token --resource https://graph.microsoft.com`")
    })?;
    Ok(GraphToken {
        secret: token,
        tenant_id,
        source: "PROVISION_ACCESS_TOKEN",
    })
}

async fn client_secret(s: &SignIn<'_>, cred: ClientSecretCredential) -> Result<GraphToken> {
    let tenant = s.tenant.ok_or_else(|| {
        Error::auth("signing in with a client secret needs the tenant")
            .with_help("pass --tenant, or set PROVISION_TENANT or AZURE_TENANT_ID")
    })?;
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        s.authority_url.trim_end_matches('/'),
        tenant
    );
    let token_url = TokenUrl::new(token_url.clone())
        .map_err(|e| Error::failure(format!("invalid token endpoint `{token_url}`")).with_source(e))?;
    let client = BasicClient::new(ClientId::new(cred.client_id.clone()))
        .set_client_secret(ClientSecret::new(cred.client_secret))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url);
    let response = client
        .exchange_client_credentials()
        .add_scope(Scope::new(s.graph_scope.to_owned()))
        .request_async(s.http)
        .await
        .map_err(|e| token_error(e, &cred.client_id))?;
    let token = response.access_token().secret().to_owned();
    let tenant_id = tenant_of(&token)
        .ok_or_else(|| Error::auth("the sign-in endpoint returned an access token without a `tid` claim"))?;
    Ok(GraphToken {
        secret: token,
        tenant_id,
        source: "client secret",
    })
}

/// Entra's error body carries the AADSTS code in `error_description`; keep its first line (the
/// rest is trace and correlation ids) and map the codes a person can act on to a hint.
fn token_error<RE: std::error::Error + Send + Sync + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    client_id: &str,
) -> Error {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let description = r
                .error_description()
                .map(|d| d.lines().next().unwrap_or_default().trim().to_owned());
            let text = description.clone().unwrap_or_else(|| r.error().to_string());
            let mut err = Error::auth(format!("sign-in as client `{client_id}` was refused: {text}"));
            let code = description
                .as_deref()
                .and_then(|d| d.split(':').next())
                .unwrap_or_default();
            let help = match code {
                "AADSTS7000215" => Some("the client secret is wrong or expired: check AZURE_CLIENT_SECRET"),
                "AADSTS700016" => Some(
                    "no application with this client id exists in the tenant: check AZURE_CLIENT_ID and the tenant",
                ),
                "AADSTS90002" => Some("the tenant was not found: check --tenant or AZURE_TENANT_ID"),
                _ => None,
            };
            if let Some(h) = help {
                err = err.with_help(h);
            }
            err
        }
        RequestTokenError::Request(e) => {
            Error::auth("the sign-in endpoint could not be reached").with_source(e)
        }
        RequestTokenError::Parse(e, _) => {
            Error::auth("the sign-in endpoint answered with something that is not a token").with_source(e)
        }
        RequestTokenError::Other(m) => Error::auth(format!("sign-in failed: {m}")),
    }
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
}
