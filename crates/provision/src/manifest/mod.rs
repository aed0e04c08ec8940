//! The manifest: TOML text → validated `model::Desired`, with every problem reported at once as
//! `file:line:col` diagnostics. `parse` and `check` are pure (they see only text, no file
//! system); `load` and `load_reporting` read the file and turn diagnostics into
//! `Error::manifest` (exit 3).
//!
//! # Keys, requirements and defaults (README terms)
//!
//! | key | required | default |
//! | --- | --- | --- |
//! | `tenant` | no | no guard: apply acts on whatever tenant it signs in to |
//! | `[app]` / `[[app]]` | one at least | — |
//! | `app.unique_name` | yes | — |
//! | `app.app_id` | no | none: the app is found by `unique_name` only |
//! | `app.display_name` | yes | — |
//! | `app.sign_in_audience` | no | `AzureADMyOrg` (Graph's default) |
//! | `app.notes` | no | left alone |
//! | `app.tags` | no | none added |
//! | `[app.public_client]` | no | the app's public-client settings are left alone |
//! | `app.public_client.redirect_uris` | no | `[]` |
//! | `app.public_client.allow_public_client_flows` | no | `true` when `[app.public_client]` is present: declaring a public client means wanting its flows, and device code (used by `provision token`) fails with AADSTS7000218 without it; write `false` to keep redirect-based sign-in only |
//! | `app.public_client.sign_in` | no | `device-code`: how `provision token` signs in as the app; `browser` (authorization code + PKCE) needs the redirect URI `http://localhost`, which validation suggests when it is missing |
//! | `app.identifier_uris` | no | left alone |
//! | `[app.web]`, `[app.spa]` | no | left alone; when present `redirect_uris` defaults to `[]`, the other web keys are left alone |
//! | `[app.api]` `requested_access_token_version` | no | left alone |
//! | `[[app.api.scopes]]`, `[[app.app_roles]]` | no | left alone; when present the list is authoritative; `type` `User`, `enabled` true, `id` kept or derived |
//! | `[[app.api_permissions]]` | no | no permissions |
//! | `api_permissions.api` | yes | — |
//! | `api_permissions.delegated` / `.application` | at least one non-empty | `[]` |
//! | `app.consent.grant` | no | `admin` |
//! | `app.owners` | no | ownership left alone; a list is authoritative, except that the signed-in identity is never removed |
//! | `[[app.federated_credentials]]` | no | left alone; a list (even `[]`) is authoritative |
//! | `federated_credentials.name` | yes | — |
//! | `federated_credentials.issuer` / `.subject` | yes, unless `github = { … }` writes them | — |
//! | `federated_credentials.audiences` | no | `["api://AzureADTokenExchange"]` |
//! | `[[app.passwords]]` | no | the app's passwords are left alone (`passwords = []`: all removed) |
//! | `passwords.display_name` | yes | — |
//! | `passwords.end_date` / `.lifetime` | no, not both | Graph's default end (two years) |
//! | `passwords.rotate_before` | no | never rotated |
//! | `passwords.secret_in_output` | no | `true`: the value is kept in the output file, and a password whose value it lacks is replaced |
//! | `[[app.certificates]]` | no | the app's certificates are left alone (`certificates = []`: all removed) |
//! | `certificates.display_name` | yes | — |
//! | `certificates.pem` / `.generate` / `.thumbprint` | exactly one | — |
//! | `certificates.lifetime` / `.rotate_before` | no, `generate` only | 365 days / never |
//! | `[output]` | no | no output file |
//! | `output.path` | yes, in `[output]` | — |
//! | `output.format` | no | from the path's extension (`.json`, `.env`, `.toml`), else `json` |
//!
//! # Decisions
//!
//! - A TOML syntax error stops the checks after syntax: every syntax error is reported, but the
//!   tree recovered around them would give misleading follow-up errors.
//! - `application` permissions with `consent.grant = "none"` are accepted without a diagnostic:
//!   `none` exists for the person who writes the manifest but cannot consent, and the
//!   admin-consent URL that apply prints grants app roles too.
//! - Permission names of a built-in API are checked offline. For the APIs whose full permission
//!   list is in the catalog (Microsoft Threat Protection, WindowsDefenderATP) an unknown name is
//!   an error with the closest valid names; the catalog's Microsoft Graph list is partial, so
//!   there an unknown name is a warning and the tenant decides at plan time (a name that is
//!   only wrong in case is an error everywhere).
//! - `unique_name` is 1–120 characters of `A-Za-z0-9._-` [derived: Graph documents no rule];
//!   two apps may not share one, compared without case.

mod build;
mod credentials;
pub use credentials::{DEFAULT_CERTIFICATE_LIFETIME, parse_date, parse_duration};
pub mod diagnostic;
pub mod many;
pub mod ownership;
mod props;
mod raw;
pub mod rules;

use std::path::Path;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};

use crate::error::{Error, Result};
use crate::model::Desired;
use crate::output::Printer;

/// Everything the checks found: the model when there was no error, and every diagnostic
/// (errors and warnings), in file order.
#[derive(Debug, Clone)]
pub struct Checked {
    pub desired: Option<Desired>,
    pub diagnostics: Diagnostics,
}

/// Check a manifest. `origin` is the file name shown in `file:line:col`.
pub fn check(origin: &str, text: &str) -> Checked {
    let mut diags = Diagnostics::new(origin);
    let (root, syntax) = toml::de::DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end_matches('.');
            let mut d = Diagnostic::error(format!("invalid TOML: {message}"), span).label("here");
            if message == "duplicate key" {
                d = d.help(
                    "a key appears once per table; several apps or APIs are written \
                     `[[app]]` and `[[app.api_permissions]]`, once each",
                );
            }
            diags.push(d);
        }
        diags.sort();
        return Checked {
            desired: None,
            diagnostics: diags,
        };
    }
    let raw = raw::walk(root.get_ref(), &mut diags);
    let desired = build::build(origin, text, raw, &mut diags);
    diags.sort();
    Checked {
        desired: if diags.has_errors() { None } else { desired },
        diagnostics: diags,
    }
}

/// Parse and validate a manifest: the model, or every diagnostic (errors and warnings) when
/// there is at least one error. Warnings of a valid manifest are dropped; use `check` to see
/// them.
pub fn parse(origin: &str, text: &str) -> std::result::Result<Desired, Diagnostics> {
    let checked = check(origin, text);
    match checked.desired {
        Some(desired) if !checked.diagnostics.has_errors() => Ok(desired),
        _ => Err(checked.diagnostics),
    }
}

/// The largest manifest read. One app takes about 1 kB, so this is a thousand apps; past it a
/// file is not a manifest (or is `/dev/zero`), and parsing and reporting on it would only cost
/// memory and time.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The text of a manifest file, or the diagnostics of one that is not UTF-8 or too large.
pub fn read(path: &Path) -> Result<std::result::Result<String, (String, Diagnostics)>> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| {
        Error::failure(format!("cannot read `{}`", path.display()))
            .with_source(e)
            .with_help("check the path; `provision init` writes a starter manifest")
    };
    if path.is_dir() {
        // Reading a folder fails with the OS's "Is a directory": say it in the tool's words,
        // with the same exit code as any file that cannot be read (1).
        return Err(
            Error::failure(format!("`{}` is a folder, not a manifest file", path.display())).with_help(
                format!(
                    "name the files: provision validate {}/*.toml",
                    path.display().to_string().trim_end_matches('/')
                ),
            ),
        );
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        let mut diags = Diagnostics::new(path.display().to_string());
        diags.push(
            Diagnostic::error(
                format!("the manifest is larger than {} MiB", MAX_MANIFEST_BYTES >> 20),
                0..0,
            )
            .help("a manifest describes a few apps in a few kilobytes; check that this is the right file"),
        );
        return Ok(Err((String::new(), diags)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Ok(text)),
        Err(e) => {
            // Show the readable part of the file, with the caret on the first invalid byte.
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let shown = String::from_utf8_lossy(&bytes).into_owned();
            let offset = String::from_utf8_lossy(&bytes[..valid]).len();
            let mut diags = Diagnostics::new(path.display().to_string());
            diags.push(
                Diagnostic::error("the manifest is not valid UTF-8", offset..offset)
                    .label("invalid byte")
                    .help("save the file as UTF-8"),
            );
            Ok(Err((shown, diags)))
        }
    }
}

/// Whether two paths name the same file (the same inode, so also through links).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// `output.path` that resolves to the manifest at `source`, or to any other file of the set
/// being read (`reads`), would be overwritten by apply: a manifest error at `output.path`.
pub fn output_overwrites(source: &Path, desired: &Desired, reads: &[&Path]) -> Option<Diagnostic> {
    let spec = desired.output.as_ref()?;
    let target = source.parent().unwrap_or(Path::new("")).join(&spec.path);
    let hit = reads.iter().find(|r| same_file(&target, r))?;
    let what = if same_file(hit, source) {
        "the manifest itself".to_owned()
    } else {
        format!("the manifest `{}`", hit.display())
    };
    Some(
        Diagnostic::error(
            format!("`output.path` `{}` is {what}", spec.path.display()),
            spec.path_span.clone(),
        )
        .label("apply would overwrite it with the IDs")
        .help("name another file for the output, like `out/app.json`"),
    )
}

/// Read, parse and validate a manifest file; invalid manifests become `Error::manifest`
/// (exit 3) with the rendered diagnostics. Warnings are dropped: see `load_reporting`.
pub fn load(path: &Path) -> Result<Desired> {
    load_inner(path, None)
}

/// `load`, printing the warnings of a valid manifest on stderr through `printer`.
pub fn load_reporting(path: &Path, printer: &Printer) -> Result<Desired> {
    load_inner(path, Some(printer))
}

fn load_inner(path: &Path, printer: Option<&Printer>) -> Result<Desired> {
    let color = printer.is_some_and(|p| p.color);
    let text = match read(path)? {
        Ok(text) => text,
        Err((shown, diags)) => {
            return Err(Error::manifest(
                diags.render_with(&shown, color) + &crate::ci::annotations_if_ci(&diags, &shown),
                diags.error_count(),
            ));
        }
    };
    let mut checked = check(&path.display().to_string(), &text);
    if let Some(d) = checked
        .desired
        .as_ref()
        .and_then(|d| output_overwrites(path, d, &[path]))
    {
        checked.diagnostics.push(d);
        checked.desired = None;
    }
    match checked.desired {
        Some(desired) => {
            if let Some(printer) = printer
                && !checked.diagnostics.is_empty()
            {
                printer.status(checked.diagnostics.render_with(&text, color).trim_end());
                let ci = crate::ci::annotations_if_ci(&checked.diagnostics, &text);
                if !ci.is_empty() {
                    printer.status(ci.trim_end());
                }
            }
            Ok(desired)
        }
        None => Err(Error::manifest(
            checked.diagnostics.render_with(&text, color)
                + &crate::ci::annotations_if_ci(&checked.diagnostics, &text),
            checked.diagnostics.error_count(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_the_limit_is_a_diagnostic_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, vec![b'#'; (MAX_MANIFEST_BYTES + 1) as usize]).unwrap();
        let Err((shown, diags)) = read(&path).unwrap() else {
            panic!("a file past the limit is refused");
        };
        assert!(shown.is_empty());
        let out = diags.render(&shown);
        assert!(
            out.starts_with("error: the manifest is larger than 1 MiB\n"),
            "{out}"
        );
        let path = dir.path().join("fits.toml");
        std::fs::write(&path, vec![b'#'; MAX_MANIFEST_BYTES as usize]).unwrap();
        assert!(read(&path).unwrap().is_ok());
    }
}
