//! Authorisation of Graph calls from the bearer token: who may call what. The permission lists
//! are the docs' tables for each operation (graph-reference §1–§4 and `data/*.json` →
//! `permissions`); a token needs one of them, as an app role (`roles`, app-only) or a delegated
//! scope (`scp`). Pure apart from the token check.

use crate::emulator::identity::keys::SigningKey;
use crate::emulator::identity::token::{self, Claims, Keys, VerifyError};
use crate::emulator::store::GraphError;

/// The audiences Microsoft Graph accepts: its resource URL and its appId.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// What an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read applications, service principals, their navigations and deleted items.
    AppRead,
    /// Write applications (create, update, upsert, delete, addPassword, federated credentials,
    /// deleted items).
    AppWrite,
    /// Write service principals (their upsert page adds `Directory.ReadWrite.All`).
    SpWrite,
    /// List or read oauth2PermissionGrants.
    GrantRead,
    /// Create, update or delete oauth2PermissionGrants.
    GrantWrite,
    /// Create or delete app role assignments.
    AssignWrite,
    /// `GET /organization`.
    OrgRead,
    /// `GET /me`: a signed-in user only.
    Me,
}

impl Perm {
    /// (application roles, delegated scopes) that allow the operation.
    ///
    /// `Application.ReadWrite.OwnedBy` is left out of the write lists: it only covers apps the
    /// caller owns, and this emulator does not model owners, so it grants nothing here.
    fn allowed(self) -> (&'static [&'static str], &'static [&'static str]) {
        const APP_READ_ROLES: &[&str] = &[
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Application.ReadWrite.OwnedBy",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ];
        const APP_READ_SCOPES: &[&str] = &[
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
        ];
        match self {
            Perm::AppRead => (APP_READ_ROLES, APP_READ_SCOPES),
            // application-post-applications.md, application-update, application-upsert.
            Perm::AppWrite => (
                &["Application.ReadWrite.All"],
                &["Application.ReadWrite.All", "Directory.AccessAsUser.All"],
            ),
            // serviceprincipal-upsert: higher Application.ReadWrite.All, Directory.ReadWrite.All.
            Perm::SpWrite => (
                &["Application.ReadWrite.All", "Directory.ReadWrite.All"],
                &[
                    "Application.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ],
            ),
            // oauth2permissiongrant-list: least Directory.Read.All.
            Perm::GrantRead => (
                &[
                    "Directory.Read.All",
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
                &[
                    "Directory.Read.All",
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ],
            ),
            // oauth2permissiongrant-post / -update.
            Perm::GrantWrite => (
                &[
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
                &[
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ],
            ),
            // serviceprincipal-post-approleassignments.md.
            Perm::AssignWrite => (
                &["AppRoleAssignment.ReadWrite.All"],
                &["AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"],
            ),
            // organization-list: application Organization.Read.All and higher; delegated User.Read.
            Perm::OrgRead => (
                &[
                    "Organization.Read.All",
                    "Directory.Read.All",
                    "Organization.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
                &[
                    "User.Read",
                    "Organization.Read.All",
                    "Directory.Read.All",
                    "Organization.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ],
            ),
            // user-get.md: /me needs a delegated token.
            Perm::Me => (
                &[],
                &[
                    "User.Read",
                    "User.ReadWrite",
                    "User.ReadBasic.All",
                    "User.Read.All",
                    "User.ReadWrite.All",
                    "Directory.Read.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ],
            ),
        }
    }
}

/// Check the `Authorization` header: a valid Graph token of this tenant (else 401
/// `InvalidAuthenticationToken`), holding one of the permissions `perm` needs (else 403
/// `Authorization_RequestDenied`). App-only tokens on `/me` get Graph's 400
/// (msgraph-sdk-php #1163: "/me request is only valid with delegated authentication flow.").
pub fn authorize(
    key: &SigningKey,
    base_url: &str,
    tenant_id: &str,
    authorization: Option<&str>,
    perm: Perm,
) -> Result<Claims, GraphError> {
    let claims = authenticate(key, base_url, tenant_id, authorization)?;
    let (roles, scopes) = perm.allowed();
    let ok = if claims.is_app_only() {
        if perm == Perm::Me {
            return Err(GraphError::new(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            ));
        }
        claims
            .roles()
            .iter()
            .any(|r| roles.iter().any(|a| a.eq_ignore_ascii_case(r)))
    } else {
        claims
            .scopes()
            .iter()
            .any(|s| scopes.iter().any(|a| a.eq_ignore_ascii_case(s)))
    };
    if ok {
        Ok(claims)
    } else {
        Err(GraphError::forbidden())
    }
}

/// The token's claims when it is a valid Graph token of this tenant. The messages are those
/// Graph sends for these cases (graph-reference §6.1 "InvalidAuthenticationToken").
///
/// Besides Graph's own audiences, the emulator's base URL is accepted: the Azure CLI uses its
/// cloud's `microsoftGraphResourceId` both as Graph's base URL and as the token audience, and
/// `/metadata/endpoints` points that at the emulator (identity `routes::metadata_endpoints`).
pub fn authenticate(
    key: &SigningKey,
    base_url: &str,
    tenant_id: &str,
    authorization: Option<&str>,
) -> Result<Claims, GraphError> {
    let raw = authorization.map(str::trim).unwrap_or_default();
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(GraphError::unauthenticated("Access token is empty."));
    }
    let emulator = crate::emulator::identity::signin::emulator_audiences(base_url);
    let audiences: Vec<&str> = GRAPH_AUDIENCES
        .iter()
        .copied()
        .chain(emulator.iter().map(String::as_str))
        .collect();
    let claims = token::verify(Keys::Signing(key), token, &audiences).map_err(|e| {
        GraphError::unauthenticated(match e {
            VerifyError::Expired => "Access token has expired or is not yet valid.",
            VerifyError::NotYetValid => "Access token has expired or is not yet valid.",
            VerifyError::WrongAudience { .. } => "Access token validation failure. Invalid audience.",
            VerifyError::BadSignature => "Access token validation failure. Invalid signature.",
            VerifyError::Malformed(_) => "Invalid JWT token. The token is not in JWS format.",
        })
    })?;
    if !claims.tid.eq_ignore_ascii_case(tenant_id) {
        return Err(GraphError::unauthenticated(
            "Access token validation failure. Invalid issuer.",
        ));
    }
    Ok(claims)
}

/// The client a request comes from, for Retry-After windows: the token's client id without
/// checking the token (an unauthenticated caller is one "anonymous" client).
pub fn client_of(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.trim().strip_prefix("Bearer "))
        .and_then(|t| token::decode_unverified(t.trim()).ok())
        .and_then(|c| c.appid.or(c.azp))
        .unwrap_or_else(|| "anonymous".to_owned())
}
