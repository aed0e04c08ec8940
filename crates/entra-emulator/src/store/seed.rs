//! The seeded tenant (README.md "The emulator") and the property sets of new objects, taken
//! from the documented examples of Graph's application, servicePrincipal and organization pages
//! (docs/graph-notes.md §1, §2, §4).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Entity, Key, Object, Tenant, as_object, new_guid, new_secret_text, timestamp};

/// What survives `POST /_emulator/reset`: the tenant's name, signing key and the two clients.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantIdentity {
    pub tenant_id: String,
    pub domain: String,
    /// The token-signing key (PKCS#8 PEM) and its self-signed certificate (PEM).
    pub signing_key_pem: String,
    pub signing_cert_pem: String,
    pub admin_client_id: String,
    pub admin_client_secret: String,
    pub reader_client_id: String,
    pub reader_client_secret: String,
    /// The seeded administrator's password, for the emulator's sign-in pages (a state file
    /// from before it existed gets a new one when loaded).
    #[serde(default = "new_password")]
    pub admin_password: String,
}

impl TenantIdentity {
    /// A new tenant name (`emulator<6 hex>.onmicrosoft.com`), client ids and secrets around a
    /// signing key the caller made.
    pub fn generate(signing_key_pem: String, signing_cert_pem: String) -> Self {
        let tenant_id = new_guid();
        let domain = format!("emulator{}.onmicrosoft.com", &tenant_id.replace('-', "")[..6]);
        TenantIdentity {
            tenant_id,
            domain,
            signing_key_pem,
            signing_cert_pem,
            admin_client_id: new_guid(),
            admin_client_secret: new_secret_text(),
            reader_client_id: new_guid(),
            reader_client_secret: new_secret_text(),
            admin_password: new_password(),
        }
    }
}

/// A password for the seeded administrator: 16 letters and digits, easy to type.
pub fn new_password() -> String {
    use rand::Rng as _;
    const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// The Microsoft Graph Command Line Tools (`14d82eec-204b-4c2f-b7e8-296a70dab67e`): Microsoft's
/// multi-tenant public client for administrators' sign-ins to Graph (Microsoft Graph PowerShell's
/// default, `provision`'s default `--client-id`). Its application object lives in Microsoft's
/// own tenant, so Graph does not list it here; the sign-in endpoints know it as Entra does, and
/// consent creates its service principal in the tenant. Registered as a public client with the
/// loopback redirect URI `http://localhost` (any port) for interactive sign-in.
pub const GRAPH_COMMAND_LINE_TOOLS: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// The first-party public clients the sign-in endpoints know without an application object in
/// the tenant.
pub fn first_party_clients() -> &'static [Entity] {
    static CLIENTS: std::sync::OnceLock<Vec<Entity>> = std::sync::OnceLock::new();
    CLIENTS.get_or_init(|| {
        let mut app = application_template();
        for (k, v) in [
            ("appId", json!(GRAPH_COMMAND_LINE_TOOLS)),
            ("displayName", json!("Microsoft Graph Command Line Tools")),
            ("signInAudience", json!("AzureADandPersonalMicrosoftAccount")),
            ("isFallbackPublicClient", json!(true)),
            (
                "publicClient",
                json!({"redirectUris": [
                    "http://localhost",
                    "https://login.microsoftonline.com/common/oauth2/nativeclient"
                ]}),
            ),
        ] {
            app.insert(k.into(), v);
        }
        vec![Entity::new(app, 0)]
    })
}

/// A first-party client by appId.
pub fn first_party_client(app_id: &str) -> Option<&'static Entity> {
    first_party_clients()
        .iter()
        .find(|e| e.app_id().eq_ignore_ascii_case(app_id))
}

/// Display names of the two seeded clients.
pub const ADMIN_CLIENT_NAME: &str = "provision emulator administrator";
pub const READER_CLIENT_NAME: &str = "provision emulator reader";

/// Microsoft Graph application permissions of the administrator client (README.md "The emulator").
const ADMIN_ROLES: &[&str] = &[
    "Application.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];
/// What `plan` needs (README.md "Signing in", permissions table): app reads, and grant reads (Directory.Read.All).
const READER_ROLES: &[&str] = &["Application.Read.All", "Directory.Read.All"];

/// The `signInAudience` of an application created without one, with
/// `api.requestedAccessTokenVersion` 2: what Graph answers `POST /applications
/// {"displayName": …}` in the Azure CLI's recordings (`Azure/azure-cli`,
/// `crates/provision/src/azure-cli/azure/cli/command_modules/role/tests/latest/recordings/test_app_credential.yaml`,
/// 2022) and in the create example of learn.microsoft.com/graph/api/application-post-applications.
/// The resource page's "AzureADMyOrg (default)" is the portal's choice, which sends it.
pub const DEFAULT_SIGN_IN_AUDIENCE: &str = "AzureADandPersonalMicrosoftAccount";

/// Every property a new application shows by default, in the order Graph writes them (the
/// Azure CLI's recordings above), each declared on `application` in the v1.0 CSDL
/// (`microsoftgraph/msgraph-metadata`, `schemas/v1.0-Prod.csdl`; checked by
/// `crates/entra-emulator/tests/it/graph.rs` against the copy in `crates/entra-emulator/tests/fixtures/graph-csdl/`), plus
/// `samlMetadataUrl` and `uniqueName` of today's create answers.
pub fn application_template() -> Object {
    as_object(json!({
        "id": null,
        "deletedDateTime": null,
        "appId": null,
        "applicationTemplateId": null,
        "disabledByMicrosoftStatus": null,
        "createdDateTime": null,
        "displayName": null,
        "description": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": null,
        "notes": null,
        "publisherDomain": null,
        "serviceManagementReference": null,
        "signInAudience": DEFAULT_SIGN_IN_AUDIENCE,
        "tags": [],
        "tokenEncryptionKeyId": null,
        "uniqueName": null,
        "samlMetadataUrl": null,
        "defaultRedirectUri": null,
        "certification": null,
        "optionalClaims": null,
        "addIns": [],
        "api": {
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": 2,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": []
        },
        "appRoles": [],
        "info": {
            "logoUrl": null,
            "marketingUrl": null,
            "privacyStatementUrl": null,
            "supportUrl": null,
            "termsOfServiceUrl": null
        },
        "keyCredentials": [],
        "parentalControlSettings": {
            "countriesBlockedForMinors": [],
            "legalAgeGroupRule": "Allow"
        },
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {
            "displayName": null,
            "verifiedPublisherId": null,
            "addedDateTime": null
        },
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": false,
                "enableIdTokenIssuance": false
            }
        },
        "spa": {"redirectUris": []}
    }))
}

/// Every property a new service principal shows: the v1.0 upsert example of
/// docs/graph-notes.md §2 with its beta-only names replaced by the v1.0 ones
/// (`oauth2PermissionScopes`, no `api`; docs/graph-notes.md §2 calls them docs noise) and without
/// those v1.0's CSDL does not declare (`errorUrl`, `publisherName`).
pub fn service_principal_template() -> Object {
    as_object(json!({
        "id": null,
        "deletedDateTime": null,
        "accountEnabled": true,
        "alternativeNames": [],
        "appDisplayName": null,
        "appDescription": null,
        "appId": null,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": null,
        "appRoleAssignmentRequired": false,
        "createdDateTime": null,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": null,
        "homepage": null,
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": [],
        "samlSingleSignOnSettings": null,
        "servicePrincipalNames": [],
        "servicePrincipalType": "Application",
        "signInAudience": null,
        "tags": [],
        "tokenEncryptionKeyId": null,
        "addIns": [],
        "appRoles": [],
        "info": {
            "logoUrl": null,
            "marketingUrl": null,
            "privacyStatementUrl": null,
            "supportUrl": null,
            "termsOfServiceUrl": null
        },
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {
            "displayName": null,
            "verifiedPublisherId": null,
            "addedDateTime": null
        }
    }))
}

/// The organization object (docs/graph-notes.md §4), with this
/// tenant's id and its one verified, initial `*.onmicrosoft.com` domain.
fn organization(id: &str, domain: &str, created: &str) -> Object {
    as_object(json!({
        "id": id,
        "deletedDateTime": null,
        "businessPhones": [],
        "city": null,
        "country": null,
        "countryLetterCode": "US",
        "createdDateTime": created,
        "defaultUsageLocation": null,
        "displayName": "Emulator",
        "isMultipleDataLocationsForServicesEnabled": null,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": null,
        "onPremisesSyncEnabled": null,
        "partnerTenantType": null,
        "postalCode": null,
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": null,
        "street": null,
        "technicalNotificationMails": [format!("admin@{domain}")],
        "tenantType": "AAD",
        "directorySizeQuota": {"used": 0, "total": 50000},
        "assignedPlans": [],
        "privacyProfile": {"contactEmail": "", "statementUrl": ""},
        "provisionedPlans": [],
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": domain,
            "type": "Managed"
        }]
    }))
}

/// The administrator user, with the default property set of `GET /me`
/// (docs/graph-notes.md §4).
fn admin_user(domain: &str) -> Object {
    as_object(json!({
        "businessPhones": [],
        "displayName": "Emulator Administrator",
        "givenName": "Emulator",
        "jobTitle": "Global Administrator",
        "mail": format!("admin@{domain}"),
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "surname": "Administrator",
        "userPrincipalName": format!("admin@{domain}"),
        "id": new_guid()
    }))
}

impl Tenant {
    /// A freshly seeded tenant. Seeded objects are outside any replication window.
    pub fn seed(identity: TenantIdentity) -> Tenant {
        let now = timestamp(chrono::Utc::now());
        let mut t = Tenant {
            organization: organization(&identity.tenant_id, &identity.domain, &now),
            users: vec![admin_user(&identity.domain)],
            identity,
            applications: Vec::new(),
            service_principals: Vec::new(),
            grants: Vec::new(),
            app_role_assignments: Vec::new(),
            deleted_items: Vec::new(),
            replication_lag_ms: 0,
            extra_domains: Vec::new(),
            purge_lag_ms: 0,
            refuse_alternate_key_navigations: false,
            refuse_service_principal_upsert: false,
            clock: crate::clock::Clock::new(),
            clock_step_ms: 0,
        };
        for api in entra_catalog::known_apis() {
            let mut data = service_principal_template();
            for (k, v) in api.service_principal.as_object().into_iter().flatten() {
                data.insert(k.clone(), v.clone());
            }
            data.insert("id".into(), json!(new_guid()));
            data.insert("appDisplayName".into(), data["displayName"].clone());
            data.insert("createdDateTime".into(), json!(now));
            // First-party apps belong to Microsoft's own tenant: its id as the recordings show
            // it where `crates/entra-catalog/data/first-party-apis.json` has one, else null rather than an invented
            // GUID.
            data.insert("servicePrincipalType".into(), json!("Application"));
            t.service_principals.push(Entity::new(data, 0));
        }
        let id = t.identity.clone();
        t.seed_client(
            ADMIN_CLIENT_NAME,
            &id.admin_client_id,
            &id.admin_client_secret,
            ADMIN_ROLES,
        );
        t.seed_client(
            READER_CLIENT_NAME,
            &id.reader_client_id,
            &id.reader_client_secret,
            READER_ROLES,
        );
        // The two clients are single-tenant, as the portal registers an app for this directory.
        for app in t
            .applications
            .iter_mut()
            .filter(|a| a.app_id() == id.admin_client_id || a.app_id() == id.reader_client_id)
        {
            app.data.insert("signInAudience".into(), json!("AzureADMyOrg"));
            app.data["api"]["requestedAccessTokenVersion"] = Value::Null;
        }
        for e in t
            .applications
            .iter_mut()
            .chain(t.service_principals.iter_mut())
            .chain(t.app_role_assignments.iter_mut())
        {
            e.created_ms = 0;
        }
        t
    }

    /// An ordinary application + service principal with one secret and app role assignments on
    /// Microsoft Graph, made through the same rules as Graph writes.
    fn seed_client(&mut self, name: &str, app_id: &str, secret: &str, roles: &[&str]) {
        let mut app = application_template();
        app.insert("displayName".into(), json!(name));
        let app_index = self.insert_application(app, Some(app_id.to_owned()));
        self.add_password_at(app_index, Some("emulator"), None, Some(secret.to_owned()));
        let sp_id = match self.create_service_principal(as_object(json!({"appId": app_id}))) {
            Ok(sp) => sp["id"].as_str().unwrap_or_default().to_owned(),
            Err(_) => return,
        };
        let Some(graph) = self.service_principal_by_app_id(entra_catalog::MICROSOFT_GRAPH_APP_ID) else {
            return;
        };
        let graph_id = graph.id().to_owned();
        let role_ids: Vec<String> = roles
            .iter()
            .filter_map(|r| {
                graph.data["appRoles"]
                    .as_array()?
                    .iter()
                    .find(|a| a["value"] == *r)
                    .and_then(|a| a["id"].as_str().map(str::to_owned))
            })
            .collect();
        for role in role_ids {
            let body = as_object(json!({"principalId": sp_id, "resourceId": graph_id, "appRoleId": role}));
            let _ = self.create_app_role_assignment(&Key::Id(sp_id.clone()), body, true);
        }
    }
}
