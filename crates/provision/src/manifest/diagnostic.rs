//! Manifest diagnostics: what is wrong, where (a byte range of the manifest text), and how to
//! fix it; rendered like rustc and cargo do (`file:line:col`, the offending line, a caret) with
//! annotate-snippets. Pure: no I/O.

use std::fmt::Write as _;
use std::ops::Range;

use annotate_snippets::{Level, Message, Renderer, Snippet};
use serde::Serialize;

use crate::model::Location;
use crate::output::{is_hidden_control, visible};

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
        // Control characters and bidirectional overrides would act on the terminal: each is
        // shown as a visible character of the same UTF-8 length, so offsets hold too.
        let shown = same_width_visible(source);
        let source = shown.as_str();
        let lines = Lines::new(source);
        let mut out = String::new();
        for (i, d) in self.items.iter().take(MAX_RENDERED).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let level = match d.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
            };
            let title = visible(&d.message);
            let help = d.help.as_deref().map(visible);
            let label = d.label.as_deref().map(visible);
            if source.trim().is_empty() {
                // No line to show: the title, where, and the help.
                let mut message: Message<'_> = level.title(&title);
                if let Some(help) = &help {
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
            // Only the lines the spans touch go to annotate-snippets, and underlines are capped:
            // it walks the whole source and draws the whole span for every diagnostic, so a
            // 16 MB string or 10 000 problems on one long line took minutes and gigabytes
            // (found by the reliability suite, crates/provision/tests/reliability/hostile.rs).
            let primary_span = mark(source, &d.span);
            let related_span = d
                .related
                .as_ref()
                .map(|(span, label)| (mark(source, span), visible(label)));
            let near = related_span
                .as_ref()
                .is_some_and(|(r, _)| lines.near(source, &primary_span, r));
            let (excerpt, at) = lines.excerpt(
                source,
                if near {
                    related_span.as_ref().map_or(primary_span.clone(), |(r, _)| {
                        primary_span.start.min(r.start)..primary_span.end.max(r.end)
                    })
                } else {
                    primary_span.clone()
                },
            );
            let mut primary = level.span(shift(&primary_span, excerpt.start));
            if let Some(label) = &label {
                primary = primary.label(label);
            }
            let mut snippet = Snippet::source(&source[excerpt.clone()])
                .line_start(at)
                .origin(&self.origin)
                .fold(true)
                .annotation(primary);
            // A secondary place: Warning level draws it with `-` and, unlike Info, without an
            // `info:` prefix (annotate-snippets 0.11 prefixes only the other levels).
            let mut far = None;
            if let Some((span, label)) = &related_span {
                if near {
                    snippet =
                        snippet.annotation(Level::Warning.span(shift(span, excerpt.start)).label(label));
                } else {
                    let (excerpt, at) = lines.excerpt(source, span.clone());
                    far = Some(
                        Snippet::source(&source[excerpt.clone()])
                            .line_start(at)
                            .origin(&self.origin)
                            .fold(true)
                            .annotation(Level::Warning.span(shift(span, excerpt.start)).label(label)),
                    );
                }
            }
            let mut message: Message<'_> = level.title(&title).snippet(snippet);
            if let Some(far) = far {
                message = message.snippet(far);
            }
            if let Some(help) = &help {
                message = message.footer(Level::Help.title(help));
            }
            let _ = writeln!(out, "{}", renderer.render(message));
        }
        if self.items.len() > MAX_RENDERED {
            let _ = writeln!(
                out,
                "\nnote: {} more problems are not shown; fix these first",
                self.items.len() - MAX_RENDERED
            );
        }
        out
    }
}

/// `source` with tabs as spaces and every hidden control (`output::is_hidden_control`) as a
/// visible character of the same UTF-8 length (`?`, `¿`, `�`); a `\r` of a `\r\n` stays.
fn same_width_visible(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(' '),
            '\r' if chars.peek() == Some(&'\n') => out.push(c),
            c if is_hidden_control(c) => out.push(match c.len_utf8() {
                1 => '?',
                2 => '¿',
                _ => '\u{fffd}',
            }),
            c => out.push(c),
        }
    }
    out
}

/// Diagnostics rendered in full; past this a manifest is not worth reading one by one, and the
/// rest are counted.
pub const MAX_RENDERED: usize = 100;

/// The longest underline drawn, in bytes: a longer span (a 16 MB string) is marked by its
/// start; the message says how long it is.
const MAX_MARK: usize = 120;

/// A primary and a related span share one snippet when they are at most this many lines apart
/// (or on one line at most [`NEAR_COLUMNS`] bytes apart); otherwise each gets its own.
const NEAR_LINES: usize = 12;
const NEAR_COLUMNS: usize = 160;
/// A line this short is shown whole whatever it holds.
const SHORT_LINE: usize = 400;

/// The span to draw: inside the source, on character boundaries, at most [`MAX_MARK`] long.
fn mark(source: &str, span: &Range<usize>) -> Range<usize> {
    let span = clamp_span(source, span);
    if span.end - span.start <= MAX_MARK {
        return span;
    }
    let mut end = span.start + MAX_MARK;
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    span.start..end
}

fn shift(span: &Range<usize>, by: usize) -> Range<usize> {
    span.start - by..span.end - by
}

/// Where the lines of a source start, to cut excerpts without scanning the source again.
struct Lines {
    /// Byte offset of the first character of each line.
    starts: Vec<usize>,
}

impl Lines {
    fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// 0-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|s| *s <= offset).saturating_sub(1)
    }

    fn near(&self, source: &str, a: &Range<usize>, b: &Range<usize>) -> bool {
        let (la, lb) = (self.line_of(a.start), self.line_of(b.start));
        if la == lb {
            // annotate-snippets trims a long line around its annotations: two far apart on a
            // 170 kB line would print it whole.
            let (lo, hi) = (a.start.min(b.start), a.end.max(b.end));
            return hi - lo <= NEAR_COLUMNS || self.line_len(source, la) <= SHORT_LINE;
        }
        la.abs_diff(lb) <= NEAR_LINES
    }

    fn line_end(&self, source: &str, line: usize) -> usize {
        self.starts.get(line + 1).map_or(source.len(), |s| s - 1)
    }

    fn line_len(&self, source: &str, line: usize) -> usize {
        self.line_end(source, line) - self.starts[line]
    }

    /// The whole lines `span` touches (byte range) and the 1-based number of the first.
    fn excerpt(&self, source: &str, span: Range<usize>) -> (Range<usize>, usize) {
        let first = self.line_of(span.start);
        let last = self.line_of(span.end.max(span.start));
        let start = self.starts[first];
        // Keep a line break that a caret at the end of a line stands on.
        let end = self
            .starts
            .get(last + 1)
            .copied()
            .unwrap_or(source.len())
            .max(span.end)
            .min(source.len());
        (start..end, first + 1)
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

    #[test]
    fn huge_spans_and_many_problems_render_in_bounded_size() {
        // A 4 MB value: the underline is capped, the line trimmed around it.
        let src = format!("notes = \"{}\"\n", "x".repeat(4 << 20));
        let mut d = Diagnostics::new("m.toml");
        d.push(Diagnostic::error("`notes` is too long", 1032..src.len() - 2).label("past 1024 characters"));
        let out = d.render(&src);
        assert!(out.len() < 2_000, "{} bytes", out.len());
        assert!(out.contains("--> m.toml:1:1033"), "{out}");

        // 5 000 duplicates on one long line, each pointing back at the first: every block stays
        // short (the related place gets its own snippet), and past 100 they are counted.
        let items = vec!["\"A\""; 5_000].join(", ");
        let src = format!("delegated = [{items}]\n");
        let mut d = Diagnostics::new("m.toml");
        for i in 1..5_000 {
            let at = 13 + i * 5;
            d.push(Diagnostic::error("duplicate `A`", at..at + 3).related(13..16, "first listed here"));
        }
        let out = d.render(&src);
        assert!(out.len() < 100 * 1_200, "{} bytes", out.len());
        assert!(
            out.contains("note: 4899 more problems are not shown"),
            "{}",
            &out[out.len() - 200..]
        );
        // Near the first one, both places share a snippet as before.
        assert!(
            out.starts_with("error: duplicate `A`\n --> m.toml:1:19\n"),
            "{out}"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let src = "name = \"a\u{1b}[31mb\u{202e}c\"\r\nnext = 1\r\n";
        let mut d = Diagnostics::new("m.toml");
        d.push(
            Diagnostic::error("`name` `a\u{1b}[31mb` is odd", 8..9)
                .label("\u{7}here")
                .help("remove \u{202e}"),
        );
        let out = d.render(src);
        assert!(!out.chars().any(|c| is_hidden_control(c) && c != '\r'), "{out:?}");
        assert!(out.contains("a\\u{1b}[31mb"), "{out}");
        assert!(out.contains("\"a?[31mb\u{fffd}c\""), "{out}");
        // The caret still stands under `a`.
        let line = out.lines().find(|l| l.contains("name =")).unwrap();
        let caret = out.lines().find(|l| l.contains('^')).unwrap();
        assert_eq!(line.find("\"a").map(|i| i + 1), caret.find('^'), "{out}");
    }
}
