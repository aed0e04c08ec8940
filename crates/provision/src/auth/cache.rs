//! The token cache of interactive sign-ins: one refresh token per authority, tenant and client,
//! each in its own file of mode 0600 in a folder of mode 0700, so a second command does not
//! prompt again (README.md "Signing in", the sign-in cache). `provision logout` empties it.
//!
//! The folder is `$PROVISION_CACHE_DIR`, else `{user cache dir}/provision/signins` (Linux:
//! `~/.cache/provision/signins`). Only refresh tokens are kept: an access token lives an hour,
//! and a refresh token can be redeemed for any resource the client is consented to
//! (docs/graph-notes.md §7 "Refresh token"), so one entry serves every API of the app.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{Error, Result};

/// Where an interactive sign-in happened and what it left behind.
#[derive(Clone, Serialize, Deserialize)]
pub struct Entry {
    /// e.g. `https://login.microsoftonline.com`
    pub authority: String,
    /// The tenant as the sign-in named it: a GUID, a domain or `organizations`.
    pub tenant: String,
    pub client_id: String,
    /// The `tid` of the tokens it gave.
    pub tenant_id: String,
    /// Who signed in (`upn` or `preferred_username`), for `logout` to say.
    #[serde(default)]
    pub account: Option<String>,
    pub refresh_token: String,
    pub saved_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The refresh token never reaches a log.
        f.debug_struct("Entry")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        TokenCache { dir: dir.into() }
    }

    /// `$PROVISION_CACHE_DIR`, else the user's cache directory.
    pub fn default_location() -> Result<Self> {
        if let Some(dir) = std::env::var_os("PROVISION_CACHE_DIR").filter(|d| !d.is_empty()) {
            return Ok(Self::at(dir));
        }
        let base = dirs::cache_dir().or_else(dirs::state_dir).ok_or_else(|| {
            Error::failure("cannot find a cache directory for signed-in sessions")
                .with_help("set PROVISION_CACHE_DIR to a folder only you can read")
        })?;
        Ok(Self::at(base.join("provision").join("signins")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, authority: &str, tenant: &str, client_id: &str) -> PathBuf {
        let key = format!(
            "{}|{}|{}",
            authority.trim_end_matches('/').to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            client_id.to_ascii_lowercase()
        );
        let digest = sha2::Sha256::digest(key.as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    /// The cached sign-in, if any. A file that cannot be read or parsed counts as none: the
    /// user signs in again and it is replaced.
    pub fn get(&self, authority: &str, tenant: &str, client_id: &str) -> Option<Entry> {
        let text = std::fs::read_to_string(self.path(authority, tenant, client_id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn put(&self, entry: &Entry) -> Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.path(&entry.authority, &entry.tenant, &entry.client_id);
        let text = serde_json::to_string_pretty(entry)
            .map_err(|e| Error::failure("cannot serialise the sign-in cache").with_source(e))?;
        crate::fsutil::write_atomic(&path, text.as_bytes(), crate::fsutil::Access::Private)
            .map_err(|e| Error::failure(format!("cannot write `{}`", path.display())).with_source(e))?;
        Ok(())
    }

    pub fn remove(&self, authority: &str, tenant: &str, client_id: &str) -> Result<()> {
        remove_file(&self.path(authority, tenant, client_id))
    }

    /// Every cached sign-in.
    pub fn entries(&self) -> Vec<(PathBuf, Option<Entry>)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, Option<Entry>)> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let entry = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                (p, entry)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Forget the sign-ins whose tenant (as named, or its id) is `tenant`, or all of them.
    /// Returns what was forgotten.
    pub fn clear(&self, tenant: Option<&str>) -> Result<Vec<Entry>> {
        let mut removed = Vec::new();
        for (path, entry) in self.entries() {
            let matches = match (tenant, &entry) {
                (None, _) => true,
                (Some(t), Some(e)) => e.tenant.eq_ignore_ascii_case(t) || e.tenant_id.eq_ignore_ascii_case(t),
                (Some(_), None) => false,
            };
            if matches {
                remove_file(&path)?;
                if let Some(e) = entry {
                    removed.push(e);
                }
            }
        }
        Ok(removed)
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::failure(format!("cannot remove `{}`", path.display())).with_source(e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::failure(format!("cannot create the folder `{}`", dir.display())).with_source(e)
    })?;
    set_private(dir, 0o700)
}

#[cfg(unix)]
fn set_private(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::failure(format!("cannot restrict access to `{}`", path.display())).with_source(e))
}

#[cfg(not(unix))]
fn set_private(_path: &Path, _mode: u32) -> Result<()> {
    // Elsewhere the file inherits the user profile's access rules.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, client: &str) -> Entry {
        Entry {
            authority: "https://login.microsoftonline.com".into(),
            tenant: tenant.into(),
            client_id: client.into(),
            tenant_id: "84841066-274d-4ec0-a5c1-276be684bdd3".into(),
            account: Some("admin@contoso.onmicrosoft.com".into()),
            refresh_token: "rt-secret".into(),
            saved_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn entries_are_per_tenant_and_client_private_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("signins"));
        cache.put(&entry("organizations", "a")).unwrap();
        cache.put(&entry("contoso.onmicrosoft.com", "a")).unwrap();
        cache.put(&entry("organizations", "b")).unwrap();
        assert_eq!(cache.entries().len(), 3);
        let got = cache
            .get("https://login.microsoftonline.com/", "ORGANIZATIONS", "a")
            .unwrap();
        assert_eq!(got.refresh_token, "rt-secret");
        assert!(!format!("{got:?}").contains("rt-secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (p, _) in cache.entries() {
                assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
            }
            let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        let removed = cache.clear(Some("contoso.onmicrosoft.com")).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(cache.entries().len(), 2);
        cache
            .remove("https://login.microsoftonline.com", "organizations", "b")
            .unwrap();
        assert!(
            cache
                .get("https://login.microsoftonline.com", "organizations", "b")
                .is_none()
        );
        assert_eq!(cache.clear(None).unwrap().len(), 1);
        assert!(cache.entries().is_empty());
    }
}
