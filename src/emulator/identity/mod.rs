//! The emulator's identity platform side: signing keys, Entra access tokens, and (in later
//! modules) the sign-in endpoints under `/{tenant}/`, discovery documents, device-code state and
//! the Azure CLI's cloud metadata reads.

pub mod keys;
pub mod token;
