//! GitHub Actions, read natively when `GITHUB_ACTIONS=true`: manifest diagnostics as
//! `::error file=…,line=…,col=…::` workflow commands, a Markdown summary appended to
//! `$GITHUB_STEP_SUMMARY`, and apply's IDs appended to `$GITHUB_OUTPUT`
//! (docs.github.com/actions/reference/workflow-commands-for-github-actions). The formatting is
//! pure; only [`append_step_summary`] and [`write_outputs`] touch files.

use std::io::Write as _;
use std::path::PathBuf;

use crate::manifest::diagnostic::location;
use crate::manifest::{Diagnostics, Severity};
use crate::output::Printer;

/// Whether this run is a GitHub Actions step (`GITHUB_ACTIONS` is `true` there).
pub fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// A workflow command's message: `%`, CR and LF escaped as the runner reads them
/// (`@actions/core`'s `escapeData`).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,` (`escapeProperty`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=…,line=…,col=…::message` (or `::warning`) line per diagnostic, the message
/// followed by its help. `text` is the manifest the spans point into.
pub fn annotations(diags: &Diagnostics, text: &str) -> String {
    let mut out = String::new();
    for d in diags.iter() {
        let at = location(text, d.span.start);
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{kind} file={},line={},col={},title=provision::{}\n",
            escape_property(diags.origin()),
            at.line,
            at.column,
            escape_data(&message)
        ));
    }
    out
}

/// `annotations` when running under GitHub Actions, else nothing.
pub fn annotations_if_ci(diags: &Diagnostics, text: &str) -> String {
    if github_actions() {
        annotations(diags, text)
    } else {
        String::new()
    }
}

fn ci_file(var: &str) -> Option<PathBuf> {
    if !github_actions() {
        return None;
    }
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn append(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

/// Append a Markdown summary to `$GITHUB_STEP_SUMMARY` under GitHub Actions. A file that cannot
/// be written is a warning: the command's own result stands.
pub fn append_step_summary(printer: &Printer, markdown: &str) {
    let Some(path) = ci_file("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let mut text = markdown.trim_end().to_owned();
    text.push_str("\n\n");
    if let Err(e) = append(&path, &text) {
        printer.warn(&format!(
            "cannot append the job summary to `{}`: {e}",
            path.display()
        ));
    }
}

/// A Markdown summary of a plan (or apply) as its text shows it.
pub fn text_summary(title: &str, text: &str) -> String {
    format!(
        "### {title}\n\n```text\n{}\n```\n",
        text.trim_end().replace("```", "'''")
    )
}

/// The output name of an app's value: its `unique_name` with `.` as `_`, then `_` and `what`
/// (output names are letters, digits, `-` and `_`).
pub fn output_key(unique_name: &str, what: &str) -> String {
    format!("{}_{what}", unique_name.replace('.', "_"))
}

/// `key=value` lines for `$GITHUB_OUTPUT`: per app `<unique_name>_client_id` and
/// `<unique_name>_tenant_id`, plus `tenant_id`, and `client_id` when there is one app.
pub fn output_lines<'a>(apps: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    let apps: Vec<_> = apps.into_iter().collect();
    let mut out = String::new();
    for (name, tenant, client) in &apps {
        out.push_str(&format!("{}={client}\n", output_key(name, "client_id")));
        out.push_str(&format!("{}={tenant}\n", output_key(name, "tenant_id")));
    }
    if let Some((_, tenant, client)) = apps.first() {
        out.push_str(&format!("tenant_id={tenant}\n"));
        if apps.len() == 1 {
            out.push_str(&format!("client_id={client}\n"));
        }
    }
    out
}

/// Append apply's IDs to `$GITHUB_OUTPUT` under GitHub Actions. Values never hold a line break
/// (GUIDs), so the one-line form is used.
pub fn write_outputs<'a>(
    printer: &Printer,
    apps: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> crate::Result<()> {
    let Some(path) = ci_file("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let lines = output_lines(apps);
    if lines.is_empty() {
        return Ok(());
    }
    append(&path, &lines).map_err(|e| {
        crate::Error::failure(format!("cannot write the step outputs to `{}`", path.display())).with_source(e)
    })?;
    printer.verbose(&format!("wrote step outputs to {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_and_point_at_the_line() {
        let text = "[app]\nunique_name = \"x\"\n";
        let mut diags = Diagnostics::new("dir/a,b:c.toml");
        diags.push(crate::manifest::Diagnostic::error("bad 100% value", 6..17).help("write it\nlike this"));
        assert_eq!(
            annotations(&diags, text),
            "::error file=dir/a%2Cb%3Ac.toml,line=2,col=1,title=provision::bad 100%25 value%0Ahelp: write it%0Alike this\n"
        );
    }

    #[test]
    fn outputs_per_app_and_for_one() {
        assert_eq!(
            output_lines([("soc.tool", "t1", "c1")]),
            "soc_tool_client_id=c1\nsoc_tool_tenant_id=t1\ntenant_id=t1\nclient_id=c1\n"
        );
        let two = output_lines([("a", "t", "c1"), ("b", "t", "c2")]);
        assert!(two.contains("a_client_id=c1\n") && two.contains("b_client_id=c2\n"));
        assert!(!two.contains("\nclient_id="));
    }
}
