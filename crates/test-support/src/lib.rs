//! The one test harness of the workspace: an in-process emulator on `127.0.0.1:0` per test
//! ([`Tenant`]), the real `provision` binary pointed at it through the environment (to its end,
//! or killed at a deadline: [`Run`]), Graph calls as the administrator, the emulator's request
//! log read strictly ([`log`]), and CLI snapshots of exit code, stdout and stderr together with
//! the unstable text filtered out ([`provision_snapshot!`]).
//!
//! Used by `crates/provision/tests/it` (through its `support.rs`, a re-export) and
//! `crates/provision/tests/reliability`. Tests move the emulator's clock
//! ([`Tenant::advance_clock`]); they never sleep to synchronise.

pub mod log;
pub mod run;
pub mod snapshot;
mod tenant;

pub use entra_emulator as emulator;
// For `provision_snapshot!`, which expands in the calling crate.
pub use insta;

pub use log::{graph_writes, rounds, writes};
pub use run::{Auth, RUN_TIMEOUT, Run};
pub use snapshot::transcript;
pub use tenant::{Profile, Tenant, base_url, provision_binary};

use std::process::Output;

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Run an `async fn name(profile: Profile)` test under both profiles: `name::default` and
/// `name::strict`.
#[macro_export]
macro_rules! both_profiles {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn default() {
                super::$name($crate::Profile::Default).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn strict() {
                super::$name($crate::Profile::Strict).await
            }
        }
    };
}
