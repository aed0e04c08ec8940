//! One thin file per subcommand: each fills its options from the parsed arguments and calls
//! one operation. `run` dispatches and returns the process exit code.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Printer;

pub(crate) mod apply;
mod audit;
mod completions;
pub(crate) mod destroy;
mod doctor;
#[cfg(feature = "emulator")]
mod emulator;
mod import;
mod init;
mod live;
mod logout;
pub(crate) mod plan;
mod token;
mod validate;

/// Run the parsed command line; the returned number is the exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let printer = Printer::new(
        cli.global.format.unwrap_or_default(),
        cli.global.verbose,
        cli.global.no_color,
    );
    if printer.format == crate::output::Format::Markdown && !matches!(cli.command, Command::Audit(_)) {
        return Err(
            crate::error::Error::failure("`--format markdown` is only for `provision audit`")
                .with_help("use `--format text` or `--format json`"),
        );
    }
    if let Some(path) = &cli.global.trace {
        crate::trace::open(path)?;
    }
    match cli.command {
        Command::Validate(args) => validate::run(&args, &printer),
        Command::Init(args) => init::run(&args, &printer),
        Command::Completions(args) => completions::run(&args, &printer),
        Command::Plan(args) => plan::run(&cli.global, &args).await,
        Command::Apply(args) => apply::run(&cli.global, &args).await,
        Command::Destroy(args) => destroy::run(&cli.global, &args).await,
        Command::Import(args) => import::run(&cli.global, &args).await,
        Command::Audit(args) => audit::run(&cli.global, &args).await,
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(&args, &printer).await,
        Command::Token(args) => token::run(&cli.global, &args).await,
        Command::Logout => logout::run(&cli.global, &printer),
        Command::Doctor(args) => doctor::run(&cli.global, &args).await,
    }
}
