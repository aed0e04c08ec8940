//! The output file: the IDs downstream scripts need to acquire tokens, one entry per app keyed
//! by `unique_name` (SPEC.md "Output file"), as JSON, env or TOML, written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Desired, OutputFormat};
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiEntry {
    pub name: String,
    pub app_id: String,
    pub resource_url: String,
    /// Full delegated scope strings: `https://api.security.microsoft.com/Incident.Read`.
    pub scopes: Vec<String>,
    /// Application permission values.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub service_principal_id: String,
    pub authority: String,
    pub redirect_uris: Vec<String>,
    pub apis: Vec<ApiEntry>,
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
    for (app, p) in desired.apps.iter().zip(&plan.apps) {
        let Some((client_id, object_id, sp_id)) = ids.get(&app.unique_name) else {
            continue;
        };
        let apis = p
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| ApiEntry {
                name: r.name.clone(),
                app_id: r.app_id.clone(),
                resource_url: r.resource_url.clone(),
                scopes: p
                    .delegated
                    .get(i)
                    .map(|(_, s)| s.iter().map(|v| format!("{}/{v}", r.resource_url)).collect())
                    .unwrap_or_default(),
                roles: p
                    .application_permissions
                    .get(i)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default(),
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
    tempfile::NamedTempFile::new_in(dir).map_err(cannot)?;
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
