//! The state every request handler shares: the tenant behind a lock, the signing key, the
//! fault injector, the request log, and where the tenant is saved (`--state FILE`).
//!
//! Several processes may share one state file (`apply --emulator --emulator-state st.json` run
//! four times at once, or next to a standalone `provision emulator --state st.json`). Each
//! write is a read-modify-write of the file under an exclusive lock on `FILE.lock`
//! ([`Shared::lock_state_file`]): the tenant is read again when another process saved it since
//! (every access compares the file's identity, size and modification time with what this
//! process last read or wrote), changed, and saved before the lock is released. No write is
//! lost, and every process sees the others' writes at its next request.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::clock::Clock;
use super::faults::Injector;
use super::identity::keys::SigningKey;
use super::log::RequestLog;
use super::store::Tenant;

pub struct Shared {
    tenant: Mutex<Tenant>,
    /// The emulator's clock (the tenant holds the same one): read it here without locking the
    /// tenant.
    pub clock: Clock,
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
    /// The state file as this process last read or wrote it.
    seen: Mutex<Option<Stamp>>,
}

/// What tells one version of the state file from another: saves replace the file (a new inode)
/// and change its modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// An exclusive lock on `FILE.lock`, held for one read-modify-write of the state file and
/// released when dropped (the lock belongs to the open file).
pub struct StateLock {
    _file: File,
}

/// Lock `FILE.lock` next to the state file, waiting for another process's write to finish.
pub fn lock_file(state: &Path) -> std::io::Result<StateLock> {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    file.lock()?;
    Ok(StateLock { _file: file })
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
            clock: tenant.clock.clone(),
            tenant: Mutex::new(tenant),
            signing_key,
            base_url,
            state_path,
            injector: Mutex::new(injector),
            log: Mutex::new(RequestLog::default()),
            manual_approval,
            // Unknown: the first access reads the file again, in case another process wrote it
            // after this one loaded it.
            seen: Mutex::new(None),
        }
    }

    /// The tenant, locked, as the state file holds it now: when another process saved the file
    /// since this one last read or wrote it, it is read again first. Do not hold it across an
    /// `.await`.
    pub fn tenant(&self) -> MutexGuard<'_, Tenant> {
        let mut tenant = lock(&self.tenant);
        if let Some(path) = &self.state_path {
            let now = stamp(path);
            let mut seen = lock(&self.seen);
            if now.is_some() && now != *seen {
                // An unreadable file (being replaced, or damaged) keeps what is in memory; the
                // next access tries again.
                if let Ok(mut fresh) = load_state(path) {
                    fresh.keep_knobs(&tenant);
                    fresh.extra_domains = std::mem::take(&mut tenant.extra_domains);
                    *tenant = fresh;
                    *seen = now;
                }
            }
        }
        tenant
    }

    /// Hold the state file for a read-modify-write: take the lock, then read the tenant with
    /// [`Shared::tenant`], change it and [`Shared::persist`] it before dropping the lock.
    /// `None` without a state file.
    pub fn lock_state_file(&self) -> std::io::Result<Option<StateLock>> {
        self.state_path.as_deref().map(lock_file).transpose()
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
        save_state(path, tenant)?;
        *lock(&self.seen) = stamp(path);
        Ok(())
    }
}

/// Write `tenant` to `path` atomically.
pub fn save_state(path: &std::path::Path, tenant: &Tenant) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(tenant)?;
    text.push(b'\n');
    crate::fsutil::write_atomic(path, &text, true)
}

/// Read a tenant saved by [`save_state`].
pub fn load_state(path: &std::path::Path) -> std::io::Result<Tenant> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}
