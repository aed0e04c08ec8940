//! Entra's refusals: the OAuth error a sign-in endpoint answered, reduced to what a person can act
//! on (the `error`, the AADSTS code and the first line of the description), and the help text for
//! the codes that have a fix. Pure: no I/O.
//!
//! Branch on `error` and the AADSTS code, never on the wording (docs/graph-notes.md §7 "Token error
//! format", `reference-error-codes.md`). The description's later lines are trace and correlation
//! ids, kept out of messages.

use std::fmt;

use oauth2::{ErrorResponseType, RequestTokenError, StandardErrorResponse};

/// One refused sign-in request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The OAuth `error`: `invalid_client`, `invalid_grant`, `expired_token`, …
    pub error: String,
    /// `AADSTS65001` → 65001.
    pub aadsts: Option<u32>,
    /// The first line of `error_description` (never holds a credential: Entra echoes ids only).
    pub description: String,
}

impl Refusal {
    pub fn new(error: &str, description: Option<&str>) -> Self {
        let first = description
            .and_then(|d| d.lines().next())
            .unwrap_or_default()
            .trim()
            .to_owned();
        let aadsts = first
            .strip_prefix("AADSTS")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.trim().parse().ok());
        Refusal {
            error: error.to_owned(),
            aadsts,
            description: first,
        }
    }

    pub fn is(&self, code: u32) -> bool {
        self.aadsts == Some(code)
    }

    /// A refresh token that can no longer be redeemed (expired, revoked, for another client):
    /// the user has to sign in again (`invalid_grant`, docs/graph-notes.md §7 "Refresh token").
    /// Missing consent is also `invalid_grant` but signing in again does not fix it.
    pub fn needs_new_sign_in(&self) -> bool {
        self.error == "invalid_grant" && !self.is(codes::CONSENT_REQUIRED)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.description.is_empty() {
            f.write_str(&self.error)
        } else {
            f.write_str(&self.description)
        }
    }
}

impl std::error::Error for Refusal {}

/// The AADSTS codes `provision` explains (docs/graph-notes.md §7).
pub mod codes {
    /// The user or administrator has not consented to the scopes.
    pub const CONSENT_REQUIRED: u32 = 65001;
    /// The user declined the device-code sign-in, or cancelled the browser's consent page.
    pub const DECLINED: u32 = 65004;
    /// A Conditional Access policy blocked the sign-in.
    pub const CONDITIONAL_ACCESS: u32 = 53003;
    /// The redirect URI is not registered on the app (shown on Entra's page, not returned).
    pub const REDIRECT_URI_MISMATCH: u32 = 50011;
    /// No application with this client id in the tenant.
    pub const UNKNOWN_CLIENT: u32 = 700016;
    /// Wrong or expired client secret.
    pub const INVALID_SECRET: u32 = 7000215;
    /// A confidential client sent no credential: device code on an app that does not allow
    /// public client flows.
    pub const CREDENTIAL_REQUIRED: u32 = 7000218;
    /// The client assertion failed validation: unknown or expired certificate, bad signature.
    pub const BAD_ASSERTION: u32 = 700027;
    /// The client assertion is outside its validity window.
    pub const ASSERTION_EXPIRED: u32 = 700024;
    /// No federated identity credential matches the assertion's issuer, subject and audience.
    pub const NO_FEDERATED_MATCH: u32 = 70021;
    /// The device code expired before the sign-in was completed.
    pub const DEVICE_CODE_EXPIRED: u32 = 70019;
    /// The tenant was not found.
    pub const TENANT_NOT_FOUND: u32 = 90002;
    /// The resource has no service principal in the tenant.
    pub const RESOURCE_NOT_FOUND: u32 = 500011;
}

/// Why a request to a sign-in endpoint failed.
#[derive(Debug)]
pub enum Failure {
    /// Entra answered with an OAuth error.
    Refused(Refusal),
    /// The endpoint could not be reached, or answered with something that is not OAuth.
    Transport(crate::Error),
}

impl Failure {
    pub fn from_oauth<RE, T>(e: RequestTokenError<RE, StandardErrorResponse<T>>) -> Failure
    where
        RE: std::error::Error + Send + Sync + 'static,
        T: ErrorResponseType + fmt::Display + Send + Sync + 'static,
    {
        match e {
            RequestTokenError::ServerResponse(r) => Failure::Refused(Refusal::new(
                &r.error().to_string(),
                r.error_description().map(String::as_str),
            )),
            RequestTokenError::Request(e) => {
                // Not reaching the endpoint is not a refusal of the credentials: exit 1, with
                // the host and the cause in words.
                let url = crate::error::url_in_chain(&e).unwrap_or_else(|| "the sign-in endpoint".into());
                Failure::Transport(crate::Error::unreachable("the sign-in endpoint", &url, &e))
            }
            RequestTokenError::Parse(e, _) => Failure::Transport(
                crate::Error::auth("the sign-in endpoint answered with something that is not a token")
                    .with_source(e),
            ),
            RequestTokenError::Other(m) => {
                Failure::Transport(crate::Error::auth(format!("sign-in failed: {m}")))
            }
        }
    }

    /// The error for a refusal without a more specific explanation.
    pub fn into_error(self, who: &str, help: impl FnOnce(&Refusal) -> Option<String>) -> crate::Error {
        match self {
            Failure::Transport(e) => e,
            Failure::Refused(r) => {
                let mut e = crate::Error::auth(format!("sign-in as {who} was refused: {}", r));
                if let Some(h) = help(&r).or_else(|| generic_help(&r).map(str::to_owned)) {
                    e = e.with_help(h);
                }
                e
            }
        }
    }
}

/// Help for the codes whose fix does not depend on how `provision` signed in.
pub fn generic_help(r: &Refusal) -> Option<&'static str> {
    Some(match r.aadsts? {
        codes::TENANT_NOT_FOUND => {
            "the tenant was not found: check --tenant, PROVISION_TENANT or AZURE_TENANT_ID"
        }
        codes::UNKNOWN_CLIENT => {
            "no application with this client id exists in the tenant: check the client id and the tenant"
        }
        codes::INVALID_SECRET => "the client secret is wrong or expired: check AZURE_CLIENT_SECRET",
        codes::BAD_ASSERTION => {
            "the certificate is not one of the app's certificates, has expired, or the assertion was not \
             signed with its key: upload the certificate under the app registration's Certificates & secrets"
        }
        codes::ASSERTION_EXPIRED => "the assertion has expired: request a fresh one",
        codes::DECLINED => {
            "the sign-in was declined or cancelled in the browser: run the command again and accept"
        }
        codes::CONDITIONAL_ACCESS => {
            "a Conditional Access policy blocks this sign-in: try the other interactive sign-in (browser or device code), or ask an administrator which sign-in the policy allows"
        }
        codes::DEVICE_CODE_EXPIRED => {
            "the code was not entered in time: run the command again and finish the sign-in within the time shown"
        }
        codes::RESOURCE_NOT_FOUND => {
            "the API has no service principal in this tenant: `provision apply` creates it for known first-party APIs"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_first_line_are_kept() {
        let r = Refusal::new(
            "invalid_grant",
            Some(
                "AADSTS65001: The user or administrator has not consented to use the application with ID 'x'.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z",
            ),
        );
        assert_eq!(r.aadsts, Some(65001));
        assert!(!r.to_string().contains("Trace ID"));
        assert!(!r.needs_new_sign_in(), "consent is not fixed by signing in again");
        let expired = Refusal::new(
            "invalid_grant",
            Some("AADSTS700082: The refresh token has expired."),
        );
        assert!(expired.needs_new_sign_in());
        let bare = Refusal::new("expired_token", None);
        assert_eq!(bare.aadsts, None);
        assert_eq!(bare.to_string(), "expired_token");
    }
}
