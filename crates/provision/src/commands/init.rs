//! `provision init [--template NAME] [PATH]`: writes a starter manifest (default
//! `provision.toml`), never over an existing file unless `--force`, and says what to run next.

use std::io::Write as _;
use std::path::Path;

use clap::ValueEnum;

use crate::cli::{InitArgs, Template};
use crate::error::{Error, Result};
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

/// The path as a shell word, quoted when it has to be, for the "next" line.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+=:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn run(args: &InitArgs, printer: &Printer) -> Result<i32> {
    let path = args.path.as_path();
    let cannot_write =
        |e: std::io::Error| Error::failure(format!("cannot write `{}`", path.display())).with_source(e);
    if path.is_dir() {
        return Err(
            Error::failure(format!("`{}` is a folder", path.display())).with_help(format!(
                "name the file to write, like `{}`",
                path.join("provision.toml").display()
            )),
        );
    }
    let exists = || {
        Error::failure(format!("`{}` already exists", path.display()))
            .with_help("pass `--force` to overwrite it, or name another file: `provision init other.toml`")
    };
    if path.exists() && !args.force {
        return Err(exists());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(cannot_write)?;
    let text = template_text(args.template);
    if args.force {
        // Replace atomically: a crash leaves the old file or the new one, never half of one.
        crate::fsutil::write_atomic(path, text.as_bytes(), crate::fsutil::Access::Shared)
            .map_err(cannot_write)?;
    } else {
        // `create_new` so that a file created since the check above is not overwritten either.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    exists()
                } else {
                    cannot_write(e)
                }
            })?;
        file.write_all(text.as_bytes()).map_err(cannot_write)?;
    }

    let name = template_name(args.template);
    let word = shell_word(path);
    let next = format!("provision validate {word}");
    printer.status(&format!("wrote `{}` (template `{name}`)", path.display()));
    printer.status(&format!(
        "next: set `unique_name`, `display_name` and `tenant` in it, then run `{next}` and `provision plan {word}`"
    ));
    let doc = serde_json::json!({
        "format_version": crate::render::FORMAT_VERSION,
        "path": path,
        "template": name,
        "next": [next, format!("provision plan {word}")],
    });
    // The text view is the status lines above.
    printer.result(&doc, String::new)?;
    Ok(0)
}
