//! Files the emulator writes (its state, its CA and key under `--tls`), whole or not at all.

use std::io::Write as _;
use std::path::Path;

/// Write `bytes` to `path` through a temporary file in the same folder (made if missing), flushed
/// to disk and renamed over it: a crash leaves the old file or the new one. `private`: readable by
/// the owner only (0600 on Unix) from the temporary file's creation: the state holds client
/// secrets and the signing key.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(if private {
            0o600
        } else {
            0o644
        }));
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
