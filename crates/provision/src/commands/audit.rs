//! `provision audit [PATHS…]`: read the tenant, report who holds permissions on the audited
//! APIs against the manifests, and exit 2 on what `--fail-on` names.

use crate::audit::{self, AuditApi};
use crate::cli::{AuditArgs, FailOn, GlobalArgs};
use crate::context::Context;
use crate::error::Result;
use crate::output::{Format, Printer};

pub async fn run(global: &GlobalArgs, args: &AuditArgs) -> Result<i32> {
    let printer = Printer::new(global.format.unwrap_or_default(), global.verbose, global.no_color);
    let manifests = crate::manifest::many::load_many(&args.paths, &printer)?;
    let apis: Vec<AuditApi> = if args.apis.is_empty() {
        audit::default_apis()
    } else {
        audit::chosen_apis(&args.apis)
    };
    let ctx = Context::new(global, Some(&args.emulator)).await?;
    let result = async {
        let (graph, token) = ctx.graph().await?;
        let snapshot = audit::read(&graph, &apis).await?;
        let report = audit::build(&apis, &snapshot, &manifests, &token.tenant_id);
        crate::ci::append_step_summary(&ctx.printer, &audit::markdown(&report));
        // Audit's text view comes in two flavours: plain, or a Markdown table.
        ctx.printer.result(&report, || match ctx.printer.format {
            Format::Markdown => audit::markdown(&report),
            _ => audit::text(&report),
        })?;
        let failed = args.fail_on.iter().any(|f| match f {
            FailOn::Unmanaged => report.has_unmanaged(),
            FailOn::Drift => report.has_drift(),
        });
        Ok(if failed { 2 } else { 0 })
    }
    .await;
    ctx.finish().await;
    result
}
