//! The reliability suite (issue 7): the real `provision` binary against in-process emulators
//! under faults, races, crashes and hostile input, with figures.
//!
//! The default `cargo test` runs a short version (a few dozen seeds). The full run:
//!
//! ```sh
//! PROVISION_RELIABILITY_SEEDS=200 cargo test --test reliability -- --nocapture
//! ```
//!
//! Every scenario prints a Markdown table of its figures (README.md "Reliability" holds the last
//! full run) and fails on a duplicate, an orphan, a panic, a hang, a leaked secret, a request
//! that came back sooner than its `Retry-After`, an unclear error or a tenant that does not
//! converge.

// The manifest generator: seeded random manifests (1–5 apps, three first-party APIs).
mod generator;
// The harness: emulators, the binary with a timeout, tenant checks, secret scans, figures.
mod harness;
// 1. Faults: 5xx, 429 + Retry-After, dropped connections, lost answers, replication lag.
mod faults;
// 2. Races: concurrent applies of one manifest, and apply against destroy.
mod races;
// 3. Crashes: apply killed with SIGKILL at a seeded moment, then applied again.
mod crashes;
// 4. Hostile input: adversarial manifests and malformed Graph answers.
mod hostile;
