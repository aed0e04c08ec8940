//! `provision doctor [MANIFEST]`: fill the options, run `doctor::run`, print the report; the
//! exit code is the report's (0 apply would be allowed, 4 permission, 3 manifest, 1 reach).

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::context::Context;
use crate::error::Result;
use crate::ops::confirm;

pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<i32> {
    let desired = match &args.manifest {
        Some(path) => Some(crate::commands::plan::load(global, path)?),
        None => None,
    };
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = async {
        if args.probe
            && !confirm(
                args.yes,
                "Create, then delete and purge, a throw-away application `provision-probe-…` in this tenant?",
                &ctx.printer,
            )?
        {
            return Ok(1);
        }
        let report = crate::doctor::run(&ctx, desired.as_ref(), args.probe).await;
        ctx.printer.result(&report, || crate::doctor::text(&report))?;
        if report.verdict != "ok" {
            ctx.printer
                .status(&format!("error: {}", crate::doctor::verdict_text(&report)));
            if let Some(help) = crate::doctor::verdict_help(&report) {
                ctx.printer.status(&format!("help: {help}"));
            }
        }
        Ok(report.exit_code())
    }
    .await;
    ctx.finish().await;
    result
}
