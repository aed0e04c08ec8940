//! One thin file per subcommand: each fills its options from the parsed arguments and calls
//! one operation (`crate::ops` for the commands that observe, plan and execute; `doctor`,
//! `audit`, `validate`, `init` and `emulator` call theirs). `run` dispatches and returns the
//! process exit code.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Printer;

mod apply;
mod audit;
mod completions;
mod destroy;
mod doctor;
#[cfg(feature = "emulator")]
mod emulator;
mod import;
mod init;
mod logout;
pub(crate) mod plan;
mod token;
mod validate;

/// Run the parsed command line; the returned number is the exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let printer = Printer::new(
        cli.view.format.unwrap_or_default(),
        cli.view.verbose,
        cli.view.no_color,
    );
    // The Graph flags of the command, if it talks to Graph.
    let graph = match &cli.command {
        Command::Plan(a) => Some(&a.emulator.graph),
        Command::Apply(a) => Some(&a.emulator.graph),
        Command::Destroy(a) => Some(&a.emulator.graph),
        Command::Import(a) => Some(&a.emulator.graph),
        Command::Audit(a) => Some(&a.emulator.graph),
        Command::Token(a) => Some(&a.emulator.graph),
        Command::Doctor(a) => Some(&a.emulator.graph),
        _ => None,
    };
    let mut global = crate::cli::GlobalArgs::new(&cli.view, graph);
    if let Command::Logout(a) = &cli.command {
        global.tenant = a.tenant.clone();
    }
    if printer.format == crate::output::Format::Markdown && !matches!(cli.command, Command::Audit(_)) {
        return Err(
            crate::error::Error::failure("`--format markdown` is only for `provision audit`")
                .with_help("use `--format text` or `--format json`"),
        );
    }
    if let Some(path) = &global.trace {
        crate::trace::open(path)?;
    }
    match cli.command {
        Command::Validate(args) => validate::run(&args, &printer),
        Command::Init(args) => init::run(&args, &printer),
        Command::Completions(args) => completions::run(&args, &printer),
        Command::Plan(args) => plan::run(&global, &args).await,
        Command::Apply(args) => apply::run(&global, &args).await,
        Command::Destroy(args) => destroy::run(&global, &args).await,
        Command::Import(args) => import::run(&global, &args).await,
        Command::Audit(args) => audit::run(&global, &args).await,
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(&args, &printer).await,
        Command::Token(args) => token::run(&global, &args).await,
        Command::Logout(_) => logout::run(&global, &printer),
        Command::Doctor(args) => doctor::run(&global, &args).await,
    }
}
