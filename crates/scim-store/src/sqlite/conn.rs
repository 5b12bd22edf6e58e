//! Opening SQLite connections, migrations and the reader pool (the writer is in
//! `writer.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::error::StoreError;

const MIGRATIONS: [&str; 12] = [
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_events_admin.sql"),
    include_str!("../../migrations/sqlite/0003_tenant_settings_tokens.sql"),
    include_str!("../../migrations/sqlite/0004_delivery.sql"),
    include_str!("../../migrations/sqlite/0005_ops.sql"),
    include_str!("../../migrations/sqlite/0006_targets.sql"),
    include_str!("../../migrations/sqlite/0007_manage.sql"),
    include_str!("../../migrations/sqlite/0008_operator.sql"),
    include_str!("../../migrations/sqlite/0009_roles2.sql"),
    include_str!("../../migrations/sqlite/0010_requests.sql"),
    include_str!("../../migrations/sqlite/0011_admin_last_used.sql"),
    include_str!("../../migrations/sqlite/0012_packed_documents.sql"),
];

const READERS: usize = 8;

pub(crate) fn open(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL: readers never block the writer. synchronous=FULL: every commit is fsync'd, so an
    // acknowledged write survives a power loss.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    // Page cache: 32 MB for the writer; 8 MB for each of the 8 readers, whose caches, filled
    // by scans of a 1,000,000-user tenant, took the server from 110 to 312 MiB (the file's
    // pages stay in the operating system's cache either way).
    let cache_kib = if read_only { 8_000 } else { 32_000 };
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies the migrations this build knows and the database has not seen.
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database is at schema version {current}, newer than this build ({}); upgrade scim",
            MIGRATIONS.len()
        )));
    }
    let mut applied = 0;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}

/// Runs a statement without parameters from the connection's statement cache
/// (`execute_batch` parses its text on every call: several times per request here).
pub(crate) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A small pool of read-only connections used from blocking threads.
#[derive(Clone)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// Runs `f` with a read connection on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("reader pool closed".into()))?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match idle.lock().ok().and_then(|mut v| v.pop()) {
                Some(c) => c,
                None => open(&path, true)?,
            };
            in_snapshot(&idle, conn, f)
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Runs a short read (a few indexed rows, tens of microseconds) on the calling thread
    /// when a connection is idle: handing it to a blocking thread and back costs more than
    /// the read (two context switches and the wake-ups of the thread pool). Otherwise it
    /// waits for a connection like [`Readers::read`].
    pub(crate) async fn read_here<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return self.read(f).await;
        };
        let Some(conn) = self.idle.lock().ok().and_then(|mut v| v.pop()) else {
            // Opening a connection reads the schema from disk: not on this thread.
            drop(permit);
            return self.read(f).await;
        };
        let _permit = permit;
        // A panic (a bug) fails this request, like one on a blocking thread would.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_snapshot(&self.idle, conn, f)
        }))
        .map_err(|_| StoreError::Database("the read failed unexpectedly".into()))?
    }
}

/// Runs `f` in one read transaction, so that every query of `f` sees the same snapshot (a
/// page and its total, a group and its members), and returns the connection to the pool.
fn in_snapshot<T>(
    idle: &Mutex<Vec<Connection>>,
    conn: Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    exec(&conn, "BEGIN")?;
    let result = f(&conn);
    let ended = exec(&conn, "COMMIT");
    if ended.is_ok()
        && let Ok(mut v) = idle.lock()
    {
        v.push(conn);
    }
    result
}
