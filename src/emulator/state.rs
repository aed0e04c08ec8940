//! The state every request handler shares: the tenant behind a lock, the signing key, the
//! fault injector, the request log, and where the tenant is saved (`--state FILE`).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::faults::Injector;
use super::identity::keys::SigningKey;
use super::log::RequestLog;
use super::store::Tenant;

pub struct Shared {
    tenant: Mutex<Tenant>,
    /// The tenant's token-signing key, parsed once from the PEMs in `Tenant::identity`.
    pub signing_key: SigningKey,
    /// `http://127.0.0.1:PORT` (or `https://` under `--tls`): the authority URL; Graph is under
    /// `/v1.0`.
    pub base_url: String,
    pub state_path: Option<PathBuf>,
    pub injector: Mutex<Injector>,
    pub log: Mutex<RequestLog>,
    /// `--manual-approval`: device codes wait for `/_emulator/devicecode/{code}/approve`.
    pub manual_approval: bool,
}

/// A lock whose holder panicked still guards consistent data here (every store operation
/// validates before it writes), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(
        tenant: Tenant,
        signing_key: SigningKey,
        base_url: String,
        state_path: Option<PathBuf>,
        injector: Injector,
        manual_approval: bool,
    ) -> Self {
        Shared {
            tenant: Mutex::new(tenant),
            signing_key,
            base_url,
            state_path,
            injector: Mutex::new(injector),
            log: Mutex::new(RequestLog::default()),
            manual_approval,
        }
    }

    /// The tenant, locked. Do not hold it across an `.await`.
    pub fn tenant(&self) -> MutexGuard<'_, Tenant> {
        lock(&self.tenant)
    }

    pub fn injector(&self) -> MutexGuard<'_, Injector> {
        lock(&self.injector)
    }

    pub fn request_log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.log)
    }

    /// Graph's base URL, `{base}/v1.0`.
    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    /// Save the tenant to `--state FILE` atomically (temp file in the same folder + rename),
    /// readable by the owner only: it holds client secrets and the signing key.
    pub fn persist(&self, tenant: &Tenant) -> std::io::Result<()> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        save_state(path, tenant)
    }
}

/// Write `tenant` to `path` atomically.
pub fn save_state(path: &std::path::Path, tenant: &Tenant) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    serde_json::to_writer_pretty(&mut tmp, tenant)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Read a tenant saved by [`save_state`].
pub fn load_state(path: &std::path::Path) -> std::io::Result<Tenant> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}
