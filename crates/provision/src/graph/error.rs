//! A failed Graph call, with what a person needs to act on it or to open a support case:
//! method, path, status, Graph's error code and message, and the `request-id` (an allow-list of
//! response details, as cargo's `HttpNotSuccessful` does). Never the token or the body we sent.

use std::fmt;

#[derive(Debug)]
pub enum GraphError {
    /// Graph answered with an error status.
    Status {
        method: String,
        path: String,
        status: u16,
        code: String,
        message: String,
        /// `details[].code`, e.g. `NoBackingApplicationObject`.
        detail_codes: Vec<String>,
        request_id: Option<String>,
    },
    /// No usable response: the connection failed, was dropped, or timed out.
    Transport {
        method: String,
        path: String,
        source: reqwest::Error,
    },
    /// A success status whose body is not what Graph documents.
    Decode {
        method: String,
        path: String,
        status: u16,
        detail: String,
    },
    /// Graph's answers show that someone else changed the object the call needs while this
    /// run waited on it (e.g. a deleted application restored by another run while this run
    /// waited to purge it): waiting longer would not help.
    ChangedMeanwhile {
        method: String,
        path: String,
        what: String,
    },
}

impl GraphError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            GraphError::Status { code, .. } => code,
            _ => "",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            GraphError::Status { message, .. } => message,
            _ => "",
        }
    }

    pub fn has_detail(&self, code: &str) -> bool {
        matches!(self, GraphError::Status { detail_codes, .. } if detail_codes.iter().any(|c| c == code))
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 400 "Permission (scope or role) cannot be deleted or updated unless disabled first"
    /// (`CannotDeleteOrUpdateEnabledEntitlement`): after a PATCH that disabled them, this is the
    /// disabling not replicated yet (terraform-provider-azuread retries it the same way,
    /// `applicationUpdateRetryFunc`).
    pub fn is_enabled_entitlement(&self) -> bool {
        self.status() == Some(400)
            && (self.code() == "CannotDeleteOrUpdateEnabledEntitlement"
                || self
                    .message()
                    .contains("cannot be deleted or updated unless disabled first"))
    }

    pub fn method(&self) -> &str {
        match self {
            GraphError::Status { method, .. }
            | GraphError::Transport { method, .. }
            | GraphError::Decode { method, .. }
            | GraphError::ChangedMeanwhile { method, .. } => method,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            GraphError::Status { path, .. }
            | GraphError::Transport { path, .. }
            | GraphError::Decode { path, .. }
            | GraphError::ChangedMeanwhile { path, .. } => path,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Status {
                method,
                path,
                status,
                code,
                message,
                request_id,
                ..
            } => {
                write!(f, "{method} {path} answered {status}")?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(id) = request_id {
                    write!(f, " (request-id: {id})")?;
                }
                Ok(())
            }
            GraphError::Transport { method, path, .. } => write!(f, "{method} {path} got no response"),
            GraphError::Decode {
                method,
                path,
                status,
                detail,
            } => {
                write!(
                    f,
                    "{method} {path} answered {status} with a body Graph does not send: {detail}"
                )
            }
            GraphError::ChangedMeanwhile { method, path, what } => write!(f, "{method} {path}: {what}"),
        }
    }
}

impl std::error::Error for GraphError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GraphError::Transport { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl GraphError {
    /// The user-facing error for this failure: class (401/403 exit 4), message and help.
    /// `context` names what was being done, e.g. "apply of `mtp-api-client` did not finish".
    pub fn to_error(&self, context: Option<&str>) -> crate::Error {
        let prefix = |m: &str| match context {
            Some(c) => format!("{c}: {m}"),
            None => m.to_owned(),
        };
        if let GraphError::Transport { source, .. } = self {
            let url = source
                .url()
                .map(|u| u.to_string())
                .unwrap_or_else(|| "the Graph endpoint".into());
            let e = crate::Error::unreachable("Microsoft Graph", &url, source);
            return match context {
                Some(c) => {
                    crate::Error::failure(format!("{c}: {}", e.message)).with_help(e.help.unwrap_or_default())
                }
                None => e,
            };
        }
        let e = match self.status() {
            Some(401) => crate::Error::auth(prefix("Microsoft Graph did not accept the sign-in"))
                .with_help("sign in again, or check that the token is for Microsoft Graph in this tenant"),
            Some(403) => {
                let (method, path) = match self {
                    GraphError::Status { method, path, .. } => (method.as_str(), path.as_str()),
                    _ => ("", ""),
                };
                match crate::permissions::for_call(method, path) {
                    Some(clause) => crate::Error::auth(prefix(&format!(
                        "the signed-in identity lacks the Microsoft Graph permission `{}`",
                        clause.least()
                    )))
                    .with_help(forbidden_help(method, path, &clause)),
                    None => crate::Error::auth(prefix(
                        "the signed-in identity may not do this in Microsoft Graph",
                    ))
                    .with_help(
                        "run `provision doctor` to see which Microsoft Graph permissions the signed-in identity holds and which each command needs",
                    ),
                }
            }
            _ => match context {
                Some(c) => crate::Error::failure(c.to_owned())
                    .with_help("run the command again: it continues from where it stopped"),
                None => crate::Error::failure("a Microsoft Graph request failed"),
            },
        };
        e.with_source(self.to_string())
    }
}

/// How to add the permission a refused call needed.
fn forbidden_help(method: &str, path: &str, clause: &crate::permissions::Clause) -> String {
    let others = &clause.any_of[1..];
    let alternatives = if others.is_empty() {
        String::new()
    } else {
        format!(
            " (or {})",
            others
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "`{method} {path}` needs `{}`{alternatives} to {}: in the Entra admin center, open the \
         signed-in app's App registration → API permissions → Add a permission → Microsoft Graph \
         (Application permissions for an app-only sign-in, Delegated for a user), add it and grant \
         admin consent; `provision doctor` lists what every command needs",
        clause.least(),
        clause.why
    )
}

impl From<GraphError> for crate::Error {
    fn from(e: GraphError) -> Self {
        e.to_error(None)
    }
}
