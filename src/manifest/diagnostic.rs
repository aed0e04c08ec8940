//! Manifest diagnostics: what is wrong, where (a byte range of the manifest text), and how to
//! fix it; rendered like rustc and cargo do (`file:line:col`, the offending line, a caret) with
//! annotate-snippets. Pure: no I/O.

use std::fmt::Write as _;
use std::ops::Range;

use annotate_snippets::{Level, Message, Renderer, Snippet};
use serde::Serialize;

use crate::model::Location;

/// How bad a diagnostic is. Errors make the manifest invalid (exit 3); warnings are printed and
/// the manifest is still used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Lowercase, user values in backticks, no trailing period.
    pub message: String,
    /// Byte range of the offending text in the manifest.
    pub span: Range<usize>,
    /// Text shown under the caret.
    pub label: Option<String>,
    /// A second place worth showing (for a duplicate: where the first one is).
    pub related: Option<(Range<usize>, String)>,
    /// How to fix it: printed as a `help:` line.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            related: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related = Some((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every diagnostic of one manifest, with the name the user gave the file (for `file:line:col`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    origin: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(origin: impl Into<String>) -> Self {
        Diagnostics {
            origin: origin.into(),
            items: Vec::new(),
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// All diagnostics, errors and warnings.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Keep only the warnings (what is left to show once the manifest is accepted).
    pub fn warnings(&self) -> Diagnostics {
        Diagnostics {
            origin: self.origin.clone(),
            items: self.items.iter().filter(|d| !d.is_error()).cloned().collect(),
        }
    }

    /// Order by position in the file, so the report reads top to bottom; the sort is stable, so
    /// two problems at one place keep the order in which the checks found them.
    pub(crate) fn sort(&mut self) {
        self.items.sort_by_key(|d| (d.span.start, d.span.end));
    }

    /// The rendered report without colors, one block per diagnostic separated by blank lines.
    pub fn render(&self, source: &str) -> String {
        self.render_with(source, false)
    }

    /// The rendered report, with terminal colors when `color` is set.
    pub fn render_with(&self, source: &str, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        // annotate-snippets shows a tab as several columns but places carets by character, so
        // carets after a tab land too far left; a space per tab keeps every byte offset valid.
        let shown = source.replace('\t', " ");
        let source = shown.as_str();
        let mut out = String::new();
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let level = match d.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
            };
            if source.trim().is_empty() {
                // No line to show: the title, where, and the help.
                let mut message: Message<'_> = level.title(&d.message);
                if let Some(help) = &d.help {
                    message = message.footer(Level::Help.title(help));
                }
                let rendered = renderer.render(message).to_string();
                let (title, rest) = rendered.split_once('\n').unwrap_or((&rendered, ""));
                let _ = writeln!(out, "{title}\n --> {}", self.origin);
                for line in rest.lines() {
                    let _ = writeln!(out, " {line}");
                }
                continue;
            }
            let span = clamp_span(source, &d.span);
            let mut primary = level.span(span);
            if let Some(label) = &d.label {
                primary = primary.label(label);
            }
            let mut snippet = Snippet::source(source)
                .line_start(1)
                .origin(&self.origin)
                .fold(true)
                .annotation(primary);
            if let Some((span, label)) = &d.related {
                // A secondary place: Warning level draws it with `-` and, unlike Info, without
                // an `info:` prefix (annotate-snippets 0.11 prefixes only the other levels).
                snippet = snippet.annotation(Level::Warning.span(clamp_span(source, span)).label(label));
            }
            let mut message: Message<'_> = level.title(&d.message).snippet(snippet);
            if let Some(help) = &d.help {
                message = message.footer(Level::Help.title(help));
            }
            let _ = writeln!(out, "{}", renderer.render(message));
        }
        out
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// A span that lies inside `source`, on character boundaries, and covers at least one character
/// when the text has one: annotate-snippets draws nothing for an empty range in the middle of a
/// line and has panicked on ranges that split a UTF-8 character.
pub(crate) fn clamp_span(source: &str, span: &Range<usize>) -> Range<usize> {
    let floor = |mut i: usize| {
        i = i.min(source.len());
        while !source.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(span.start);
    let mut end = floor(span.end.max(start));
    if end == start {
        // Widen to the next character, unless it is a line break (then the caret sits at the end
        // of the line, which annotate-snippets draws as one column past the text).
        if let Some(c) = source[start..].chars().next()
            && c != '\n'
            && c != '\r'
        {
            end = start + c.len_utf8();
        }
    }
    start..end
}

/// 1-based line and column (in characters) of a byte offset, for `model::Location`.
pub fn location(source: &str, offset: usize) -> Location {
    let offset = clamp_span(source, &(offset..offset)).start;
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(location(src, 0), Location { line: 1, column: 1 });
        assert_eq!(location(src, 6), Location { line: 2, column: 1 });
        // `=` after a two-byte character is the fourth character of line 2.
        let eq = src.find(" = \"").unwrap() + 1;
        assert_eq!(location(src, eq), Location { line: 2, column: 4 });
        assert_eq!(location(src, 999), Location { line: 3, column: 1 });
    }

    #[test]
    fn clamp_span_stays_on_char_boundaries() {
        let src = "é\n";
        assert_eq!(clamp_span(src, &(1..1)), 0..2);
        assert_eq!(clamp_span(src, &(2..2)), 2..2);
        assert_eq!(clamp_span(src, &(5..9)), 3..3);
        assert_eq!(clamp_span("", &(0..0)), 0..0);
    }

    #[test]
    fn render_aligns_carets_after_tabs_and_handles_empty_text() {
        let src = "\tnotes = 5\n";
        let mut d = Diagnostics::new("m.toml");
        d.push(Diagnostic::error("`notes` must be a string", 9..10).label("an integer"));
        let out = d.render(src);
        let line = out.lines().find(|l| l.contains("notes = 5")).unwrap();
        let caret = out.lines().find(|l| l.contains('^')).unwrap();
        assert_eq!(line.find('5'), caret.find('^'), "{out}");

        let mut d = Diagnostics::new("empty.toml");
        d.push(Diagnostic::error("the manifest declares no app", 0..0).help("add an `[app]` table"));
        assert_eq!(
            d.render(""),
            "error: the manifest declares no app\n --> empty.toml\n  = help: add an `[app]` table\n"
        );
    }

    #[test]
    fn render_shows_origin_line_column_and_help() {
        let src = "tenant = 5\n";
        let mut d = Diagnostics::new("m.toml");
        d.push(
            Diagnostic::error("`tenant` must be a string", 9..10)
                .label("an integer")
                .help("write `tenant = \"contoso.onmicrosoft.com\"`"),
        );
        let out = d.render(src);
        assert!(out.contains("error: `tenant` must be a string"), "{out}");
        assert!(out.contains("--> m.toml:1:10"), "{out}");
        assert!(out.contains("^ an integer"), "{out}");
        assert!(out.contains("help: write"), "{out}");
    }
}
