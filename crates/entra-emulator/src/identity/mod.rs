//! The emulator's identity platform side: signing keys, Entra access tokens, the sign-in
//! endpoints under `/{tenant}/` (client credentials with secret, certificate or federated
//! assertion; device code; authorization code with PKCE; refresh token), the sign-in pages, discovery documents, device-code state, the Azure
//! CLI's cloud metadata and ARM reads, and the TLS certificate authority.
//!
//! ```text
//! routes (wire format) ─▶ signin (decisions over store::Tenant) ─▶ token (claims, JWT)
//!                     └─▶ device (pending device codes)            └─▶ keys (RSA, JWKS)
//! tls (--tls: CA on disk, server certificate, rustls acceptor)
//! ```
//!
//! For clients and tests:
//! - Tokens: v1.0 (`iss` `https://sts.windows.net/{tid}/`, `aud` = the resource as requested)
//!   for Microsoft Graph, the Defender APIs and apps without `requestedAccessTokenVersion: 2`;
//!   verify them with [`token::verify`] against `GET /{tenant}/discovery/v2.0/keys`.
//! - Device codes are approved as the administrator at the first poll; with
//!   `Config.manual_approval` they wait for a person on the `/devicelogin` page ([`pages`]) or
//!   `POST /_emulator/devicecode/{user_code}/approve` (or `/deny`).
//! - The authorization code flow ([`authorize`], [`pages`]): sign-in and consent pages, codes
//!   with PKCE; the seeded administrator signs in with `TenantIdentity.admin_password`. The
//!   Microsoft Graph Command Line Tools are a known client (`store::seed::first_party_clients`). `Config.identity` ([`routes::Settings`]) sets the device-code lifetime and
//!   interval and the access-token lifetime.
//! - Federated credentials: `POST /_emulator/issuers` `{"issuer", "jwks": {"keys": [...]}}`
//!   makes the emulator trust an external issuer's keys; the emulator's own issuers
//!   (`{authority}/{tid}/v2.0`, `https://sts.windows.net/{tid}/`) are always trusted.
//! - Certificates: a `keyCredentials` entry `{type: "AsymmetricX509Cert", usage: "Verify",
//!   key: <base64 DER>}` lets the app sign assertions (`x5t#S256` or `x5t` header).
//! - The emulator's base URL is itself a resource, an alias of Microsoft Graph: the Azure CLI's
//!   `microsoftGraphResourceId` and ARM audience from `/metadata/endpoints` (Graph accepts
//!   tokens for it; so do `GET /subscriptions` and `GET /tenants`).

pub mod authorize;
pub mod device;
pub mod error;
pub mod keys;
pub mod pages;
pub mod routes;
pub mod scope;
pub mod signin;
pub mod tls;
pub mod token;
