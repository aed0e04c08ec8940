//! Federated credentials (workload identity federation): an assertion issued by another
//! identity provider, exchanged at the token endpoint as a `client_assertion` that Entra matches
//! to one of the app's `federatedIdentityCredentials` by issuer, subject and audience
//! (docs/graph-notes.md §7 "Client credentials").
//!
//! Two places hold the assertion:
//! - `AZURE_FEDERATED_TOKEN_FILE` (Kubernetes workload identity, the Azure SDKs' convention). The
//!   file is read again for every token request: its writer rotates it, and a token read once
//!   at start-up expires under a long run.
//! - GitHub Actions' OIDC request variables `ACTIONS_ID_TOKEN_REQUEST_URL` and
//!   `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (a job with `permissions: id-token: write`): `GET
//!   {url}&audience=api://AzureADTokenExchange` with the request token as bearer answers
//!   `{"value": "<jwt>"}` (actions/toolkit `packages/core/src/oidc-utils.ts`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The audience Entra expects on federated assertions (`application-post-federatedidentitycredentials.md`).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Where the assertion comes from.
#[derive(Clone)]
pub enum AssertionSource {
    File(PathBuf),
    GitHubActions {
        request_url: String,
        request_token: String,
    },
}

impl std::fmt::Debug for AssertionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssertionSource::File(p) => f.debug_tuple("File").field(p).finish(),
            // The request token is a credential.
            AssertionSource::GitHubActions { .. } => f.write_str("GitHubActions"),
        }
    }
}

impl AssertionSource {
    /// What `-v` and errors call it.
    pub fn describe(&self) -> String {
        match self {
            AssertionSource::File(p) => format!("the token file `{}`", p.display()),
            AssertionSource::GitHubActions { .. } => "the GitHub Actions OIDC token".to_owned(),
        }
    }

    /// A fresh assertion: read now, never remembered.
    pub async fn assertion(&self, http: &reqwest::Client) -> Result<String> {
        match self {
            AssertionSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    Error::auth(format!(
                        "cannot read the federated token file `{}`",
                        path.display()
                    ))
                    .with_source(e)
                    .with_help("AZURE_FEDERATED_TOKEN_FILE must name a file holding a JWT")
                })?;
                let token = text.trim().to_owned();
                if token.split('.').count() != 3 {
                    return Err(Error::auth(format!(
                        "the federated token file `{}` does not hold a JWT",
                        path.display()
                    )));
                }
                Ok(token)
            }
            AssertionSource::GitHubActions {
                request_url,
                request_token,
            } => {
                let mut url = url::Url::parse(request_url)
                    .map_err(|e| Error::auth("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL").with_source(e))?;
                url.query_pairs_mut()
                    .append_pair("audience", TOKEN_EXCHANGE_AUDIENCE);
                #[derive(Deserialize)]
                struct Answer {
                    value: Option<String>,
                }
                let response = crate::trace::send(http, http.get(url).bearer_auth(request_token))
                    .await
                    .map_err(|e| {
                        Error::auth("cannot reach the GitHub Actions OIDC endpoint").with_source(e)
                    })?;
                let status = response.status();
                if !status.is_success() {
                    return Err(
                        Error::auth(format!("the GitHub Actions OIDC endpoint answered {status}"))
                            .with_help("the job needs `permissions: id-token: write`"),
                    );
                }
                let answer: Answer = response.json().await.map_err(|e| {
                    Error::auth("the GitHub Actions OIDC endpoint answered without a token").with_source(e)
                })?;
                answer
                    .value
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| Error::auth("the GitHub Actions OIDC endpoint answered without a token"))
            }
        }
    }
}

/// `iss` and `sub` of an assertion, unverified: not secret, and what a federated credential
/// must match, so errors can say which credential to add.
pub fn issuer_and_subject(assertion: &str) -> Option<(String, String)> {
    let claims = super::unverified_claims(assertion)?;
    Some((
        claims.get("iss")?.as_str()?.to_owned(),
        claims.get("sub")?.as_str()?.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_is_read_again_for_every_assertion() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "a.b.c\n").unwrap();
        let source = AssertionSource::File(path.clone());
        let http = reqwest::Client::new();
        assert_eq!(source.assertion(&http).await.unwrap(), "a.b.c");
        std::fs::write(&path, "d.e.f").unwrap();
        assert_eq!(source.assertion(&http).await.unwrap(), "d.e.f");
        std::fs::write(&path, "not a jwt").unwrap();
        assert!(source.assertion(&http).await.is_err());
        let gh = AssertionSource::GitHubActions {
            request_url: "https://x".into(),
            request_token: "secret-request-token".into(),
        };
        assert!(!format!("{gh:?}").contains("secret"));
    }
}
