//! Applications: create, read, the uniqueName upsert, update, soft delete, `addPassword` /
//! `removePassword`, `addKey` / `removeKey` (with their proof) and `federatedIdentityCredentials`
//! (docs/graph-notes.md §1, §9 items 1–5, §11.3).

use serde_json::{Value, json};

use super::seed::{DEFAULT_SIGN_IN_AUDIENCE, application_template};
use super::{
    Deleted, Entity, GraphError, GraphResult, Key, Kind, Object, SecretText, Tenant, check_known,
    check_read_only, check_types, merge, new_guid, new_secret_text, strings, timestamp,
};

const TYPE: &str = "microsoft.graph.application";
const RESOURCE: &str = "Application";

/// Properties Graph computes; `passwordCredentials` goes through `addPassword` instead
/// (docs/graph-notes.md §1, `update.notes`).
const READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "passwordCredentials",
    "disabledByMicrosoftStatus",
    "certification",
];

/// The outcome of the upsert `PATCH /applications(uniqueName='…')` (docs/graph-notes.md §1,
/// upsert).
#[derive(Debug)]
pub enum Upsert {
    Created(Object),
    Updated,
}

/// Message of the uniqueName collision, also while the holder is in deleted items (docs/graph-notes.md §11.1(c)).
pub const UNIQUE_NAME_TAKEN: &str =
    "Another object with the same value for property uniqueName already exists.";

fn invalid(property: &str) -> GraphError {
    // Captured for a bad `web` value: "Invalid value specified for property 'web' of resource
    // 'Application'." (msgraph-sdk-powershell issue #3149).
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource '{RESOURCE}'."
    ))
}

/// Redirect URI rules of Entra (learn: "Redirect URI (reply URL) outline and restrictions"):
/// at most 256 characters, no wildcards, `http` only for localhost. Public client and SPA URIs
/// must be absolute URLs; URNs are accepted only on `web` (terraform-provider-azuread #575,
/// maintainer testing). The error text is the captured one for `web` [derived for the others].
fn check_redirect_uris(body: &Object) -> GraphResult<()> {
    for (platform, allow_urn) in [("publicClient", false), ("spa", false), ("web", true)] {
        let Some(section) = body.get(platform) else {
            continue;
        };
        let uris = match section.get("redirectUris") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid(platform)),
        };
        for uri in uris {
            let Some(uri) = uri.as_str() else {
                return Err(invalid(platform));
            };
            let ok = uri.len() <= 256 && !uri.contains('*') && {
                match url::Url::parse(uri) {
                    Ok(u) if u.scheme() == "https" => u.host().is_some(),
                    Ok(u) if u.scheme() == "http" => {
                        matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
                    }
                    Ok(u) if u.scheme() == "urn" => allow_urn,
                    // Custom schemes (`msal{appId}://auth`, `myapp://callback`) are allowed for
                    // mobile and desktop clients, not for SPA or web.
                    Ok(u) => platform == "publicClient" && u.scheme() != "javascript" && u.scheme() != "data",
                    Err(_) => false,
                }
            };
            if !ok {
                return Err(invalid(platform));
            }
        }
    }
    Ok(())
}

/// "Maximum number of redirect URIs" (reply-url.md): 256 for work and school accounts, 100
/// where personal accounts sign in, counted over every platform of the app after the write.
/// The message is [derived] (the invalid-value one, naming the platform that overflows).
fn check_redirect_uri_count(body: &Object, existing: Option<&Object>, audience: &str) -> GraphResult<()> {
    let max = if audience.contains("Personal") { 100 } else { 256 };
    let mut total = 0;
    for platform in ["publicClient", "spa", "web"] {
        let section = body
            .get(platform)
            .and_then(|s| s.get("redirectUris"))
            .or_else(|| {
                existing
                    .and_then(|e| e.get(platform))
                    .and_then(|s| s.get("redirectUris"))
            });
        total += section.and_then(Value::as_array).map_or(0, Vec::len);
        if total > max {
            return Err(invalid(platform));
        }
    }
    Ok(())
}

/// `web.homePageUrl` and `web.logoutUrl`: absolute URLs when set [derived: the captured
/// "Invalid value specified for property 'web'" message, as for redirect URIs].
fn check_web_urls(body: &Object) -> GraphResult<()> {
    let Some(web) = body.get("web").and_then(Value::as_object) else {
        return Ok(());
    };
    for key in ["homePageUrl", "logoutUrl"] {
        match web.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(u))
                if u.len() <= 256
                    && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) => {}
            Some(_) => return Err(invalid("web")),
        }
    }
    Ok(())
}

/// `requiredResourceAccess`: at most 50 resources and 400 permissions in total (30 for the
/// audiences with personal accounts) (docs/graph-notes.md §1).
fn check_required_resource_access(body: &Object, audience: &str) -> GraphResult<()> {
    let Some(rra) = body.get("requiredResourceAccess") else {
        return Ok(());
    };
    let entries = rra.as_array().ok_or_else(|| invalid("requiredResourceAccess"))?;
    if entries.len() > 50 {
        return Err(GraphError::bad_request(
            "The number of resource applications in requiredResourceAccess exceeds the maximum of 50.",
        ));
    }
    let limit = if audience.contains("Personal") { 30 } else { 400 };
    let mut total = 0;
    for e in entries {
        let resource_ok = e
            .get("resourceAppId")
            .and_then(Value::as_str)
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok());
        let access = e
            .get("resourceAccess")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("requiredResourceAccess"))?;
        if !resource_ok {
            return Err(invalid("requiredResourceAccess"));
        }
        for a in access {
            let id_ok = a
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok());
            let type_ok = matches!(a.get("type").and_then(Value::as_str), Some("Scope" | "Role"));
            if !id_ok || !type_ok {
                return Err(invalid("requiredResourceAccess"));
            }
        }
        total += access.len();
    }
    if total > limit {
        return Err(GraphError::bad_request(format!(
            "The number of permissions in requiredResourceAccess exceeds the maximum of {limit}."
        )));
    }
    Ok(())
}

/// A timestamp with .NET's seven fractional digits, as passwordCredential dates are written.
fn ticks(at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}Z",
        at.format("%Y-%m-%dT%H:%M:%S"),
        at.nanosecond() % 1_000_000_000 / 100
    )
}

/// Every `keyCredentials` entry as Graph stores it: a `keyId` (Graph assigns one when the
/// caller sends none; `keyCredential` resource: "The unique identifier (GUID) for the key"), no
/// echoed `@odata.type`, and for an X.509 certificate in `key` what Graph takes from it when the
/// caller leaves it out: `customKeyIdentifier` ("defaults to the thumbprint of the
/// certificate": the SHA-1 thumbprint in upper-case hex), `displayName` (the subject, `CN=…`),
/// `startDateTime` and `endDateTime` (the validity period). Sources: the `keyCredential`
/// resource (learn.microsoft.com/graph/api/resources/keycredential) and the Azure CLI's
/// recordings of `az ad app credential reset --cert` against Graph
/// (`Azure/azure-cli`, `crates/provision/src/azure-cli/azure/cli/command_modules/role/tests/latest/recordings/`).
pub(crate) fn with_key_ids(mut body: Object) -> Object {
    if let Some(Value::Array(creds)) = body.get_mut("keyCredentials") {
        for c in creds.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("@odata.type");
            if c.get("keyId").is_none_or(Value::is_null) {
                c.insert("keyId".into(), json!(new_guid()));
            }
            let Some(cert) = c.get("key").and_then(Value::as_str).and_then(certificate_facts) else {
                continue;
            };
            for (name, value) in [
                ("customKeyIdentifier", cert.thumbprint),
                ("displayName", cert.subject),
                ("startDateTime", cert.not_before),
                ("endDateTime", cert.not_after),
            ] {
                if c.get(name).is_none_or(Value::is_null) {
                    c.insert(name.into(), json!(value));
                }
            }
        }
    }
    body
}

/// Defaults Graph fills into what a write sends: an app role's `origin` (`Application`, the
/// only origin of roles an app defines; learn.microsoft.com/graph/api/resources/approle), and an
/// optional claim's `source` (null), `essential` (false) and `additionalProperties` (empty)
/// (learn.microsoft.com/graph/api/resources/optionalclaim; the Azure CLI's recording
/// `test_application_optional_claims.yaml`).
fn with_defaults(mut body: Object) -> Object {
    if let Some(Value::Array(roles)) = body.get_mut("appRoles") {
        for r in roles.iter_mut().filter_map(Value::as_object_mut) {
            if r.get("origin").is_none_or(Value::is_null) {
                r.insert("origin".into(), json!("Application"));
            }
        }
    }
    if let Some(Value::Object(claims)) = body.get_mut("optionalClaims") {
        for list in claims.values_mut().filter_map(Value::as_array_mut) {
            for c in list.iter_mut().filter_map(Value::as_object_mut) {
                for (name, default) in [
                    ("source", Value::Null),
                    ("essential", json!(false)),
                    ("additionalProperties", json!([])),
                ] {
                    if !c.contains_key(name) {
                        c.insert(name.into(), default);
                    }
                }
            }
        }
    }
    body
}

/// What Graph reads from a certificate uploaded as a key credential.
struct CertificateFacts {
    thumbprint: String,
    subject: String,
    not_before: String,
    not_after: String,
}

/// `key` is the base64 DER of the certificate (Graph's `Edm.Binary`); anything else is left
/// as it was sent.
fn certificate_facts(key: &str) -> Option<CertificateFacts> {
    use base64::Engine as _;
    use sha1::Digest as _;
    use x509_cert::der::Decode as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()?;
    let cert = x509_cert::Certificate::from_der(&der).ok()?;
    let validity = &cert.tbs_certificate.validity;
    let time = |t: &x509_cert::time::Time| {
        let secs = i64::try_from(t.to_unix_duration().as_secs()).ok()?;
        chrono::DateTime::from_timestamp(secs, 0).map(timestamp)
    };
    let thumbprint = sha1::Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Some(CertificateFacts {
        thumbprint,
        subject: cert.tbs_certificate.subject.to_string(),
        not_before: time(&validity.not_before)?,
        not_after: time(&validity.not_after)?,
    })
}

/// The audience of an `addKey` / `removeKey` proof: Azure AD Graph's appId
/// (learn.microsoft.com/graph/application-rollkey-prooftoken).
const PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

/// An `addKey` / `removeKey` proof: a JWT signed by one of the application's current `Verify`
/// certificates, `aud` [`PROOF_AUDIENCE`], `iss` the application's object id, `exp` at most ten
/// minutes after `nbf`. A missing or wrong proof is refused as Graph refuses an invalid value
/// [derived: "Invalid value specified for property 'proof' of resource 'Application'."].
fn check_proof(app: &Object, proof: Option<&Value>) -> GraphResult<()> {
    use base64::Engine as _;
    let refused = || invalid("proof");
    let proof = proof.and_then(Value::as_str).ok_or_else(refused)?;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| refused())?;
    let now = chrono::Utc::now();
    let current = app
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|k| k["usage"].as_str() == Some("Verify"))
        .filter(|k| {
            k["endDateTime"]
                .as_str()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                .is_none_or(|e| e > now)
        })
        .filter_map(|k| k["key"].as_str())
        .filter_map(|k| base64::engine::general_purpose::STANDARD.decode(k).ok());
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[PROOF_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    validation.validate_nbf = true;
    let object_id = app.get("id").and_then(Value::as_str).unwrap_or_default();
    validation.set_issuer(&[object_id]);
    for der in current {
        let Ok(key) = crate::identity::keys::certificate_decoding_key(&der) else {
            continue;
        };
        if let Ok(data) = jsonwebtoken::decode::<Value>(proof, &key, &validation) {
            let (nbf, exp) = (data.claims["nbf"].as_i64(), data.claims["exp"].as_i64());
            return match (nbf, exp) {
                (Some(n), Some(e)) if e - n <= 600 => Ok(()),
                _ => Err(refused()),
            };
        }
    }
    Err(refused())
}

// --- keyCredentials rules (issue 17) ----------------------------------------------------------

/// The `keyCredentials` a write sends: each entry an object; `usage` `Verify` or `Sign` (Graph's
/// text, captured in msgraph-sdk-java issue #1823: "The value for the property \"usage\" in one
/// of your credentials is invalid. Acceptable values are Sign, Verify."); an
/// `AsymmetricX509Cert` whose `key` is the base64 DER of an X.509 certificate; an entry without
/// `key` only for a key the application already has (same `keyId`: the collection is written
/// whole, and terraform-provider-azuread sends existing keys back as it read them, without
/// `key`). Anything else is Graph's "Invalid value specified for property 'keyCredentials' of
/// resource 'Application'." [derived: the captured text of that error for `web`, for this
/// property].
fn check_key_credentials(body: &Object, existing: Option<&Object>) -> GraphResult<()> {
    let Some(creds) = body.get("keyCredentials") else {
        return Ok(());
    };
    let Some(creds) = creds.as_array() else {
        return Err(invalid("keyCredentials"));
    };
    let known = |id: &str| {
        existing
            .and_then(|e| e.get("keyCredentials"))
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter()
                    .any(|k| k["keyId"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(id)))
            })
    };
    for c in creds {
        let Some(c) = c.as_object() else {
            return Err(invalid("keyCredentials"));
        };
        match c.get("usage").and_then(Value::as_str) {
            Some("Verify" | "Sign") => {}
            _ => {
                return Err(GraphError::bad_request(
                    "The value for the property \"usage\" in one of your credentials is invalid. Acceptable values are Sign, Verify.",
                ));
            }
        }
        match c.get("key") {
            None | Some(Value::Null) => {
                if !c.get("keyId").and_then(Value::as_str).is_some_and(known) {
                    return Err(invalid("keyCredentials"));
                }
            }
            Some(Value::String(k)) => {
                if c.get("type").and_then(Value::as_str) == Some("AsymmetricX509Cert")
                    && certificate_facts(k).is_none()
                {
                    return Err(invalid("keyCredentials"));
                }
            }
            Some(_) => return Err(invalid("keyCredentials")),
        }
    }
    Ok(())
}

/// An entry sent back without `key` keeps the key Graph holds for its `keyId`.
fn with_kept_keys(mut body: Object, existing: &Object) -> Object {
    let Some(Value::Array(creds)) = body.get_mut("keyCredentials") else {
        return body;
    };
    let held = existing
        .get("keyCredentials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in creds.iter_mut().filter_map(Value::as_object_mut) {
        if !c.get("key").is_none_or(Value::is_null) {
            continue;
        }
        let id = c
            .get("keyId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(old) = held
            .iter()
            .find(|k| k["keyId"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(&id)))
            .and_then(Value::as_object)
        {
            for (name, value) in old {
                if c.get(name).is_none_or(Value::is_null) {
                    c.insert(name.clone(), value.clone());
                }
            }
        }
    }
    body
}

fn check_display_name(body: &Object, required: bool) -> GraphResult<()> {
    match body.get("displayName") {
        None if !required => Ok(()),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 256 => Ok(()),
        _ => Err(invalid("displayName")),
    }
}

impl Tenant {
    /// Index of an application by key among live applications; `visible_only` hides objects
    /// inside the replication window.
    fn app_index(&self, key: &Key, visible_only: bool) -> Option<usize> {
        self.applications.iter().position(|a| {
            (!visible_only || self.visible(a))
                && match key {
                    Key::Id(id) => a.id().eq_ignore_ascii_case(id),
                    Key::AppId(app_id) => a.app_id().eq_ignore_ascii_case(app_id),
                    Key::UniqueName(n) => a.str("uniqueName").eq_ignore_ascii_case(n) && !n.is_empty(),
                }
        })
    }

    pub(super) fn app_visible_index(&self, key: &Key) -> GraphResult<usize> {
        self.app_index(key, true)
            .ok_or_else(|| GraphError::not_found(key.value()))
    }

    /// Whether a uniqueName is held by another application, live or in deleted items
    /// (docs/graph-notes.md §11.1(c): the reservation lasts until the item is permanently deleted or restored).
    fn unique_name_taken(&self, name: &str, except_id: Option<&str>) -> bool {
        let holds = |e: &Entity| e.str("uniqueName").eq_ignore_ascii_case(name) && Some(e.id()) != except_id;
        self.applications.iter().any(holds)
            || self
                .deleted_items
                .iter()
                .any(|d| d.kind == Kind::Application && holds(&d.entity))
    }

    /// `identifierUris` must be unique across the directory (resource table: "Must be globally
    /// unique"). The message follows the uniqueName one [derived].
    fn check_identifier_uris(&self, body: &Object, except_id: Option<&str>) -> GraphResult<()> {
        let Some(v) = body.get("identifierUris") else {
            return Ok(());
        };
        if !v.is_array() {
            return Err(invalid("identifierUris"));
        }
        for uri in strings(Some(v)) {
            let taken = self.applications.iter().any(|a| {
                Some(a.id()) != except_id
                    && strings(a.data.get("identifierUris"))
                        .iter()
                        .any(|u| u.eq_ignore_ascii_case(&uri))
            });
            if taken {
                return Err(GraphError::bad_request(
                    "Another object with the same value for property identifierUris already exists.",
                ));
            }
        }
        Ok(())
    }

    /// `identifierUris` on `https`/`http` must name a verified domain of the tenant or a
    /// subdomain of one (identifier-uri-restrictions; the error as Graph answers it, quoted in
    /// public reports: "Values of identifierUris property must use a verified domain of the
    /// organization or its subdomain: '…'", code `HostNameNotOnVerifiedDomain`). `api://` URIs
    /// need no domain.
    fn check_identifier_uri_domains(&self, body: &Object) -> GraphResult<()> {
        for uri in strings(body.get("identifierUris")) {
            let Ok(u) = url::Url::parse(&uri) else {
                continue;
            };
            if !matches!(u.scheme(), "https" | "http") {
                continue;
            }
            let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
            let labels: Vec<&str> = host.split('.').collect();
            let verified = (0..labels.len()).any(|i| self.has_domain(&labels[i..].join(".")));
            if !verified {
                return Err(GraphError::new(
                    400,
                    "HostNameNotOnVerifiedDomain",
                    format!(
                        "Values of identifierUris property must use a verified domain of the organization or its subdomain: '{uri}'"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every rule a create or update body must pass.
    fn validate_application(
        &self,
        body: &Object,
        existing: Option<&Object>,
        creating: bool,
    ) -> GraphResult<()> {
        let template = application_template();
        check_known(body, &template, TYPE, &[])?;
        check_read_only(body, READ_ONLY)?;
        check_types(body, &template, RESOURCE)?;
        check_display_name(body, creating)?;
        let audience = body
            .get("signInAudience")
            .or_else(|| existing.and_then(|e| e.get("signInAudience")))
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_SIGN_IN_AUDIENCE);
        if !matches!(
            audience,
            "AzureADMyOrg"
                | "AzureADMultipleOrgs"
                | "AzureADandPersonalMicrosoftAccount"
                | "PersonalMicrosoftAccount"
        ) {
            return Err(invalid("signInAudience"));
        }
        check_required_resource_access(body, audience)?;
        check_redirect_uris(body)?;
        check_redirect_uri_count(body, existing, audience)?;
        check_web_urls(body)?;
        check_key_credentials(body, existing)?;
        let except = existing.and_then(|e| e.get("id")).and_then(Value::as_str);
        self.check_identifier_uris(body, except)?;
        self.check_identifier_uri_domains(body)?;
        super::entitlements::check(body, existing, audience)?;
        if let Some(v) = body.get("uniqueName") {
            let name = v
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid("uniqueName"))?;
            let current = existing.and_then(|e| e.get("uniqueName")).and_then(Value::as_str);
            match current {
                // uniqueName "can be updated only if null and is immutable once set"
                // (learn:/graph/api/application-update); a different value is refused with 400
                // as docs/graph-notes.md §11.3 chooses.
                Some(c) if !c.eq_ignore_ascii_case(name) => {
                    return Err(GraphError::bad_request(
                        "Property 'uniqueName' is immutable once set and cannot be changed.",
                    ));
                }
                Some(_) => {}
                None => {
                    if self.unique_name_taken(name, except) {
                        return Err(GraphError::bad_request(UNIQUE_NAME_TAKEN));
                    }
                }
            }
        }
        Ok(())
    }

    /// Store a new application built from a validated body; returns its index.
    pub(crate) fn insert_application(&mut self, body: Object, app_id: Option<String>) -> usize {
        let body = with_defaults(with_key_ids(body));
        let mut data = application_template();
        // Access tokens of version 2 are required once personal accounts may sign in; a
        // directory-only app made without `api.requestedAccessTokenVersion` has null
        // (learn.microsoft.com/graph/api/resources/apiapplication).
        let personal = body
            .get("signInAudience")
            .and_then(Value::as_str)
            .is_none_or(|a| a.contains("Personal"));
        if !personal {
            data["api"]["requestedAccessTokenVersion"] = Value::Null;
        }
        merge(&mut data, &body);
        data.insert("id".into(), json!(new_guid()));
        data.insert("appId".into(), json!(app_id.unwrap_or_else(new_guid)));
        data.insert("createdDateTime".into(), json!(timestamp(self.now_utc())));
        data.insert("publisherDomain".into(), json!(self.identity.domain));
        let now = self.now();
        self.applications.push(Entity::new(data, now));
        self.applications.len() - 1
    }

    /// Copy the application's `tags` onto its service principal ("Strings added here will also
    /// appear in the tags property of any associated service principals", resource table).
    fn propagate_tags(&mut self, app_id: &str) {
        let Some(app) = self.applications.iter().find(|a| a.app_id() == app_id) else {
            return;
        };
        let tags = strings(app.data.get("tags"));
        if let Some(sp) = self.service_principals.iter_mut().find(|s| s.app_id() == app_id) {
            let mut sp_tags = strings(sp.data.get("tags"));
            for t in tags {
                if !sp_tags.contains(&t) {
                    sp_tags.push(t);
                }
            }
            sp.data.insert("tags".into(), json!(sp_tags));
        }
    }

    /// The service principal shows the app roles and scopes its application defines, and its
    /// identifier URIs among its `servicePrincipalNames` (serviceprincipal resource: "copied
    /// from the associated application object").
    fn propagate_entitlements(&mut self, app_id: &str, old_uris: &[String]) {
        let Some(app) = self.applications.iter().find(|a| a.app_id() == app_id) else {
            return;
        };
        let roles = app.data.get("appRoles").cloned().unwrap_or_else(|| json!([]));
        let scopes = app
            .data
            .get("api")
            .and_then(|a| a.get("oauth2PermissionScopes"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        let uris = strings(app.data.get("identifierUris"));
        if let Some(sp) = self.service_principals.iter_mut().find(|s| s.app_id() == app_id) {
            sp.data.insert("appRoles".into(), roles);
            sp.data.insert("oauth2PermissionScopes".into(), scopes);
            // Names added on the service principal itself stay; the old identifier URIs go.
            let mut names: Vec<String> = strings(sp.data.get("servicePrincipalNames"))
                .into_iter()
                .filter(|n| !old_uris.iter().any(|u| u.eq_ignore_ascii_case(n)))
                .collect();
            for u in uris {
                if !names.iter().any(|n| n.eq_ignore_ascii_case(&u)) {
                    names.push(u);
                }
            }
            sp.data.insert("servicePrincipalNames".into(), json!(names));
        }
    }

    /// `GET /applications`: every visible application.
    pub fn list_applications(&self) -> Vec<Object> {
        self.applications
            .iter()
            .filter(|a| self.visible(a))
            .map(|a| a.data.clone())
            .collect()
    }

    /// `GET /applications/{id}` and the `(appId='…')` / `(uniqueName='…')` keys.
    pub fn get_application(&self, key: &Key) -> GraphResult<Object> {
        Ok(self.applications[self.app_visible_index(key)?].data.clone())
    }

    /// `POST /applications` → 201 + the object. `displayName` is required.
    pub fn create_application(&mut self, body: Object) -> GraphResult<Object> {
        self.validate_application(&body, None, true)?;
        let i = self.insert_application(body, None);
        Ok(self.applications[i].data.clone())
    }

    /// `PATCH /applications/{id}` (or by key) → 204. During the replication window the object
    /// is not found (docs/graph-notes.md §11.1(d3)).
    pub fn update_application(&mut self, key: &Key, body: Object) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        self.patch_application_at(i, body)
    }

    fn patch_application_at(&mut self, i: usize, body: Object) -> GraphResult<()> {
        let existing = self.applications[i].data.clone();
        self.validate_application(&body, Some(&existing), false)?;
        let old_uris = strings(existing.get("identifierUris"));
        let body = with_defaults(with_key_ids(with_kept_keys(body, &existing)));
        merge(&mut self.applications[i].data, &body);
        let app_id = self.applications[i].app_id().to_owned();
        if body.contains_key("tags") {
            self.propagate_tags(&app_id);
        }
        if body.contains_key("appRoles") || body.contains_key("api") || body.contains_key("identifierUris") {
            self.propagate_entitlements(&app_id, &old_uris);
        }
        Ok(())
    }

    /// The upsert `PATCH /applications(uniqueName='…')` (learn:/graph/api/application-upsert):
    /// with `Prefer: create-if-missing` a missing app is created (201, `uniqueName` from the
    /// URL, `displayName` required); without it a missing app is 404; an existing one is
    /// updated (204) either way. A uniqueName still held by a deleted app refuses the create
    /// with 400 (docs/graph-notes.md §11.1(c)). A body `uniqueName` that differs from the key is a change of an
    /// immutable key: 400 (docs/graph-notes.md §11.3's choice).
    ///
    /// The key finds only a replicated application (issue 12): a second upsert inside the first
    /// one's replication window does not see it, tries to create, and meets the name the first
    /// holds: 400 "uniqueName already exists", as a replay after a lost answer meets on Graph.
    /// No duplicate is ever made.
    pub fn upsert_application(
        &mut self,
        unique_name: &str,
        body: Object,
        create_if_missing: bool,
    ) -> GraphResult<Upsert> {
        if let Some(v) = body.get("uniqueName")
            && v.as_str().is_none_or(|s| !s.eq_ignore_ascii_case(unique_name))
        {
            return Err(GraphError::bad_request(
                "Property 'uniqueName' is immutable once set and cannot be changed.",
            ));
        }
        if let Some(i) = self.app_index(&Key::UniqueName(unique_name.to_owned()), true) {
            self.patch_application_at(i, body)?;
            return Ok(Upsert::Updated);
        }
        if !create_if_missing {
            return Err(GraphError::not_found(unique_name));
        }
        if unique_name.is_empty() {
            return Err(invalid("uniqueName"));
        }
        let mut body = body;
        body.insert("uniqueName".into(), json!(unique_name));
        self.validate_application(&body, None, true)?;
        let i = self.insert_application(body, None);
        Ok(Upsert::Created(self.applications[i].data.clone()))
    }

    /// `DELETE /applications/{id}`: the app moves to deleted items (restorable, its uniqueName
    /// stays reserved) and its service principal goes with it, taking that principal's grants
    /// and app role assignments (docs/graph-notes.md §1).
    pub fn delete_application(&mut self, key: &Key) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let mut app = self.applications.remove(i);
        app.data
            .insert("deletedDateTime".into(), json!(timestamp(self.now_utc())));
        let app_id = app.app_id().to_owned();
        let deleted_ms = self.now();
        self.deleted_items.push(Deleted {
            kind: Kind::Application,
            entity: app,
            deleted_ms,
        });
        if let Some(sp_index) = self.service_principals.iter().position(|s| s.app_id() == app_id) {
            self.remove_service_principal_at(sp_index);
        }
        Ok(())
    }

    /// Add a password credential to the application at `i`; returns the Graph object with the
    /// secret text (shown this once). The text is kept apart from the visible credential.
    pub(crate) fn add_password_at(
        &mut self,
        i: usize,
        display_name: Option<&str>,
        end: Option<String>,
        text: Option<String>,
    ) -> Object {
        self.add_password_from(i, display_name, None, end, text)
    }

    /// [`Tenant::add_password_at`] with a requested `startDateTime` (addPassword honours it:
    /// the Azure CLI's recording `test_app_credential.yaml` sends one and gets it back).
    fn add_password_from(
        &mut self,
        i: usize,
        display_name: Option<&str>,
        start: Option<chrono::DateTime<chrono::Utc>>,
        end: Option<String>,
        text: Option<String>,
    ) -> Object {
        let text = text.unwrap_or_else(new_secret_text);
        let key_id = new_guid();
        // "The default value is startDateTime + 2 years" (addPassword docs); Graph writes
        // seven fractional digits (`2021-09-09T19:50:29.3086381Z`) for the times it chooses.
        let from = start.unwrap_or_else(|| self.now_utc());
        let end = end.unwrap_or_else(|| ticks(from + chrono::Duration::days(730)));
        let start = match start {
            Some(s) => timestamp(s),
            None => ticks(from),
        };
        let hint: String = text.chars().take(3).collect();
        let visible = json!({
            "customKeyIdentifier": null,
            "displayName": display_name,
            "endDateTime": end,
            "hint": hint,
            "keyId": key_id,
            "secretText": null,
            "startDateTime": start
        });
        let app = &mut self.applications[i];
        if let Some(Value::Array(creds)) = app.data.get_mut("passwordCredentials") {
            creds.push(visible.clone());
        }
        app.secrets.push(SecretText {
            key_id,
            secret_text: text.clone(),
        });
        let mut out = super::as_object(visible);
        out.insert("secretText".into(), json!(text));
        out
    }

    /// `POST /applications/{id}/addPassword` → 200 + passwordCredential with `secretText`.
    pub fn add_password(&mut self, key: &Key, body: Object) -> GraphResult<Object> {
        let i = self.app_visible_index(key)?;
        let cred = match body.get("passwordCredential") {
            None | Some(Value::Null) => super::Object::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(invalid("passwordCredential")),
        };
        let display = cred.get("displayName").and_then(Value::as_str).map(str::to_owned);
        let end = match cred.get("endDateTime") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Some(s.clone()),
            Some(_) => return Err(invalid("endDateTime")),
        };
        let start = match cred.get("startDateTime") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| invalid("startDateTime"))?
                    .with_timezone(&chrono::Utc),
            ),
            Some(_) => return Err(invalid("startDateTime")),
        };
        Ok(self.add_password_from(i, display.as_deref(), start, end, None))
    }

    /// `POST /applications/{id}/removePassword` `{"keyId"}` → 204.
    pub fn remove_password(&mut self, key: &Key, body: Object) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let key_id = body
            .get("keyId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("keyId"))?
            .to_owned();
        let app = &mut self.applications[i];
        let Some(Value::Array(creds)) = app.data.get_mut("passwordCredentials") else {
            return Err(GraphError::not_found(&key_id));
        };
        let before = creds.len();
        creds.retain(|c| c["keyId"].as_str() != Some(key_id.as_str()));
        if creds.len() == before {
            return Err(GraphError::bad_request(format!(
                "No password credential found with keyId '{key_id}'."
            )));
        }
        app.secrets.retain(|s| s.key_id != key_id);
        Ok(())
    }

    /// `POST /applications/{id}/addKey` `{"keyCredential", "passwordCredential", "proof"}` →
    /// 200 + the keyCredential (without `key`). `proof` is a JWT signed by a current
    /// certificate of the app, `aud` `00000002-0000-0000-c000-000000000000`, `iss` the
    /// application's object id, valid at most ten minutes (application-addkey; "applications
    /// that don't have any existing valid certificates ... won't be able to use this service
    /// action"). Only certificates are added here (`passwordCredential` must be null).
    pub fn add_key(&mut self, key: &Key, body: Object) -> GraphResult<Object> {
        let i = self.app_visible_index(key)?;
        let existing = self.applications[i].data.clone();
        check_proof(&existing, body.get("proof"))?;
        if !body.get("passwordCredential").is_none_or(Value::is_null) {
            return Err(invalid("passwordCredential"));
        }
        let Some(Value::Object(cred)) = body.get("keyCredential") else {
            return Err(invalid("keyCredential"));
        };
        let mut cred = cred.clone();
        cred.remove("keyId");
        let mut one = Object::new();
        one.insert("keyCredentials".into(), json!([cred]));
        check_key_credentials(&one, None)?;
        let stored = with_key_ids(one)["keyCredentials"][0].clone();
        if let Some(Value::Array(list)) = self.applications[i].data.get_mut("keyCredentials") {
            list.push(stored.clone());
        }
        let mut out = super::as_object(stored);
        out.insert("key".into(), Value::Null);
        Ok(out)
    }

    /// `POST /applications/{id}/removeKey` `{"keyId", "proof"}` → 204; the proof as for
    /// [`Tenant::add_key`].
    pub fn remove_key(&mut self, key: &Key, body: Object) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        check_proof(&self.applications[i].data, body.get("proof"))?;
        let key_id = body
            .get("keyId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("keyId"))?
            .to_owned();
        let Some(Value::Array(list)) = self.applications[i].data.get_mut("keyCredentials") else {
            return Err(invalid("keyId"));
        };
        let before = list.len();
        list.retain(|k| {
            !k["keyId"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(&key_id))
        });
        if list.len() == before {
            return Err(GraphError::bad_request(format!(
                "No key credential found with keyId '{key_id}'."
            )));
        }
        Ok(())
    }

    pub fn list_federated_credentials(&self, key: &Key) -> GraphResult<Vec<Object>> {
        Ok(self.applications[self.app_visible_index(key)?]
            .federated_identity_credentials
            .clone())
    }

    /// `GET /applications/{id}/federatedIdentityCredentials/{id or name}`.
    pub fn get_federated_credential(&self, key: &Key, id: &str) -> GraphResult<Object> {
        let app = &self.applications[self.app_visible_index(key)?];
        app.federated_identity_credentials
            .iter()
            .find(|f| f["id"].as_str() == Some(id) || f["name"].as_str() == Some(id))
            .cloned()
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// `POST /applications/{id}/federatedIdentityCredentials` → 201. `name`, `issuer`,
    /// `subject` and `audiences` (one value) are required; at most 20 per app; issuer+subject
    /// and name unique per app (application-post-federatedidentitycredentials.md).
    pub fn create_federated_credential(&mut self, key: &Key, body: Object) -> GraphResult<Object> {
        let i = self.app_visible_index(key)?;
        let text = |k: &str, max: usize| -> GraphResult<String> {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && s.chars().count() <= max)
                .map(str::to_owned)
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid value specified for property '{k}' of resource 'FederatedIdentityCredential'."
                    ))
                })
        };
        let name = text("name", 120)?;
        let issuer = text("issuer", 600)?;
        let subject = text("subject", 600)?;
        let audiences = strings(body.get("audiences"));
        if audiences.len() != 1 || audiences[0].len() > 600 {
            return Err(GraphError::bad_request(
                "Invalid value specified for property 'audiences' of resource 'FederatedIdentityCredential'.",
            ));
        }
        let fics = &self.applications[i].federated_identity_credentials;
        if fics.len() >= 20 {
            return Err(GraphError::bad_request(
                "The maximum number of federated identity credentials (20) for this application has been reached.",
            ));
        }
        if fics.iter().any(|f| f["name"].as_str() == Some(name.as_str())) {
            return Err(GraphError::new(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "FederatedIdentityCredential with name ".to_owned() + &name + " already exists.",
            ));
        }
        if fics.iter().any(|f| {
            f["issuer"].as_str() == Some(issuer.as_str()) && f["subject"].as_str() == Some(subject.as_str())
        }) {
            return Err(issuer_and_subject_taken(&issuer, &subject));
        }
        let fic = super::as_object(json!({
            "id": new_guid(),
            "name": name,
            "issuer": issuer,
            "subject": subject,
            "description": body.get("description").cloned().unwrap_or(Value::Null),
            "audiences": audiences,
        }));
        self.applications[i]
            .federated_identity_credentials
            .push(fic.clone());
        Ok(fic)
    }

    /// `PATCH /applications/{id}/federatedIdentityCredentials/{id or name}` → 204
    /// (federatedidentitycredential-update): `issuer`, `subject`, `audiences` and `description`
    /// change in place under the create's rules; `name` is immutable (a different name is
    /// refused, the same one accepted) [derived wording].
    pub fn update_federated_credential(&mut self, key: &Key, id: &str, body: Object) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let fics = &self.applications[i].federated_identity_credentials;
        let at = fics
            .iter()
            .position(|f| f["id"].as_str() == Some(id) || f["name"].as_str() == Some(id))
            .ok_or_else(|| GraphError::not_found(id))?;
        let current = &fics[at];
        for k in body.keys() {
            if ![
                "name",
                "issuer",
                "subject",
                "audiences",
                "description",
                "@odata.type",
            ]
            .contains(&k.as_str())
            {
                return Err(GraphError::bad_request(format!(
                    "Property '{k}' does not exist on type 'microsoft.graph.federatedIdentityCredential'."
                )));
            }
        }
        if let Some(name) = body.get("name")
            && name != &current["name"]
        {
            return Err(GraphError::bad_request(
                "Property 'name' is read-only and cannot be set.",
            ));
        }
        let text = |k: &str| -> GraphResult<Option<String>> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 600 => Ok(Some(s.clone())),
                Some(_) => Err(GraphError::bad_request(format!(
                    "Invalid value specified for property '{k}' of resource 'FederatedIdentityCredential'."
                ))),
            }
        };
        let issuer =
            text("issuer")?.unwrap_or_else(|| current["issuer"].as_str().unwrap_or_default().to_owned());
        let subject =
            text("subject")?.unwrap_or_else(|| current["subject"].as_str().unwrap_or_default().to_owned());
        if let Some(a) = body.get("audiences") {
            let audiences = strings(Some(a));
            if audiences.len() != 1 || audiences[0].len() > 600 {
                return Err(GraphError::bad_request(
                    "Invalid value specified for property 'audiences' of resource 'FederatedIdentityCredential'.",
                ));
            }
        }
        if fics.iter().enumerate().any(|(j, f)| {
            j != at
                && f["issuer"].as_str() == Some(issuer.as_str())
                && f["subject"].as_str() == Some(subject.as_str())
        }) {
            return Err(issuer_and_subject_taken(&issuer, &subject));
        }
        let fic = &mut self.applications[i].federated_identity_credentials[at];
        fic.insert("issuer".into(), json!(issuer));
        fic.insert("subject".into(), json!(subject));
        if let Some(a) = body.get("audiences") {
            fic.insert("audiences".into(), json!(strings(Some(a))));
        }
        if let Some(d) = body.get("description") {
            fic.insert("description".into(), d.clone());
        }
        Ok(())
    }

    /// `DELETE /applications/{id}/federatedIdentityCredentials/{id or name}` → 204.
    pub fn delete_federated_credential(&mut self, key: &Key, id: &str) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let fics = &mut self.applications[i].federated_identity_credentials;
        let before = fics.len();
        fics.retain(|f| f["id"].as_str() != Some(id) && f["name"].as_str() != Some(id));
        if fics.len() == before {
            return Err(GraphError::not_found(id));
        }
        Ok(())
    }
}

/// Graph's answer to a second credential with the same issuer and subject, as captured in
/// https://github.com/Azure/azure-workload-identity/issues/434.
fn issuer_and_subject_taken(issuer: &str, subject: &str) -> GraphError {
    GraphError::new(
        400,
        "InvalidFederatedIdentityCredentialValue",
        format!(
            "The combination of issuer and subject must be unique for the application. Issuer {issuer} and Subject: {subject} already exist. paramName: FederatedIdentityCredential.Subject, paramValue: {subject}, objectType: Microsoft.Online.DirectoryServices.Application"
        ),
    )
}
