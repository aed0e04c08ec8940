//! `provision token MANIFEST|OUTPUT_FILE`: fill the options, find the target on this machine
//! (no sign-in for a file that cannot work), then run [`ops::token`](crate::ops::token).

use crate::cli::{GlobalArgs, TokenArgs};
use crate::context::Context;
use crate::error::Result;
use crate::ops;

pub async fn run(global: &GlobalArgs, args: &TokenArgs) -> Result<i32> {
    let printer =
        crate::output::Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    let opts = ops::token::Options {
        target: args.target.clone(),
        app: args.app.clone(),
        api: args.api.clone(),
        decode: args.decode,
        verify: args.verify,
        browser: args.browser,
    };
    let target = ops::token::target(&opts, &printer)?;
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = ops::token::run(&ctx, &opts, &target).await;
    ctx.finish().await;
    result
}
