//! The one place that prints. stdout carries results (plans, reports, manifests, tokens);
//! stderr carries status, progress, warnings and `-v` request logs. A closed pipe on stdout
//! (`provision plan | head`) is not an error.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Human text or one JSON document on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
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

    /// Write a result to stdout (no newline added).
    pub fn out(&self, text: &str) {
        if self.stdout_closed.load(Ordering::Relaxed) {
            return;
        }
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
