//! The one error type of the command line: a class that decides the exit code, a lowercase
//! message, an optional `help:` line and the cause chain. `main` prints it once.

use std::error::Error as StdError;

use crate::output::visible;
use std::fmt;

/// What kind of failure this is; decides the exit code (SPEC.md "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Anything that went wrong, including command-line usage errors: exit 1.
    Failure,
    /// The manifest is invalid: exit 3.
    Manifest,
    /// Sign-in refused, or Graph answered 401/403: exit 4.
    Auth,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Failure => 1,
            Class::Manifest => 3,
            Class::Auth => 4,
        }
    }
}

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug)]
pub struct Error {
    pub class: Class,
    pub message: String,
    pub help: Option<String>,
    pub source: Option<BoxError>,
    /// Text printed as it is instead of `error: message` (rendered manifest diagnostics).
    pub rendered: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Error {
            class,
            message: message.into(),
            help: None,
            source: None,
            rendered: None,
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Class::Failure, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(Class::Auth, message)
    }
    /// Manifest diagnostics, already rendered with positions and snippets.
    pub fn manifest(rendered: String, count: usize) -> Self {
        let mut e = Self::new(
            Class::Manifest,
            format!(
                "the manifest has {count} problem{}",
                if count == 1 { "" } else { "s" }
            ),
        );
        e.rendered = Some(rendered);
        e
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }
    pub fn exit_code(&self) -> i32 {
        self.class.exit_code()
    }

    /// The text `main` prints on stderr: `error:` + `Caused by:` + `help:`, as cargo does.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(rendered) = &self.rendered {
            out.push_str(rendered);
            if !rendered.ends_with('\n') {
                out.push('\n');
            }
        }
        // Messages carry user values and Graph's text: no raw control character reaches the
        // terminal (`output::visible`).
        out.push_str(&format!("error: {}\n", visible(&self.message)));
        let mut cause: Option<&(dyn StdError + 'static)> = self.source.as_deref().map(|e| e as _);
        let mut first = true;
        while let Some(c) = cause {
            if first {
                out.push_str("\nCaused by:\n");
                first = false;
            }
            for (i, line) in visible(&c.to_string()).lines().enumerate() {
                out.push_str(if i == 0 { "  " } else { "    " });
                out.push_str(line);
                out.push('\n');
            }
            cause = c.source();
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("help: {}\n", visible(help)));
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::failure("input/output failed").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_prints_chain_and_help() {
        let io = std::io::Error::other("disk full");
        let e = Error::failure("cannot write `out.json`")
            .with_source(io)
            .with_help("free some space");
        assert_eq!(
            e.render(),
            "error: cannot write `out.json`\n\nCaused by:\n  disk full\nhelp: free some space\n"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(Error::auth("x").exit_code(), 4);
        assert_eq!(Error::manifest(String::new(), 2).exit_code(), 3);
    }
}
