//! `provision init [--template NAME] [PATH]`: fill the options (the template's manifest) and run
//! [`ops::init`](crate::ops::init): a starter manifest (default `provision.toml`).

use clap::ValueEnum;

use crate::cli::{InitArgs, Template};
use crate::error::Result;
use crate::ops;
use crate::output::Printer;

/// The manifest each template writes: the documented examples of `manifests/`, which the tests
/// validate.
fn template_text(template: Template) -> &'static str {
    match template {
        Template::ThreatProtection => include_str!("../../../../manifests/threat-protection.toml"),
    }
}

fn template_name(template: Template) -> String {
    template
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

pub fn run(args: &InitArgs, printer: &Printer) -> Result<i32> {
    let opts = ops::init::Options {
        path: &args.path,
        template: (template_name(args.template), template_text(args.template)),
        force: args.force,
    };
    ops::init::run(&opts, printer)
}
