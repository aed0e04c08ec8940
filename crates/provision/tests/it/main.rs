//! The one integration test binary: every file of `crates/provision/tests/it/` is a module here.

// Manifest diagnostics: one small manifest per rule, each rendered output snapshotted.
mod manifest_diagnostics;
// Every example in `manifests/` validates, and the models they give.
mod manifest_examples;
// Property tests: the parser never panics and its spans lie inside the text.
mod manifest_props;
// The real binary: `provision validate` and `provision init`.
mod manifest_cli;
// Shared support for end-to-end tests: in-process emulator, the real binary, request log.
mod support;
// plan, apply and destroy against the emulator.
mod reconcile;
// The emulator through the binary: a state file shared by concurrent runs, --print-env (the
// emulator's own tests live in crates/entra-emulator/tests/).
mod emulator_cli;
// Signing in to Graph with every credential source, auto's order, sign-in errors, no secrets shown.
mod signin;
// provision token: apply then token --verify; consent and public-client failures; verification.
mod token;
// Issue 17: passwords and certificates, their values only in the output file, token as the app.
mod credentials;
// `provision import`: registrations built through Graph, imported, validated and planned.
mod import;
// Least privilege: the emulator's permission rules, and the 403 that names what is missing.
mod permissions;
// --trace FILE: every exchange of a full job as JSON lines, and no secret in them.
mod trace;
// `provision doctor`: checks, exit codes, text and JSON, and --probe leaving nothing behind.
mod doctor;
// Issue 13: the tenant guard on every write, true reports, partial applies, exit codes, trust.
mod report;
// Issue 12: fallbacks for uncertain Graph forms, apply's read-back, deleted items; the strict knobs.
mod fallbacks;
// Sign-in in a real browser (headless Chromium through WebDriver) at the emulator's pages.
mod browser;
// provision audit: a seeded large tenant, holders, drift, --fail-on, formats, paging.
mod audit;
// GITHUB_ACTIONS: annotations, job summary and step outputs, written to files.
mod github_actions;
// Issue 17: web, SPA, identifier URIs, exposed API scopes and app roles, end to end.
mod app_props;
// Several manifests at once: one observation, attribution per manifest, --target.
mod many;
// apply's read-back when what it waits for is deleted meanwhile.
mod readback;
// README.md runs: every `sh` block, in order, against the emulator; shown files and output compared.
mod readme;
// docs/json-format.md holds: every command's --format json document checked against its shape.
mod json_format;
// Issue 17: owners and federated credentials, Graph's rules for them, import, GitHub Actions.
mod owners_fic;
// What another run changes while a run waits: apply's read-back and destroy's purge say so.
mod meanwhile;
