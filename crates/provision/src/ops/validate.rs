//! `validate`: offline checks of every named manifest (observe: read the files; plan: check
//! them; nothing to execute). Each file's
//! diagnostics are printed (all files are checked, also after a bad one); exit 0 when all are
//! valid, 3 when one is invalid, 1 when one could not be read (the check is then incomplete).

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Class, Error, Result};
use crate::manifest::{self, Diagnostics, Severity, diagnostic::location};
use crate::output::Printer;

/// `--format json`: one document on stdout (schema below, `format_version` first).
#[derive(Serialize)]
struct Report {
    format_version: &'static str,
    valid: bool,
    files: Vec<FileReport>,
}

#[derive(Serialize)]
struct FileReport {
    path: PathBuf,
    /// Readable and free of errors (warnings allowed).
    valid: bool,
    /// The `unique_name` of each app of a valid manifest.
    apps: Vec<String>,
    diagnostics: Vec<JsonDiagnostic>,
    /// Why the file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    severity: Severity,
    message: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
}

fn json_diagnostics(diags: &Diagnostics, text: &str) -> Vec<JsonDiagnostic> {
    diags
        .iter()
        .map(|d| {
            let start = location(text, d.span.start);
            let end = location(text, d.span.end);
            JsonDiagnostic {
                severity: d.severity,
                message: d.message.clone(),
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                label: d.label.clone(),
                help: d.help.clone(),
            }
        })
        .collect()
}

/// Check every manifest of `manifests`; exit 0 when all are valid.
pub(crate) fn run(manifests: &[PathBuf], printer: &Printer) -> Result<i32> {
    let mut files = Vec::new();
    let (mut invalid, mut unreadable, mut problems) = (0usize, 0usize, 0usize);
    for path in manifests {
        let shown = path.display().to_string();
        let (text, diags, apps) = match manifest::read(path) {
            Err(e) => {
                unreadable += 1;
                printer.text_status(e.render().trim_end());
                files.push(FileReport {
                    path: path.clone(),
                    valid: false,
                    apps: Vec::new(),
                    diagnostics: Vec::new(),
                    error: Some(match &e.source {
                        Some(cause) => format!("{}: {cause}", e.message),
                        None => e.message.clone(),
                    }),
                });
                continue;
            }
            Ok(Err((text, diags))) => (text, diags, None),
            Ok(Ok(text)) => {
                let mut checked = manifest::check(&shown, &text);
                let reads: Vec<&std::path::Path> = manifests.iter().map(|p| p.as_path()).collect();
                if let Some(d) = checked
                    .desired
                    .as_ref()
                    .and_then(|d| manifest::output_overwrites(path, d, &reads))
                {
                    checked.diagnostics.push(d);
                    checked.desired = None;
                }
                let apps = checked
                    .desired
                    .map(|d| d.apps.into_iter().map(|a| a.unique_name).collect::<Vec<_>>());
                (text, checked.diagnostics, apps)
            }
        };
        let valid = apps.is_some() && !diags.has_errors();
        if !valid {
            invalid += 1;
            problems += diags.error_count();
        }
        let ci = crate::ci::annotations_if_ci(&diags, &text);
        if !ci.is_empty() {
            printer.status(ci.trim_end());
        }
        if !diags.is_empty() {
            printer.text_status(diags.render_with(&text, printer.color).trim_end());
            printer.text_status("");
        }
        if let Some(apps) = apps.as_ref().filter(|_| valid) {
            let warnings = match diags.warning_count() {
                0 => String::new(),
                1 => ", 1 warning".to_owned(),
                n => format!(", {n} warnings"),
            };
            printer.text_status(&format!(
                "ok: {shown} ({} app{}: {}{warnings})",
                apps.len(),
                if apps.len() == 1 { "" } else { "s" },
                apps.join(", ")
            ));
        }
        files.push(FileReport {
            path: path.clone(),
            valid,
            diagnostics: json_diagnostics(&diags, &text),
            apps: apps.unwrap_or_default(),
            error: None,
        });
    }

    let total = manifests.len();
    let report = Report {
        format_version: crate::render::FORMAT_VERSION,
        valid: invalid == 0 && unreadable == 0,
        files,
    };
    // The text view is the status lines above.
    printer.result(&report, String::new)?;
    if unreadable > 0 {
        return Err(Error::failure(if total == 1 {
            "the manifest could not be read".to_owned()
        } else {
            format!("{unreadable} of {total} manifests could not be read")
        }));
    }
    if invalid > 0 {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let message = if total == 1 {
            format!("`{}` has {}", manifests[0].display(), plural(problems, "problem"))
        } else {
            format!(
                "{invalid} of {total} manifests are invalid ({})",
                plural(problems, "problem")
            )
        };
        return Err(Error::new(Class::Manifest, message));
    }
    Ok(0)
}
