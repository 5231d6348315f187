//! Local state in embedded SQLite: the order journal, the key ledger, the ceilings last
//! applied, adopted users, the event inbox, usage samples and the report outbox. One connection; calls run on the blocking pool, serialised
//! by a mutex.

pub mod adoptions;
pub mod ceilings;
mod inbox;
mod journal;
pub mod keys;
mod migrations;
pub mod prune;
pub mod usage;

pub use inbox::InboxItem;
pub use journal::{JournalEntry, JournalStep};
pub use keys::{KeyIntent, LedgerRow};

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, thiserror::Error)]
#[error("local state database: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed, owner-only) the database at `path` and migrates it to the
    /// latest schema. Only a real file will do: the journal must survive the process.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        check_path(path).map_err(StoreError)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        create_private(path)?;
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL for everything that can be redone (a step journaled after it happened, a
        // sample, a figure recomputed from samples): a power loss may lose the last commits,
        // never corrupt. Rows that announce a step *before* it runs use `call_durable`.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::migrate(conn)
    }

    /// Bytes on disk: the database plus its write-ahead log.
    pub async fn size_bytes(&self) -> Result<u64, StoreError> {
        self.call(|c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let wal = c
                .path()
                .map(|p| format!("{p}-wal"))
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .unwrap_or(0);
            Ok((pages.max(0) as u64) * (size.max(0) as u64) + wal)
        })
        .await
    }

    /// A private in-memory database (tests, dry runs).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::migrate(Connection::open_in_memory()?)
    }

    fn migrate(mut conn: Connection) -> Result<Self, StoreError> {
        migrations::migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError(format!("migration failed: {e}")))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// As [`Self::call`], committed with `synchronous=FULL`: on disk before this returns, even
    /// across a power loss. For rows written *before* the step they announce (a key about to
    /// be applied, an event about to be acknowledged); everything else is redone if lost.
    pub async fn call_durable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.call(move |c| {
            c.pragma_update(None, "synchronous", "FULL")?;
            let r = f(c);
            c.pragma_update(None, "synchronous", "NORMAL")?;
            r
        })
        .await
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| StoreError("connection lock poisoned".into()))?;
            f(&guard).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError(format!("database task failed: {e}")))?
    }
}

/// Refuses names SQLite would not keep on disk (`""` is a private temporary database,
/// `:memory:` and `file:` URIs may be in memory): the journal would vanish with the process.
pub fn check_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if text.trim().is_empty() {
        return Err(
            "`database_path` must name a file (an empty path keeps nothing after a restart)".into(),
        );
    }
    if text.starts_with(':') || text.starts_with("file:") {
        return Err(format!(
            "`database_path` {text:?} is not a file path: the order journal must survive restarts"
        ));
    }
    if path.is_dir() {
        return Err(format!(
            "`database_path` {text:?} is a directory, not a file"
        ));
    }
    Ok(())
}

/// Creates the file readable by its owner only (it holds the journal of every resource) and
/// tightens an existing one.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| StoreError(format!("cannot create {}: {e}", path.display()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    let mode = f.metadata().map_err(fail)?.permissions().mode();
    if mode & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_keep_nothing() {
        for bad in [
            "",
            "  ",
            ":memory:",
            "file::memory:?cache=shared",
            "file:x.db",
        ] {
            let e = Store::open(Path::new(bad)).err().expect(bad);
            assert!(e.0.contains("database_path"), "{bad}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Store::open(dir.path())
                .err()
                .unwrap()
                .0
                .contains("directory")
        );
    }

    #[tokio::test]
    async fn creates_the_database_owner_only_with_full_sync_where_it_matters() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.sqlite3");
        let s = Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let sync = |s: &Store| {
            let s = s.clone();
            async move {
                s.call(|c| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
                    .await
                    .unwrap()
            }
        };
        assert_eq!(sync(&s).await, 1, "NORMAL for what can be redone");
        let inside = s
            .call_durable(|c| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        assert_eq!(inside, 2, "FULL for a row written before its step");
        assert_eq!(sync(&s).await, 1, "and back");
        assert!(s.size_bytes().await.unwrap() > 0);
        // An existing world-readable file is tightened.
        drop(s);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
