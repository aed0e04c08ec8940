//! `provision apply MANIFEST…`: fill the options and run [`ops::apply`](crate::ops::apply).

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::commands::plan::{context, load_set};
use crate::error::Result;
use crate::ops;

pub async fn run(global: &GlobalArgs, args: &ApplyArgs) -> Result<i32> {
    let set = load_set(global, &args.manifests, &args.targets)?;
    let ctx = context(global, &args.emulator, &set).await?;
    let opts = ops::apply::Options {
        yes: args.yes,
        no_wait: args.no_wait,
    };
    let result = ops::apply::run(&ctx, &set, &opts).await;
    ctx.finish().await;
    result
}
