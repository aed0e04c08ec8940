//! Authorisation of Graph calls from the bearer token: who may call what. Each operation's rule
//! is the "Permissions" table of its Microsoft Graph v1.0 page (least and higher privileged
//! together; pages named on each rule, under https://learn.microsoft.com/graph/api/); a token
//! needs them as app roles (`roles`, app-only) or as delegated scopes (`scp`). Pure apart from
//! the token check.

use crate::identity::keys::SigningKey;
use crate::identity::token::{self, Claims, Keys, VerifyError};
use crate::store::GraphError;

/// The audiences Microsoft Graph accepts: its resource URL and its appId.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// What an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Read applications, service principals, their owners, federated credentials, app role
    /// assignments and deleted items.
    AppRead,
    /// Write applications (create, update, upsert, delete, addPassword, federated credentials,
    /// deleted items).
    AppWrite,
    /// Write service principals (their upsert page adds `Directory.ReadWrite.All`).
    SpWrite,
    /// List or read oauth2PermissionGrants, also through `/servicePrincipals/{id}/…`.
    GrantRead,
    /// Create, update or delete oauth2PermissionGrants.
    GrantWrite,
    /// Create an app role assignment: `AppRoleAssignment.ReadWrite.All` *and* a read permission.
    AssignCreate,
    /// Delete an app role assignment.
    AssignDelete,
    /// `GET /organization`.
    OrgRead,
    /// `GET /directoryObjects/{id}`: Directory.Read.All (directoryobject-get).
    DirectoryRead,
    /// `GET /me`: a signed-in user only.
    Me,
    /// Add or remove an application owner (`…/owners/$ref`).
    OwnerWrite,
    /// `GET /users/{id | userPrincipalName}`.
    UserRead,
}

/// A permission rule: every group must be matched by one permission of the token (the groups
/// are "and", the names inside a group "or"). Most rules are one group.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub roles: &'static [&'static [&'static str]],
    pub scopes: &'static [&'static [&'static str]],
}

impl Rule {
    /// Whether these granted permissions satisfy the rule (app-only: roles; else scopes).
    pub fn allows(&self, app_only: bool, granted: &[&str]) -> bool {
        let groups = if app_only { self.roles } else { self.scopes };
        !groups.is_empty()
            && groups.iter().all(|g| {
                g.iter()
                    .any(|p| granted.iter().any(|h| h.eq_ignore_ascii_case(p)))
            })
    }
}

/// Application and service principal reads: application-list, application-get,
/// application-list-owners, application-list-federatedidentitycredentials, serviceprincipal-list,
/// serviceprincipal-get, serviceprincipal-list-approleassignments, directory-deleteditems-list.
/// `Application.ReadWrite.OwnedBy` lists and reads every app and SP (serviceprincipal-get note).
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

impl Perm {
    /// The rule of the operation.
    ///
    /// `Application.ReadWrite.OwnedBy` is left out of the write lists: it only covers apps the
    /// caller owns, and this emulator does not model owners, so it grants nothing here.
    pub fn rule(self) -> Rule {
        match self {
            Perm::AppRead => Rule {
                roles: &[APP_READ_ROLES],
                scopes: &[APP_READ_SCOPES],
            },
            // application-post-applications, application-update, application-upsert,
            // application-delete, application-addpassword, directory-deleteditems-delete/-restore.
            Perm::AppWrite => Rule {
                roles: &[&["Application.ReadWrite.All"]],
                scopes: &[&["Application.ReadWrite.All", "Directory.AccessAsUser.All"]],
            },
            // serviceprincipal-post-serviceprincipals, serviceprincipal-upsert (higher:
            // Directory.ReadWrite.All), serviceprincipal-delete.
            Perm::SpWrite => Rule {
                roles: &[&["Application.ReadWrite.All", "Directory.ReadWrite.All"]],
                scopes: &[&[
                    "Application.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
            // oauth2permissiongrant-list, oauth2permissiongrant-get and
            // serviceprincipal-list-oauth2permissiongrants: least Directory.Read.All, higher
            // DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All. Not
            // Application.Read.All: a read-only identity with only that gets 403 here.
            Perm::GrantRead => Rule {
                roles: &[&[
                    "Directory.Read.All",
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ]],
                scopes: &[&[
                    "Directory.Read.All",
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
            // oauth2permissiongrant-post / -update / -delete.
            Perm::GrantWrite => Rule {
                roles: &[&[
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ]],
                scopes: &[&[
                    "DelegatedPermissionGrant.ReadWrite.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
            // serviceprincipal-post-approleassignments and -post-approleassignedto:
            // "AppRoleAssignment.ReadWrite.All and Application.Read.All", higher "… and
            // Directory.Read.All". The ReadWrite forms of those reads count as the read half, as
            // terraform-provider-azuread documents for azuread_app_role_assignment.
            Perm::AssignCreate => Rule {
                roles: &[
                    &["AppRoleAssignment.ReadWrite.All"],
                    &[
                        "Application.Read.All",
                        "Application.ReadWrite.All",
                        "Directory.Read.All",
                        "Directory.ReadWrite.All",
                    ],
                ],
                scopes: &[
                    &["AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"],
                    APP_READ_SCOPES,
                ],
            },
            // serviceprincipal-delete-approleassignments / -approleassignedto.
            Perm::AssignDelete => Rule {
                roles: &[&["AppRoleAssignment.ReadWrite.All"]],
                scopes: &[&["AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"]],
            },
            // organization-list: application Organization.Read.All and higher; delegated User.Read.
            Perm::OrgRead => Rule {
                roles: &[&[
                    "Organization.Read.All",
                    "Directory.Read.All",
                    "Organization.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ]],
                scopes: &[&[
                    "User.Read",
                    "Organization.Read.All",
                    "Directory.Read.All",
                    "Organization.ReadWrite.All",
                    "Directory.ReadWrite.All",
                ]],
            },
            // application-post-owners: "Application.ReadWrite.All and Directory.Read.All"
            // (higher: Directory.ReadWrite.All); application-delete-owners the same [derived:
            // its table is read as the add's]. `Application.ReadWrite.OwnedBy` is left out, as
            // for the other writes.
            Perm::OwnerWrite => Rule {
                roles: &[
                    &["Application.ReadWrite.All", "Directory.ReadWrite.All"],
                    &["Directory.Read.All", "Directory.ReadWrite.All"],
                ],
                scopes: &[
                    &[
                        "Application.ReadWrite.All",
                        "Directory.ReadWrite.All",
                        "Directory.AccessAsUser.All",
                    ],
                    &[
                        "Directory.Read.All",
                        "Directory.ReadWrite.All",
                        "Directory.AccessAsUser.All",
                    ],
                ],
            },
            // user-get: application User.Read.All least, higher User.ReadWrite.All,
            // Directory.Read.All, Directory.ReadWrite.All (User.ReadBasic.All too).
            Perm::UserRead => Rule {
                roles: &[&[
                    "User.ReadBasic.All",
                    "User.Read.All",
                    "User.ReadWrite.All",
                    "Directory.Read.All",
                    "Directory.ReadWrite.All",
                ]],
                scopes: &[&[
                    "User.ReadBasic.All",
                    "User.Read.All",
                    "User.ReadWrite.All",
                    "Directory.Read.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
            // directoryobject-get: Directory.Read.All, application and delegated ("higher: not
            // available"); Directory.ReadWrite.All includes it, and a delegated
            // Directory.AccessAsUser.All acts as the user.
            Perm::DirectoryRead => Rule {
                roles: &[&["Directory.Read.All", "Directory.ReadWrite.All"]],
                scopes: &[&[
                    "Directory.Read.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
            // user-get: /me needs a delegated token.
            Perm::Me => Rule {
                roles: &[],
                scopes: &[&[
                    "User.Read",
                    "User.ReadWrite",
                    "User.ReadBasic.All",
                    "User.Read.All",
                    "User.ReadWrite.All",
                    "Directory.Read.All",
                    "Directory.ReadWrite.All",
                    "Directory.AccessAsUser.All",
                ]],
            },
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
    now: i64,
) -> Result<Claims, GraphError> {
    let claims = authenticate(key, base_url, tenant_id, authorization, now)?;
    if claims.is_app_only() && perm == Perm::Me {
        return Err(GraphError::new(
            400,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    let ok = if claims.is_app_only() {
        let roles: Vec<&str> = claims.roles().iter().map(String::as_str).collect();
        perm.rule().allows(true, &roles)
    } else {
        perm.rule().allows(false, &claims.scopes())
    };
    if ok {
        Ok(claims)
    } else {
        Err(GraphError::forbidden())
    }
}

/// The token's claims when it is a valid Graph token of this tenant. The messages are those
/// Graph sends for these cases (docs/graph-notes.md §6.1 "InvalidAuthenticationToken").
///
/// Besides Graph's own audiences, the emulator's base URL is accepted: the Azure CLI uses its
/// cloud's `microsoftGraphResourceId` both as Graph's base URL and as the token audience, and
/// `/metadata/endpoints` points that at the emulator (identity `routes::metadata_endpoints`).
pub fn authenticate(
    key: &SigningKey,
    base_url: &str,
    tenant_id: &str,
    authorization: Option<&str>,
    now: i64,
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
    let emulator = crate::identity::signin::emulator_audiences(base_url);
    let audiences: Vec<&str> = GRAPH_AUDIENCES
        .iter()
        .copied()
        .chain(emulator.iter().map(String::as_str))
        .collect();
    let claims = token::verify_at(Keys::Signing(key), token, &audiences, now).map_err(|e| {
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
