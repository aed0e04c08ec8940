//! `provision completions SHELL`: shell completion scripts from the clap definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Result;
use crate::output::Printer;

pub fn run(args: &CompletionsArgs, printer: &Printer) -> Result<i32> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "provision", &mut buf);
    printer.out(&String::from_utf8_lossy(&buf));
    Ok(0)
}
