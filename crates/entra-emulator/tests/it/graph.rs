//! The emulator's Graph side over real HTTP against `emulator::start(Config::local())`: one
//! test per Graph rule (status and error code as Graph answers), replays of the documented
//! examples of the Graph pages (docs/graph-notes.md), fault knobs and the control plane.

use std::time::{Duration, Instant};

use entra_emulator::identity::token::{self, Claims, ClientAuth, Issue, TokenVersion, User};
use entra_emulator::{self as emulator, Config, Faults, Running};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const MTP_APP_ID: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";

struct Em {
    running: Running,
    http: Client,
    admin: String,
    reader: String,
}

/// A delegated token of the administrator user with these scopes.
fn user_token(running: &Running, scopes: &[&str], audience: &str, lifetime: i64) -> String {
    let shared = running.shared();
    let t = shared.tenant();
    let u = t.admin_user();
    let user = User {
        object_id: u["id"].as_str().unwrap(),
        display_name: u["displayName"].as_str().unwrap(),
        user_principal_name: u["userPrincipalName"].as_str().unwrap(),
    };
    let issue = Issue {
        version: TokenVersion::V1,
        authority: &shared.base_url,
        tenant_id: t.tenant_id(),
        audience,
        client_id: &running.ready.client_id,
        client_auth: ClientAuth::Public,
        now: chrono::Utc::now().timestamp(),
        lifetime_secs: lifetime,
    };
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    token::issue(&shared.signing_key, &Claims::delegated(&issue, &user, &scopes)).unwrap()
}

/// The seeded client's token from the emulator's token endpoint (client credentials).
async fn client_token(http: &Client, running: &Running, client_id: &str, secret: &str) -> String {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        running.ready.authority_url, running.ready.tenant_id
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let r = http.post(url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn start_with(config: Config) -> Em {
    let running = emulator::start(config).await.unwrap();
    let http = Client::new();
    let ready = running.ready.clone();
    let admin = client_token(&http, &running, &ready.client_id, &ready.client_secret).await;
    let reader = client_token(
        &http,
        &running,
        &ready.reader_client_id,
        &ready.reader_client_secret,
    )
    .await;
    Em {
        running,
        http,
        admin,
        reader,
    }
}

async fn start() -> Em {
    start_with(Config::local()).await
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Em {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.running.ready.graph_url)
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&self.admin.clone()), None, &[])
            .await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&self.admin.clone()), Some(body), &[])
            .await
    }
    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&self.admin.clone()), Some(body), &[])
            .await
    }
    async fn upsert(&self, unique_name: &str, body: Value) -> Resp {
        let path = format!("/applications(uniqueName='{unique_name}')");
        self.call(
            Method::PATCH,
            &path,
            Some(&self.admin.clone()),
            Some(body),
            &[("Prefer", "create-if-missing")],
        )
        .await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(&self.admin.clone()), None, &[])
            .await
    }
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let url = format!("{}/_emulator/{path}", self.running.ready.authority_url);
        self.call(method, &url, None, body, &[]).await
    }
    async fn sp_id(&self, app_id: &str) -> String {
        self.get(&format!("/servicePrincipals(appId='{app_id}')"))
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Graph's error envelope with the given status and code (docs/graph-notes.md §6.1).
fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    let inner = &r.body["error"]["innerError"];
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "yyyy-MM-ddTHH:mm:ss without zone: {date}");
    assert!(inner["request-id"].is_string() && inner["client-request-id"].is_string());
    assert_eq!(r.headers["request-id"].to_str().unwrap(), inner["request-id"]);
}

/// A Graph documentation example kept in the repository (`crates/entra-emulator/tests/fixtures/graph-docs/`, each file
/// naming the documentation page it was copied from in its `source` fields).
fn reference(file: &str) -> Value {
    let path = format!("{}/tests/fixtures/graph-docs/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The properties the v1.0 CSDL declares on an entity type (`crates/entra-emulator/tests/fixtures/graph-csdl/`).
pub(crate) fn csdl_properties(entity: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/fixtures/graph-csdl/v1.0-properties.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(doc[entity].clone()).unwrap_or_else(|e| panic!("{entity}: {e}"))
}

/// The keys of a documentation example that today's v1.0 schema still declares: older
/// examples show properties v1.0 no longer has (`windows` on an application, `publisherName`
/// on a service principal).
fn documented_keys(v: &Value, entity: &str) -> Vec<String> {
    let declared = csdl_properties(entity);
    keys(v)
        .into_iter()
        .filter(|k| k.starts_with('@') || declared.contains(k))
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn ready_line_and_seeded_tenant() {
    let em = start().await;
    let ready = serde_json::to_value(&em.running.ready).unwrap();
    let order: Vec<&String> = ready.as_object().unwrap().keys().collect();
    assert_eq!(
        order,
        [
            "graph_url",
            "authority_url",
            "tenant_id",
            "tenant_domain",
            "client_id",
            "client_secret",
            "reader_client_id",
            "reader_client_secret",
            "ca_cert",
            "admin_user",
            "admin_password"
        ]
    );
    assert!(em.running.ready.graph_url.ends_with("/v1.0"));
    assert!(
        em.running.ready.tenant_domain.starts_with("emulator")
            && em.running.ready.tenant_domain.ends_with(".onmicrosoft.com")
    );
    // The clients are ordinary applications, visible through Graph.
    let app = em
        .get(&format!("/applications(appId='{}')", em.running.ready.client_id))
        .await;
    assert_eq!(app.status, 200);
    assert_eq!(app.body["passwordCredentials"][0]["secretText"], Value::Null);
    assert_eq!(
        app.body["passwordCredentials"][0]["hint"],
        &em.running.ready.client_secret[..3]
    );
    // First-party service principals with real permission ids.
    let mtp = em.get(&format!("/servicePrincipals(appId='{MTP_APP_ID}')")).await;
    assert_eq!(mtp.status, 200);
    assert!(
        mtp.body["oauth2PermissionScopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "12c153a4-4204-4224-aa3c-4626e2f47c2b")
    );
    // The admin holds its three roles on Graph; the reader the two `plan` needs.
    let roles = em
        .get(&format!(
            "/servicePrincipals(appId='{}')/appRoleAssignments",
            em.running.ready.client_id
        ))
        .await;
    assert_eq!(roles.body["value"].as_array().unwrap().len(), 3);
    let roles = em
        .get(&format!(
            "/servicePrincipals(appId='{}')/appRoleAssignments",
            em.running.ready.reader_client_id
        ))
        .await;
    assert_eq!(
        roles.body["value"][0]["appRoleId"],
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"
    );
    // /organization (delegated User.Read): value[0].id is the tenant id, one verified domain.
    let user = user_token(&em.running, &["User.Read"], "https://graph.microsoft.com", 3600);
    let org = em
        .call(Method::GET, "/organization", Some(&user), None, &[])
        .await;
    assert_eq!(org.status, 200);
    assert_eq!(org.body["value"][0]["id"], em.running.ready.tenant_id.as_str());
    assert_eq!(
        org.body["value"][0]["verifiedDomains"][0]["name"],
        em.running.ready.tenant_domain.as_str()
    );
    assert_eq!(org.body["value"][0]["verifiedDomains"][0]["isInitial"], true);
    let example = &reference("organization-me.json")["organization_list"]["response"]["body"]["value"][0];
    assert_eq!(keys(&org.body["value"][0]), keys(example));
    // The admin client has no Organization.Read.All: 403, as Graph would answer.
    assert_error(&em.get("/organization").await, 403, "Authorization_RequestDenied");
    em.running.shutdown().await;
}

#[tokio::test]
async fn tokens_are_checked_on_every_call() {
    let em = start().await;
    let r = em
        .call(
            Method::GET,
            "/applications",
            None,
            None,
            &[("client-request-id", "c0ffee00-0000-4000-8000-000000000001")],
        )
        .await;
    assert_error(&r, 401, "InvalidAuthenticationToken");
    assert_eq!(
        r.body["error"]["innerError"]["client-request-id"],
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert_eq!(
        r.headers["client-request-id"],
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert_error(
        &em.call(Method::GET, "/applications", Some("not-a-jwt"), None, &[])
            .await,
        401,
        "InvalidAuthenticationToken",
    );
    let expired = user_token(
        &em.running,
        &["Application.Read.All"],
        "https://graph.microsoft.com",
        -10,
    );
    let r = em
        .call(Method::GET, "/applications", Some(&expired), None, &[])
        .await;
    assert_error(&r, 401, "InvalidAuthenticationToken");
    assert!(r.headers.contains_key("www-authenticate"));
    let wrong_aud = user_token(
        &em.running,
        &["Application.Read.All"],
        "https://api.security.microsoft.com",
        3600,
    );
    assert_error(
        &em.call(Method::GET, "/applications", Some(&wrong_aud), None, &[])
            .await,
        401,
        "InvalidAuthenticationToken",
    );
    // A token signed by another tenant's key.
    let other = start().await;
    let foreign = other.admin.clone();
    assert_error(
        &em.call(Method::GET, "/applications", Some(&foreign), None, &[])
            .await,
        401,
        "InvalidAuthenticationToken",
    );
    // Delegated scopes count as permissions too.
    let reader_user = user_token(
        &em.running,
        &["Application.Read.All"],
        "https://graph.microsoft.com",
        3600,
    );
    assert_eq!(
        em.call(Method::GET, "/applications", Some(&reader_user), None, &[])
            .await
            .status,
        200
    );
    let r = em
        .call(
            Method::POST,
            "/applications",
            Some(&reader_user),
            Some(json!({"displayName": "x"})),
            &[],
        )
        .await;
    assert_error(&r, 403, "Authorization_RequestDenied");
    other.running.shutdown().await;
    em.running.shutdown().await;
}

#[tokio::test]
async fn reader_gets_403_on_every_write() {
    let em = start().await;
    let reader = em.reader.clone();
    assert_eq!(
        em.call(Method::GET, "/applications", Some(&reader), None, &[])
            .await
            .status,
        200
    );
    assert_eq!(
        em.call(Method::GET, "/servicePrincipals", Some(&reader), None, &[])
            .await
            .status,
        200
    );
    let admin_app = em
        .get(&format!("/applications(appId='{}')", em.running.ready.client_id))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let graph_sp = em.sp_id(GRAPH_APP_ID).await;
    let client_sp = em.sp_id(&em.running.ready.client_id).await;
    type Write<'a> = (Method, String, Value, Vec<(&'a str, &'a str)>);
    let writes: Vec<Write> = vec![
        (
            Method::POST,
            "/applications".into(),
            json!({"displayName": "x"}),
            vec![],
        ),
        (
            Method::PATCH,
            "/applications(uniqueName='x')".into(),
            json!({"displayName": "x"}),
            vec![("Prefer", "create-if-missing")],
        ),
        (
            Method::PATCH,
            format!("/applications/{admin_app}"),
            json!({"notes": "x"}),
            vec![],
        ),
        (
            Method::DELETE,
            format!("/applications/{admin_app}"),
            Value::Null,
            vec![],
        ),
        (
            Method::POST,
            format!("/applications/{admin_app}/addPassword"),
            json!({}),
            vec![],
        ),
        (
            Method::POST,
            "/servicePrincipals".into(),
            json!({"appId": MTP_APP_ID}),
            vec![],
        ),
        (
            Method::POST,
            "/oauth2PermissionGrants".into(),
            json!({"clientId": client_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"}),
            vec![],
        ),
        (
            Method::POST,
            format!("/servicePrincipals/{client_sp}/appRoleAssignments"),
            json!({"principalId": client_sp, "resourceId": graph_sp, "appRoleId": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"}),
            vec![],
        ),
    ];
    for (method, path, body, headers) in writes {
        let body = (!body.is_null()).then_some(body);
        let r = em
            .call(method.clone(), &path, Some(&reader), body, &headers)
            .await;
        assert_error(&r, 403, "Authorization_RequestDenied");
        assert_eq!(
            r.body["error"]["message"],
            "Insufficient privileges to complete the operation."
        );
    }
    // Nothing was written.
    assert_eq!(em.get(&format!("/applications/{admin_app}")).await.status, 200);
    em.running.shutdown().await;
}

#[tokio::test]
async fn create_application_replays_the_documented_example() {
    let em = start().await;
    let example = &reference("application.json")["create"];
    let r = em.post("/applications", example["request"]["body"].clone()).await;
    assert_eq!(r.status, 201);
    let documented = &example["response"]["body"];
    for k in documented_keys(documented, "application") {
        assert!(r.body.get(&k).is_some(), "missing `{k}`");
        let (ours, theirs) = (&r.body[&k], &documented[&k]);
        if theirs.is_array() || theirs.is_object() {
            assert_eq!(
                std::mem::discriminant(ours),
                std::mem::discriminant(theirs),
                "`{k}` shape"
            );
        }
    }
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/$metadata#applications/$entity")
    );
    // The documented example and the recordings agree: without `signInAudience`, work, school
    // and personal accounts, with v2 access tokens.
    assert_eq!(r.body["signInAudience"], "AzureADandPersonalMicrosoftAccount");
    assert_eq!(r.body["api"]["requestedAccessTokenVersion"], 2);
    assert_eq!(r.body["publisherDomain"], em.running.ready.tenant_domain.as_str());
    assert_eq!(keys(&r.body["web"]), keys(&documented["web"]));
    assert_error(
        &em.post("/applications", json!({})).await,
        400,
        "Request_BadRequest",
    );
    assert_error(
        &em.post(
            "/applications",
            json!({"displayName": "x", "passwordCredentials": []}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    assert_error(
        &em.post("/applications", json!({"displayName": "x", "bogus": 1}))
            .await,
        400,
        "BadRequest",
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn upsert_by_unique_name() {
    let em = start().await;
    let example = &reference("application.json")["upsert"]["examples"][0];
    let r = em.upsert("app-65278", example["request"]["body"].clone()).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["uniqueName"], "app-65278");
    for k in documented_keys(&example["response"]["body"], "application") {
        assert!(r.body.get(&k).is_some(), "missing `{k}`");
    }
    let id = r.body["id"].as_str().unwrap().to_owned();
    // Existing: 204 with or without Prefer, empty body.
    let r = em
        .upsert(
            "app-65278",
            json!({"displayName": "Renamed", "publicClient": {"redirectUris": ["https://portal.azure.com"]}}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (204, Value::Null));
    let r = em
        .patch("/applications(uniqueName='APP-65278')", json!({"notes": "n"}))
        .await;
    assert_eq!(r.status, 204);
    let got = em.get("/applications(uniqueName='app-65278')").await;
    assert_eq!(
        (
            got.body["id"].as_str().unwrap(),
            &got.body["displayName"],
            &got.body["notes"]
        ),
        (id.as_str(), &json!("Renamed"), &json!("n"))
    );
    // Without Prefer a missing app is 404.
    assert_error(
        &em.patch("/applications(uniqueName='missing')", json!({"displayName": "x"}))
            .await,
        404,
        "Request_ResourceNotFound",
    );
    // displayName is required when the upsert creates.
    assert_error(
        &em.upsert("new-one", json!({"notes": "x"})).await,
        400,
        "Request_BadRequest",
    );
    // uniqueName is immutable once set (docs/graph-notes.md §11.3), settable while null.
    assert_error(
        &em.patch(&format!("/applications/{id}"), json!({"uniqueName": "other"}))
            .await,
        400,
        "Request_BadRequest",
    );
    assert_error(
        &em.upsert("app-65278", json!({"uniqueName": "other"})).await,
        400,
        "Request_BadRequest",
    );
    let plain = em
        .post("/applications", json!({"displayName": "plain"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        em.patch(
            &format!("/applications/{plain}"),
            json!({"uniqueName": "given-later"})
        )
        .await
        .status,
        204
    );
    assert_error(
        &em.patch(
            &format!("/applications/{plain}"),
            json!({"uniqueName": "given-again"}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    // Taken by another live app.
    let other = em.post("/applications", json!({"displayName": "o"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = em
        .patch(
            &format!("/applications/{other}"),
            json!({"uniqueName": "app-65278"}),
        )
        .await;
    assert_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.body["error"]["message"],
        "Another object with the same value for property uniqueName already exists."
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn concurrent_upserts_end_with_one_app() {
    let em = start().await;
    let calls = (0..6).map(|_| em.upsert("concurrent", json!({"displayName": "c"})));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status.as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 5, "{statuses:?}");
    let listed = em.get("/applications?$filter=displayName eq 'c'").await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    em.running.shutdown().await;
}

#[tokio::test]
async fn patch_merges_properties_and_replaces_collections() {
    let em = start().await;
    let id = em.upsert("merge", json!({"displayName": "m", "tags": ["a", "b"], "web": {"redirectUris": ["https://a.example"], "homePageUrl": "https://home.example"}})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        em.patch(
            &format!("/applications/{id}"),
            json!({"tags": ["c"], "web": {"redirectUris": ["https://b.example"]}})
        )
        .await
        .status,
        204
    );
    let app = em.get(&format!("/applications/{id}")).await.body;
    assert_eq!(app["tags"], json!(["c"]));
    assert_eq!(app["web"]["redirectUris"], json!(["https://b.example"]));
    assert_eq!(app["web"]["homePageUrl"], "https://home.example");
    assert_eq!(app["displayName"], "m");
    em.running.shutdown().await;
}

#[tokio::test]
async fn application_validation_rules() {
    let em = start().await;
    let access: Vec<Value> = (0..51)
        .map(|i| json!({"resourceAppId": format!("00000000-0000-0000-0000-{i:012}"), "resourceAccess": []}))
        .collect();
    assert_error(
        &em.post(
            "/applications",
            json!({"displayName": "x", "requiredResourceAccess": access}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    let many: Vec<Value> = (0..401)
        .map(|i| json!({"id": format!("00000000-0000-0000-0000-{i:012}"), "type": "Scope"}))
        .collect();
    let rra = json!([{"resourceAppId": GRAPH_APP_ID, "resourceAccess": many}]);
    assert_error(
        &em.post(
            "/applications",
            json!({"displayName": "x", "requiredResourceAccess": rra}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    let bad_type = json!([{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Delegated"}]}]);
    assert_error(
        &em.post(
            "/applications",
            json!({"displayName": "x", "requiredResourceAccess": bad_type}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    for uri in [
        "http://example.com",
        "https://*.example.com",
        "urn:ietf:wg:oauth:2.0:oob",
    ] {
        let r = em
            .post(
                "/applications",
                json!({"displayName": "x", "publicClient": {"redirectUris": [uri]}}),
            )
            .await;
        assert_error(&r, 400, "Request_BadRequest");
        assert_eq!(
            r.body["error"]["message"],
            "Invalid value specified for property 'publicClient' of resource 'Application'."
        );
    }
    let long = format!("https://example.com/{}", "a".repeat(240));
    assert_error(
        &em.post(
            "/applications",
            json!({"displayName": "x", "publicClient": {"redirectUris": [long]}}),
        )
        .await,
        400,
        "Request_BadRequest",
    );
    let ok = em.post("/applications", json!({"displayName": "x", "publicClient": {"redirectUris": ["https://portal.azure.com", "http://localhost:8400", "msal1234://auth"]}})).await;
    assert_eq!(ok.status, 201);
    em.running.shutdown().await;
}

#[tokio::test]
async fn soft_delete_reserves_the_unique_name_until_purged_or_restored() {
    let em = start().await;
    let created = em.upsert("reserved", json!({"displayName": "r"})).await.body;
    let (id, app_id) = (
        created["id"].as_str().unwrap().to_owned(),
        created["appId"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        em.post("/servicePrincipals", json!({"appId": app_id}))
            .await
            .status,
        201
    );
    assert_eq!(em.delete(&format!("/applications/{id}")).await.status, 204);
    assert_error(
        &em.get(&format!("/applications/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    // Its service principal went with it.
    assert_error(
        &em.get(&format!("/servicePrincipals(appId='{app_id}')")).await,
        404,
        "Request_ResourceNotFound",
    );
    let r = em.upsert("reserved", json!({"displayName": "again"})).await;
    assert_error(&r, 400, "Request_BadRequest");
    assert_eq!(
        r.body["error"]["message"],
        "Another object with the same value for property uniqueName already exists."
    );
    let deleted = em
        .get("/directory/deletedItems/microsoft.graph.application")
        .await;
    assert_eq!(deleted.status, 200);
    assert!(
        deleted.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["deletedDateTime"].is_string())
    );
    // Restore brings it back (200 + object), then delete and purge frees the name.
    let restored = em
        .post(&format!("/directory/deletedItems/{id}/restore"), json!({}))
        .await;
    assert_eq!(
        (restored.status.as_u16(), &restored.body["@odata.type"]),
        (200, &json!("#microsoft.graph.application"))
    );
    assert_eq!(
        em.upsert("reserved", json!({"displayName": "r2"})).await.status,
        204
    );
    assert_eq!(
        em.delete(&format!("/applications(appId='{app_id}')"))
            .await
            .status,
        204
    );
    assert_eq!(
        em.delete(&format!("/directory/deletedItems/{id}")).await.status,
        204
    );
    assert_error(
        &em.delete(&format!("/directory/deletedItems/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(
        em.upsert("reserved", json!({"displayName": "fresh"}))
            .await
            .status,
        201
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn service_principal_rules() {
    let em = start().await;
    let app = em
        .post(
            "/applications",
            json!({"displayName": "svc", "identifierUris": ["api://svc-test"], "tags": ["soc"]}),
        )
        .await
        .body;
    let app_id = app["appId"].as_str().unwrap().to_owned();
    let r = em.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["servicePrincipalNames"], json!([app_id, "api://svc-test"]));
    assert_eq!(r.body["tags"], json!(["soc"]));
    assert_eq!(r.body["appDisplayName"], "svc");
    let documented = &reference("serviceprincipal.json")["create"]["response"]["body"];
    for k in documented_keys(documented, "servicePrincipal") {
        assert!(r.body.get(&k).is_some(), "missing `{k}`");
    }
    // A second one: 409 (docs/graph-notes.md §11.1(b)).
    let dup = em.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_error(&dup, 409, "Request_MultipleObjectsWithSameKeyValue");
    assert!(dup.body["error"]["message"].as_str().unwrap().contains(&app_id));
    // No backing application: 400 with details NoBackingApplicationObject (docs/graph-notes.md §11.1(d1)).
    let none = em
        .post(
            "/servicePrincipals",
            json!({"appId": "11111111-2222-3333-4444-555555555555"}),
        )
        .await;
    assert_error(&none, 400, "Request_BadRequest");
    assert_eq!(
        none.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    assert_error(
        &em.post("/servicePrincipals", json!({})).await,
        400,
        "Request_BadRequest",
    );
    // Upsert by appId: 204 when it exists, 404 without Prefer when missing, 201 with it.
    let path = format!("/servicePrincipals(appId='{app_id}')");
    assert_eq!(
        em.call(
            Method::PATCH,
            &path,
            Some(&em.admin.clone()),
            Some(json!({"notes": "x"})),
            &[("Prefer", "create-if-missing")]
        )
        .await
        .status,
        204
    );
    assert_eq!(em.get(&path).await.body["notes"], "x");
    let other = em
        .post("/applications", json!({"displayName": "other"}))
        .await
        .body["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_path = format!("/servicePrincipals(appId='{other}')");
    assert_error(
        &em.patch(&other_path, json!({"displayName": "x"})).await,
        404,
        "Request_ResourceNotFound",
    );
    let created = em
        .call(
            Method::PATCH,
            &other_path,
            Some(&em.admin.clone()),
            Some(json!({"displayName": "My app instance"})),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    assert_eq!(
        (created.status.as_u16(), &created.body["displayName"]),
        (201, &json!("My app instance"))
    );
    // A first-party API's principal can be created from its appId alone.
    let t = em
        .get(&format!("/servicePrincipals(appId='{MTP_APP_ID}')"))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(em.delete(&format!("/servicePrincipals/{t}")).await.status, 204);
    let back = em.post("/servicePrincipals", json!({"appId": MTP_APP_ID})).await;
    assert_eq!(
        (back.status.as_u16(), &back.body["displayName"]),
        (201, &json!("Microsoft Threat Protection"))
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn oauth2_permission_grants() {
    let em = start().await;
    let app_id = em
        .post("/applications", json!({"displayName": "client"}))
        .await
        .body["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = em.post("/servicePrincipals", json!({"appId": app_id})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mtp = em.sp_id(MTP_APP_ID).await;
    let body = json!({"clientId": client, "consentType": "AllPrincipals", "resourceId": mtp, "scope": "Incident.Read AdvancedHunting.Read"});
    let r = em.post("/oauth2PermissionGrants", body.clone()).await;
    assert_eq!(r.status, 201);
    let example = &reference("oauth2permissiongrant.json")["create"]["examples"][0]["response"]["body"];
    assert_eq!(keys(&r.body), keys(example));
    assert_eq!(r.body["principalId"], Value::Null);
    // The id is base64url(clientId ‖ resourceId), 43 characters (docs/graph-notes.md §11.1(a)).
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 43);
    let dup = em.post("/oauth2PermissionGrants", body).await;
    assert_error(&dup, 400, "Request_BadRequest");
    assert_eq!(dup.body["error"]["message"], "Permission entry already exists.");
    // Scope values must be published by the resource.
    let graph = em.sp_id(GRAPH_APP_ID).await;
    let bad = em.post("/oauth2PermissionGrants", json!({"clientId": client, "consentType": "AllPrincipals", "resourceId": graph, "scope": "Not.A.Scope"})).await;
    assert_error(&bad, 400, "Request_BadRequest");
    // Unknown service principals.
    let unknown = em.post("/oauth2PermissionGrants", json!({"clientId": "11111111-2222-3333-4444-555555555555", "consentType": "AllPrincipals", "resourceId": mtp, "scope": "Incident.Read"})).await;
    assert_error(&unknown, 400, "Request_BadRequest");
    // Principal grants need a user; both kinds coexist.
    let admin_user = em.running.shared().tenant().admin_user()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = em.post("/oauth2PermissionGrants", json!({"clientId": client, "consentType": "Principal", "principalId": admin_user, "resourceId": mtp, "scope": "Incident.Read"})).await;
    assert_eq!(
        (p.status.as_u16(), p.body["id"].as_str().unwrap().len()),
        (201, 64)
    );
    // Lists and filters.
    let f = format!(
        "/oauth2PermissionGrants?$filter=clientId eq '{client}' and resourceId eq '{mtp}' and consentType eq 'AllPrincipals'"
    );
    let listed = em.get(&f).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert!(
        listed.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#oauth2PermissionGrants")
    );
    let nav = em
        .get(&format!(
            "/servicePrincipals(appId='{app_id}')/oauth2PermissionGrants"
        ))
        .await;
    assert_eq!(nav.body["value"].as_array().unwrap().len(), 2);
    // PATCH overwrites scope.
    assert_eq!(
        em.patch(
            &format!("/oauth2PermissionGrants/{id}"),
            json!({"scope": "Incident.ReadWrite"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        em.get(&format!("/oauth2PermissionGrants/{id}")).await.body["scope"],
        "Incident.ReadWrite"
    );
    assert_error(
        &em.patch(&format!("/oauth2PermissionGrants/{id}"), json!({"scope": "Nope"}))
            .await,
        400,
        "Request_BadRequest",
    );
    assert_eq!(
        em.delete(&format!("/oauth2PermissionGrants/{id}")).await.status,
        204
    );
    assert_error(
        &em.get(&format!("/oauth2PermissionGrants/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    // Deleting the application takes its principal and the principal's grants.
    assert_eq!(
        em.delete(&format!("/applications(appId='{app_id}')"))
            .await
            .status,
        204
    );
    let left = em
        .get(&format!("/oauth2PermissionGrants?$filter=clientId eq '{client}'"))
        .await;
    assert_eq!(left.body["value"], json!([]));
    em.running.shutdown().await;
}

#[tokio::test]
async fn app_role_assignments() {
    let em = start().await;
    let app_id = em
        .post("/applications", json!({"displayName": "daemon"}))
        .await
        .body["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sp = em.post("/servicePrincipals", json!({"appId": app_id})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mtp = em.sp_id(MTP_APP_ID).await;
    let role = "a9790345-4595-42e4-971a-ccdc79f19b7c"; // Incident.Read.All
    let body = json!({"principalId": sp, "resourceId": mtp, "appRoleId": role});
    let r = em
        .post(
            &format!("/servicePrincipals/{sp}/appRoleAssignments"),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["resourceDisplayName"], "Microsoft Threat Protection");
    assert_eq!(r.body["principalType"], "ServicePrincipal");
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .contains(&format!("servicePrincipals('{sp}')/appRoleAssignments/$entity"))
    );
    let assignment = r.body["id"].as_str().unwrap().to_owned();
    assert_error(
        &em.post(&format!("/servicePrincipals/{sp}/appRoleAssignments"), body)
            .await,
        409,
        "Request_MultipleObjectsWithSameKeyValue",
    );
    let wrong_role =
        json!({"principalId": sp, "resourceId": mtp, "appRoleId": "12c153a4-4204-4224-aa3c-4626e2f47c2b"});
    assert_error(
        &em.post(&format!("/servicePrincipals/{sp}/appRoleAssignments"), wrong_role)
            .await,
        400,
        "Request_BadRequest",
    );
    let to = em
        .get(&format!(
            "/servicePrincipals/{mtp}/appRoleAssignedTo?$filter=principalId eq '{sp}'"
        ))
        .await;
    assert_eq!(to.body["value"][0]["id"], assignment.as_str());
    assert_eq!(
        em.delete(&format!(
            "/servicePrincipals(appId='{app_id}')/appRoleAssignments/{assignment}"
        ))
        .await
        .status,
        204
    );
    assert_eq!(
        em.get(&format!("/servicePrincipals/{sp}/appRoleAssignments"))
            .await
            .body["value"],
        json!([])
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn passwords_and_federated_credentials() {
    let em = start().await;
    let id = em
        .post("/applications", json!({"displayName": "creds"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = em
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "Password friendly name"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    // The documented addPassword response (application-addpassword.md) has these properties.
    for k in [
        "customKeyIdentifier",
        "endDateTime",
        "keyId",
        "startDateTime",
        "secretText",
        "hint",
        "displayName",
    ] {
        assert!(r.body.get(k).is_some(), "missing `{k}`");
    }
    let secret = r.body["secretText"].as_str().unwrap().to_owned();
    assert_eq!(r.body["hint"], &secret[..3]);
    let app = em.get(&format!("/applications/{id}")).await.body;
    assert_eq!(app["passwordCredentials"][0]["secretText"], Value::Null);
    assert!(!app.to_string().contains(&secret));
    // keyCredentials.key only comes back when keyCredentials is in $select.
    let key = entra_emulator::identity::keys::SigningKey::generate("test")
        .unwrap()
        .certificate_base64();
    let cert =
        json!([{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key, "displayName": "CN=test"}]);
    assert_eq!(
        em.patch(&format!("/applications/{id}"), json!({"keyCredentials": cert}))
            .await
            .status,
        204
    );
    assert_eq!(
        em.get(&format!("/applications/{id}")).await.body["keyCredentials"][0]["key"],
        Value::Null
    );
    let selected = em
        .get(&format!("/applications/{id}?$select=id,keyCredentials"))
        .await;
    assert_eq!(selected.body["keyCredentials"][0]["key"], key.as_str());
    let key_id = r.body["keyId"].as_str().unwrap().to_owned();
    assert_eq!(
        em.post(
            &format!("/applications/{id}/removePassword"),
            json!({"keyId": key_id})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        em.get(&format!("/applications/{id}")).await.body["passwordCredentials"],
        json!([])
    );
    // Federated identity credentials: create, duplicate issuer+subject, list, delete, max 20.
    let fic = |n: u32| json!({"name": format!("fic{n}"), "issuer": "https://token.actions.githubusercontent.com", "subject": format!("repo:o/r:ref:{n}"), "audiences": ["api://AzureADTokenExchange"]});
    let path = format!("/applications/{id}/federatedIdentityCredentials");
    let created = em.post(&path, fic(0)).await;
    assert_eq!(created.status, 201);
    assert!(
        created.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "applications('{id}')/federatedIdentityCredentials/$entity"
            ))
    );
    let mut same = fic(0);
    same["name"] = json!("other");
    assert_error(&em.post(&path, same).await, 400, "Request_BadRequest");
    for n in 1..20 {
        assert_eq!(em.post(&path, fic(n)).await.status, 201);
    }
    assert_error(&em.post(&path, fic(20)).await, 400, "Request_BadRequest");
    assert_eq!(em.get(&path).await.body["value"].as_array().unwrap().len(), 20);
    assert_eq!(em.delete(&format!("{path}/fic0")).await.status, 204);
    assert_eq!(em.get(&path).await.body["value"].as_array().unwrap().len(), 19);
    // The identity side sees them through the read helper.
    let app_id = em.get(&format!("/applications/{id}")).await.body["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        em.running
            .shared()
            .tenant()
            .application_by_app_id(&app_id)
            .unwrap()
            .federated_identity_credentials()
            .len(),
        19
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn filters_select_paging_and_paths() {
    let em = start().await;
    for i in 0..5 {
        em.post(
            "/applications",
            json!({"displayName": format!("page-{i}"), "tags": ["paged"]}),
        )
        .await;
    }
    let listed = em
        .get("/applications?$filter=startswith(displayName,'page-')&$select=id,displayName&$top=2")
        .await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#applications(id,displayName)")
    );
    assert_eq!(keys(&listed.body["value"][0]), ["displayName", "id"]);
    let mut seen = listed.body["value"].as_array().unwrap().len();
    let mut next = listed.body["@odata.nextLink"].as_str().map(str::to_owned);
    while let Some(link) = next {
        assert!(link.starts_with(&em.running.ready.graph_url));
        let page = em.get(&link).await;
        seen += page.body["value"].as_array().unwrap().len();
        next = page.body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 5);
    assert_eq!(
        em.get("/applications?$filter=tags/any(c:c eq 'paged')")
            .await
            .body["value"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // The documented service principal query (docs/graph-notes.md §2).
    let sp = em.get("/servicePrincipals?$filter=displayName eq 'Microsoft Graph'&$select=id,displayName,appId,oauth2PermissionScopes").await;
    assert!(
        sp.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#servicePrincipals(id,displayName,appId,oauth2PermissionScopes)")
    );
    assert_eq!(sp.body["value"][0]["appId"], GRAPH_APP_ID);
    let by_name = em.get("/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq 'https://api.security.microsoft.com')").await;
    assert_eq!(by_name.body["value"][0]["appId"], MTP_APP_ID);
    // Unsupported filters and options.
    assert_error(
        &em.get("/applications?$filter=notes eq 'x'").await,
        400,
        "Request_UnsupportedQuery",
    );
    assert_error(
        &em.get("/applications?$filter=displayName ne 'x'").await,
        400,
        "Request_UnsupportedQuery",
    );
    assert_error(
        &em.get("/applications?$filter=uniqueName eq 'x'").await,
        400,
        "Request_UnsupportedQuery",
    );
    assert_error(
        &em.get("/applications?$select=nope").await,
        400,
        "Request_BadRequest",
    );
    assert_error(
        &em.get("/applications?$top=1000").await,
        400,
        "Request_BadRequest",
    );
    // Path segments ignore case; /myorganization/ is the tenant alias.
    assert_eq!(em.get("/myorganization/APPLICATIONS?$top=1").await.status, 200);
    assert_eq!(
        em.get(&format!("/ServicePrincipals(APPID='{GRAPH_APP_ID}')"))
            .await
            .status,
        200
    );
    assert_error(
        &em.call(
            Method::PUT,
            "/applications",
            Some(&em.admin.clone()),
            Some(json!({})),
            &[],
        )
        .await,
        405,
        "Request_BadRequest",
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn me_is_for_delegated_tokens() {
    let em = start().await;
    let r = em.get("/me").await;
    assert_error(&r, 400, "BadRequest");
    assert_eq!(
        r.body["error"]["message"],
        "/me request is only valid with delegated authentication flow."
    );
    let user = user_token(&em.running, &["User.Read"], GRAPH_APP_ID, 3600);
    let me = em.call(Method::GET, "/me", Some(&user), None, &[]).await;
    assert_eq!(me.status, 200);
    let example = &reference("organization-me.json")["me"]["response"]["body"];
    for k in keys(example) {
        assert!(me.body.get(&k).is_some(), "missing `{k}`");
    }
    assert!(
        me.body["userPrincipalName"]
            .as_str()
            .unwrap()
            .ends_with(&em.running.ready.tenant_domain)
    );
    let no_scope = user_token(&em.running, &["Incident.Read"], GRAPH_APP_ID, 3600);
    assert_error(
        &em.call(Method::GET, "/me", Some(&no_scope), None, &[]).await,
        403,
        "Authorization_RequestDenied",
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn batch_rules() {
    let em = start().await;
    let req = |id: &str, method: &str, url: &str| json!({"id": id, "method": method, "url": url});
    let too_many: Vec<Value> = (0..21)
        .map(|i| req(&i.to_string(), "GET", "/applications"))
        .collect();
    assert_error(
        &em.post("/$batch", json!({"requests": too_many})).await,
        400,
        "BadRequest",
    );
    assert_error(
        &em.post(
            "/$batch",
            json!({"requests": [req("a", "GET", "/me"), req("A", "GET", "/me")]}),
        )
        .await,
        400,
        "BadRequest",
    );
    let body = json!({"requests": [
        {"id": "1", "method": "POST", "url": "/applications", "headers": {"Content-Type": "application/json"}, "body": {"displayName": "batched"}},
        {"id": "2", "method": "GET", "url": "applications?$filter=displayName eq 'batched'", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/applications/does-not-exist"},
        {"id": "4", "method": "GET", "url": "/applications", "dependsOn": ["3"]},
        {"id": "5", "method": "GET", "url": "/me"},
        {"id": "6", "method": "GET", "url": "https://graph.microsoft.com/v1.0/applications"}
    ]});
    let r = em.post("/$batch", body).await;
    assert_eq!(r.status, 200);
    let by_id = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("1")["status"], 201);
    assert_eq!(by_id("2")["status"], 200);
    assert_eq!(by_id("2")["body"]["value"][0]["displayName"], "batched");
    assert_eq!(by_id("3")["status"], 404);
    assert_eq!(by_id("3")["body"]["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(by_id("4")["status"], 424);
    assert_eq!(by_id("5")["status"], 400);
    assert_eq!(by_id("6")["status"], 400);
    // Each inner request is authorised: the reader's write fails inside an outer 200.
    let reader = em.reader.clone();
    let r = em.call(Method::POST, "/$batch", Some(&reader), Some(json!({"requests": [{"id": "w", "method": "POST", "url": "/applications", "body": {"displayName": "x"}, "headers": {"Content-Type": "application/json"}}]})), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["responses"][0]["status"], 403);
    assert_eq!(
        r.body["responses"][0]["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );
    em.running.shutdown().await;
}

/// A token from the token endpoint expires when the emulator's clock passes its `exp`: Graph
/// then answers 401 as for any expired token, and a fresh token works. No sleep: the clock
/// moves.
#[tokio::test]
async fn issued_tokens_expire_on_the_emulators_clock() {
    let em = start().await;
    assert_eq!(em.get("/applications").await.status, 200);
    let claims = token::decode_unverified(&em.admin).unwrap();
    let lifetime = u64::try_from(claims.exp - claims.iat).unwrap();
    assert!(lifetime >= 3599, "{lifetime}");
    em.running.clock().advance(Duration::from_secs(lifetime - 5));
    assert_eq!(em.get("/applications").await.status, 200);
    em.running.clock().advance(Duration::from_secs(10));
    let r = em.get("/applications").await;
    assert_error(&r, 401, "InvalidAuthenticationToken");
    assert_eq!(
        r.body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
    let ready = em.running.ready.clone();
    let fresh = client_token(&em.http, &em.running, &ready.client_id, &ready.client_secret).await;
    let r = em
        .call(Method::GET, "/applications", Some(&fresh), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // `GET /_emulator/clock` shows how far the clock was moved.
    let clock = em.control(Method::GET, "clock", None).await.body;
    assert_eq!(clock["offset_ms"], (lifetime + 5) * 1000);
    // `POST /_emulator/clock` moves it for a client outside the process.
    let moved = em
        .control(Method::POST, "clock", Some(json!({"advance_ms": 1000})))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["offset_ms"], (lifetime + 6) * 1000);
    em.running.shutdown().await;
}

#[tokio::test]
async fn faults_inside_batch_hit_inner_requests() {
    let em = start().await;
    em.control(
        Method::PUT,
        "faults",
        Some(json!({"throttle_rate": 1.0, "seed": 3})),
    )
    .await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/applications"},
        {"id": "2", "method": "GET", "url": "/servicePrincipals", "dependsOn": ["1"]}
    ]});
    let r = em.post("/$batch", body).await;
    assert_eq!(r.status, 200);
    let first = &r.body["responses"][0];
    assert_eq!(
        (&first["status"], &first["headers"]["Retry-After"]),
        (&json!(429), &json!("1"))
    );
    assert_eq!(first["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(r.body["responses"][1]["status"], 424);
    em.running.shutdown().await;
}

#[tokio::test]
async fn throttling_and_early_retries() {
    let em = start().await;
    let faults = json!({"throttle_rate": 1.0, "seed": 1});
    assert_eq!(em.control(Method::PUT, "faults", Some(faults)).await.status, 200);
    let r = em.get("/applications").await;
    assert_error(&r, 429, "TooManyRequests");
    assert_eq!(r.headers["retry-after"], "1");
    // New knobs start afresh (windows cleared), so the same seed replays from here.
    em.control(Method::PUT, "faults", Some(json!({"seed": 1}))).await;
    assert_eq!(em.get("/applications").await.status, 200);
    em.control(
        Method::PUT,
        "faults",
        Some(json!({"throttle_rate": 1.0, "seed": 1})),
    )
    .await;
    // A retry is the same call again: it repeats the client-request-id.
    async fn call(em: &Em) -> Resp {
        em.call(
            Method::GET,
            "/servicePrincipals",
            Some(&em.admin.clone()),
            None,
            &[("client-request-id", "c0ffee00-0000-4000-8000-0000000000aa")],
        )
        .await
    }
    assert_eq!(call(&em).await.status, 429);
    // Lower the rate by hand in the injector, keeping the live window: an early retry is
    // throttled again and counted; another call inside the window is throttled, not counted.
    em.running.shared().injector().faults.throttle_rate = 0.0;
    assert_eq!(call(&em).await.status, 429);
    assert_eq!(em.get("/servicePrincipals").await.status, 429);
    // Another workload is not in the window.
    assert_eq!(em.get("/applications").await.status, 200);
    let stats = em.control(Method::GET, "stats", None).await.body;
    assert_eq!(stats["retry_after_violations"], 1);
    assert_eq!(stats["faults"]["throttle"], 2);
    assert_eq!(stats["faults"]["retry_after"], 2);
    assert!(stats["requests"]["servicePrincipals.list"].as_u64().unwrap() >= 2);
    // The window runs on the emulator's clock: short of `Retry-After` a retry is early (throttled
    // again, the window restarts); once the clock has passed the window the call is served.
    em.running.clock().advance(Duration::from_millis(900));
    assert_eq!(call(&em).await.status, 429);
    em.running.clock().advance(Duration::from_millis(1100));
    assert_eq!(em.get("/servicePrincipals").await.status, 200);
    em.running.shutdown().await;
}

#[tokio::test]
async fn server_faults_replay_for_a_seed() {
    let run = |seed: u64| async move {
        let mut config = Config::local();
        config.faults = Faults {
            fault_rate: 0.5,
            seed: Some(seed),
            ..Faults::default()
        };
        let em = start_with(config).await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let r = em.get("/applications?$top=1").await;
            if r.status.is_server_error() {
                assert!(
                    ["generalException", "serviceNotAvailable"]
                        .contains(&r.body["error"]["code"].as_str().unwrap()),
                    "{}",
                    r.body
                );
                assert!(r.body["error"]["innerError"]["request-id"].is_string());
            }
            statuses.push(r.status.as_u16());
        }
        em.running.shutdown().await;
        statuses
    };
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert!(a.iter().any(|s| *s >= 500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn dropped_connections_and_latency() {
    let em = start().await;
    em.control(Method::PUT, "faults", Some(json!({"drop_rate": 1.0})))
        .await;
    let err = em
        .http
        .get(em.url("/applications"))
        .bearer_auth(&em.admin)
        .send()
        .await;
    assert!(err.is_err(), "expected a closed connection");
    em.control(Method::PUT, "faults", Some(json!({"latency_ms": 300})))
        .await;
    let t0 = Instant::now();
    assert_eq!(em.get("/applications?$top=1").await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let log = em.control(Method::GET, "requests", None).await.body;
    assert!(log.as_array().unwrap().iter().any(|e| e["status"].is_null()));
    let bad = em
        .control(Method::PUT, "faults", Some(json!({"fault_rate": 2.0})))
        .await;
    assert_eq!(bad.status, 400);
    em.running.shutdown().await;
}

#[tokio::test]
async fn replication_lag_hides_new_objects() {
    let mut config = Config::local();
    config.faults.replication_lag_ms = 600;
    let em = start_with(config).await;
    let app = em.upsert("lagging", json!({"displayName": "lag"})).await;
    assert_eq!(app.status, 201);
    let (id, app_id) = (
        app.body["id"].as_str().unwrap().to_owned(),
        app.body["appId"].as_str().unwrap().to_owned(),
    );
    assert_error(
        &em.get(&format!("/applications/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    assert_error(
        &em.patch(&format!("/applications/{id}"), json!({"notes": "x"}))
            .await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(
        em.get("/applications?$filter=displayName eq 'lag'").await.body["value"],
        json!([])
    );
    let sp = em.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_error(&sp, 400, "Request_BadRequest");
    assert_eq!(
        sp.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    // The upsert's key finds only a replicated object: a repeat inside the window tries to
    // create and meets the name the first holds (issue 12), never a duplicate.
    let again = em.upsert("lagging", json!({"displayName": "lag"})).await;
    assert_error(&again, 400, "Request_BadRequest");
    assert_eq!(
        again.body["error"]["message"],
        "Another object with the same value for property uniqueName already exists."
    );
    // The emulator's clock, not a sleep, moves past the window.
    em.running.clock().advance_ms(650);
    assert_eq!(
        em.upsert("lagging", json!({"displayName": "lag"})).await.status,
        204
    );
    assert_eq!(em.get(&format!("/applications/{id}")).await.status, 200);
    let sp = em.post("/servicePrincipals", json!({"appId": app_id})).await;
    assert_eq!(sp.status, 201);
    // A grant naming the new principal inside its window: 404 (docs/graph-notes.md §11.1(d2)).
    let mtp = em.sp_id(MTP_APP_ID).await;
    let g = em.post("/oauth2PermissionGrants", json!({"clientId": sp.body["id"], "consentType": "AllPrincipals", "resourceId": mtp, "scope": "Incident.Read"})).await;
    assert_error(&g, 404, "Directory_ObjectNotFound");
    em.running.clock().advance_ms(650);
    let g = em.post("/oauth2PermissionGrants", json!({"clientId": sp.body["id"], "consentType": "AllPrincipals", "resourceId": mtp, "scope": "Incident.Read"})).await;
    assert_eq!(g.status, 201);
    em.running.shutdown().await;
}

#[tokio::test]
async fn request_log_redacts_and_reset_reseeds() {
    let em = start().await;
    let id = em
        .post("/applications", json!({"displayName": "logged"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = em
        .post(
            &format!("/applications/{id}/addPassword"),
            json!({"passwordCredential": {"displayName": "p"}}),
        )
        .await
        .body["secretText"]
        .as_str()
        .unwrap()
        .to_owned();
    em.call(
        Method::GET,
        "/applications?$top=1",
        Some(&em.admin.clone()),
        None,
        &[("client-request-id", "abc")],
    )
    .await;
    let log = em.control(Method::GET, "requests", None).await.body;
    let text = log.to_string();
    assert!(!text.contains(&secret) && !text.contains(&em.admin) && !text.contains("Bearer"));
    let entries = log.as_array().unwrap();
    let create = entries
        .iter()
        .find(|e| e["method"] == "POST" && e["path"] == "/v1.0/applications")
        .unwrap();
    assert_eq!(create["body"]["displayName"], "logged");
    assert_eq!(create["status"], 201);
    let add = entries
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("addPassword"))
        .unwrap();
    assert_eq!(add["body"]["passwordCredential"], "[redacted]");
    let get = entries.iter().find(|e| e["method"] == "GET").unwrap();
    assert_eq!(
        (&get["body"], &get["client_request_id"], &get["query"]),
        (&Value::Null, &json!("abc"), &json!("$top=1"))
    );
    let started = get["started_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok()
            && started.split('.').nth(1).unwrap().len() == 7,
        "{started}"
    );
    // Reset: a fresh tenant with the same clients; the old app is gone.
    let before = em.control(Method::GET, "state", None).await.body;
    assert_eq!(em.control(Method::POST, "reset", None).await.status, 204);
    assert_error(
        &em.get(&format!("/applications/{id}")).await,
        404,
        "Request_ResourceNotFound",
    );
    let after = em.control(Method::GET, "state", None).await.body;
    assert_eq!(before["identity"], after["identity"]);
    assert_eq!(
        em.get(&format!("/applications(appId='{}')", em.running.ready.client_id))
            .await
            .status,
        200
    );
    // The log started again: only the two reads since the reset.
    assert_eq!(
        em.control(Method::GET, "requests", None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    em.running.shutdown().await;
}

#[tokio::test]
async fn state_file_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let mut config = Config::local();
    config.state = Some(path.clone());
    let em = start_with(config.clone()).await;
    assert_eq!(
        em.upsert("kept", json!({"displayName": "kept"})).await.status,
        201
    );
    let ready = em.running.ready.clone();
    em.running.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let em = start_with(config).await;
    assert_eq!(
        (&em.running.ready.tenant_id, &em.running.ready.client_secret),
        (&ready.tenant_id, &ready.client_secret)
    );
    assert_eq!(
        em.upsert("kept", json!({"displayName": "kept"})).await.status,
        204
    );
    em.running.shutdown().await;
}
