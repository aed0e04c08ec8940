//! The reliability suite (issue 7): the real `provision` binary against in-process emulators
//! under faults, races, crashes and hostile input, with figures.
//!
//! The default `cargo test` runs a short version (a few dozen seeds). The full run:
//!
//! ```sh
//! PROVISION_RELIABILITY_SEEDS=200 cargo test --test reliability -- --nocapture
//! ```
//!
//! Every scenario prints a Markdown table of its figures (CONTRIBUTING.md "Reliability" holds the last
//! full run) and fails on a duplicate, an orphan, a panic, a hang, a leaked secret, a request
//! that came back sooner than its `Retry-After`, an unclear error or a tenant that does not
//! converge, and when fewer runs than its minimum converged on their first try (failing clearly
//! is not enough: a retry policy that always gives up fails the fault scenario).
//!
//! The emulator, the binary runner and the request log come from the workspace's one harness,
//! `crates/test-support`; `harness.rs` adds the tenant census, the secret scans and the figures.

// The manifest generator: seeded random manifests (1–5 apps, three first-party APIs).
mod generator;
// What the suite adds to crates/test-support: tenant checks, secret scans, figures, minimum rates.
mod harness;
// 1. Faults: 5xx, 429 + Retry-After, dropped connections, lost answers, replication lag.
mod faults;
// 2. Races: concurrent applies of one manifest, and apply against destroy.
mod races;
// 3. Crashes: apply killed with SIGKILL at a seeded moment, then applied again.
mod crashes;
// 4. Hostile input: adversarial manifests and malformed Graph answers.
mod hostile;
