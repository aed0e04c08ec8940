//! `provision destroy MANIFEST…`: fill the options and run [`ops::destroy`](crate::ops::destroy).

use crate::cli::{DestroyArgs, GlobalArgs};
use crate::commands::plan::{context, load_set};
use crate::error::Result;
use crate::ops;

pub async fn run(global: &GlobalArgs, args: &DestroyArgs) -> Result<i32> {
    let set = load_set(global, &args.manifests, &args.targets)?;
    let ctx = context(global, &args.emulator, &set).await?;
    let opts = ops::destroy::Options {
        yes: args.yes,
        purge: args.purge,
    };
    let result = ops::destroy::run(&ctx, &set, &opts).await;
    ctx.finish().await;
    result
}
