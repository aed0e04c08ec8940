//! `provision`: declarative Entra ID app registrations through Microsoft Graph.
//!
//! # Architecture
//!
//! ```text
//! argv ──clap──▶ cli::Cli ──commands──▶ options + context::Context ──▶ ops (observe → plan → execute)
//! manifest text ──manifest::parse──▶ model::Desired                      (pure)
//! Graph GETs ──observe──▶ graph::types (Observed, each app by its key)
//! plan::plan(&Desired, &Observed) ──▶ plan::Plan ──render──▶ text | versioned JSON   (pure)
//! apply::apply(Plan) ──Graph writes──▶ report ──▶ output file (atomic)
//! observe again ──plan──▶ must show no changes
//! ```
//!
//! There is no state file: every run finds its objects again by stable keys (`uniqueName`,
//! `appId`, `(clientId, consentType, resourceId)`). The output file is for downstream tools.
//!
//! Modules that do no I/O: `catalog`, `model`, `manifest`, `permissions`, `plan`, `render`, `graph::retry`,
//! `import` (Graph objects → manifest text).
//! `catalog` (the `entra-catalog` crate) holds the first-party APIs; `emulator` (the
//! `entra-emulator` crate, behind the default feature `emulator`) is a local Microsoft Graph +
//! identity platform used by `--emulator` and by every end-to-end test. Neither depends on this
//! crate.

#![allow(
    clippy::result_large_err,
    reason = "errors are built once per failed request or command; their size is nothing next to a round trip"
)]

pub mod apply;
pub mod audit;
pub mod auth;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod context;
pub mod credentials;
pub mod deleted;
pub mod doctor;
pub mod error;
pub mod fsutil;
pub mod graph;
pub mod import;
pub mod manifest;
pub mod model;
pub mod observe;
pub mod ops;
pub mod outfile;
pub mod output;
pub mod ownership;
pub mod permissions;
pub mod plan;
pub mod readback;
pub mod render;
pub mod trace;

pub use error::{Error, Result};

/// First-party API data (the `entra-catalog` crate).
pub use entra_catalog as catalog;
/// The built-in Graph + identity emulator (the `entra-emulator` crate), for `--emulator`.
#[cfg(feature = "emulator")]
pub use entra_emulator as emulator;
