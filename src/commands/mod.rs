//! One thin file per subcommand: each fills its options from the parsed arguments and calls
//! one operation. `run` dispatches and returns the process exit code.

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Printer;

mod completions;
mod emulator;

/// Run the parsed command line; the returned number is the exit code.
pub async fn run(cli: Cli) -> Result<i32> {
    let printer = Printer::new(
        cli.global.format.unwrap_or_default(),
        cli.global.verbose,
        cli.global.no_color,
    );
    match cli.command {
        Command::Completions(args) => completions::run(&args, &printer),
        Command::Emulator(args) => emulator::run(&args, &printer).await,
    }
}
