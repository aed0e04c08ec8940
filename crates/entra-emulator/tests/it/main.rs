//! The emulator's integration tests: the emulator library on `127.0.0.1:0` and an HTTP client,
//! no `provision` binary (tests through the binary live in `crates/provision/tests/it/`).

// Graph over real HTTP: Graph's statuses, codes and shapes, faults, the clock, control.
mod graph;
// The identity platform over real HTTP: sign-in grants, AADSTS errors, tokens, discovery, ARM.
mod identity;
// The emulator as Microsoft's client libraries see it: casts, client_info, certificates,
// /organizations, what recordings of Graph show.
mod libs;
