//! Least privilege as Graph enforces it: each permission rule of the emulator (a token one
//! permission short gets Graph's 403, the documented permission passes), and the real binary
//! naming the missing permission on a 403.

use provision::emulator::Running;
use provision::emulator::identity::token::{self, Claims, ClientAuth, Issue, TokenVersion, User};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Tenant, code, stderr, stdout};

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Graph's `User.Read.All` app role.
const USER_READ_ALL_ROLE: &str = "df021288-bdef-4463-88db-98f22de89214";

/// An app-only Graph token of the seeded reader client holding exactly `roles`.
pub fn app_token(running: &Running, roles: &[&str]) -> String {
    let shared = running.shared();
    let t = shared.tenant();
    let issue = Issue {
        version: TokenVersion::V1,
        authority: &shared.base_url,
        tenant_id: t.tenant_id(),
        audience: "https://graph.microsoft.com",
        client_id: &running.ready.reader_client_id,
        client_auth: ClientAuth::Secret,
        now: chrono::Utc::now().timestamp(),
        lifetime_secs: 3600,
    };
    let roles = roles.iter().map(|r| (*r).to_owned()).collect();
    let claims = Claims::app_only(&issue, &uuid::Uuid::new_v4().to_string(), roles);
    token::issue(&shared.signing_key, &claims).unwrap()
}

/// A delegated Graph token of the seeded administrator user holding exactly `scopes`.
pub fn user_token(running: &Running, scopes: &[&str]) -> String {
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
        audience: "https://graph.microsoft.com",
        client_id: "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        client_auth: ClientAuth::Public,
        now: chrono::Utc::now().timestamp(),
        lifetime_secs: 3600,
    };
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    token::issue(&shared.signing_key, &Claims::delegated(&issue, &user, &scopes)).unwrap()
}

/// Run the real binary signed in with `token` (`--auth access-token`).
pub async fn run_with_token(t: &Tenant, args: &[&str], token: &str) -> std::process::Output {
    crate::signin::run(
        t,
        args,
        &[
            ("PROVISION_AUTH", "access-token"),
            ("PROVISION_ACCESS_TOKEN", token),
        ],
        None,
    )
    .await
}

async fn call(t: &Tenant, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = t
        .http
        .request(method, format!("{}{path}", t.emu.ready.graph_url))
        .bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Graph's own 403 body (json-batching.md example): `Authorization_RequestDenied`.
fn assert_denied(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied", "{what}");
    assert_eq!(
        body["error"]["message"], "Insufficient privileges to complete the operation.",
        "{what}"
    );
    assert!(body["error"]["innerError"]["request-id"].is_string(), "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_rule_refuses_a_token_one_permission_short_and_admits_the_documented_one() {
    let t = Tenant::start().await;
    let r = t.emu.ready.clone();
    let graph_sp = t
        .get(&format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader_sp = t
        .get(&format!("/servicePrincipals(appId='{}')", r.reader_client_id))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant_body = json!({"clientId": reader_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"});
    let assign_body =
        json!({"principalId": reader_sp, "resourceId": graph_sp, "appRoleId": USER_READ_ALL_ROLE});
    // (what, method, path, body, refused with, admitted with, status when admitted)
    type Case<'a> = (
        &'a str,
        Method,
        String,
        Option<Value>,
        &'a [&'a str],
        &'a [&'a str],
        u16,
    );
    let cases: Vec<Case> = vec![
        // serviceprincipal-list-oauth2permissiongrants: Directory.Read.All, not Application.Read.All.
        (
            "grants of a service principal by appId",
            Method::GET,
            format!(
                "/servicePrincipals(appId='{}')/oauth2PermissionGrants",
                r.client_id
            ),
            None,
            &["Application.Read.All", "Application.ReadWrite.All"],
            &["Directory.Read.All"],
            200,
        ),
        (
            "grants of a service principal by id",
            Method::GET,
            format!("/servicePrincipals/{reader_sp}/oauth2PermissionGrants"),
            None,
            &["Application.Read.All"],
            &["DelegatedPermissionGrant.ReadWrite.All"],
            200,
        ),
        // oauth2permissiongrant-list.
        (
            "grant list",
            Method::GET,
            format!("/oauth2PermissionGrants?$filter=clientId eq '{reader_sp}'"),
            None,
            &["Application.Read.All", "AppRoleAssignment.ReadWrite.All"],
            &["Directory.Read.All"],
            200,
        ),
        // application-list: Application.Read.All or Directory.Read.All.
        (
            "application list",
            Method::GET,
            "/applications".into(),
            None,
            &[
                "DelegatedPermissionGrant.ReadWrite.All",
                "AppRoleAssignment.ReadWrite.All",
            ],
            &["Directory.Read.All"],
            200,
        ),
        // serviceprincipal-list-approleassignments: Application.Read.All.
        (
            "app role assignments of a service principal",
            Method::GET,
            format!("/servicePrincipals/{reader_sp}/appRoleAssignments"),
            None,
            &[
                "DelegatedPermissionGrant.ReadWrite.All",
                "AppRoleAssignment.ReadWrite.All",
            ],
            &["Application.Read.All"],
            200,
        ),
        // application-post-applications: Application.ReadWrite.All.
        (
            "application create",
            Method::POST,
            "/applications".into(),
            Some(json!({"displayName": "permissions probe"})),
            &[
                "Application.Read.All",
                "Directory.Read.All",
                "DelegatedPermissionGrant.ReadWrite.All",
            ],
            &["Application.ReadWrite.All"],
            201,
        ),
        // oauth2permissiongrant-post: DelegatedPermissionGrant.ReadWrite.All.
        (
            "grant create",
            Method::POST,
            "/oauth2PermissionGrants".into(),
            Some(grant_body),
            &[
                "Application.ReadWrite.All",
                "AppRoleAssignment.ReadWrite.All",
                "Directory.Read.All",
            ],
            &["DelegatedPermissionGrant.ReadWrite.All"],
            201,
        ),
        // serviceprincipal-post-approleassignments: AppRoleAssignment.ReadWrite.All *and*
        // Application.Read.All; each half alone is refused.
        (
            "app role assignment create, write half only",
            Method::POST,
            format!("/servicePrincipals/{reader_sp}/appRoleAssignments"),
            Some(assign_body.clone()),
            &["AppRoleAssignment.ReadWrite.All"],
            &["AppRoleAssignment.ReadWrite.All", "Application.Read.All"],
            201,
        ),
    ];
    for (what, method, path, body, refused, admitted, ok) in cases {
        let (status, b) = call(
            &t,
            method.clone(),
            &path,
            &app_token(&t.emu, refused),
            body.clone(),
        )
        .await;
        assert_denied(status, &b, what);
        let (status, b) = call(&t, method, &path, &app_token(&t.emu, admitted), body).await;
        assert_eq!(status, ok, "{what} with {admitted:?}: {b}");
    }
    // The read half alone does not create an assignment either.
    let (status, b) = call(
        &t,
        Method::POST,
        &format!("/servicePrincipals/{reader_sp}/appRoleAssignments"),
        &app_token(&t.emu, &["Application.Read.All", "Directory.Read.All"]),
        Some(assign_body),
    )
    .await;
    assert_denied(status, &b, "app role assignment create, read half only");
    // serviceprincipal-delete-approleassignments: AppRoleAssignment.ReadWrite.All alone.
    let assigned = t
        .get(&format!("/servicePrincipals/{reader_sp}/appRoleAssignments"))
        .await["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appRoleId"] == USER_READ_ALL_ROLE)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/servicePrincipals/{reader_sp}/appRoleAssignments/{assigned}");
    let (status, b) = call(
        &t,
        Method::DELETE,
        &path,
        &app_token(&t.emu, &["Application.ReadWrite.All"]),
        None,
    )
    .await;
    assert_denied(status, &b, "app role assignment delete");
    let (status, _) = call(
        &t,
        Method::DELETE,
        &path,
        &app_token(&t.emu, &["AppRoleAssignment.ReadWrite.All"]),
        None,
    )
    .await;
    assert_eq!(status, 204);
    // directory-deleteditems-delete: Application.ReadWrite.All; reads do not purge.
    let (status, b) = call(
        &t,
        Method::DELETE,
        &format!("/directory/deletedItems/{}", uuid::Uuid::new_v4()),
        &app_token(&t.emu, &["Application.Read.All", "Directory.Read.All"]),
        None,
    )
    .await;
    assert_denied(status, &b, "purge");
    t.emu.shutdown().await;
}

/// A CI identity with only `Application.Read.All` passed `plan` on the old emulator and got 403
/// on a real tenant: now it gets Graph's 403 here too, and the error names the permission.
#[tokio::test(flavor = "multi_thread")]
async fn plan_with_only_application_read_all_names_directory_read_all() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = m.to_str().unwrap();
    let out = run_with_token(&t, &["plan", m], &app_token(&t.emu, &["Application.Read.All"])).await;
    assert_eq!(code(&out), 4, "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lacks the Microsoft Graph permission `Directory.Read.All`"),
        "{err}"
    );
    assert!(err.contains("403 Authorization_RequestDenied"), "{err}");
    assert!(err.contains("help: `GET /servicePrincipals(appId="), "{err}");
    assert!(err.contains("grant admin consent"), "{err}");
    // The README's read-only set passes.
    let reader = app_token(&t.emu, &["Application.Read.All", "Directory.Read.All"]);
    let out = run_with_token(&t, &["plan", m], &reader).await;
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    t.emu.shutdown().await;
}

/// Consent refused: an identity that may write apps and read grants but not write them gets
/// its app and service principal, then exit 4 naming the one permission it lacks.
#[tokio::test(flavor = "multi_thread")]
async fn consent_refused_names_the_grant_permission() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let token = app_token(&t.emu, &["Application.ReadWrite.All", "Directory.Read.All"]);
    let out = run_with_token(&t, &["apply", m.to_str().unwrap(), "--yes"], &token).await;
    assert_eq!(code(&out), 4, "{}\n{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("admin consent could not be granted: the signed-in identity lacks `DelegatedPermissionGrant.ReadWrite.All`"),
        "{err}"
    );
    assert!(!err.contains("AppRoleAssignment"), "{err}");
    // The application and its service principal are there; the grant is not.
    let app = t.get("/applications(uniqueName='mtp-api-client')").await;
    let sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            app["appId"].as_str().unwrap()
        ))
        .await;
    let grants = t
        .get(&format!(
            "/servicePrincipals/{}/oauth2PermissionGrants",
            sp["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(grants["value"].as_array().unwrap().len(), 0);
    t.emu.shutdown().await;
}

/// serviceprincipal-post-serviceprincipals and oauth2permissiongrant-update/-delete: reads and the
/// other write permissions are refused, the documented one passes.
#[tokio::test(flavor = "multi_thread")]
async fn service_principal_and_grant_writes_need_their_own_permission() {
    let t = Tenant::start().await;
    let (status, app) = t
        .graph(
            Method::POST,
            "/applications",
            Some(json!({"displayName": "sp rule"})),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let body = json!({"appId": app["appId"]});
    let refused = app_token(
        &t.emu,
        &[
            "Application.Read.All",
            "Directory.Read.All",
            "AppRoleAssignment.ReadWrite.All",
        ],
    );
    let (status, b) = call(
        &t,
        Method::POST,
        "/servicePrincipals",
        &refused,
        Some(body.clone()),
    )
    .await;
    assert_denied(status, &b, "service principal create");
    let writer = app_token(&t.emu, &["Application.ReadWrite.All"]);
    let (status, sp) = call(&t, Method::POST, "/servicePrincipals", &writer, Some(body)).await;
    assert_eq!(status, 201, "{sp}");
    let graph_sp = t
        .get(&format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
        .await["id"]
        .clone();
    let (status, grant) = t
        .graph(
            Method::POST,
            "/oauth2PermissionGrants",
            Some(json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"})),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let path = format!("/oauth2PermissionGrants/{}", grant["id"].as_str().unwrap());
    let not_grants = app_token(&t.emu, &["Application.ReadWrite.All", "Directory.Read.All"]);
    let (status, b) = call(
        &t,
        Method::PATCH,
        &path,
        &not_grants,
        Some(json!({"scope": "User.Read openid"})),
    )
    .await;
    assert_denied(status, &b, "grant update");
    let (status, b) = call(&t, Method::DELETE, &path, &not_grants, None).await;
    assert_denied(status, &b, "grant delete");
    let grants = app_token(&t.emu, &["DelegatedPermissionGrant.ReadWrite.All"]);
    let (status, _) = call(
        &t,
        Method::PATCH,
        &path,
        &grants,
        Some(json!({"scope": "User.Read openid"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(&t, Method::DELETE, &path, &grants, None).await;
    assert_eq!(status, 204);
    t.emu.shutdown().await;
}
