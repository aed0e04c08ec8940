//! `provision plan MANIFEST…`: fill the options and run [`ops::plan`](crate::ops::plan); the
//! manifest loading and the run's context that `apply` and `destroy` share are here too.

use std::path::PathBuf;

use crate::cli::{GlobalArgs, PlanArgs, UseEmulator};
use crate::context::Context;
use crate::error::Result;
use crate::manifest;
use crate::manifest::many::Set;
use crate::model::Desired;
use crate::ops;

/// Read and validate the manifest, printing its warnings.
pub(crate) fn load(global: &GlobalArgs, path: &std::path::Path) -> Result<Desired> {
    let printer =
        crate::output::Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    manifest::load_reporting(path, &printer)
}

/// Read every manifest `paths` name (folders: their `*.toml`), printing their warnings, as one
/// run limited to `targets` (none: every app).
pub(crate) fn load_set(global: &GlobalArgs, paths: &[PathBuf], targets: &[String]) -> Result<Set> {
    let printer =
        crate::output::Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    Set::new(manifest::many::load_many(paths, &printer)?, targets)
}

/// The run's context: under `--emulator`, a tenant that is the one the manifests name.
pub(crate) async fn context(global: &GlobalArgs, emulator: &UseEmulator, set: &Set) -> Result<Context> {
    Context::for_tenants(global, Some(emulator), &set.tenant_names()).await
}

pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<i32> {
    let set = load_set(global, &args.manifests, &args.targets)?;
    let ctx = context(global, &args.emulator, &set).await?;
    let opts = ops::plan::Options {
        destroy: args.destroy,
        purge: args.purge,
        detailed_exitcode: args.detailed_exitcode,
    };
    let result = ops::plan::run(&ctx, &set, &opts).await;
    ctx.finish().await;
    result
}
