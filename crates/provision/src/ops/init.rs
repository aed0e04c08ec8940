//! `init`: write a starter manifest, never over an existing file unless `force`, and say what
//! to run next.

use std::io::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::output::Printer;

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

/// What `provision init` was asked.
pub(crate) struct Options<'a> {
    pub path: &'a Path,
    /// The template's name and the manifest it writes.
    pub template: (String, &'static str),
    /// Overwrite an existing file.
    pub force: bool,
}

/// Write the starter manifest and print what to run next.
pub(crate) fn run(args: &Options<'_>, printer: &Printer) -> Result<i32> {
    let path = args.path;
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
    let (name, text) = (&args.template.0, args.template.1);
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
