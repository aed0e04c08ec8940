//! Entra access tokens: the claims the emulator puts in them, signing (RS256 with `kid`/`x5t`)
//! and verification against a JWKS. Pure: no I/O (the caller fetches or holds the JWKS).
//!
//! Claim names and meanings follow `access-token-claims-reference.md` (docs/graph-notes.md §7).
//! The token version is chosen by the resource, not by the endpoint: Microsoft Graph and the Defender APIs issue v1.0 tokens even
//! from the v2.0 endpoint (`iss` `https://sts.windows.net/{tid}/`, `aud` = the resource URL that
//! was requested, `appid`/`appidacr`): docs/graph-notes.md §11.4.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::keys::SigningKey;

/// Which access-token format a resource gets (`api.requestedAccessTokenVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    /// `ver` `1.0`: `iss` `https://sts.windows.net/{tid}/`, `appid`/`appidacr`.
    V1,
    /// `ver` `2.0`: `iss` `{authority}/{tid}/v2.0`, `azp`/`azpacr`.
    V2,
}

impl TokenVersion {
    /// The issuer of a token of this version. `authority` is the sign-in host without a
    /// trailing slash (`https://login.microsoftonline.com`, or the emulator's base URL).
    pub fn issuer(self, authority: &str, tenant_id: &str) -> String {
        match self {
            // v1 tokens carry the legacy STS host whatever host issued them (access-tokens.md).
            TokenVersion::V1 => format!("https://sts.windows.net/{tenant_id}/"),
            TokenVersion::V2 => format!("{}/{tenant_id}/v2.0", authority.trim_end_matches('/')),
        }
    }

    pub fn ver(self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

/// How the client proved its identity: the `appidacr`/`azpacr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `0`: a public client, no credential.
    Public,
    /// `1`: a client secret.
    Secret,
    /// `2`: a certificate or a federated assertion.
    Certificate,
}

impl ClientAuth {
    fn acr(self) -> &'static str {
        match self {
            ClientAuth::Public => "0",
            ClientAuth::Secret => "1",
            ClientAuth::Certificate => "2",
        }
    }
}

/// The claims of an Entra access token, in the order Entra writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// A string in Entra tokens; kept a string here (Graph checks one audience).
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azpacr: Option<String>,
    /// `app` for app-only tokens, `user` for delegated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Object id of the signed-in user, or of the client's service principal for app-only.
    pub oid: String,
    /// App roles (app-only tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Space-separated delegated scopes (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    pub sub: String,
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Unique token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uti: Option<String>,
    pub ver: String,
}

/// The parts every token shares: who issues it, for whom, when.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub version: TokenVersion,
    /// Base URL of the sign-in authority (for v2 issuers).
    pub authority: &'a str,
    pub tenant_id: &'a str,
    pub audience: &'a str,
    pub client_id: &'a str,
    pub client_auth: ClientAuth,
    /// Unix seconds.
    pub now: i64,
    pub lifetime_secs: i64,
}

/// The signed-in user of a delegated token.
#[derive(Debug, Clone)]
pub struct User<'a> {
    pub object_id: &'a str,
    pub display_name: &'a str,
    pub user_principal_name: &'a str,
}

impl Claims {
    fn base(issue: &Issue<'_>, oid: &str, sub: String) -> Claims {
        let (appid, appidacr, azp, azpacr) = match issue.version {
            TokenVersion::V1 => (
                Some(issue.client_id.to_owned()),
                Some(issue.client_auth.acr().to_owned()),
                None,
                None,
            ),
            TokenVersion::V2 => (
                None,
                None,
                Some(issue.client_id.to_owned()),
                Some(issue.client_auth.acr().to_owned()),
            ),
        };
        Claims {
            aud: issue.audience.to_owned(),
            iss: issue.version.issuer(issue.authority, issue.tenant_id),
            iat: issue.now,
            nbf: issue.now,
            exp: issue.now + issue.lifetime_secs,
            appid,
            appidacr,
            azp,
            azpacr,
            idtyp: None,
            name: None,
            oid: oid.to_owned(),
            roles: None,
            scp: None,
            sub,
            tid: issue.tenant_id.to_owned(),
            upn: None,
            uti: Some(unique_token_id()),
            ver: issue.version.ver().to_owned(),
        }
    }

    /// An app-only token (client credentials): `roles` = the app roles assigned to the client's
    /// service principal on the resource. Entra leaves `roles` out when there are none
    /// (docs/graph-notes.md §7). `sub` = `oid` for apps.
    pub fn app_only(issue: &Issue<'_>, client_sp_id: &str, roles: Vec<String>) -> Claims {
        let mut c = Claims::base(issue, client_sp_id, client_sp_id.to_owned());
        c.idtyp = Some("app".to_owned());
        c.roles = (!roles.is_empty()).then_some(roles);
        c
    }

    /// A delegated token for `user`: `scp` = the granted scopes, space-separated. `sub` is
    /// pairwise per application in Entra; here a stable digest of user and client.
    pub fn delegated(issue: &Issue<'_>, user: &User<'_>, scopes: &[String]) -> Claims {
        let sub = pairwise_subject(user.object_id, issue.client_id);
        let mut c = Claims::base(issue, user.object_id, sub);
        c.idtyp = Some("user".to_owned());
        c.name = Some(user.display_name.to_owned());
        c.scp = Some(scopes.join(" "));
        c.upn = Some(user.user_principal_name.to_owned());
        c
    }

    /// The roles claim as a slice (empty when absent).
    pub fn roles(&self) -> &[String] {
        self.roles.as_deref().unwrap_or_default()
    }

    /// The delegated scopes (empty when absent).
    pub fn scopes(&self) -> Vec<&str> {
        self.scp
            .as_deref()
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// True for a token obtained without a user (client credentials).
    pub fn is_app_only(&self) -> bool {
        match self.idtyp.as_deref() {
            Some(t) => t == "app",
            None => self.scp.is_none(),
        }
    }
}

fn unique_token_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

fn pairwise_subject(user_oid: &str, client_id: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{user_oid}|{client_id}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the token")]
pub struct SignError(#[source] jsonwebtoken::errors::Error);

/// Signs `claims` with `key`: RS256, header `{typ, alg, x5t, kid}` as Entra's v1 tokens
/// (docs/graph-notes.md §7).
pub fn issue(key: &SigningKey, claims: &Claims) -> Result<String, SignError> {
    issue_any(key, claims)
}

/// Signs any claim set the emulator issues (id tokens, refresh tokens) the same way.
pub fn issue_any<T: Serialize>(key: &SigningKey, claims: &T) -> Result<String, SignError> {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".to_owned());
    header.x5t = Some(key.x5t().to_owned());
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding_key()).map_err(SignError)
}

/// Why a token was refused. The variants are what a resource tells apart in its 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's signature does not verify against any known key")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not yet valid")]
    NotYetValid,
    #[error("the token is for audience `{found}`, not for this resource")]
    WrongAudience { found: String },
}

/// The public keys a verifier trusts: a JWKS as Entra publishes it, or single keys.
pub enum Keys<'a> {
    Jwks(&'a JwkSet),
    Signing(&'a SigningKey),
}

/// [`verify_at`] the wall clock's time.
pub fn verify(keys: Keys<'_>, token: &str, expected_audiences: &[&str]) -> Result<Claims, VerifyError> {
    verify_at(keys, token, expected_audiences, chrono::Utc::now().timestamp())
}

/// Verifies an RS256 access token: signature (key chosen by `kid`), `exp` and `nbf` against
/// `now` (seconds since the epoch: the emulator's [`crate::clock::Clock`]), and that `aud` is
/// one of `expected_audiences` (compared without regard to a trailing slash, since Entra echoes
/// the resource URL as it was requested). No leeway: the emulator and its clients share one
/// clock.
pub fn verify_at(
    keys: Keys<'_>,
    token: &str,
    expected_audiences: &[&str],
    now: i64,
) -> Result<Claims, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if header.alg != Algorithm::RS256 {
        return Err(VerifyError::BadSignature);
    }
    let key: DecodingKey = match keys {
        Keys::Signing(k) => {
            if header.kid.as_deref().is_some_and(|kid| kid != k.kid()) {
                return Err(VerifyError::BadSignature);
            }
            k.decoding_key()
        }
        Keys::Jwks(set) => {
            let jwk = match header.kid.as_deref() {
                Some(kid) => set.find(kid),
                None => set.keys.first(),
            }
            .ok_or(VerifyError::BadSignature)?;
            DecodingKey::from_jwk(jwk).map_err(|_| VerifyError::BadSignature)?
        }
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    // `exp` and `nbf` are checked below against the emulator's clock, not the wall clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::InvalidRsaKey(_) => {
            VerifyError::BadSignature
        }
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        _ => VerifyError::Malformed(e.to_string()),
    })?;
    let claims = data.claims;
    if claims.exp < now {
        return Err(VerifyError::Expired);
    }
    if claims.nbf > now {
        return Err(VerifyError::NotYetValid);
    }
    let normalise = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    let found = normalise(&claims.aud);
    if !expected_audiences.iter().any(|a| normalise(a) == found) {
        return Err(VerifyError::WrongAudience { found: claims.aud });
    }
    Ok(claims)
}

/// The claims of a token without checking anything: for `provision token --decode` and for
/// error messages. Never use the result to make an access decision.
pub fn decode_unverified(token: &str) -> Result<Claims, VerifyError> {
    decode_unverified_as(token)
}

/// The payload of any JWT as `T`, unverified (to find which key should verify it).
pub fn decode_unverified_as<T: serde::de::DeserializeOwned>(token: &str) -> Result<T, VerifyError> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| VerifyError::Malformed("expected three dot-separated parts".to_owned()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| VerifyError::Malformed(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| VerifyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    const TID: &str = "6f1f6c2e-5a3b-4c39-9a8e-0d6c1f0b7a11";
    const CLIENT: &str = "2c4b0f3e-8d1a-4b5e-9f7c-3a2d1e0f9b8c";

    fn key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate("token tests").unwrap())
    }

    fn issue_params(version: TokenVersion, audience: &str, now: i64, lifetime: i64) -> Issue<'static> {
        Issue {
            version,
            authority: "http://127.0.0.1:8080",
            tenant_id: TID,
            audience: Box::leak(audience.to_owned().into_boxed_str()),
            client_id: CLIENT,
            client_auth: ClientAuth::Secret,
            now,
            lifetime_secs: lifetime,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn v1_app_only_token_has_entra_claims_and_verifies() {
        let issue = issue_params(TokenVersion::V1, "https://graph.microsoft.com", now(), 3599);
        let claims = Claims::app_only(&issue, "sp-oid", vec!["Application.ReadWrite.All".into()]);
        let jwt = super::issue(key(), &claims).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key().kid()));
        assert_eq!(header.x5t.as_deref(), Some(key().kid()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));

        let raw: serde_json::Value = serde_json::to_value(decode_unverified(&jwt).unwrap()).unwrap();
        assert_eq!(raw["iss"], format!("https://sts.windows.net/{TID}/"));
        assert_eq!(raw["ver"], "1.0");
        assert_eq!(raw["appid"], CLIENT);
        assert_eq!(raw["appidacr"], "1");
        assert_eq!(raw["idtyp"], "app");
        assert_eq!(raw["roles"][0], "Application.ReadWrite.All");
        assert!(raw.get("azp").is_none() && raw.get("scp").is_none());

        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys":[key().jwk("x")]})).unwrap();
        let verified = verify(Keys::Jwks(&jwks), &jwt, &["https://graph.microsoft.com/"]).unwrap();
        assert_eq!(verified, claims);
        assert!(verified.is_app_only());
        assert_eq!(
            verify(
                Keys::Signing(key()),
                &jwt,
                &["https://api.security.microsoft.com"]
            ),
            Err(VerifyError::WrongAudience {
                found: "https://graph.microsoft.com".into()
            })
        );
    }

    #[test]
    fn v2_delegated_token_uses_azp_and_scp() {
        let issue = issue_params(TokenVersion::V2, "api://contoso", now(), 3599);
        let user = User {
            object_id: "user-oid",
            display_name: "Admin",
            user_principal_name: "admin@contoso.onmicrosoft.com",
        };
        let claims = Claims::delegated(
            &issue,
            &user,
            &["Incident.Read".into(), "AdvancedHunting.Read".into()],
        );
        assert_eq!(claims.iss, format!("http://127.0.0.1:8080/{TID}/v2.0"));
        assert_eq!(claims.azp.as_deref(), Some(CLIENT));
        assert!(claims.appid.is_none());
        assert_eq!(claims.scopes(), ["Incident.Read", "AdvancedHunting.Read"]);
        assert!(!claims.is_app_only());
        let jwt = super::issue(key(), &claims).unwrap();
        assert_eq!(
            verify(Keys::Signing(key()), &jwt, &["api://contoso"]).unwrap(),
            claims
        );
    }

    #[test]
    fn expired_immature_tampered_and_foreign_tokens_are_told_apart() {
        let t = now();
        let expired = Claims::app_only(
            &issue_params(TokenVersion::V1, "aud", t - 7200, 3600),
            "o",
            vec![],
        );
        let jwt = super::issue(key(), &expired).unwrap();
        assert_eq!(
            verify(Keys::Signing(key()), &jwt, &["aud"]),
            Err(VerifyError::Expired)
        );

        let mut future = Claims::app_only(&issue_params(TokenVersion::V1, "aud", t, 3600), "o", vec![]);
        future.nbf = t + 600;
        let jwt = super::issue(key(), &future).unwrap();
        assert_eq!(
            verify(Keys::Signing(key()), &jwt, &["aud"]),
            Err(VerifyError::NotYetValid)
        );

        let good = Claims::app_only(&issue_params(TokenVersion::V1, "aud", t, 3600), "o", vec![]);
        let jwt = super::issue(key(), &good).unwrap();
        // Swap the payload for one with other roles: the signature no longer matches.
        let mut forged = good.clone();
        forged.roles = Some(vec!["Directory.ReadWrite.All".into()]);
        let forged_payload = super::issue(key(), &forged).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged_parts: Vec<&str> = forged_payload.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
        assert_eq!(
            verify(Keys::Signing(key()), &tampered, &["aud"]),
            Err(VerifyError::BadSignature)
        );

        // Signed by a key the verifier does not know.
        let stranger = SigningKey::generate("stranger").unwrap();
        let jwt = super::issue(&stranger, &good).unwrap();
        assert_eq!(
            verify(Keys::Signing(key()), &jwt, &["aud"]),
            Err(VerifyError::BadSignature)
        );
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys":[key().jwk("x")]})).unwrap();
        assert_eq!(
            verify(Keys::Jwks(&jwks), &jwt, &["aud"]),
            Err(VerifyError::BadSignature)
        );

        assert!(matches!(
            verify(Keys::Signing(key()), "not-a-jwt", &["aud"]),
            Err(VerifyError::Malformed(_))
        ));
    }
}
