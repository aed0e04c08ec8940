//! Password and certificate credentials of an app (issue 17): what the machine holds for them
//! (`local`: secrets in the output file, PEM files, generated keys), the pure planning of them
//! (`plan`), and their Graph writes (`exec`: `addPassword`, `removePassword`, the
//! `keyCredentials` PATCH).
//!
//! # Decisions
//!
//! - A password's value exists once, in `addPassword`'s answer. It is kept only in the output
//!   file (mode 0600). Removals (a rotated or unlisted password) run after the output file is
//!   written, so a run that fails before that leaves the old password working. A password the
//!   manifest names whose value the output file does not hold (lost by a failed run, or the file
//!   deleted) is replaced on the next apply: add a new one, write it out, remove the old one.
//!   `secret_in_output = false` (what `import` writes, since Graph never returns a value) keeps
//!   such a password as it is.
//! - Certificates are written by PATCHing the whole `keyCredentials` collection, read first with
//!   `$select=keyCredentials` so the existing keys are sent back with their `key`, the form of
//!   "Add a certificate to an app using Microsoft Graph"
//!   (https://learn.microsoft.com/en-us/graph/applications-how-to-add-certificate) and of
//!   terraform-provider-azuread's `azuread_application_certificate` (read the application,
//!   append, PATCH). `addKey` needs a proof signed by a key the app already has, so it cannot add
//!   a first certificate.
//! - A generated certificate's key is written (mode 0600) before the PATCH that uploads it: a
//!   run that fails after that uploads the same certificate next time.

pub mod exec;
pub mod local;
pub mod plan;

use serde::Serialize;

/// A secret value (a client secret, a private key). Never printed by `Debug`, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Read back from the output file (the only place a value is written).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Password,
    Certificate,
}

impl Kind {
    pub fn key(self) -> &'static str {
        match self {
            Kind::Password => "password",
            Kind::Certificate => "certificate",
        }
    }
}

/// The address of a credential step: `app.NAME.password["ci"]`, and for the removal of one
/// particular credential `app.NAME.password["ci"]["<keyId>"]`.
pub fn address(unique_name: &str, kind: Kind, display_name: &str, key_id: Option<&str>) -> String {
    let mut a = format!("app.{unique_name}.{}[\"{display_name}\"]", kind.key());
    if let Some(k) = key_id {
        a.push_str(&format!("[\"{k}\"]"));
    }
    a
}

/// RFC 3339 in UTC, seconds precision (how plans and the output file show dates).
pub fn date_text(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A Graph date (`2027-06-01T00:00:00Z`, with or without fractions) as Unix seconds.
pub fn graph_date(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.timestamp())
}
