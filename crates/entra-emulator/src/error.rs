//! The emulator's start-up error: what failed, in words, and the underlying cause. Requests
//! never fail with it; they answer with Graph's or Entra's own error bodies.

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the emulator could not start (bind, state file, signing key, TLS).
#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub source: Option<BoxError>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn failure(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            source: None,
        }
    }

    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::failure("an I/O operation failed").with_source(e)
    }
}
