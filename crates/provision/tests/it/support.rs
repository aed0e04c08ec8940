//! Shared test support: the workspace's one harness, `crates/test-support` (an in-process
//! emulator, the real `provision` binary pointed at it, Graph reads with the administrator's
//! token, the request log read strictly, CLI snapshots), under the names these tests use.

pub use test_support::*;

/// Run an `async fn name(profile: Profile)` test under both profiles: `name::default` and
/// `name::strict` (`test_support::both_profiles!`, reachable as `crate::both_profiles`).
#[macro_export]
macro_rules! both_profiles {
    ($name:ident) => {
        test_support::both_profiles!($name);
    };
}
