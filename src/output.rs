//! The one place that prints. stdout carries results (plans, reports, manifests, tokens);
//! stderr carries status, progress, warnings and `-v` request logs. A closed pipe on stdout
//! (`provision plan | head`) is not an error.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Human text or one JSON document on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// A Markdown table (`provision audit` only)
    Markdown,
}

#[derive(Debug)]
pub struct Printer {
    pub format: Format,
    pub verbose: u8,
    pub color: bool,
    stdout_closed: AtomicBool,
}

impl Printer {
    pub fn new(format: Format, verbose: u8, no_color: bool) -> Self {
        let color = !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
        Printer {
            format,
            verbose,
            color,
            stdout_closed: AtomicBool::new(false),
        }
    }

    /// A printer for tests and library use: text, quiet, no color.
    pub fn plain() -> Self {
        Printer {
            format: Format::Text,
            verbose: 0,
            color: false,
            stdout_closed: AtomicBool::new(false),
        }
    }

    /// Write a result to stdout (no newline added). Text output shows tenant-supplied strings
    /// (display names, Graph's messages), so hidden control characters are spelled out there;
    /// JSON output is escaped by the serializer.
    pub fn out(&self, text: &str) {
        if self.stdout_closed.load(Ordering::Relaxed) {
            return;
        }
        let text = if self.is_json() {
            Cow::Borrowed(text)
        } else {
            visible(text)
        };
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush())
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.stdout_closed.store(true, Ordering::Relaxed);
        }
    }

    /// Write a result line to stdout.
    pub fn outln(&self, text: &str) {
        self.out(text);
        self.out("\n");
    }

    /// A status line on stderr (what is happening).
    pub fn status(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// A warning on stderr.
    pub fn warn(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
    }

    /// A `-v` line on stderr (requests, retries). Never pass secrets here.
    pub fn verbose(&self, text: &str) {
        if self.verbose > 0 {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Whether progress (spinners for waits) may be drawn: stderr is a terminal.
    pub fn progress_enabled(&self) -> bool {
        std::io::stderr().is_terminal()
    }
}

/// Whether a character acts on a terminal instead of showing: C0 controls other than tab and
/// line feed, DEL, C1 controls, and the bidirectional overrides and isolates that reorder text
/// (CVE-2021-42574, "trojan source").
pub fn is_hidden_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`is_hidden_control`] character written as `\u{…}`. User values (a
/// display name from a manifest, Graph's error messages) reach errors and warnings; an escape
/// sequence in one must show, not repaint the terminal.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_controls_are_spelled_out() {
        assert_eq!(visible("plain `name`\n\tindented"), "plain `name`\n\tindented");
        assert_eq!(visible("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(
            visible("x\u{7}\u{7f}\u{85}\u{202e}\r"),
            "x\\u{7}\\u{7f}\\u{85}\\u{202e}\\u{d}"
        );
    }
}
