//! The emulator's identity platform over real HTTP: every grant type signs in, every AADSTS
//! error comes with Entra's body, tokens verify against the published JWKS and are refused by
//! the resources they are not for, device codes go pending → approved / declined / expired.

use std::time::Duration;

use entra_emulator::identity::keys::SigningKey;
use entra_emulator::identity::token::{self, Claims, ClientAuth, Issue, Keys, TokenVersion, VerifyError};
use entra_emulator::{self as emulator, Config, Running};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

const GRAPH: &str = "https://graph.microsoft.com";
const MTP: &str = "https://api.security.microsoft.com";
const MTP_APP_ID: &str = "8ee8fdad-f234-4243-8f3b-15c294843740";

struct Emu {
    running: Running,
    http: reqwest::Client,
}

impl Emu {
    async fn start(config: Config) -> Emu {
        let running = emulator::start(config).await.expect("emulator starts");
        Emu {
            running,
            http: reqwest::Client::new(),
        }
    }

    async fn local() -> Emu {
        Emu::start(Config::local()).await
    }

    fn base(&self) -> &str {
        &self.running.ready.authority_url
    }

    fn tid(&self) -> &str {
        &self.running.ready.tenant_id
    }

    fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base(), self.tid())
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(url).form(form).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_form(&self.token_url(), form).await
    }

    /// An app-only token of the seeded administrator for `resource`.
    async fn admin_token(&self, scope: &str) -> String {
        let ready = &self.running.ready;
        let (status, body) = self
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &ready.client_id),
                ("client_secret", &ready.client_secret),
                ("scope", scope),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn graph(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.running.ready.graph_url))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("graph request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn jwks(&self) -> JwkSet {
        let url = format!("{}/{}/discovery/v2.0/keys", self.base(), self.tid());
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// A public client with admin consent for `scopes` of Microsoft Threat Protection, made
    /// through Graph as `provision apply` would. Returns its appId.
    async fn consented_public_client(&self, public: bool, scopes: &str) -> String {
        let admin = self.admin_token(&format!("{GRAPH}/.default")).await;
        let (s, app) = self
            .graph(
                reqwest::Method::POST,
                "/applications",
                &admin,
                Some(json!({"displayName": "device code client", "isFallbackPublicClient": public})),
            )
            .await;
        assert_eq!(s, 201, "{app}");
        let app_id = app["appId"].as_str().unwrap().to_owned();
        let (s, sp) = self
            .graph(
                reqwest::Method::POST,
                "/servicePrincipals",
                &admin,
                Some(json!({"appId": app_id})),
            )
            .await;
        assert_eq!(s, 201, "{sp}");
        if !scopes.is_empty() {
            let (s, mtp) = self
                .graph(
                    reqwest::Method::GET,
                    &format!("/servicePrincipals(appId='{MTP_APP_ID}')"),
                    &admin,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{mtp}");
            let (s, grant) = self
                .graph(
                    reqwest::Method::POST,
                    "/oauth2PermissionGrants",
                    &admin,
                    Some(json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": mtp["id"], "scope": scopes})),
                )
                .await;
            assert_eq!(s, 201, "{grant}");
        }
        app_id
    }

    async fn devicecode(&self, client_id: &str, scope: &str) -> Value {
        let url = format!("{}/{}/oauth2/v2.0/devicecode", self.base(), self.tid());
        let (s, body) = self
            .post_form(&url, &[("client_id", client_id), ("scope", scope)])
            .await;
        assert_eq!(s, 200, "{body}");
        body
    }

    async fn poll(&self, client_id: &str, device_code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .await
    }
}

/// Entra's error body: every field, `\r\n` separators, the code in `error_codes`.
fn assert_entra_error(body: &Value, error: &str, code: u64) {
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "error",
            "error_description",
            "error_codes",
            "timestamp",
            "trace_id",
            "correlation_id",
            "error_uri"
        ],
        "{body}"
    );
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    let trace = body["trace_id"].as_str().unwrap();
    let correlation = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        description.ends_with(&format!(
            "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
        )),
        "{description}"
    );
    assert!(timestamp.ends_with('Z') && timestamp.len() == 20, "{timestamp}");
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
}

fn claims_of(token: &str) -> Claims {
    token::decode_unverified(token).unwrap()
}

#[tokio::test]
async fn client_credentials_with_secret_in_body_and_basic_auth() {
    let emu = Emu::local().await;
    let ready = &emu.running.ready;
    let token = emu.admin_token(&format!("{GRAPH}/.default")).await;

    // Verifies against the JWKS the emulator publishes, with Entra's v1 claims for Graph.
    let jwks = emu.jwks().await;
    let claims = token::verify(Keys::Jwks(&jwks), &token, &[GRAPH]).unwrap();
    assert_eq!(
        claims.iss,
        format!("https://sts.windows.net/{}/", ready.tenant_id)
    );
    assert_eq!(claims.tid, ready.tenant_id);
    assert_eq!(claims.ver, "1.0");
    assert_eq!(claims.appid.as_deref(), Some(ready.client_id.as_str()));
    assert_eq!(claims.appidacr.as_deref(), Some("1"));
    assert_eq!(claims.idtyp.as_deref(), Some("app"));
    for role in [
        "Application.ReadWrite.All",
        "DelegatedPermissionGrant.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
    ] {
        assert!(
            claims.roles().iter().any(|r| r == role),
            "{role} in {:?}",
            claims.roles()
        );
    }
    assert!(claims.scp.is_none());
    assert!(claims.exp - claims.iat == 3599);
    let (status, _) = emu
        .graph(reqwest::Method::GET, "/applications", &token, None)
        .await;
    assert_eq!(status, 200);

    // HTTP Basic client authentication and the Azure CLI's `X//.default` form.
    let r = emu
        .http
        .post(emu.token_url())
        .basic_auth(&ready.reader_client_id, Some(&ready.reader_client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com//.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store, no-cache")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let reader = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(reader.aud, "https://graph.microsoft.com/");
    assert_eq!(reader.roles(), ["Application.Read.All", "Directory.Read.All"]);

    // The tenant may be named by its domain too.
    let url = format!("{}/{}/oauth2/v2.0/token", emu.base(), ready.tenant_domain);
    let (status, _) = emu
        .post_form(
            &url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &ready.client_id),
                ("client_secret", &ready.client_secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200);

    // Nothing secret reaches the request log.
    let log: Value = emu
        .http
        .get(format!("{}/_emulator/requests", emu.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = log.to_string();
    assert!(text.contains("oauth2/v2.0/token"), "{text}");
    assert!(
        !text.contains(&ready.client_secret) && !text.contains(&token),
        "{text}"
    );
    emu.running.shutdown().await;
}

#[tokio::test]
async fn every_client_credentials_error_has_its_aadsts_code() {
    let emu = Emu::local().await;
    let ready = emu.running.ready.clone();
    let graph_scope = format!("{GRAPH}/.default");

    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ready.client_id),
            ("client_secret", "not-the-secret"),
            ("scope", &graph_scope),
        ])
        .await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000215);

    let unknown = "2c4b0f3e-8d1a-4b5e-9f7c-3a2d1e0f9b8c";
    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", unknown),
            ("client_secret", "x"),
            ("scope", &graph_scope),
        ])
        .await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "unauthorized_client", 700016);
    assert!(body["error_description"].as_str().unwrap().contains(unknown));

    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ready.client_id),
            ("scope", &graph_scope),
        ])
        .await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000218);

    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ready.client_id),
            ("client_secret", &ready.client_secret),
            ("scope", "urn:not-a-scope"),
        ])
        .await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_scope", 70011);

    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ready.client_id),
            ("client_secret", &ready.client_secret),
            ("scope", "api://no-such-api/.default"),
        ])
        .await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_resource", 500011);

    let (s, body) = emu
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ready.client_id),
            ("client_secret", &ready.client_secret),
        ])
        .await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_request", 900144);

    let url = format!("{}/not-a-tenant.example/oauth2/v2.0/token", emu.base());
    let (s, body) = emu.post_form(&url, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_request", 90002);

    // The correlation id echoes the caller's client-request-id.
    let r = emu
        .http
        .post(emu.token_url())
        .header("client-request-id", "cad65606-26ba-423f-9cab-fdd75756e364")
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_entra_error(&body, "unsupported_grant_type", 70003);
    assert_eq!(body["correlation_id"], "cad65606-26ba-423f-9cab-fdd75756e364");
    emu.running.shutdown().await;
}

#[tokio::test]
async fn a_token_is_refused_by_every_resource_it_is_not_for() {
    let emu = Emu::local().await;
    let mtp_token = emu.admin_token(&format!("{MTP}/.default")).await;
    let claims = claims_of(&mtp_token);
    assert_eq!(claims.aud, MTP);
    assert_eq!(claims.ver, "1.0");
    // The administrator has no app roles on Threat Protection: Entra leaves `roles` out.
    assert!(claims.roles.is_none());

    let (s, body) = emu
        .graph(reqwest::Method::GET, "/applications", &mtp_token, None)
        .await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    let graph_token = emu.admin_token(&format!("{GRAPH}/.default")).await;
    for path in [
        "/subscriptions?api-version=2022-12-01",
        "/tenants?api-version=2022-12-01",
    ] {
        let r = emu
            .http
            .get(format!("{}{path}", emu.base()))
            .bearer_auth(&graph_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let jwks = emu.jwks().await;
    assert!(matches!(
        token::verify(Keys::Jwks(&jwks), &graph_token, &[MTP]),
        Err(VerifyError::WrongAudience { .. })
    ));

    // An expired token and one signed by a stranger are refused by Graph.
    let shared = emu.running.shared();
    let now = chrono::Utc::now().timestamp();
    let issue = Issue {
        version: TokenVersion::V1,
        authority: emu.base(),
        tenant_id: emu.tid(),
        audience: GRAPH,
        client_id: &emu.running.ready.client_id,
        client_auth: ClientAuth::Secret,
        now: now - 7200,
        lifetime_secs: 3600,
    };
    let expired = token::issue(
        &shared.signing_key,
        &Claims::app_only(&issue, "sp", vec!["Application.ReadWrite.All".into()]),
    )
    .unwrap();
    let (s, body) = emu
        .graph(reqwest::Method::GET, "/applications", &expired, None)
        .await;
    assert_eq!(s, 401, "{body}");
    let stranger = SigningKey::generate("stranger").unwrap();
    let fresh = Issue { now, ..issue };
    let forged = token::issue(
        &stranger,
        &Claims::app_only(&fresh, "sp", vec!["Application.ReadWrite.All".into()]),
    )
    .unwrap();
    let (s, _) = emu
        .graph(reqwest::Method::GET, "/applications", &forged, None)
        .await;
    assert_eq!(s, 401);
    emu.running.shutdown().await;
}

/// A client assertion signed by `key`, addressed to `aud`.
fn assertion(
    key: &SigningKey,
    client_id: &str,
    aud: &str,
    alg: Algorithm,
    sha256_thumbprint: bool,
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(alg);
    if sha256_thumbprint {
        header.x5t_s256 = Some(key.x5t_s256());
    } else {
        header.x5t = Some(key.x5t().to_owned());
    }
    let claims = json!({
        "aud": aud, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 600
    });
    jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap()
}

#[tokio::test]
async fn certificate_assertion_is_checked_against_key_credentials() {
    let emu = Emu::local().await;
    let ready = emu.running.ready.clone();
    let admin = emu.admin_token(&format!("{GRAPH}/.default")).await;
    let cert = SigningKey::generate("admin client certificate").unwrap();
    let path = format!("/applications(appId='{}')", ready.client_id);
    let (s, body) = emu
        .graph(
            reqwest::Method::PATCH,
            &path,
            &admin,
            Some(json!({"keyCredentials": [{
                "type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.certificate_base64(),
                "displayName": "CN=admin client certificate"
            }]})),
        )
        .await;
    assert!(s == 204, "{s} {body}");

    let sign_in = |assertion: String| {
        let emu = &emu;
        let client_id = ready.client_id.clone();
        async move {
            emu.token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await
        }
    };
    let aud = emu.token_url();
    for (alg, s256) in [(Algorithm::PS256, true), (Algorithm::RS256, false)] {
        let (s, body) = sign_in(assertion(&cert, &ready.client_id, &aud, alg, s256)).await;
        assert_eq!(s, 200, "{alg:?}: {body}");
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(claims.appidacr.as_deref(), Some("2"));
        assert!(claims.roles().iter().any(|r| r == "Application.ReadWrite.All"));
    }

    // A certificate the app does not have, and an assertion for another audience.
    let other = SigningKey::generate("not registered").unwrap();
    let (s, body) = sign_in(assertion(&other, &ready.client_id, &aud, Algorithm::RS256, true)).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);
    let (s, body) = sign_in(assertion(
        &cert,
        &ready.client_id,
        "https://login.microsoftonline.com/someone-else/oauth2/v2.0/token",
        Algorithm::RS256,
        true,
    ))
    .await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);
    // The right thumbprint but another key's signature.
    let mut forged_header = Header::new(Algorithm::RS256);
    forged_header.x5t_s256 = Some(cert.x5t_s256());
    let now = chrono::Utc::now().timestamp();
    let forged = jsonwebtoken::encode(
        &forged_header,
        &json!({"aud": aud, "iss": ready.client_id, "sub": ready.client_id, "nbf": now, "exp": now + 600}),
        other.encoding_key(),
    )
    .unwrap();
    let (s, body) = sign_in(forged).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn federated_assertion_from_a_registered_issuer() {
    let emu = Emu::local().await;
    let ready = emu.running.ready.clone();
    let admin = emu.admin_token(&format!("{GRAPH}/.default")).await;
    let issuer = "https://token.actions.githubusercontent.com";
    let subject = "repo:contoso/infra:ref:refs/heads/main";
    let (s, app) = emu
        .graph(
            reqwest::Method::GET,
            &format!("/applications(appId='{}')", ready.client_id),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = emu
        .graph(
            reqwest::Method::POST,
            &format!("/applications/{}/federatedIdentityCredentials", app["id"].as_str().unwrap()),
            &admin,
            Some(json!({"name": "github-main", "issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]})),
        )
        .await;
    assert_eq!(s, 201, "{body}");

    // The external identity provider: a key of the test's own, registered with the emulator.
    let idp = SigningKey::generate("external idp").unwrap();
    let external = |sub: &str| {
        let now = chrono::Utc::now().timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(idp.kid().to_owned());
        let claims = json!({"iss": issuer, "sub": sub, "aud": "api://AzureADTokenExchange", "iat": now, "nbf": now, "exp": now + 300});
        jsonwebtoken::encode(&header, &claims, idp.encoding_key()).unwrap()
    };
    let sign_in = |assertion: String| {
        let emu = &emu;
        let client_id = ready.client_id.clone();
        async move {
            emu.token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await
        }
    };

    // Before the issuer's keys are known, the signature cannot be checked.
    let (s, body) = sign_in(external(subject)).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 700027);

    let r = emu
        .http
        .post(format!("{}/_emulator/issuers", emu.base()))
        .json(&json!({"issuer": issuer, "jwks": {"keys": [idp.jwk(issuer)]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, body) = sign_in(external(subject)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap()).appid.as_deref(),
        Some(ready.client_id.as_str())
    );

    let (s, body) = sign_in(external("repo:contoso/infra:pull_request")).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_request", 70021);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn device_code_is_approved_at_first_poll_and_refresh_token_redeems() {
    let emu = Emu::local().await;
    let client = emu
        .consented_public_client(true, "Incident.Read AdvancedHunting.Read")
        .await;
    let scope = format!("{MTP}/Incident.Read {MTP}/AdvancedHunting.Read offline_access openid profile");
    let dc = emu.devicecode(&client, &scope).await;
    let keys: Vec<&str> = dc.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "user_code",
            "device_code",
            "verification_uri",
            "expires_in",
            "interval",
            "message"
        ]
    );
    assert_eq!(dc["expires_in"], 900);
    assert!(dc.get("verification_uri_complete").is_none());
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(dc["message"].as_str().unwrap().contains(user_code));

    let (s, body) = emu.poll(&client, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["scope"],
        format!("{MTP}/Incident.Read {MTP}/AdvancedHunting.Read openid profile")
    );
    let access = body["access_token"].as_str().unwrap();
    let jwks = emu.jwks().await;
    let claims = token::verify(Keys::Jwks(&jwks), access, &[MTP]).unwrap();
    assert_eq!(claims.scopes(), ["Incident.Read", "AdvancedHunting.Read"]);
    assert_eq!(claims.idtyp.as_deref(), Some("user"));
    assert_eq!(claims.appid.as_deref(), Some(client.as_str()));
    assert_eq!(claims.appidacr.as_deref(), Some("0"));
    assert_eq!(claims.tid, emu.tid());
    assert!(
        claims
            .upn
            .as_deref()
            .unwrap()
            .ends_with(&emu.running.ready.tenant_domain)
    );
    let id_token: Value = token::decode_unverified_as(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(id_token["aud"], client.as_str());
    assert_eq!(id_token["iss"], format!("{}/{}/v2.0", emu.base(), emu.tid()));
    assert_eq!(id_token["preferred_username"], claims.upn.clone().unwrap());

    let first_refresh = body["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_owned();

    // A redeemed device code cannot be used again.
    let (s, body) = emu.poll(&client, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 90120);

    // The refresh token gives a new access token and a new refresh token.
    let (s, body) = body_refresh(&emu, &client, &first_refresh, None).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let renewed = token::verify(Keys::Jwks(&jwks), body["access_token"].as_str().unwrap(), &[MTP]).unwrap();
    assert_eq!(renewed.oid, claims.oid);
    assert_eq!(renewed.scopes(), ["Incident.Read", "AdvancedHunting.Read"]);

    // ...but only for resources the client is consented to.
    let rt = dc_refresh(&emu, &client, &scope).await;
    let (s, body) = body_refresh(&emu, &client, &rt, Some("https://graph.microsoft.com/User.Read")).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 65001);
    // A tampered refresh token is refused.
    let (s, body) = body_refresh(&emu, &client, &format!("{rt}x"), None).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 9002313);
    emu.running.shutdown().await;
}

/// Signs in with a device code and returns the refresh token.
async fn dc_refresh(emu: &Emu, client: &str, scope: &str) -> String {
    let dc = emu.devicecode(client, scope).await;
    let (s, body) = emu.poll(client, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{body}");
    body["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_owned()
}

async fn body_refresh(emu: &Emu, client: &str, refresh_token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    emu.token(&form).await
}

#[tokio::test]
async fn device_code_errors_consent_public_client_and_invalid_scope() {
    let emu = Emu::local().await;
    // Not a public client: Entra asks for a credential at the poll.
    let confidential = emu.consented_public_client(false, "Incident.Read").await;
    let dc = emu
        .devicecode(&confidential, &format!("{MTP}/Incident.Read"))
        .await;
    let (s, body) = emu.poll(&confidential, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 401);
    assert_entra_error(&body, "invalid_client", 7000218);

    // Consent covers Incident.Read only: AdvancedHunting.Read is not granted.
    let public = emu.consented_public_client(true, "Incident.Read").await;
    let dc = emu
        .devicecode(&public, &format!("{MTP}/AdvancedHunting.Read"))
        .await;
    let (s, body) = emu.poll(&public, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_grant", 65001);

    // No such permission on the resource.
    let dc = emu.devicecode(&public, &format!("{MTP}/Nothing.Read")).await;
    let (s, body) = emu.poll(&public, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "invalid_scope", 70011);

    // A device code nobody issued.
    let (s, body) = emu.poll(&public, "not-a-device-code").await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "bad_verification_code", 70018);

    // `/devicecode` for an unknown client.
    let url = format!("{}/organizations/oauth2/v2.0/devicecode", emu.base());
    let (s, body) = emu
        .post_form(
            &url,
            &[
                ("client_id", "2c4b0f3e-8d1a-4b5e-9f7c-3a2d1e0f9b8c"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "unauthorized_client", 700016);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn manual_approval_pending_approved_declined_expired() {
    let mut config = Config::local();
    config.manual_approval = true;
    let emu = Emu::start(config).await;
    let client = emu.consented_public_client(true, "Incident.Read").await;
    let scope = format!("{MTP}/Incident.Read");

    let dc = emu.devicecode(&client, &scope).await;
    let device_code = dc["device_code"].as_str().unwrap();
    let (s, body) = emu.poll(&client, device_code).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "authorization_pending", 70016);
    assert!(body["error_description"].as_str().unwrap().starts_with(
        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.\r\nTrace ID: "
    ));
    let approve = |code: String, verb: &'static str| {
        let emu = &emu;
        async move {
            emu.http
                .post(format!("{}/_emulator/devicecode/{code}/{verb}", emu.base()))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        approve(dc["user_code"].as_str().unwrap().to_owned(), "approve").await,
        204
    );
    let (s, body) = emu.poll(&client, device_code).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap()).scopes(),
        ["Incident.Read"]
    );
    assert_eq!(approve("NOSUCHCOD".into(), "approve").await, 404);

    let dc = emu.devicecode(&client, &scope).await;
    assert_eq!(
        approve(dc["user_code"].as_str().unwrap().to_owned(), "deny").await,
        204
    );
    let (s, body) = emu.poll(&client, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "authorization_declined", 65004);
    emu.running.shutdown().await;

    // Expiry on an injected clock: the code lives Entra's 15 minutes, which pass without a
    // wait. A second before its end it is still pending; past it, expired.
    let clock = emulator::clock::Clock::new();
    let mut config = Config::local();
    config.clock = clock.clone();
    config.manual_approval = true;
    let emu = Emu::start(config).await;
    let client = emu.consented_public_client(true, "Incident.Read").await;
    let dc = emu.devicecode(&client, &scope).await;
    let lifetime = dc["expires_in"].as_u64().unwrap();
    assert_eq!(lifetime, 900);
    let device_code = dc["device_code"].as_str().unwrap();
    clock.advance(Duration::from_secs(lifetime - 1));
    let (s, body) = emu.poll(&client, device_code).await;
    assert_eq!(
        (s, &body["error"]),
        (400, &json!("authorization_pending")),
        "{body}"
    );
    clock.advance(Duration::from_secs(10));
    let (s, body) = emu.poll(&client, device_code).await;
    assert_eq!(s, 400);
    assert_entra_error(&body, "expired_token", 70019);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn discovery_documents_and_azure_cli_reads() {
    let emu = Emu::local().await;
    let base = emu.base().to_owned();
    let tid = emu.tid().to_owned();
    let get = |path: String| {
        let emu = &emu;
        async move {
            let r = emu
                .http
                .get(format!("{}{path}", emu.base()))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (s, doc) = get(format!("/{tid}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(s, 200);
    assert_eq!(doc["issuer"], format!("{base}/{tid}/v2.0"));
    assert_eq!(doc["token_endpoint"], format!("{base}/{tid}/oauth2/v2.0/token"));
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{base}/{tid}/oauth2/v2.0/devicecode")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/{tid}/discovery/v2.0/keys"));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post", "private_key_jwt", "client_secret_basic"])
    );
    let (_, common) = get("/common/v2.0/.well-known/openid-configuration".into()).await;
    assert_eq!(common["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    let (_, v1) = get(format!("/{tid}/.well-known/openid-configuration")).await;
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{tid}/"));

    let (s, jwks) = get(format!("/{tid}/discovery/v2.0/keys")).await;
    assert_eq!(s, 200);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], key["x5t"]);
    assert_eq!(key["issuer"], format!("{base}/{tid}/v2.0"));

    let (s, instance) = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://x/common/oauth2/v2.0/authorize".into()).await;
    assert_eq!(s, 200);
    assert_eq!(instance["api-version"], "1.1");
    assert_eq!(
        instance["tenant_discovery_endpoint"],
        format!("{base}/common/v2.0/.well-known/openid-configuration")
    );

    let (s, meta) = get("/metadata/endpoints?api-version=2022-09-01".into()).await;
    assert_eq!(s, 200);
    assert_eq!(meta["authentication"]["loginEndpoint"], base);
    assert_eq!(meta["microsoftGraphResourceId"], format!("{base}/"));
    assert!(meta["suffixes"].is_object() && meta["name"].is_string());
    let (_, old) = get("/metadata/endpoints?api-version=2019-05-01".into()).await;
    assert!(old.is_array());

    // What `az login --service-principal` then does: a token for the ARM audience of that
    // document, the two ARM reads, and Graph with the token for `microsoftGraphResourceId`.
    let audience = meta["authentication"]["audiences"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let arm = emu.admin_token(&format!("{audience}/.default")).await;
    assert_eq!(claims_of(&arm).aud, audience);
    let r = emu
        .http
        .get(format!("{base}/subscriptions?api-version=2022-12-01"))
        .bearer_auth(&arm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["value"], json!([]));
    let r = emu
        .http
        .get(format!("{base}/tenants?api-version=2022-12-01"))
        .bearer_auth(&arm)
        .send()
        .await
        .unwrap();
    let tenants: Value = r.json().await.unwrap();
    assert_eq!(tenants["value"][0]["tenantId"], tid);
    let r = emu
        .http
        .get(format!("{base}/subscriptions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "AuthenticationFailed"
    );
    let graph_as_cli = emu
        .admin_token(&format!(
            "{}/.default",
            meta["microsoftGraphResourceId"].as_str().unwrap()
        ))
        .await;
    let (s, _) = emu
        .graph(reqwest::Method::GET, "/applications", &graph_as_cli, None)
        .await;
    assert_eq!(s, 200);
    emu.running.shutdown().await;
}

#[tokio::test]
async fn tls_serves_with_a_certificate_from_the_written_ca() {
    let mut config = Config::local();
    config.tls = true;
    let running = emulator::start(config).await.unwrap();
    let ready = running.ready.clone();
    assert!(ready.authority_url.starts_with("https://127.0.0.1:"));
    assert!(ready.graph_url.starts_with("https://"));
    let ca_path = ready.ca_cert.clone().expect("ca_cert under --tls");
    let pem = std::fs::read(&ca_path).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = format!("{}/{}/oauth2/v2.0/token", ready.authority_url, ready.tenant_id);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", ready.client_id.as_str()),
        ("client_secret", ready.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let body: Value = trusting
        .post(&url)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().expect("token over https");
    // The certificate also names `localhost`.
    let port = running.addr.port();
    let r = trusting
        .get(format!("https://localhost:{port}/v1.0/applications"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A client that does not trust the CA cannot connect.
    assert!(
        reqwest::Client::new()
            .post(&url)
            .form(&form)
            .send()
            .await
            .is_err()
    );
    running.shutdown().await;
}
