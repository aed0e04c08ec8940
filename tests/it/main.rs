//! The one integration-test binary (STYLE.md: ripgrep's `tests/tests.rs`). One module per area.

// The emulator's Graph side over real HTTP: Graph's statuses, codes and shapes, faults, control.
mod emulator_graph;
// The identity platform over real HTTP: sign-in grants, AADSTS errors, tokens, discovery, ARM.
mod emulator_identity;
