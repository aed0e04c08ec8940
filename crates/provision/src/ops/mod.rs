//! Operations: what `plan`, `apply`, `destroy`, `import` and `token` do once their options are
//! filled in (the files under `commands/` only do that, and call one operation here).
//!
//! Every operation has one shape: **observe** (sign in, read the tenant, with the tenant guard
//! checked alongside the reads) → **plan** (pure: what would change) → **execute** (after one
//! confirmation; Ctrl-C stops it and the report says what was done). The guard ([`guarded`]),
//! the confirmation ([`confirm`]) and the execution of a plan's steps ([`execute`]) live here,
//! once; an operation that writes nothing (`plan`, `token`, an `import` without
//! `--set-unique-name`) has no execute step.

pub(crate) mod apply;
pub(crate) mod destroy;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod live;
pub(crate) mod plan;
pub(crate) mod token;
pub(crate) mod validate;

use std::io::IsTerminal;
use std::path::Path;

use crate::apply::Report;
use crate::context::Context;
use crate::error::{Class, Error, Result};
use crate::graph::GraphClient;
use crate::manifest::many::Set;
use crate::output::Printer;
use crate::plan::Plan;
use live::Live;

/// The tenants a run may act on, checked against the signed-in tenant before anything is
/// written.
pub(crate) enum Guard<'a> {
    /// The `tenant` of each manifest of the run (`plan`, `apply`, `destroy`).
    Manifests(&'a Set),
    /// The tenant `--tenant` asked for (`import --set-unique-name`); `organizations` and
    /// `common` name none.
    Asked(Option<&'a str>),
    /// The run writes nothing to the tenant.
    Nothing,
}

impl Guard<'_> {
    /// Whether the signed-in tenant `tenant_id` is one this run may act on.
    async fn check(&self, ctx: &Context, tenant_id: &str) -> Result<()> {
        match self {
            Guard::Manifests(set) => check_manifests(ctx, set, tenant_id).await,
            Guard::Asked(asked) => {
                let asked =
                    asked.filter(|t| !matches!(t.to_ascii_lowercase().as_str(), "organizations" | "common"));
                crate::observe::check_tenant_guard(&ctx.http, &ctx.endpoints.authority_url, asked, tenant_id)
                    .await
                    .map_err(|mut e| {
                        e.message = e.message.replace("the manifest is for tenant", "--tenant is");
                        e
                    })
            }
            Guard::Nothing => Ok(()),
        }
    }
}

/// Run `read` (an operation's observation) with `guard` checked alongside: the guard needs no
/// Graph permission and costs no round of its own. A refused guard wins over whatever the read
/// found.
pub(crate) async fn guarded<T>(
    ctx: &Context,
    guard: &Guard<'_>,
    tenant_id: &str,
    read: impl Future<Output = Result<T>>,
) -> Result<T> {
    let (read, guard) = futures::join!(read, guard.check(ctx, tenant_id));
    guard?;
    read
}

/// Every tenant guard of the run's manifests against the signed-in tenant (each distinct guard
/// once, named by the first manifest that has it).
async fn check_manifests(ctx: &Context, set: &Set, tenant_id: &str) -> Result<()> {
    let mut guards: Vec<(&Path, &str)> = Vec::new();
    for (path, guard) in set.guards() {
        if !guards.iter().any(|(_, g)| g.eq_ignore_ascii_case(guard)) {
            guards.push((path, guard));
        }
    }
    let several = set.several();
    futures::future::try_join_all(guards.into_iter().map(|(path, guard)| async move {
        let whose = if several {
            format!("the manifest `{}`", path.display())
        } else {
            "the manifest".to_owned()
        };
        crate::observe::check_tenant_guard_of(
            &ctx.http,
            &ctx.endpoints.authority_url,
            &whose,
            Some(guard),
            tenant_id,
        )
        .await
    }))
    .await
    .map(|_| ())
}

/// Ask before changing the tenant: `--yes`, or "yes" typed on a terminal. Without a terminal
/// and without `--yes` it refuses (exit 1) rather than wait.
pub(crate) fn confirm(yes: bool, question: &str, printer: &Printer) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::failure(
            "refusing to change the tenant without confirmation: stdin is not a terminal",
        )
        .with_help("pass --yes to confirm"));
    }
    printer.status(&format!("{question} Only 'yes' will be accepted:"));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Which steps [`execute`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    Apply,
    Destroy,
}

impl Steps {
    fn verb(self) -> &'static str {
        match self {
            Steps::Apply => "apply",
            Steps::Destroy => "destroy",
        }
    }
}

/// What executing a plan ended as.
pub(crate) struct Executed {
    /// Per step: done, failed with Graph's error, or not attempted.
    pub report: Report,
    /// Stopped by Ctrl-C before it finished.
    pub interrupted: bool,
}

/// Execute a plan that has changes: ask `question` (unless `yes`), run `prepare` (what must
/// be on disk before the tenant changes), then the steps, each printed as it ends, with
/// progress; Ctrl-C stops them and the report is made from the steps that ended. `None`: the
/// plan had nothing to do.
pub(crate) async fn execute(
    ctx: &Context,
    graph: &GraphClient,
    plan: &Plan,
    steps: Steps,
    yes: bool,
    question: &str,
    prepare: impl FnOnce() -> Result<()>,
) -> Result<Option<Executed>> {
    if !plan.has_changes() {
        return Ok(None);
    }
    let printer = &ctx.printer;
    if !confirm(yes, question, printer)? {
        return Err(Error::failure(format!(
            "{} cancelled: nothing was changed",
            steps.verb()
        )));
    }
    printer.text("\n");
    prepare()?;
    let live = Live::new(printer, plan.apps.len());
    let run = async {
        match steps {
            Steps::Apply => crate::apply::apply(graph, plan, &live).await,
            Steps::Destroy => crate::apply::destroy(graph, plan, &live).await,
        }
    };
    let finished = tokio::select! {
        r = run => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    live.finish();
    Ok(Some(match finished {
        Some(report) => Executed {
            report,
            interrupted: false,
        },
        None => Executed {
            report: Report::from_ended(plan, &live.ended()),
            interrupted: true,
        },
    }))
}

/// The error for a run stopped by Ctrl-C (exit 130).
pub(crate) fn interrupted(verb: &str) -> Error {
    Error::new(Class::Interrupted, format!("interrupted: {verb} stopped before it finished"))
        .with_help(format!(
            "the changes listed above were made (a request in flight when it stopped may have been applied too); run `provision {verb}` again to finish"
        ))
}
