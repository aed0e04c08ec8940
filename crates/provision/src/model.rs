//! Desired state: what a validated manifest asks for. Pure data with deterministic order
//! (BTreeSet / BTreeMap), built by `manifest` and read by `plan`. No I/O here.
//!
//! The observed state (what Graph holds) lives in `graph::types` as Graph's own wire objects;
//! `plan` compares the two.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

/// A 1-based position in the manifest text, kept so that plan-time problems (an unknown
/// permission name, say) can point at the line that caused them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The manifest file as the user named it (for messages).
    pub source: PathBuf,
    /// Tenant guard: a domain or a tenant GUID; apply refuses any other tenant.
    pub tenant: Option<String>,
    pub apps: Vec<DesiredApp>,
    pub output: Option<OutputSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredApp {
    /// Graph `uniqueName`: the stable identity of the registration.
    pub unique_name: String,
    /// Pins a registration that has no `uniqueName` (adopted with `import`).
    pub app_id: Option<String>,
    pub display_name: String,
    pub sign_in_audience: SignInAudience,
    pub notes: Option<String>,
    /// Tags the app must carry (other tags on the app are left alone).
    pub tags: BTreeSet<String>,
    pub public_client: Option<PublicClient>,
    pub api_permissions: Vec<ApiPermission>,
    pub consent: ConsentMode,
    /// Web, SPA, identifier URIs and the API the app exposes (issue 17); each `None` is left
    /// alone.
    pub props: AppProps,
    pub location: Location,
    // --- owners and federated credentials (issue 17) ---
    /// `owners = [...]`: `None` leaves ownership alone; a list is authoritative (owners not
    /// listed are removed, except the signed-in identity: `plan::ownership`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<Owner>>,
    /// `[[app.federated_credentials]]`: `None` leaves them alone; a list is authoritative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_credentials: Option<Vec<FederatedCredentialSpec>>,
    // --- credentials (issue 17) ---
    /// `[[app.passwords]]`: `None` leaves the app's passwords alone; a list (also empty) is
    /// authoritative: passwords it does not name are removed.
    pub passwords: Option<Vec<DesiredPassword>>,
    /// `[[app.certificates]]`: like `passwords`.
    pub certificates: Option<Vec<DesiredCertificate>>,
}

/// How the manifest names an owner: a user or service principal by object id, or a user by
/// user principal name (resolved through `GET /users/{upn}` at plan time).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OwnerRef {
    /// An object id (lower case).
    Id(String),
    /// A user principal name, as written.
    Upn(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Owner {
    pub reference: OwnerRef,
    pub location: Location,
}

/// One federated identity credential (learn:/graph/api/resources/federatedidentitycredential).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FederatedCredentialSpec {
    /// Unique per app, immutable in Graph: a rename is a delete and a create.
    pub name: String,
    pub issuer: String,
    pub subject: String,
    /// One value (Graph allows one); `api://AzureADTokenExchange` by default.
    pub audiences: Vec<String>,
    pub description: Option<String>,
    pub location: Location,
}

/// The application properties beyond the public client. Every `None` is a property the manifest
/// does not mention, which plan and apply leave as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppProps {
    pub web: Option<Web>,
    pub spa: Option<Spa>,
    /// Graph `identifierUris`, in manifest order (compared as a set).
    pub identifier_uris: Option<Vec<String>>,
    /// Graph `api.requestedAccessTokenVersion`: 1 or 2.
    pub requested_access_token_version: Option<u8>,
    /// Graph `api.oauth2PermissionScopes`: the delegated permissions the app exposes.
    pub scopes: Option<Vec<ScopeDef>>,
    /// Graph `appRoles`: the roles the app defines.
    pub app_roles: Option<Vec<AppRoleDef>>,
}

/// Graph `web` (learn:/graph/api/resources/webapplication).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Web {
    pub redirect_uris: Vec<String>,
    pub home_page_url: Option<String>,
    pub logout_url: Option<String>,
    /// `implicitGrantSettings.enableIdTokenIssuance`.
    pub enable_id_token_issuance: Option<bool>,
    /// `implicitGrantSettings.enableAccessTokenIssuance`.
    pub enable_access_token_issuance: Option<bool>,
}

/// Graph `spa` (learn:/graph/api/resources/spaapplication).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spa {
    pub redirect_uris: Vec<String>,
}

/// One `permissionScope` the app exposes (learn:/graph/api/resources/permissionscope).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeDef {
    /// Pinned by the manifest; otherwise the existing scope of this value keeps its id, and a
    /// new one gets the id `plan` derives.
    pub id: Option<String>,
    pub value: String,
    /// `User` or `Admin`.
    pub kind: String,
    pub admin_consent_display_name: String,
    pub admin_consent_description: String,
    pub user_consent_display_name: Option<String>,
    pub user_consent_description: Option<String>,
    pub enabled: bool,
    pub location: Location,
}

/// One `appRole` the app defines (learn:/graph/api/resources/approle).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppRoleDef {
    pub id: Option<String>,
    pub value: String,
    pub display_name: String,
    pub description: String,
    /// `User` and/or `Application`, sorted.
    pub allowed_member_types: Vec<String>,
    pub enabled: bool,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SignInAudience {
    AzureADMyOrg,
    AzureADMultipleOrgs,
    AzureADandPersonalMicrosoftAccount,
    PersonalMicrosoftAccount,
}

impl SignInAudience {
    pub const ALL: [SignInAudience; 4] = [
        SignInAudience::AzureADMyOrg,
        SignInAudience::AzureADMultipleOrgs,
        SignInAudience::AzureADandPersonalMicrosoftAccount,
        SignInAudience::PersonalMicrosoftAccount,
    ];

    /// Graph's spelling of the value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInAudience::AzureADMyOrg => "AzureADMyOrg",
            SignInAudience::AzureADMultipleOrgs => "AzureADMultipleOrgs",
            SignInAudience::AzureADandPersonalMicrosoftAccount => "AzureADandPersonalMicrosoftAccount",
            SignInAudience::PersonalMicrosoftAccount => "PersonalMicrosoftAccount",
        }
    }

    pub fn parse(s: &str) -> Option<SignInAudience> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicClient {
    /// In manifest order, without duplicates.
    pub redirect_uris: Vec<String>,
    /// Graph `isFallbackPublicClient`.
    pub allow_public_client_flows: bool,
    /// `sign_in = "browser"`: `provision token` signs in as the app in the browser
    /// (authorization code + PKCE on a loopback redirect URI) rather than with a device code.
    /// Local only: not an application property.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub browser_sign_in: bool,
}

/// How the manifest names a resource API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ApiRef {
    /// A built-in first-party API, resolved offline (alias, appId, display name or URL of one
    /// of `catalog::known_apis()`); holds its appId.
    Known(String),
    /// Any other appId GUID (lower case).
    AppId(String),
    /// A display name or identifier URI, resolved against the tenant at plan time.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiPermission {
    pub api: ApiRef,
    /// The text the manifest used for `api` (for messages and plans).
    pub api_text: String,
    /// Delegated permission values (`oauth2PermissionScopes[].value`).
    pub delegated: BTreeSet<String>,
    /// Application permission values (`appRoles[].value`).
    pub application: BTreeSet<String>,
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Grant tenant-wide admin consent now.
    Admin,
    /// Leave consent alone and print the admin-consent URL.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Json,
    Env,
    Toml,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSpec {
    /// As written in the manifest: relative to the manifest's folder.
    pub path: PathBuf,
    pub format: OutputFormat,
    /// Where `output.path`'s value is in the manifest text (byte offsets).
    #[serde(skip)]
    pub path_span: std::ops::Range<usize>,
}

// --- credentials (issue 17) ------------------------------------------------------------------

/// When a credential made by apply ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialEnd {
    /// Graph's default (two years after the start, for a password).
    Default,
    /// `end_date`: a fixed end (Unix seconds).
    At(i64),
    /// `lifetime`: this many seconds after apply makes it.
    Lifetime(i64),
}

/// `[[app.passwords]]`: a client secret Graph generates (`addPassword`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredPassword {
    /// The key the manifest matches it by (Graph `displayName`).
    pub display_name: String,
    pub end: CredentialEnd,
    /// Replace it when it ends within this many seconds.
    pub rotate_before: Option<i64>,
    /// `true` (default): apply must hold the value in the output file, and replaces a password
    /// whose value it does not hold. `false`: the value lives elsewhere (an imported secret).
    pub secret_in_output: bool,
    pub location: Location,
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
}

/// Where a certificate's public part comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSource {
    /// `pem = "path"` (relative to the manifest's folder).
    Pem(PathBuf),
    /// `generate = true`: self-signed, its key kept next to the output file.
    Generate,
    /// `thumbprint = "…"`: a certificate already on the app (imported), kept as it is.
    Thumbprint(String),
}

/// `[[app.certificates]]`: a key credential (`AsymmetricX509Cert`, usage `Verify`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredCertificate {
    pub display_name: String,
    pub source: CertificateSource,
    /// For `generate`: the certificate's validity (default 365 days).
    pub lifetime: Option<i64>,
    /// For `generate`: a new one is made when the current one ends within this many seconds.
    pub rotate_before: Option<i64>,
    pub location: Location,
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
}
