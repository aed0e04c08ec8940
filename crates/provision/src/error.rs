//! The one error type of the command line: a class that decides the exit code, a lowercase
//! message, an optional `help:` line and the cause chain. `main` prints it once.

use std::error::Error as StdError;

use crate::output::visible;
use std::fmt;

/// What kind of failure this is; decides the exit code (README.md "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Anything that went wrong, including command-line usage errors: exit 1.
    Failure,
    /// The manifest is invalid: exit 3.
    Manifest,
    /// Sign-in refused, or Graph answered 401/403: exit 4.
    Auth,
    /// Stopped by SIGINT (Ctrl-C): exit 130, as shells report a command killed by it.
    Interrupted,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Failure => 1,
            Class::Manifest => 3,
            Class::Auth => 4,
            Class::Interrupted => 130,
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

/// Why an endpoint could not be reached, in plain words, from an HTTP library error chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    Refused,
    Dns,
    Tls(String),
    Timeout,
    Other(String),
}

impl Unreachable {
    /// Walk the cause chain of a failed request: the io error kind, rustls' verdict, reqwest's
    /// timeout flag and hyper's DNS failure decide; the last cause is kept for anything else.
    pub fn classify(e: &(dyn StdError + 'static)) -> Unreachable {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
        let mut last = e.to_string();
        while let Some(c) = cause {
            if let Some(r) = as_reqwest(c)
                && r.is_timeout()
            {
                return Unreachable::Timeout;
            }
            if let Some(t) = c.downcast_ref::<rustls::Error>() {
                return Unreachable::Tls(t.to_string());
            }
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Unreachable::Refused,
                    std::io::ErrorKind::TimedOut => return Unreachable::Timeout,
                    _ => {}
                }
                if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return Unreachable::Tls(t.to_string());
                }
            }
            let text = c.to_string();
            if text.starts_with("dns error") || text.contains("failed to lookup address") {
                return Unreachable::Dns;
            }
            if text.contains("certificate") || text.contains("handshake") {
                return Unreachable::Tls(text);
            }
            last = text;
            cause = c.source();
        }
        Unreachable::Other(last)
    }

    /// The cause in words, for `cannot reach … (cause)`.
    pub fn words(&self) -> String {
        match self {
            Unreachable::Refused => "connection refused".into(),
            Unreachable::Dns => "the host name could not be resolved (DNS)".into(),
            Unreachable::Tls(why) => format!("TLS: the secure connection failed ({why})"),
            Unreachable::Timeout => "timed out".into(),
            Unreachable::Other(why) => format!("the connection failed ({why})"),
        }
    }

    pub fn help(&self) -> &'static str {
        match self {
            Unreachable::Refused => "check the URL and that the service is running there",
            Unreachable::Dns => {
                "check the host name and the network; a proxy is taken from HTTPS_PROXY (NO_PROXY lists exceptions)"
            }
            Unreachable::Tls(_) => {
                "a TLS-inspecting proxy or private CA must be trusted: add its root to the platform's store, SSL_CERT_FILE / SSL_CERT_DIR, or --ca-cert FILE"
            }
            Unreachable::Timeout | Unreachable::Other(_) => {
                "check the network; a proxy is taken from HTTPS_PROXY (NO_PROXY lists exceptions)"
            }
        }
    }
}

/// `host:port` of a URL, for messages.
pub fn host_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// A reqwest error, also boxed (oauth2 boxes the HTTP client's error).
fn as_reqwest<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a reqwest::Error> {
    e.downcast_ref::<reqwest::Error>()
        .or_else(|| e.downcast_ref::<Box<reqwest::Error>>().map(|b| b.as_ref()))
}

/// The URL of the first reqwest error in a cause chain.
pub fn url_in_chain(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(u) = as_reqwest(c).and_then(reqwest::Error::url) {
            return Some(u.to_string());
        }
        cause = c.source();
    }
    None
}

impl Error {
    /// An endpoint that could not be reached: exit 1, the host and the cause in plain words
    /// (refused, DNS, TLS, timeout) instead of the HTTP library's chain.
    pub fn unreachable(what: &str, url: &str, cause: &(dyn StdError + 'static)) -> Error {
        let why = Unreachable::classify(cause);
        Error::failure(format!(
            "cannot reach {what} at `{}`: {}",
            host_of(url),
            why.words()
        ))
        .with_help(why.help())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::failure("input/output failed").with_source(e)
    }
}

/// The emulator failed to start: its message, with its cause kept in the chain.
#[cfg(feature = "emulator")]
impl From<entra_emulator::Error> for Error {
    fn from(e: entra_emulator::Error) -> Self {
        let out = Error::failure(e.message);
        match e.source {
            Some(source) => out.with_source(source),
            None => out,
        }
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
