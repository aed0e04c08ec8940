//! Files written whole or not at all: every file `provision` writes (the output file, an imported
//! manifest, `init --force`, the sign-in cache) goes through [`write_atomic`].

use std::io::Write as _;
use std::path::Path;

/// Who may read a file [`write_atomic`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (mode 0600 on Unix): it holds a token or a secret.
    Private,
    /// The owner writes, everyone reads (mode 0644 on Unix), as for a file a user saves.
    Shared,
}

/// Write `bytes` to `path` through a temporary file in the same folder (made if missing),
/// renamed over `path`: a reader or a crash sees the old file or the new one,
/// never half of one. The temporary file has `access` from its creation, so a secret is never
/// readable by others, not even for a moment.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(match access {
            Access::Private => 0o600,
            Access::Shared => 0o644,
        }));
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_with_the_access_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"a", Access::Shared).unwrap();
        write_atomic(&p, b"b", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b");
        // Nothing but the file is left in its folder.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p), 0o600);
            write_atomic(&p, b"c", Access::Shared).unwrap();
            assert_eq!(mode(&p), 0o644);
        }
    }
}
