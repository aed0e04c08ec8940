//! The emulated tenant as data: Graph objects kept as JSON with Graph's property names, plus
//! what Graph never shows (client secret texts, creation times for the replication window), and
//! the rules Graph enforces on them. Knows nothing of HTTP: every failure is a typed
//! [`GraphError`]. Pure apart from reading the clock and drawing random ids; serde-serialisable
//! for `--state FILE`.
//!
//! Modelled on moto's per-service backends (CONTRIBUTING.md "Map of the code"): the routes parse and render, this module
//! decides.

pub mod applications;
pub mod bulk;
pub mod directory;
pub mod entitlements;
pub mod error;
pub mod grants;
pub mod owners;
pub mod query;
pub mod seed;
pub mod service_principals;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::{GraphError, GraphResult};
pub use seed::TenantIdentity;

pub type Object = Map<String, Value>;

/// How a request names an application or service principal (docs/graph-notes.md §1, §2, §9 item 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    /// The value as Graph quotes it in a not-found message.
    pub fn value(&self) -> &str {
        match self {
            Key::Id(v) | Key::AppId(v) | Key::UniqueName(v) => v,
        }
    }
}

/// A client secret text, kept apart from the Graph-visible `passwordCredentials` entry that has
/// the same `keyId` (Graph shows `secretText: null`; docs/graph-notes.md §1, addPassword docs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretText {
    pub key_id: String,
    pub secret_text: String,
}

/// One directory object: what Graph shows (`data`) and what it keeps to itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entity {
    pub data: Object,
    /// Milliseconds since the epoch of the write that created the object; during the replication
    /// window it is invisible to reads and references (docs/graph-notes.md §11.1(d)). Seeded objects use 0.
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretText>,
    /// `federatedIdentityCredentials` of an application (a navigation, not a property).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub federated_identity_credentials: Vec<Object>,
    /// `owners` of an application: object ids of users and service principals (a navigation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

impl Entity {
    pub fn new(data: Object, created_ms: i64) -> Self {
        Entity {
            data,
            created_ms,
            secrets: Vec::new(),
            federated_identity_credentials: Vec::new(),
            owners: Vec::new(),
        }
    }
    pub fn str(&self, name: &str) -> &str {
        self.data.get(name).and_then(Value::as_str).unwrap_or_default()
    }
    pub fn id(&self) -> &str {
        self.str("id")
    }
    pub fn app_id(&self) -> &str {
        self.str("appId")
    }
    /// The application's `keyCredentials` (certificates it may sign assertions with).
    pub fn key_credentials(&self) -> &[Value] {
        self.data
            .get("keyCredentials")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    pub fn federated_identity_credentials(&self) -> &[Object] {
        &self.federated_identity_credentials
    }
    /// Portal "Allow public client flows"; device code needs it (docs/graph-notes.md §1).
    pub fn is_fallback_public_client(&self) -> bool {
        self.data.get("isFallbackPublicClient") == Some(&Value::Bool(true))
    }
    /// Whether `text` is one of the application's secrets and has not expired.
    pub fn secret_matches(&self, text: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
        let creds = self.data.get("passwordCredentials").and_then(Value::as_array);
        self.secrets.iter().any(|s| {
            s.secret_text == text
                && creds.is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["keyId"] == Value::String(s.key_id.clone())
                            && c["endDateTime"]
                                .as_str()
                                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                                .is_none_or(|end| end > now)
                    })
                })
        })
    }
}

/// What kind of directory object a deleted item is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Application,
    ServicePrincipal,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deleted {
    pub kind: Kind,
    pub entity: Entity,
    /// The emulator clock's milliseconds at the delete: during `purge_lag_ms` the item cannot
    /// be read, restored or purged yet (the delete replicates).
    #[serde(default)]
    pub deleted_ms: i64,
}

/// The whole tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub identity: TenantIdentity,
    pub organization: Object,
    pub users: Vec<Object>,
    pub applications: Vec<Entity>,
    pub service_principals: Vec<Entity>,
    pub grants: Vec<Entity>,
    pub app_role_assignments: Vec<Entity>,
    pub deleted_items: Vec<Deleted>,
    /// The replication window in milliseconds (a fault knob, not tenant data).
    #[serde(skip)]
    pub replication_lag_ms: u64,
    /// Verified domains beyond the initial one, for this run (`emulator::Config::extra_domains`).
    #[serde(skip)]
    pub extra_domains: Vec<String>,
    /// How long a deleted object stays out of reach of restore and purge (a fault knob).
    #[serde(skip)]
    pub purge_lag_ms: u64,
    /// The strict profile: `(appId='…')` navigations of service principals answer 400.
    #[serde(skip)]
    pub refuse_alternate_key_navigations: bool,
    /// The strict profile: the service principal upsert by appId answers 400.
    #[serde(skip)]
    pub refuse_service_principal_upsert: bool,
    /// The emulator's clock (shared with [`crate::state::Shared`]): replication and purge
    /// windows and timestamps are read from it; `clock_step_ms` moves it on with every Graph
    /// request.
    #[serde(skip)]
    pub clock: crate::clock::Clock,
    #[serde(skip)]
    pub clock_step_ms: u64,
}

/// A Graph timestamp (`2024-06-10T06:12:10Z`).
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A client secret in the shape Entra issues today: three characters (shown as `hint`), `8Q~`,
/// then 34 more, 40 in all, from the URL-safe alphabet plus `~` and `.`.
pub fn new_secret_text() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const TAIL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(40);
    for _ in 0..3 {
        s.push(ALNUM[rng.random_range(0..ALNUM.len())] as char);
    }
    s.push_str("8Q~");
    for _ in 0..34 {
        s.push(TAIL[rng.random_range(0..TAIL.len())] as char);
    }
    s
}

impl Tenant {
    /// Take the knobs (not tenant data, not saved) from `other`: the tenant read again from
    /// its state file keeps the running emulator's knobs and clock.
    pub fn keep_knobs(&mut self, other: &Tenant) {
        self.replication_lag_ms = other.replication_lag_ms;
        self.purge_lag_ms = other.purge_lag_ms;
        self.refuse_alternate_key_navigations = other.refuse_alternate_key_navigations;
        self.refuse_service_principal_upsert = other.refuse_service_principal_upsert;
        self.clock = other.clock.clone();
        self.clock_step_ms = other.clock_step_ms;
    }

    /// The emulator's clock, in milliseconds since the epoch ([`crate::clock::Clock`]).
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The emulator's clock as a date, for the timestamps Graph writes.
    pub fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Whether an object is outside its replication window (docs/graph-notes.md §11.1(d)).
    pub fn visible(&self, e: &Entity) -> bool {
        self.replication_lag_ms == 0
            || self.now().saturating_sub(e.created_ms)
                >= i64::try_from(self.replication_lag_ms).unwrap_or(i64::MAX)
    }

    /// Whether a deleted item is outside its purge window: before, Graph answers 404 to its
    /// read, restore and purge, and does not list it.
    pub fn delete_replicated(&self, d: &Deleted) -> bool {
        self.purge_lag_ms == 0
            || self.now().saturating_sub(d.deleted_ms) >= i64::try_from(self.purge_lag_ms).unwrap_or(i64::MAX)
    }

    pub fn tenant_id(&self) -> &str {
        &self.identity.tenant_id
    }
    pub fn domain(&self) -> &str {
        &self.identity.domain
    }
    /// Whether `name` is one of the tenant's verified domains.
    pub fn has_domain(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.domain())
            || self.extra_domains.iter().any(|d| d.eq_ignore_ascii_case(name))
    }

    // ---- read helpers for the identity platform -------------------------------------------

    /// The application with this appId (client id), with its secrets, `keyCredentials`,
    /// `federatedIdentityCredentials` and `isFallbackPublicClient`. Objects inside the
    /// replication window are not found, as Entra's sign-in answers AADSTS700016 right after
    /// creation.
    pub fn application_by_app_id(&self, app_id: &str) -> Option<&Entity> {
        self.applications
            .iter()
            .find(|a| a.app_id().eq_ignore_ascii_case(app_id) && self.visible(a))
    }

    /// The client application a sign-in names: one of the tenant's applications, or a
    /// first-party public client Entra knows in every tenant (`seed::first_party_clients`).
    pub fn client_application(&self, app_id: &str) -> Option<&Entity> {
        self.application_by_app_id(app_id)
            .or_else(|| seed::first_party_client(app_id))
    }

    /// The service principal with this appId.
    pub fn service_principal_by_app_id(&self, app_id: &str) -> Option<&Entity> {
        self.service_principals
            .iter()
            .find(|s| s.app_id().eq_ignore_ascii_case(app_id) && self.visible(s))
    }

    /// The service principal that answers to a resource reference: its appId or one of its
    /// `servicePrincipalNames` (identifier URIs, compared without a trailing slash).
    pub fn service_principal_by_name(&self, name: &str) -> Option<&Entity> {
        let wanted = name.trim_end_matches('/');
        self.service_principals.iter().find(|s| {
            self.visible(s)
                && (s.app_id().eq_ignore_ascii_case(wanted)
                    || s.data["servicePrincipalNames"].as_array().is_some_and(|names| {
                        names
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|n| n.trim_end_matches('/').eq_ignore_ascii_case(wanted))
                    }))
        })
    }

    /// The delegated permission grants of a client service principal on a resource.
    pub fn grants_for(&self, client_sp_id: &str, resource_sp_id: &str) -> Vec<&Object> {
        self.grants
            .iter()
            .filter(|g| {
                self.visible(g) && g.str("clientId") == client_sp_id && g.str("resourceId") == resource_sp_id
            })
            .map(|g| &g.data)
            .collect()
    }

    /// The app role assignments granted to a service principal (its application permissions).
    pub fn app_role_assignments_of(&self, sp_id: &str) -> Vec<&Object> {
        self.app_role_assignments
            .iter()
            .filter(|a| self.visible(a) && a.str("principalId") == sp_id)
            .map(|a| &a.data)
            .collect()
    }

    /// The seeded administrator user (device codes are approved as this user).
    pub fn admin_user(&self) -> &Object {
        // The seed always creates it first and nothing deletes users.
        &self.users[0]
    }

    /// A user by object id or userPrincipalName.
    pub fn user(&self, id: &str) -> Option<&Object> {
        self.users.iter().find(|u| {
            u.get("id").and_then(Value::as_str) == Some(id)
                || u.get("userPrincipalName")
                    .and_then(Value::as_str)
                    .is_some_and(|upn| upn.eq_ignore_ascii_case(id))
        })
    }

    // ---- shared lookups --------------------------------------------------------------------

    fn sp_index(&self, key: &Key, visible_only: bool) -> Option<usize> {
        self.service_principals.iter().position(|s| {
            (!visible_only || self.visible(s))
                && match key {
                    Key::Id(id) => s.id().eq_ignore_ascii_case(id),
                    Key::AppId(a) => s.app_id().eq_ignore_ascii_case(a),
                    Key::UniqueName(_) => false,
                }
        })
    }

    /// A visible service principal, or Graph's 404.
    pub fn service_principal(&self, key: &Key) -> GraphResult<&Entity> {
        self.sp_index(key, true)
            .map(|i| &self.service_principals[i])
            .ok_or_else(|| GraphError::not_found(key.value()))
    }
}

/// Merge a PATCH body into an object: top-level and nested complex properties are merged, while
/// collections are replaced as a whole (learn:/graph/api/application-update, docs/graph-notes.md §1
/// "Update semantics").
pub fn merge(target: &mut Object, patch: &Object) {
    for (k, v) in patch {
        match (target.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => merge(existing, incoming),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Reject properties the type does not have, with the OData library's message [derived: Graph
/// answers unknown properties with 400; the wording is Microsoft.OData's].
pub fn check_known(body: &Object, template: &Object, type_name: &str, extra: &[&str]) -> GraphResult<()> {
    for k in body.keys() {
        if k.starts_with('@') || template.contains_key(k) || extra.contains(&k.as_str()) {
            continue;
        }
        return Err(GraphError::new(
            400,
            "BadRequest",
            format!(
                "The property '{k}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type or mark the type as open type."
            ),
        ));
    }
    Ok(())
}

/// Reject writes to properties Graph computes itself [derived wording].
pub fn check_read_only(body: &Object, read_only: &[&str]) -> GraphResult<()> {
    for p in read_only {
        if body.contains_key(*p) {
            return Err(GraphError::bad_request(format!(
                "Property '{p}' is read-only and cannot be set."
            )));
        }
    }
    Ok(())
}

/// A JSON value's type must match the template's where the template has one (collections stay
/// collections, complex types stay objects) [derived: OData rejects mistyped payloads with 400].
pub fn check_types(body: &Object, template: &Object, type_name: &str) -> GraphResult<()> {
    for (k, v) in body {
        let Some(t) = template.get(k) else { continue };
        let ok = match (t, v) {
            (_, Value::Null) => !t.is_array(),
            (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => true,
            (Value::Array(_), _) | (Value::Object(_), _) => false,
            (Value::Bool(_), w) => w.is_boolean(),
            (Value::String(_), w) => w.is_string(),
            _ => true,
        };
        if !ok {
            return Err(GraphError::bad_request(format!(
                "Invalid value specified for property '{k}' of resource '{type_name}'."
            )));
        }
    }
    Ok(())
}

/// The body of a Graph write, which must be a JSON object.
pub fn object_body(body: Option<&Value>) -> GraphResult<Object> {
    match body {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Ok(Object::new()),
        Some(_) => Err(GraphError::new(
            400,
            "BadRequest",
            "Empty Payload. JSON content expected.",
        )),
    }
}

pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(crate) fn as_object(v: Value) -> Object {
    match v {
        Value::Object(m) => m,
        _ => Object::new(),
    }
}

#[cfg(test)]
mod tests {
    //! Graph's rules against the store directly, without HTTP (as moto's backend tests do).
    use super::applications::{UNIQUE_NAME_TAKEN, Upsert};
    use super::*;
    use serde_json::json;

    fn tenant() -> Tenant {
        // The store never parses the key; the routes do.
        Tenant::seed(TenantIdentity::generate("key".into(), "cert".into()))
    }

    fn body(v: Value) -> Object {
        as_object(v)
    }

    #[test]
    fn upsert_creates_once_and_deleted_names_stay_reserved() {
        let mut t = tenant();
        let Upsert::Created(app) = t
            .upsert_application("u", body(json!({"displayName": "d"})), true)
            .unwrap()
        else {
            panic!("expected a create")
        };
        assert!(matches!(
            t.upsert_application("u", body(json!({"displayName": "e"})), true),
            Ok(Upsert::Updated)
        ));
        assert_eq!(
            t.upsert_application("v", body(json!({"displayName": "d"})), false)
                .unwrap_err()
                .status,
            404
        );
        t.delete_application(&Key::Id(app["id"].as_str().unwrap().into()))
            .unwrap();
        let e = t
            .upsert_application("u", body(json!({"displayName": "d"})), true)
            .unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, UNIQUE_NAME_TAKEN));
        t.purge_deleted(app["id"].as_str().unwrap()).unwrap();
        assert!(matches!(
            t.upsert_application("u", body(json!({"displayName": "d"})), true),
            Ok(Upsert::Created(_))
        ));
    }

    #[test]
    fn replication_window_hides_objects_from_reads_and_references() {
        let mut t = tenant();
        t.replication_lag_ms = 60_000;
        let app = t.create_application(body(json!({"displayName": "lag"}))).unwrap();
        let key = Key::Id(app["id"].as_str().unwrap().into());
        assert_eq!(
            t.get_application(&key).unwrap_err().code,
            "Request_ResourceNotFound"
        );
        assert!(t.list_applications().iter().all(|a| a["id"] != app["id"]));
        let e = t
            .create_service_principal(body(json!({"appId": app["appId"]})))
            .unwrap_err();
        assert_eq!(e.details[0].code, "NoBackingApplicationObject");
        // Seeded objects are outside any window.
        assert!(
            t.service_principal_by_app_id(entra_catalog::MICROSOFT_GRAPH_APP_ID)
                .is_some()
        );
        t.replication_lag_ms = 0;
        assert!(t.get_application(&key).is_ok());
    }

    #[test]
    fn one_grant_per_key_and_one_principal_per_app() {
        let mut t = tenant();
        let app = t.create_application(body(json!({"displayName": "c"}))).unwrap();
        let sp = t
            .create_service_principal(body(json!({"appId": app["appId"]})))
            .unwrap();
        let dup = t
            .create_service_principal(body(json!({"appId": app["appId"]})))
            .unwrap_err();
        assert_eq!(
            (dup.status, dup.code.as_str()),
            (409, "Request_MultipleObjectsWithSameKeyValue")
        );
        let graph = t
            .service_principal_by_app_id(entra_catalog::MICROSOFT_GRAPH_APP_ID)
            .unwrap()
            .id()
            .to_owned();
        let grant = json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph, "scope": "User.Read openid"});
        let g = t.create_grant(body(grant.clone())).unwrap();
        assert_eq!(
            g["id"].as_str().unwrap(),
            grants::grant_id(sp["id"].as_str().unwrap(), &graph, None).unwrap()
        );
        assert_eq!(
            t.create_grant(body(grant)).unwrap_err().message,
            "Permission entry already exists."
        );
        assert_eq!(t.grants_for(sp["id"].as_str().unwrap(), &graph).len(), 1);
    }

    #[test]
    fn seeded_clients_have_secrets_and_roles() {
        let t = tenant();
        let admin = t.application_by_app_id(&t.identity.admin_client_id).unwrap();
        assert!(admin.secret_matches(&t.identity.admin_client_secret, chrono::Utc::now()));
        assert!(!admin.secret_matches(&t.identity.reader_client_secret, chrono::Utc::now()));
        let sp = t
            .service_principal_by_app_id(&t.identity.admin_client_id)
            .unwrap();
        assert_eq!(t.app_role_assignments_of(sp.id()).len(), 3);
        let reader = t
            .service_principal_by_app_id(&t.identity.reader_client_id)
            .unwrap();
        assert_eq!(t.app_role_assignments_of(reader.id()).len(), 2);
        assert!(
            t.service_principal_by_name("https://api.security.microsoft.com/")
                .is_some()
        );
    }
}
