//! `provision validate MANIFEST…`: run [`ops::validate`](crate::ops::validate) over the named
//! manifests; exit 0 when all are valid, 3 when one is invalid, 1 when one could not be read.

use crate::cli::ValidateArgs;
use crate::error::Result;
use crate::output::Printer;

pub fn run(args: &ValidateArgs, printer: &Printer) -> Result<i32> {
    crate::ops::validate::run(&args.manifests, printer)
}
