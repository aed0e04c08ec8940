//! Microsoft Graph: the typed client, its wire types, its error, and the pure retry policy.

pub mod client;
pub mod error;
pub mod retry;
pub mod types;

pub use client::GraphClient;
pub use error::GraphError;
