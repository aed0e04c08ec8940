//! The output file: the IDs downstream scripts need to acquire tokens, one entry per app keyed
//! by `unique_name` (README.md "Output file"), as JSON, env or TOML, written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Desired, OutputFormat};
use crate::plan::Plan;

// One schema, both ways: apply writes these and `token` (and apply's own check of the password
// values it holds) reads them back; `#[serde(default)]` keeps files of older versions readable.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiEntry {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub app_id: String,
    pub resource_url: String,
    /// Full delegated scope strings: `https://api.security.microsoft.com/Incident.Read`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Application permission values.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub tenant_id: String,
    pub client_id: String,
    #[serde(default)]
    pub object_id: String,
    #[serde(default)]
    pub service_principal_id: String,
    pub authority: String,
    /// Its public-client redirect URIs (a browser sign-in needs a loopback one).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub apis: Vec<ApiEntry>,
    // --- credentials (issue 17) ---
    /// The app's passwords: name, keyId, end, and (in the file only) the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passwords: Vec<PasswordEntry>,
    /// The app's certificates: name, keyId, thumbprint, end and the PEM file that holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateEntry>,
}

/// A password of the output file. `secret` is never serialized with the entry (the apply
/// report prints entries); [`render_with_secrets`] adds it to the file's text, and reading the
/// file takes it back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PasswordEntry {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub end_date_time: Option<String>,
    #[serde(skip_serializing, default)]
    pub secret: Option<crate::credentials::Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateEntry {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub thumbprint: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    /// The PEM file with the certificate (and, when generated, its private key).
    pub path: Option<String>,
}

/// Fill each entry's passwords and certificates from the plan (what is kept) and the report
/// (what this run added).
pub fn add_credentials(
    entries: &mut BTreeMap<String, Entry>,
    plan: &Plan,
    report: Option<&crate::apply::Report>,
) {
    use crate::credentials::Kind;
    use crate::plan::Action;
    for app in &plan.apps {
        let Some(entry) = entries.get_mut(&app.unique_name) else {
            continue;
        };
        let added = report
            .and_then(|r| r.app(&app.unique_name))
            .map(|r| r.added.as_slice())
            .unwrap_or_default();
        for c in &app.credentials {
            let new = || {
                added
                    .iter()
                    .find(|a| a.kind == c.kind && a.display_name == c.display_name)
            };
            let (key_id, end, secret) = match c.action {
                Action::NoOp => (c.key_id.clone(), c.end.clone(), c.secret.clone()),
                Action::Create | Action::Update => match new() {
                    Some(a) => (Some(a.key_id.clone()), a.end.clone(), a.secret.clone()),
                    None => continue,
                },
                _ => continue,
            };
            let Some(key_id) = key_id else { continue };
            match c.kind {
                Kind::Password => entry.passwords.push(PasswordEntry {
                    display_name: c.display_name.clone(),
                    key_id,
                    end_date_time: end,
                    secret,
                }),
                Kind::Certificate => entry.certificates.push(CertificateEntry {
                    display_name: c.display_name.clone(),
                    key_id,
                    thumbprint: c.thumbprint.clone(),
                    end_date_time: end,
                    path: c.path.as_ref().map(|p| p.display().to_string()),
                }),
            }
        }
    }
}

/// Whether any entry carries a password's value.
pub fn holds_secret(entries: &BTreeMap<String, Entry>) -> bool {
    entries
        .values()
        .any(|e| e.passwords.iter().any(|p| p.secret.is_some()))
}

/// [`render`], with each password's value as `secret` (JSON and TOML; the manifest check keeps
/// passwords out of env files).
pub fn render_with_secrets(entries: &BTreeMap<String, Entry>, format: OutputFormat) -> Result<String> {
    if !holds_secret(entries) || format == OutputFormat::Env {
        return render(entries, format);
    }
    let cannot = |e: &dyn std::fmt::Display| Error::failure(format!("cannot render the output file: {e}"));
    let mut v = serde_json::to_value(entries).map_err(|e| cannot(&e))?;
    for (name, e) in entries {
        for (i, p) in e.passwords.iter().enumerate() {
            if let Some(s) = &p.secret {
                v[name]["passwords"][i]["secret"] = serde_json::Value::String(s.expose().to_owned());
            }
        }
    }
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| cannot(&e)),
        _ => toml::to_string(&v).map_err(|e| cannot(&e)),
    }
}

/// Build the entries from the plan and the IDs apply learned (`ids`: unique_name →
/// (client_id, object_id, service_principal_id)).
pub fn entries(
    desired: &Desired,
    plan: &Plan,
    ids: &BTreeMap<String, (String, String, String)>,
    authority_host: &str,
) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for app in &desired.apps {
        let Some(p) = plan.app(&app.unique_name) else {
            continue;
        };
        let Some((client_id, object_id, sp_id)) = ids.get(&app.unique_name) else {
            continue;
        };
        let apis = p
            .resources
            .iter()
            .map(|r| ApiEntry {
                name: r.name.clone(),
                app_id: r.app_id.clone(),
                resource_url: r.resource_url.clone(),
                scopes: r
                    .delegated
                    .iter()
                    .map(|v| format!("{}/{v}", r.resource_url))
                    .collect(),
                roles: r.application.clone(),
            })
            .collect();
        out.insert(
            app.unique_name.clone(),
            Entry {
                tenant_id: plan.tenant_id.clone(),
                client_id: client_id.clone(),
                object_id: object_id.clone(),
                service_principal_id: sp_id.clone(),
                authority: format!("{}/{}", authority_host.trim_end_matches('/'), plan.tenant_id),
                redirect_uris: app
                    .public_client
                    .as_ref()
                    .map(|pc| pc.redirect_uris.clone())
                    .unwrap_or_default(),
                apis,
                passwords: Vec::new(),
                certificates: Vec::new(),
            },
        );
    }
    out
}

/// Whether `c` means itself in every consumer of the env dialect: bash (`source`, also with
/// `set -a`) in an assignment word, GitHub Actions' `$GITHUB_ENV` and `docker --env-file`
/// (both take everything after the first `=` literally). Spaces, quotes, `$`, backquotes,
/// backslashes, `~`, `;`, `&`, `|`, `<`, `>` and parentheses are not.
fn env_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:@%+,=?#*[]!{}^".contains(c)
}

/// One `NAME=value` line of the env dialect, or the error naming the value it cannot carry.
fn env_line(name: &str, value: &str) -> Result<String> {
    match value.chars().find(|c| !env_safe(*c)) {
        None => Ok(format!("{name}={value}\n")),
        Some(c) => Err(Error::failure(format!(
            "the env output file cannot hold `{name}` = `{value}`: `{}` means something else to a shell than to `$GITHUB_ENV` and `docker --env-file`",
            c.escape_default()
        ))
        .with_help("use `format = \"json\"` or `\"toml\"` in `[output]`, or a value without that character")),
    }
}

pub fn render(entries: &BTreeMap<String, Entry>, format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(entries)
            .map(|s| s + "\n")
            .map_err(|e| Error::failure("cannot render the output file").with_source(e)),
        OutputFormat::Toml => toml::to_string(entries)
            .map_err(|e| Error::failure("cannot render the output file").with_source(e)),
        OutputFormat::Env => {
            let several = entries.len() > 1;
            let mut out = String::new();
            for (name, e) in entries {
                let prefix = if several {
                    format!("{}_", name.to_ascii_uppercase().replace(['-', '.'], "_"))
                } else {
                    String::new()
                };
                let first_api = e.apis.iter().find(|a| !a.scopes.is_empty()).or(e.apis.first());
                let authority_host = e
                    .authority
                    .strip_suffix(&format!("/{}", e.tenant_id))
                    .unwrap_or(&e.authority);
                let vars = [
                    ("AZURE_TENANT_ID", e.tenant_id.clone()),
                    ("AZURE_CLIENT_ID", e.client_id.clone()),
                    ("AZURE_AUTHORITY_HOST", authority_host.to_owned()),
                    (
                        "REDIRECT_URI",
                        e.redirect_uris.first().cloned().unwrap_or_default(),
                    ),
                    (
                        "RESOURCE_URL",
                        first_api.map(|a| a.resource_url.clone()).unwrap_or_default(),
                    ),
                    // Comma-separated: a space would end the assignment in a shell.
                    (
                        "SCOPES",
                        first_api.map(|a| a.scopes.join(",")).unwrap_or_default(),
                    ),
                ];
                let certificate = e.certificates.iter().find_map(|c| c.path.clone());
                let vars = vars
                    .into_iter()
                    .chain(certificate.map(|p| ("AZURE_CLIENT_CERTIFICATE_PATH", p)));
                for (k, v) in vars {
                    out.push_str(&env_line(&format!("{prefix}{k}"), &v)?);
                }
            }
            Ok(out)
        }
    }
}

/// Write `contents` to `path` whole or not at all ([`crate::fsutil::write_atomic`]).
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    crate::fsutil::write_atomic(path, contents.as_bytes(), crate::fsutil::Access::Shared)
        .map_err(|e| Error::failure(format!("cannot write `{}`", path.display())).with_source(e))
}

/// Check, before anything is written to the tenant, that `path` can be written: its folder
/// exists or can be made, and a file can be created in it. (The file itself is written
/// atomically after apply, through a temporary file in the same folder.)
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot = |e: std::io::Error| {
        Error::failure(format!(
            "cannot write the output file `{}`: nothing was changed in the tenant",
            path.display()
        ))
        .with_source(e)
        .with_help("make its folder writable, or change `output.path` in the manifest")
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    // Named as the write's own temporary files are, so that one a kill leaves here is removed
    // by the next write of the file (`fsutil::write_atomic`).
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(cannot)?;
    if path.is_dir() {
        return Err(cannot(std::io::Error::other("it is a folder")));
    }
    Ok(())
}

/// Remove the entries of `names` from the output file at `path`: a JSON or TOML file keeps its
/// other entries (and is removed when none remain); an env file, which holds one manifest's
/// variables, is removed. Returns whether the file was removed.
pub fn remove_entries(path: &Path, format: OutputFormat, names: &[String]) -> Result<Option<bool>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::failure(format!("cannot read `{}`", path.display())).with_source(e));
        }
    };
    let remove = || {
        std::fs::remove_file(path)
            .map_err(|e| Error::failure(format!("cannot remove `{}`", path.display())).with_source(e))
    };
    let rest: Option<String> = match format {
        OutputFormat::Env => None,
        OutputFormat::Json => {
            let mut map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap_or_default();
            names.iter().for_each(|n| {
                map.remove(n);
            });
            (!map.is_empty()).then(|| {
                serde_json::to_string_pretty(&map)
                    .map(|s| {
                        s + "
"
                    })
                    .unwrap_or_default()
            })
        }
        OutputFormat::Toml => {
            let mut table: toml::Table = toml::from_str(&text).unwrap_or_default();
            names.iter().for_each(|n| {
                table.remove(n);
            });
            (!table.is_empty()).then(|| toml::to_string(&table).unwrap_or_default())
        }
    };
    match rest {
        None => remove().map(|_| Some(true)),
        Some(rest) => write_atomic(path, &rest).map(|_| Some(false)),
    }
}

/// Values of `KEY=value` lines (the env dialect `outfile` writes), also unquoting the shell
/// single quotes older files carry.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let mut value = String::new();
        let mut rest = v;
        // 'a'\''b' → a'b
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('\'') {
                let end = r.find('\'').unwrap_or(r.len());
                value.push_str(&r[..end]);
                rest = r.get(end + 1..).unwrap_or_default();
            } else if let Some(r) = rest.strip_prefix("\\'") {
                value.push('\'');
                rest = r;
            } else {
                let end = rest.find(['\'', '\\']).unwrap_or(rest.len());
                value.push_str(&rest[..end]);
                rest = &rest[end..];
                if end == 0 {
                    value.push_str(&rest[..1]);
                    rest = &rest[1..];
                }
            }
        }
        out.insert(k.trim().to_owned(), value);
    }
    out
}

/// The entries of an env output file: one without prefix, or one per `PREFIX_` (the upper-cased
/// unique name, `-` and `.` turned into `_`).
pub fn env_entries(text: &str) -> BTreeMap<String, Entry> {
    let vars = parse_env(text);
    let mut out = BTreeMap::new();
    for key in vars.keys().filter(|k| k.ends_with("AZURE_CLIENT_ID")) {
        let prefix = key.trim_end_matches("AZURE_CLIENT_ID");
        let get = |name: &str| vars.get(&format!("{prefix}{name}")).cloned().unwrap_or_default();
        let tenant_id = get("AZURE_TENANT_ID");
        let resource_url = get("RESOURCE_URL");
        let entry = Entry {
            authority: format!(
                "{}/{}",
                get("AZURE_AUTHORITY_HOST").trim_end_matches('/'),
                tenant_id
            ),
            tenant_id,
            client_id: get("AZURE_CLIENT_ID"),
            object_id: String::new(),
            service_principal_id: String::new(),
            apis: vec![ApiEntry {
                name: resource_url.clone(),
                app_id: String::new(),
                // Comma-separated since the env dialect is shared with `$GITHUB_ENV` and
                // `docker --env-file`; older files separated them with spaces.
                scopes: get("SCOPES")
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                resource_url,
                roles: Vec::new(),
            }],
            redirect_uris: get("REDIRECT_URI")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            passwords: Vec::new(),
            certificates: Some(get("AZURE_CLIENT_CERTIFICATE_PATH"))
                .filter(|p| !p.is_empty())
                .map(|p| CertificateEntry {
                    display_name: String::new(),
                    key_id: String::new(),
                    thumbprint: None,
                    end_date_time: None,
                    path: Some(p),
                })
                .into_iter()
                .collect(),
        };
        out.insert(prefix.trim_end_matches('_').to_owned(), entry);
    }
    out
}

/// The entries of an output file `provision apply` wrote, by its extension: JSON, env or TOML.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Entry>> {
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
        Error::failure(format!(
            "`{}` is not an output file of `provision apply`",
            path.display()
        ))
        .with_source(e)
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let entries = match ext {
        "json" => serde_json::from_str(text).map_err(|e| bad(e.into()))?,
        "env" => env_entries(text),
        _ => toml::from_str(text).map_err(|e| bad(e.into()))?,
    };
    if entries.is_empty() {
        return Err(bad("it names no app".into()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(client: &str) -> Entry {
        Entry {
            tenant_id: "t-1".into(),
            client_id: client.into(),
            object_id: "o".into(),
            service_principal_id: "s".into(),
            authority: "https://login.microsoftonline.com/t-1".into(),
            redirect_uris: vec!["https://portal.azure.com".into()],
            apis: vec![ApiEntry {
                name: "Microsoft Threat Protection".into(),
                app_id: "8ee8fdad-f234-4243-8f3b-15c294843740".into(),
                resource_url: "https://api.security.microsoft.com".into(),
                scopes: vec!["https://api.security.microsoft.com/Incident.Read".into()],
                roles: vec![],
            }],
            passwords: Vec::new(),
            certificates: Vec::new(),
        }
    }

    #[test]
    fn env_format_prefixes_several_apps() {
        let one: BTreeMap<_, _> = [("mtp-api-client".to_string(), entry("c-1"))].into();
        let text = render(&one, OutputFormat::Env).unwrap();
        assert!(text.contains("AZURE_CLIENT_ID=c-1\n"), "{text}");
        assert!(
            text.contains("AZURE_AUTHORITY_HOST=https://login.microsoftonline.com\n"),
            "{text}"
        );
        assert!(
            text.contains("SCOPES=https://api.security.microsoft.com/Incident.Read\n"),
            "{text}"
        );
        let two: BTreeMap<_, _> = [
            ("mtp-api-client".to_string(), entry("c-1")),
            ("b".to_string(), entry("c-2")),
        ]
        .into();
        let text = render(&two, OutputFormat::Env).unwrap();
        assert!(text.contains("MTP_API_CLIENT_AZURE_CLIENT_ID=c-1\n"), "{text}");
        assert!(text.contains("B_AZURE_CLIENT_ID=c-2\n"), "{text}");
    }

    #[test]
    fn env_values_are_unquoted_scopes_comma_separated_and_unsafe_values_refused() {
        let mut e = entry("c-1");
        e.apis[0]
            .scopes
            .push("https://api.security.microsoft.com/AdvancedHunting.Read".into());
        let one: BTreeMap<_, _> = [("a".to_string(), e.clone())].into();
        let text = render(&one, OutputFormat::Env).unwrap();
        assert!(
            text.contains(
                "SCOPES=https://api.security.microsoft.com/Incident.Read,https://api.security.microsoft.com/AdvancedHunting.Read\n"
            ),
            "{text}"
        );
        assert!(!text.contains('\''), "{text}");
        e.redirect_uris = vec!["http://localhost:8400/cb?a=1&b=2".into()];
        let bad: BTreeMap<_, _> = [("a".to_string(), e)].into();
        let err = render(&bad, OutputFormat::Env).unwrap_err();
        assert!(err.message.contains("`REDIRECT_URI`"), "{}", err.message);
        assert!(err.message.contains("`&`"), "{}", err.message);
    }

    #[test]
    fn toml_and_json_are_keyed_by_unique_name() {
        let one: BTreeMap<_, _> = [("mtp-api-client".to_string(), entry("c-1"))].into();
        let t = render(&one, OutputFormat::Toml).unwrap();
        assert!(t.contains("[mtp-api-client]"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&render(&one, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(j["mtp-api-client"]["client_id"], "c-1");
    }

    #[test]
    fn destroy_removes_only_the_manifests_entries_and_the_file_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        for format in [OutputFormat::Json, OutputFormat::Toml] {
            let p = dir.path().join(format!("out.{format:?}"));
            let two: BTreeMap<_, _> =
                [("a".to_string(), entry("c-1")), ("b".to_string(), entry("c-2"))].into();
            write_atomic(&p, &render(&two, format).unwrap()).unwrap();
            assert_eq!(remove_entries(&p, format, &["a".into()]).unwrap(), Some(false));
            let left = std::fs::read_to_string(&p).unwrap();
            assert!(left.contains("c-2") && !left.contains("c-1"), "{left}");
            assert_eq!(remove_entries(&p, format, &["b".into()]).unwrap(), Some(true));
            assert!(!p.exists());
            assert_eq!(remove_entries(&p, format, &["b".into()]).unwrap(), None);
        }
        let p = dir.path().join("out.env");
        let one: BTreeMap<_, _> = [("a".to_string(), entry("c-1"))].into();
        write_atomic(&p, &render(&one, OutputFormat::Env).unwrap()).unwrap();
        assert_eq!(
            remove_entries(&p, OutputFormat::Env, &["a".into()]).unwrap(),
            Some(true)
        );
        assert!(!p.exists());
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_found_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out"), "a file").unwrap();
        let err = check_writable(&dir.path().join("out/x.json")).unwrap_err();
        assert!(
            err.message.contains("nothing was changed in the tenant"),
            "{}",
            err.message
        );
        assert!(check_writable(&dir.path().join("new/x.json")).is_ok());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out/x.json");
        write_atomic(&p, "a").unwrap();
        write_atomic(&p, "b").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b");
    }
}
