//! The one place that prints. stdout carries results (plans, reports, manifests, tokens);
//! stderr carries status, progress, warnings and `-v` request logs. A closed pipe on stdout
//! (`provision plan | head`) is not an error.
//!
//! Progress: on a terminal, a progress bar (indicatif) that other lines are printed above;
//! without one, plain `progress:` lines at a bounded rate (at most one per
//! [`PROGRESS_INTERVAL`], and none during a run's first interval, so fast runs stay quiet).

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The least time between two plain progress lines (stderr not a terminal).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

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
    /// The progress bar being drawn, when stderr is a terminal.
    bar: Mutex<Option<indicatif::ProgressBar>>,
    /// When the printer was made, and when the last plain progress line was printed.
    started: Instant,
    last_progress: Mutex<Option<Instant>>,
}

impl Printer {
    pub fn new(format: Format, verbose: u8, no_color: bool) -> Self {
        let color = !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
        Printer {
            format,
            verbose,
            color,
            stdout_closed: AtomicBool::new(false),
            bar: Mutex::new(None),
            started: Instant::now(),
            last_progress: Mutex::new(None),
        }
    }

    /// A printer for tests and library use: text, quiet, no color.
    pub fn plain() -> Self {
        Printer {
            format: Format::Text,
            verbose: 0,
            color: false,
            stdout_closed: AtomicBool::new(false),
            bar: Mutex::new(None),
            started: Instant::now(),
            last_progress: Mutex::new(None),
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
        self.above_bar(|| {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush())
                && e.kind() == std::io::ErrorKind::BrokenPipe
            {
                self.stdout_closed.store(true, Ordering::Relaxed);
            }
        });
    }

    /// Run `f` with the progress bar (if any) cleared, so that its lines print above the bar.
    fn above_bar<R>(&self, f: impl FnOnce() -> R) -> R {
        let bar = self.bar.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Start a progress bar of `total` items on a terminal; `None` (plain lines) otherwise.
    pub fn start_bar(&self, total: u64, unit: &str) -> Option<indicatif::ProgressBar> {
        if !self.progress_enabled() {
            return None;
        }
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}} of {{len}} {unit} done {{wide_msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar.clone());
        }
        Some(bar)
    }

    /// The progress bar being drawn, if any.
    pub fn bar(&self) -> Option<indicatif::ProgressBar> {
        self.bar.lock().ok().and_then(|b| b.clone())
    }

    /// Remove the progress bar.
    pub fn finish_bar(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }

    /// Progress in words (what is done, what is waited for and why): the bar's message on a
    /// terminal, else a `progress:` line on stderr at a bounded rate. `last` forces the line
    /// out when earlier ones were printed (the final count).
    pub fn progress(&self, text: &str, last: bool) {
        if let Some(bar) = self.bar.lock().ok().and_then(|b| b.clone()) {
            bar.set_message(text.to_owned());
            return;
        }
        self.progress_line(text, |prev, now| match prev {
            None => now.duration_since(self.started) >= PROGRESS_INTERVAL,
            Some(t) => last || now.duration_since(t) >= PROGRESS_INTERVAL,
        });
    }

    /// A wait of `delay` and why: like [`Printer::progress`], but a wait of an interval or more
    /// is said at once, also in a run's first interval (a long `Retry-After` is never silent).
    pub fn progress_wait(&self, text: &str, delay: Duration) {
        if delay < PROGRESS_INTERVAL || self.bar().is_some() {
            return self.progress(text, false);
        }
        self.progress_line(text, |prev, now| {
            prev.is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL)
        });
    }

    /// Print a `progress:` line when `due` (given the last line's time and now) says so.
    fn progress_line(&self, text: &str, due: impl FnOnce(Option<Instant>, Instant) -> bool) {
        let now = Instant::now();
        let Ok(mut prev) = self.last_progress.lock() else {
            return;
        };
        let due = due(*prev, now);
        if due {
            *prev = Some(now);
            let _ = writeln!(std::io::stderr().lock(), "progress: {}", visible(text));
        }
    }

    /// Write a result line to stdout.
    pub fn outln(&self, text: &str) {
        self.out(text);
        self.out("\n");
    }

    /// A status line on stderr (what is happening).
    pub fn status(&self, text: &str) {
        self.above_bar(|| writeln!(std::io::stderr().lock(), "{text}"))
            .ok();
    }

    /// A warning on stderr.
    pub fn warn(&self, text: &str) {
        self.above_bar(|| writeln!(std::io::stderr().lock(), "warning: {text}"))
            .ok();
    }

    /// A `-v` line on stderr (requests, retries). Never pass secrets here.
    pub fn verbose(&self, text: &str) {
        if self.verbose > 0 {
            self.above_bar(|| writeln!(std::io::stderr().lock(), "{text}"))
                .ok();
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Text that belongs to the human view only (the plan before the confirmation, a step's
    /// line as it finishes): under `--format json` the command's one document carries it.
    pub fn text(&self, text: &str) {
        if !self.is_json() {
            self.out(text);
        }
    }

    /// A status line (stderr) of the text view only: under `--format json` the command's
    /// document carries the same facts (validate's diagnostics).
    pub fn text_status(&self, text: &str) {
        if !self.is_json() {
            self.status(text);
        }
    }

    /// A command's result, in the view chosen once for the run: its versioned JSON document,
    /// or the text `text` renders. The one place that decides between the two.
    pub fn result<T: serde::Serialize>(&self, doc: &T, text: impl FnOnce() -> String) -> crate::Result<()> {
        if self.is_json() {
            let json = serde_json::to_string_pretty(doc)
                .map_err(|e| crate::Error::failure("cannot render JSON").with_source(e))?;
            self.outln(&json);
        } else {
            self.out(&text());
        }
        Ok(())
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
