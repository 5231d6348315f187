//! One agent per database: two processes on one journal (say the upstream `order_process`
//! and `event_process` units side by side) would race each other on the same orders. The
//! first process holds an exclusive lock on `<database_path>.lock`, which names its PID; a
//! second one stops with an error naming the holder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Held for the life of the process; the kernel releases it when the process ends, however
/// it ends (no stale lock after a crash).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// The lock file that guards `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut p = database.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the lock, or explains who holds it.
pub fn acquire(database: &Path) -> Result<InstanceLock, String> {
    let path = lock_path(database);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = text
                .trim()
                .parse::<u32>()
                .map(|pid| format!("PID {pid}"))
                .unwrap_or_else(|_| "another process".into());
            return Err(format!(
                "another site-agent ({holder}) is already using the database {}: one agent \
                 process per database (run every role in one process with `site-agent run`, \
                 or give each process its own database_path)",
                database.display()
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    let pid = std::process::id();
    let written = file
        .set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{pid}"))
        .and_then(|_| file.flush());
    if let Err(e) = written {
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(InstanceLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.sqlite3");
        let first = acquire(&db).unwrap();
        assert_eq!(first.path, dir.path().join("state.sqlite3.lock"));
        let e = acquire(&db).unwrap_err();
        assert!(e.contains(&format!("PID {}", std::process::id())), "{e}");
        assert!(e.contains("site-agent run"), "{e}");
        drop(first);
        acquire(&db).expect("free again once the holder is gone");
    }
}
