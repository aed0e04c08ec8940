//! Entra's OAuth error responses: one constructor per AADSTS code the emulator produces, and the
//! body every failure of the sign-in endpoints carries. Pure: no I/O.
//!
//! Body shape (`reference-error-codes.md`; docs/graph-notes.md §7 "Token error format",
//! docs/graph-notes.md §7):
//! `{error, error_description, error_codes, timestamp, trace_id, correlation_id, error_uri}` where
//! `error_description` is `AADSTSnnnn: text\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …`
//! (the `\r\n` separators of the doc example; docs/graph-notes.md §11.5).

use serde_json::{Value, json};

/// One failed sign-in request: HTTP status, OAuth `error`, AADSTS code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub text: String,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (AADSTS{}: {})", self.error, self.code, self.text)
    }
}

impl std::error::Error for OAuthError {}

impl OAuthError {
    fn new(status: u16, error: &'static str, code: u32, text: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            code,
            text: text.into(),
        }
    }

    /// The JSON body, with fresh trace and correlation ids (the correlation id echoes the
    /// caller's `client-request-id` when one was sent, as Entra does).
    pub fn body(&self, now: chrono::DateTime<chrono::Utc>, correlation_id: Option<&str>) -> Value {
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = correlation_id
            .filter(|c| uuid::Uuid::parse_str(c).is_ok())
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.text
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    // ---- request shape -------------------------------------------------------------------

    /// AADSTS900144: a required form parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// AADSTS70003: the grant type is not one the endpoint knows.
    pub fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    /// AADSTS90002: the `{tenant}` path segment names no tenant the emulator serves.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    /// AADSTS9001023: client credentials are not served over `/common` or `/consumers`.
    pub fn grant_not_supported_over_common() -> Self {
        Self::new(
            400,
            "invalid_request",
            9001023,
            "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
        )
    }

    /// AADSTS50194: a single-tenant app signs in through `/common` or `/organizations`
    /// (learn.microsoft.com/entra/identity-platform/reference-error-codes, AADSTS50194
    /// "Invalid multitenant application configuration"; the text is what Entra answers).
    pub fn single_tenant_app_on_common(client_id: &str, client_name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            50194,
            format!(
                "Application '{client_id}'({client_name}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."
            ),
        )
    }

    // ---- client ----------------------------------------------------------------------------

    /// AADSTS700016: no application with this client id in the tenant.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS7000215: the client secret is not one of the app's (or has expired).
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret is provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS7000218: a confidential client sent no credential (device code on an app without
    /// `isFallbackPublicClient`, docs/graph-notes.md §1).
    pub fn credential_required() -> Self {
        Self::new(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS700025: a public client sent a secret or an assertion.
    pub fn public_client_with_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            700025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// AADSTS700027: the client assertion failed validation (signature, key, lifetime, claims).
    pub fn bad_assertion(reason: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            700027,
            format!("Client assertion failed signature validation. {reason}"),
        )
    }

    /// AADSTS700024: the client assertion is outside its validity window.
    pub fn assertion_expired() -> Self {
        Self::new(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        )
    }

    /// AADSTS70021: a federated assertion matches none of the app's federated credentials.
    pub fn no_matching_federated_credential(issuer: &str, subject: &str, audience: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'."
            ),
        )
    }

    /// AADSTS50027: the client assertion is not a well-formed JWT.
    pub fn malformed_assertion() -> Self {
        Self::new(
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    }

    /// AADSTS7000229: the client application has no service principal in the tenant.
    pub fn client_without_service_principal(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            7000229,
            format!(
                "The client application {client_id} is missing service principal in the tenant {tenant}."
            ),
        )
    }

    /// AADSTS50000: the emulator could not sign a token (an internal fault).
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            500,
            "temporarily_unavailable",
            50000,
            "There was an error issuing a token or an authorization code.",
        )
    }

    // ---- scope and resource ----------------------------------------------------------------

    /// AADSTS70011: the scope is not valid for this grant.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            70011,
            format!(
                "The provided value for the input parameter 'scope' isn't valid. The scope {scope} isn't valid."
            ),
        )
    }

    /// AADSTS1002012: client credentials need `{resource}/.default`.
    pub fn scope_needs_default(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// AADSTS28000: scopes of more than one resource in one request.
    pub fn multiple_resources(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            28000,
            format!(
                "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        )
    }

    /// AADSTS500011: no service principal for the requested resource.
    pub fn resource_not_found(resource: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS65001: the delegated scopes are not covered by a consent grant.
    pub fn consent_required(client_id: &str, client_name: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            65001,
            format!(
                "The user or administrator has not consented to use the application with ID '{client_id}' named '{client_name}'. Send an interactive authorization request for this user and resource."
            ),
        )
    }

    // ---- device code -----------------------------------------------------------------------

    /// AADSTS70016: the user has not finished signing in (doc wording, docs/graph-notes.md §11.5).
    pub fn authorization_pending() -> Self {
        Self::new(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }

    /// AADSTS65004: the user declined.
    pub fn authorization_declined() -> Self {
        Self::new(
            400,
            "authorization_declined",
            65004,
            "User declined to consent to access the app.",
        )
    }

    /// AADSTS70019: the device code's `expires_in` has passed.
    pub fn device_code_expired() -> Self {
        Self::new(400, "expired_token", 70019, "Verification code expired.")
    }

    /// AADSTS70018: the device code is not one the emulator issued.
    pub fn bad_verification_code() -> Self {
        Self::new(400, "bad_verification_code", 70018, "Invalid verification code.")
    }

    /// AADSTS90120: the device code was already redeemed.
    pub fn device_code_redeemed() -> Self {
        Self::new(
            400,
            "invalid_grant",
            90120,
            "The device flow request was already authorized or declined.",
        )
    }

    /// AADSTS70002: the device code belongs to another client.
    pub fn device_code_other_client() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70002,
            "The client does not match the one the device code was issued to.",
        )
    }

    // ---- refresh tokens --------------------------------------------------------------------

    /// AADSTS9002313: the refresh token is not one the emulator issued, or was altered.
    pub fn malformed_refresh_token() -> Self {
        Self::new(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    }

    /// AADSTS700082: the refresh token has expired.
    pub fn refresh_token_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity.",
        )
    }

    /// AADSTS70000: the refresh token was issued to another client.
    pub fn refresh_token_other_client() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_entra_shape_and_crlf_separators() {
        let now = chrono::DateTime::parse_from_rfc3339("2016-01-09T02:02:12Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let body = OAuthError::invalid_scope("https://foo.microsoft.com/.default").body(now, None);
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
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
            ]
        );
        assert_eq!(body["error"], "invalid_scope");
        assert_eq!(body["error_codes"], json!([70011]));
        assert_eq!(body["timestamp"], "2016-01-09 02:02:12Z");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with(
            "AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope https://foo.microsoft.com/.default isn't valid.\r\nTrace ID: "
        ));
        assert!(description.ends_with("\r\nTimestamp: 2016-01-09 02:02:12Z"));
        assert!(description.contains(&format!(
            "\r\nCorrelation ID: {}\r\n",
            body["correlation_id"].as_str().unwrap()
        )));
        assert_eq!(
            body["error_uri"],
            "https://login.microsoftonline.com/error?code=70011"
        );

        let echoed =
            OAuthError::authorization_pending().body(now, Some("cad65606-26ba-423f-9cab-fdd75756e364"));
        assert_eq!(echoed["correlation_id"], "cad65606-26ba-423f-9cab-fdd75756e364");
    }
}
