//! The emulator as Microsoft's client libraries see it (issue 14), kept fixed without them:
//! casts in the `graph.` alias, `client_info` for MSAL, certificate credentials as Graph stores
//! them and as MSAL signs with them, `/organizations` and `/common`, and what recordings of the
//! real service show (Location headers, the v1.0 property sets, the first-party service
//! principals, error content types, defaults). `crates/entra-emulator/tests/peers/python-libs.sh` drives the real
//! libraries; these tests pin each behaviour it needs.

use base64::Engine as _;
use entra_emulator::identity::keys::SigningKey;
use jsonwebtoken::{Algorithm, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::graph::csdl_properties;
use test_support::{Tenant, base_url};

const MTP_APP_ID: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";
const MTP: &str = "https://api.security.microsoft.com";

/// A Graph answer with its headers.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(t: &Tenant, method: Method, path: &str, body: Option<Value>) -> Answer {
    let token = t.admin_token().await;
    call_with(t, &token, method, path, body).await
}

/// [`call`] with another token.
async fn call_with(t: &Tenant, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut req = t
        .http
        .request(method, format!("{}{path}", t.emu.ready.graph_url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("graph call");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn post_form(t: &Tenant, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = t.http.post(url).form(form).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A public client of `audience` consented (AllPrincipals) to Incident.Read of Microsoft Threat
/// Protection, as `provision apply` makes one. Returns its appId.
async fn consented_public_client(t: &Tenant, audience: &str) -> String {
    let app = call(
        t,
        Method::POST,
        "/applications",
        Some(
            json!({"displayName": "msal client", "isFallbackPublicClient": true, "signInAudience": audience}),
        ),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["appId"].as_str().unwrap().to_owned();
    let sp = call(
        t,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(sp.status, 201, "{}", sp.body);
    let mtp = t.get(&format!("/servicePrincipals(appId='{MTP_APP_ID}')")).await;
    let grant = call(
        t,
        Method::POST,
        "/oauth2PermissionGrants",
        Some(json!({"clientId": sp.body["id"], "consentType": "AllPrincipals", "resourceId": mtp["id"], "scope": "Incident.Read"})),
    )
    .await;
    assert_eq!(grant.status, 201, "{}", grant.body);
    app_id
}

/// Device-code sign-in through `segment` (a tenant id, `organizations`, `common`), approved at
/// the first poll; `client_info` sent as MSAL sends it.
async fn device_code_sign_in(t: &Tenant, segment: &str, client: &str, client_info: bool) -> (u16, Value) {
    let base = base_url(&t.emu);
    let scope = format!("{MTP}/Incident.Read offline_access openid profile");
    let (s, dc) = post_form(
        t,
        &format!("{base}/{segment}/oauth2/v2.0/devicecode"),
        &[("client_id", client), ("scope", &scope)],
    )
    .await;
    if s != 200 {
        return (s, dc);
    }
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", client),
        ("device_code", dc["device_code"].as_str().unwrap()),
    ];
    if client_info {
        form.push(("client_info", "1"));
    }
    post_form(t, &format!("{base}/{segment}/oauth2/v2.0/token"), &form).await
}

fn decoded_client_info(body: &Value) -> Value {
    let raw = body["client_info"].as_str().expect("client_info");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn casts_answer_in_the_graph_alias_as_in_the_full_namespace() {
    let t = Tenant::start().await;
    let app = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "cast me"})),
    )
    .await;
    let id = app.body["id"].as_str().unwrap().to_owned();
    let app_id = app.body["appId"].as_str().unwrap().to_owned();
    // `GET /directoryObjects/{id}` needs Directory.Read.All (directoryobject-get): the seeded
    // administrator (apply's three permissions) gets Graph's 403; the reader, which holds it,
    // reads a live object, cast either way; a cast to the other type is 404.
    let denied = call(&t, Method::GET, &format!("/directoryObjects/{id}"), None).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(denied.body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        denied.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let r = &t.emu.ready;
    let reader = t.client_token(&r.reader_client_id, &r.reader_client_secret).await;
    for cast in ["", "/microsoft.graph.application", "/graph.application"] {
        let a = call_with(
            &t,
            &reader,
            Method::GET,
            &format!("/directoryObjects/{id}{cast}"),
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{cast}: {}", a.body);
        assert_eq!(a.body["@odata.type"], "#microsoft.graph.application");
        assert_eq!(a.body["appId"], app_id.as_str());
    }
    let a = call_with(
        &t,
        &reader,
        Method::GET,
        &format!("/directoryObjects/{id}/graph.servicePrincipal"),
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);

    assert_eq!(
        call(&t, Method::DELETE, &format!("/applications/{id}"), None)
            .await
            .status,
        204
    );
    for path in [
        "/directory/deletedItems/microsoft.graph.application".to_owned(),
        "/directory/deletedItems/graph.application".to_owned(),
        format!("/directory/deletedItems/graph.application?$filter=appId eq '{app_id}'"),
    ] {
        let a = call(&t, Method::GET, &path, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let ids: Vec<&str> = a.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["id"].as_str())
            .collect();
        assert_eq!(ids, [id.as_str()], "{path}");
    }
    let none = call(
        &t,
        Method::GET,
        "/directory/deletedItems/graph.application?$filter=appId eq '00000000-0000-0000-0000-000000000000'",
        None,
    )
    .await;
    assert_eq!(none.body["value"], json!([]));
    let a = call(
        &t,
        Method::GET,
        &format!("/directory/deletedItems/{id}/graph.application"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["id"], id.as_str());
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_info_for_user_sign_ins_when_asked() {
    let t = Tenant::start().await;
    let tid = t.emu.ready.tenant_id.clone();
    let client = consented_public_client(&t, "AzureADMyOrg").await;
    let (s, body) = device_code_sign_in(&t, &tid, &client, true).await;
    assert_eq!(s, 200, "{body}");
    let info = decoded_client_info(&body);
    assert_eq!(info["utid"], tid.as_str(), "{info}");
    let claims: Value =
        entra_emulator::identity::token::decode_unverified_as(body["access_token"].as_str().unwrap())
            .unwrap();
    assert_eq!(info["uid"], claims["oid"]);
    assert_eq!(info.as_object().unwrap().len(), 2, "{info}");

    // The refresh answer carries it too; a request without `client_info=1` gets none.
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let token_url = format!("{}/{tid}/oauth2/v2.0/token", base_url(&t.emu));
    let (s, again) = post_form(
        &t,
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &refresh),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(decoded_client_info(&again), info);
    let (s, plain) = post_form(
        &t,
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(s, 200, "{plain}");
    assert!(plain.get("client_info").is_none(), "{plain}");
    // App-only sign-ins have no account: no client_info.
    let r = &t.emu.ready;
    let (s, app_only) = post_form(
        &t,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &r.client_id),
            ("client_secret", &r.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{app_only}");
    assert!(app_only.get("client_info").is_none(), "{app_only}");
    t.emu.shutdown().await;
}

/// A client assertion signed by `key` with the thumbprint headers given.
fn assertion(
    key: &SigningKey,
    client_id: &str,
    aud: &str,
    x5t: Option<String>,
    x5t_s256: Option<String>,
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(if x5t_s256.is_some() {
        Algorithm::PS256
    } else {
        Algorithm::RS256
    });
    header.x5t = x5t;
    header.x5t_s256 = x5t_s256;
    let claims = json!({
        "aud": aud, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 600
    });
    jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap()
}

/// base64url with `=` padding, as Python's `base64.urlsafe_b64encode` writes it.
fn padded(unpadded: &str) -> String {
    let mut s = unpadded.to_owned();
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_credentials_as_graph_stores_them_and_msal_signs_with_them() {
    use sha1::Digest as _;
    let t = Tenant::start().await;
    let cert = SigningKey::generate("python peer certificate").unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(cert.certificate_base64())
        .unwrap();
    let thumbprint: String = sha1::Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let app = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "cert app", "keyCredentials": [{
            "@odata.type": "#microsoft.graph.keyCredential",
            "type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.certificate_base64()
        }]})),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["appId"].as_str().unwrap().to_owned();
    let sp = call(
        &t,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await;
    assert_eq!(sp.status, 201, "{}", sp.body);
    let stored = t.get(&format!("/applications(appId='{app_id}')")).await;
    let k = &stored["keyCredentials"][0];
    assert_eq!(k["customKeyIdentifier"], thumbprint.as_str(), "{k}");
    assert_eq!(k["displayName"], "CN=python peer certificate", "{k}");
    let start = chrono::DateTime::parse_from_rfc3339(k["startDateTime"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(k["endDateTime"].as_str().unwrap()).unwrap();
    assert!(start < chrono::Utc::now() && end > chrono::Utc::now(), "{k}");
    assert!(k.get("@odata.type").is_none(), "{k}");
    assert!(k["keyId"].is_string());
    // A service principal's certificates are stored the same way.
    let sp_id = sp.body["id"].as_str().unwrap();
    let patched = call(
        &t,
        Method::PATCH,
        &format!("/servicePrincipals/{sp_id}"),
        Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.certificate_base64()}]})),
    )
    .await;
    assert_eq!(patched.status, 204, "{}", patched.body);
    let sp_key = &t.get(&format!("/servicePrincipals/{sp_id}")).await["keyCredentials"][0];
    assert_eq!(sp_key["customKeyIdentifier"], thumbprint.as_str(), "{sp_key}");
    assert_eq!(sp_key["displayName"], "CN=python peer certificate", "{sp_key}");

    // MSAL Python writes the thumbprints with padding, other clients without: both sign in.
    let token_url = format!("{}/{}/oauth2/v2.0/token", base_url(&t.emu), t.emu.ready.tenant_id);
    let s256 = cert.x5t_s256();
    let sha1 = cert.x5t().to_owned();
    assert!(!padded(&sha1).eq(&sha1) && !padded(&s256).eq(&s256));
    for (x5t, x5t_s256) in [
        (None, Some(s256.clone())),
        (None, Some(padded(&s256))),
        (Some(sha1.clone()), None),
        (Some(padded(&sha1)), None),
    ] {
        let what = format!("x5t {x5t:?}, x5t#S256 {x5t_s256:?}");
        let a = assertion(&cert, &app_id, &token_url, x5t, x5t_s256);
        let (s, body) = post_form(
            &t,
            &token_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
        assert_eq!(s, 200, "{what}: {body}");
    }
    // A thumbprint of another certificate is still refused, padded or not.
    let other = SigningKey::generate("someone else").unwrap();
    let a = assertion(&cert, &app_id, &token_url, Some(padded(other.x5t())), None);
    let (s, body) = post_form(
        &t,
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["error_codes"], json!([700027]), "{body}");
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn organizations_and_common_metadata_name_their_own_endpoints() {
    let t = Tenant::start().await;
    let base = base_url(&t.emu);
    for segment in ["organizations", "common"] {
        let doc: Value = t
            .http
            .get(format!("{base}/{segment}/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], format!("{base}/{{tenantid}}/v2.0"), "{doc}");
        for endpoint in [
            "token_endpoint",
            "device_authorization_endpoint",
            "authorization_endpoint",
            "jwks_uri",
            "end_session_endpoint",
            "kerberos_endpoint",
        ] {
            let url = doc[endpoint].as_str().unwrap();
            assert!(
                url.starts_with(&format!("{base}/{segment}/")),
                "{endpoint}: {url}"
            );
            assert!(!url.contains("{tenantid}"), "{endpoint}: {url}");
        }
        let v1: Value = t
            .http
            .get(format!("{base}/{segment}/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            v1["token_endpoint"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{base}/{segment}/"))
        );
        assert!(v1["issuer"].as_str().unwrap().contains("{tenantid}"), "{v1}");
    }
    // The keys themselves are served there too.
    let keys = t
        .http
        .get(format!("{base}/organizations/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200);
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn organizations_sign_in_for_multi_tenant_apps_and_50194_for_single_tenant_ones() {
    let t = Tenant::start().await;
    let multi = consented_public_client(&t, "AzureADMultipleOrgs").await;
    for segment in ["organizations", "common"] {
        let (s, body) = device_code_sign_in(&t, segment, &multi, true).await;
        assert_eq!(s, 200, "{segment}: {body}");
        let claims: Value =
            entra_emulator::identity::token::decode_unverified_as(body["access_token"].as_str().unwrap())
                .unwrap();
        assert_eq!(claims["tid"], t.emu.ready.tenant_id.as_str());
        assert_eq!(decoded_client_info(&body)["utid"], t.emu.ready.tenant_id.as_str());
    }
    // A single-tenant app: AADSTS50194 there, as Entra answers (reference-error-codes).
    let single = consented_public_client(&t, "AzureADMyOrg").await;
    let (s, body) = device_code_sign_in(&t, "organizations", &single, false).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"], json!([50194]), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains(&single));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn created_objects_carry_location_and_errors_are_plain_json() {
    let t = Tenant::start().await;
    let tid = t.emu.ready.tenant_id.clone();
    let base = base_url(&t.emu);
    let app = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "located"})),
    )
    .await;
    assert_eq!(app.status, 201);
    assert_eq!(
        header(&app, "location"),
        Some(
            format!(
                "{base}/v2/{tid}/directoryObjects/{}/Microsoft.DirectoryServices.Application",
                app.body["id"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let sp = call(
        &t,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app.body["appId"]})),
    )
    .await;
    assert_eq!(sp.status, 201);
    assert_eq!(
        header(&sp, "location"),
        Some(
            format!(
                "{base}/v2/{tid}/directoryObjects/{}/Microsoft.DirectoryServices.ServicePrincipal",
                sp.body["id"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let graph = t
        .get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        .await;
    let grant = call(
        &t,
        Method::POST,
        "/oauth2PermissionGrants",
        Some(json!({"clientId": sp.body["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "User.Read"})),
    )
    .await;
    assert_eq!(grant.status, 201, "{}", grant.body);
    let grant_location = header(&grant, "location").unwrap();
    assert!(
        grant_location.ends_with(&format!(
            "/oauth2PermissionGrants/{}",
            grant.body["id"].as_str().unwrap()
        )),
        "{grant_location}"
    );
    // Reads keep the OData content type; a 404 is plain JSON without OData-Version.
    let ok = call(&t, Method::GET, "/applications", None).await;
    assert!(
        header(&ok, "content-type")
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    assert_eq!(header(&ok, "odata-version"), Some("4.0"));
    let missing = call(
        &t,
        Method::GET,
        "/applications/00000000-0000-0000-0000-000000000000",
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(header(&missing, "content-type"), Some("application/json"));
    assert_eq!(header(&missing, "odata-version"), None);
    assert_eq!(missing.body["error"]["code"], "Request_ResourceNotFound");
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn served_properties_are_those_of_the_v1_schema() {
    let t = Tenant::start().await;
    let app = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "schema"})),
    )
    .await;
    let declared = csdl_properties("application");
    for k in app
        .body
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with('@'))
    {
        assert!(
            declared.contains(k),
            "application `{k}` is not in the v1.0 schema"
        );
    }
    // What the recordings show and v1.0 declares: present (null when unset).
    for k in [
        "serviceManagementReference",
        "defaultRedirectUri",
        "certification",
    ] {
        assert_eq!(app.body.get(k), Some(&Value::Null), "`{k}`");
    }
    for k in ["windows", "errorUrl", "publisherName"] {
        assert!(app.body.get(k).is_none(), "`{k}`");
    }
    let api_declared = csdl_properties("apiApplication");
    for k in app.body["api"].as_object().unwrap().keys() {
        assert!(api_declared.contains(k), "apiApplication `{k}`");
    }
    let sp = call(
        &t,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app.body["appId"]})),
    )
    .await;
    let mut declared = csdl_properties("servicePrincipal");
    // v1.0 answers it although its schema does not declare it: the recorded Microsoft Graph
    // service principal has `"createdDateTime":null` (the Azure CLI's
    // `test_app_permission_grant.yaml`, 2022).
    declared.push("createdDateTime".to_owned());
    let seeded = t.get("/servicePrincipals").await;
    for obj in std::iter::once(&sp.body).chain(seeded["value"].as_array().unwrap()) {
        for k in obj.as_object().unwrap().keys().filter(|k| !k.starts_with('@')) {
            assert!(
                declared.contains(k),
                "servicePrincipal `{k}` is not in the v1.0 schema"
            );
        }
    }
    let role_props = csdl_properties("appRole");
    let graph = t
        .get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
        .await;
    for role in graph["appRoles"].as_array().unwrap() {
        for k in role.as_object().unwrap().keys() {
            assert!(role_props.contains(k), "appRole `{k}`");
        }
    }
    let assignments = t
        .get(&format!(
            "/servicePrincipals/{}/appRoleAssignedTo",
            graph["id"].as_str().unwrap()
        ))
        .await;
    let declared = csdl_properties("appRoleAssignment");
    for a in assignments["value"].as_array().unwrap() {
        for k in a.as_object().unwrap().keys() {
            assert!(declared.contains(k), "appRoleAssignment `{k}`");
        }
    }
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn microsoft_graph_is_seeded_as_the_recordings_show_it() {
    let t = Tenant::start().await;
    // The trailing-slash name is one of its twelve names, as in the recordings.
    let found = t
        .get("/servicePrincipals?$filter=servicePrincipalNames/any(c:c eq 'https://graph.microsoft.com/')")
        .await;
    let value = found["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{found}");
    let graph = &value[0];
    assert_eq!(graph["appId"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(graph["servicePrincipalNames"].as_array().unwrap().len(), 12);
    assert_eq!(
        graph["appOwnerOrganizationId"],
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
    );
    assert_eq!(graph["signInAudience"], "AzureADMultipleOrgs");
    // Every permission with the texts the recorded service principal has.
    for role in graph["appRoles"].as_array().unwrap() {
        assert!(
            role["description"].is_string() && role["displayName"].is_string(),
            "{role}"
        );
    }
    for scope in graph["oauth2PermissionScopes"].as_array().unwrap() {
        for k in [
            "adminConsentDisplayName",
            "adminConsentDescription",
            "userConsentDisplayName",
            "userConsentDescription",
        ] {
            assert!(scope[k].is_string(), "{k}: {scope}");
        }
    }
    let read_all = graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == "Application.Read.All")
        .unwrap();
    assert_eq!(
        read_all["description"],
        "Allows the app to read all applications and service principals without a signed-in user."
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_graph_fills_in_roles_claims_and_passwords() {
    let t = Tenant::start().await;
    let role_id = uuid::Uuid::new_v4().to_string();
    let app = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({
            "displayName": "defaults",
            "signInAudience": "AzureADMyOrg",
            "appRoles": [{"allowedMemberTypes": ["Application"], "description": "d", "displayName": "Read",
                          "id": role_id, "isEnabled": true, "value": "Thing.Read"}],
            "optionalClaims": {"idToken": [{"name": "email"}], "accessToken": [], "saml2Token": []}
        })),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    assert_eq!(app.body["appRoles"][0]["origin"], "Application");
    assert_eq!(
        app.body["optionalClaims"]["idToken"][0],
        json!({"name": "email", "source": null, "essential": false, "additionalProperties": []})
    );
    // A directory-only app made with its audience keeps access tokens at Graph's null.
    assert_eq!(app.body["api"]["requestedAccessTokenVersion"], Value::Null);
    // Without an audience: the recorded default.
    let bare = call(
        &t,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "bare"})),
    )
    .await;
    assert_eq!(bare.body["signInAudience"], "AzureADandPersonalMicrosoftAccount");
    assert_eq!(bare.body["api"]["requestedAccessTokenVersion"], 2);

    // addPassword honours a requested start, as in the Azure CLI's recording.
    let id = app.body["id"].as_str().unwrap();
    let cred = call(
        &t,
        Method::POST,
        &format!("/applications/{id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "key1", "startDateTime": "2030-05-07T06:52:43Z", "endDateTime": "2032-05-07T06:52:43Z"}})),
    )
    .await;
    assert_eq!(cred.status, 200, "{}", cred.body);
    assert_eq!(cred.body["startDateTime"], "2030-05-07T06:52:43Z");
    assert_eq!(cred.body["endDateTime"], "2032-05-07T06:52:43Z");
    let bad = call(
        &t,
        Method::POST,
        &format!("/applications/{id}/addPassword"),
        Some(json!({"passwordCredential": {"startDateTime": "soon"}})),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    t.emu.shutdown().await;
}
