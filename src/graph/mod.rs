//! Microsoft Graph: the typed client, its wire types, its error, and the pure retry policy.

#![allow(
    clippy::result_large_err,
    reason = "a GraphError is built once per failed request; its size is nothing next to the round trip"
)]

pub mod client;
pub mod error;
pub mod retry;
pub mod types;

pub use client::GraphClient;
pub use error::GraphError;
