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
///
/// The temporary file is named `.{file name}.{random}.tmp`. A process killed between its
/// creation and the rename (SIGKILL runs no destructor) leaves it behind; the next write of the
/// same file removes such leftovers. Writers hold an exclusive lock on the folder (`flock`,
/// released by the kernel when a process dies) from the clean-up to the rename, so a writer
/// never removes the temporary file of another one still writing.
pub fn write_atomic(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    // A folder that cannot be opened for the lock (no read permission) is written without the
    // lock and without the clean-up.
    let lock = lock_folder(dir);
    if lock.is_some() {
        remove_leftovers(dir, &prefix);
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
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
    drop(lock);
    Ok(())
}

/// Whether `file_name` is a temporary file [`write_atomic`] makes for a file whose temporary
/// files start with `prefix` (`.{file name}.`).
pub fn is_leftover(file_name: &str, prefix: &str) -> bool {
    file_name.len() > prefix.len() + ".tmp".len()
        && file_name.starts_with(prefix)
        && file_name.ends_with(".tmp")
}

/// The folder opened and locked exclusively (unlocked when dropped, or by the kernel when the
/// process dies).
#[cfg(unix)]
fn lock_folder(dir: &Path) -> Option<std::fs::File> {
    let folder = std::fs::File::open(dir).ok()?;
    folder.lock().ok()?;
    Some(folder)
}

#[cfg(not(unix))]
fn lock_folder(_dir: &Path) -> Option<std::fs::File> {
    None
}

/// Remove the temporary files a killed writer of the same file left in `dir`.
fn remove_leftovers(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if is_leftover(&entry.file_name().to_string_lossy(), prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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

    #[test]
    fn a_write_removes_what_a_killed_writer_of_the_same_file_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        // What a writer killed before its rename leaves, and files that are not its leftovers.
        let left = dir.path().join(".out.json.Ab12Cd.tmp");
        let other_file = dir.path().join(".other.json.Ab12Cd.tmp");
        let not_tmp = dir.path().join(".out.json.keep");
        for f in [&left, &other_file, &not_tmp] {
            std::fs::write(f, "half").unwrap();
        }
        write_atomic(&p, b"{}", Access::Shared).unwrap();
        assert!(!left.exists(), "the leftover of out.json is removed");
        assert!(other_file.exists() && not_tmp.exists(), "nothing else is touched");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}");
    }

    #[test]
    fn leftovers_are_told_by_prefix_and_suffix() {
        assert!(is_leftover(".out.json.x1Y2z3.tmp", ".out.json."));
        assert!(!is_leftover(".out.json..tmp", ".out.json."));
        assert!(!is_leftover(".out.json.x1Y2z3", ".out.json."));
        assert!(!is_leftover("out.json", ".out.json."));
        assert!(!is_leftover(".out.jsonx.x1Y2z3.tmp", ".out.json."));
    }

    #[test]
    fn concurrent_writers_of_one_file_never_fail_and_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        std::thread::scope(|s| {
            for i in 0..8 {
                let p = &p;
                s.spawn(move || {
                    for j in 0..25 {
                        let body = format!("{{\"writer\": {i}, \"n\": {j}}}");
                        write_atomic(p, body.as_bytes(), Access::Shared).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{text}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
