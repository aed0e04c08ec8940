//! `provision import --unique-name N | --app-id ID | --display-name N`: fill the options, check
//! what needs no sign-in, then run [`ops::import`](crate::ops::import).

use crate::cli::{GlobalArgs, ImportArgs};
use crate::context::Context;
use crate::error::Result;
use crate::ops;
use crate::ops::import::Find;

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<i32> {
    // clap requires exactly one of the three.
    let find = match (&args.app_id, &args.unique_name, &args.display_name) {
        (Some(id), _, _) => Find::AppId(id.clone()),
        (None, Some(name), _) => Find::UniqueName(name.clone()),
        (None, None, name) => Find::DisplayName(name.clone().unwrap_or_default()),
    };
    let opts = ops::import::Options {
        find,
        set_unique_name: args.set_unique_name.clone(),
        yes: args.yes,
        output: args.output.clone(),
    };
    // Offline checks first: no sign-in for a value that cannot work.
    ops::import::check(&opts)?;
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = ops::import::run(&ctx, &opts).await;
    ctx.finish().await;
    result
}
