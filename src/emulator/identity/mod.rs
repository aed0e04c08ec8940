//! The emulator's identity platform side: signing keys, Entra access tokens, the sign-in
//! endpoints under `/{tenant}/` (client credentials with secret, certificate or federated
//! assertion; device code; refresh token), discovery documents, device-code state, the Azure
//! CLI's cloud metadata and ARM reads, and the TLS certificate authority.
//!
//! ```text
//! routes (wire format) ─▶ signin (decisions over store::Tenant) ─▶ token (claims, JWT)
//!                     └─▶ device (pending device codes)            └─▶ keys (RSA, JWKS)
//! ```

pub mod device;
pub mod error;
pub mod keys;
pub mod routes;
pub mod scope;
pub mod signin;
pub mod tls;
pub mod token;
