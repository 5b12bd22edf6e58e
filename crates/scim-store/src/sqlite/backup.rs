//! Online backups of a SQLite database (`scim backup`), and restoring one into an empty
//! data directory (`scim restore-backup`).
//!
//! A backup is `VACUUM INTO` run on a read-only connection: SQLite writes a compact copy
//! of the database as of the start of that read transaction — one consistent snapshot,
//! taken beside a running server (WAL mode: readers never block the writer, nor it them).
//! Every write a server acknowledged before the backup began is in the copy, because an
//! acknowledged write is committed and on disk (`synchronous=FULL`). The copy is a plain
//! database file (no `-wal`), owner-only (0600) like the database itself.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

fn db_error(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{what} {}: {e}", path.display()))
}

/// What a backup or restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The size of the copy, in bytes.
    pub bytes: u64,
    /// Rows of `tenants`, `resources` and `changes` in the copy.
    pub tenants: i64,
    /// Rows of `resources`.
    pub resources: i64,
    /// Rows of `changes`.
    pub changes: i64,
}

fn report(path: &Path) -> Result<BackupReport, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| db_error("cannot open", path, e))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| db_error("cannot check", path, e))?;
    if check != "ok" {
        return Err(db_error("integrity check failed for", path, check));
    }
    let count = |table: &str| -> Result<i64, StoreError> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| db_error("not a scim database:", path, e))
    };
    Ok(BackupReport {
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        tenants: count("tenants")?,
        resources: count("resources")?,
        changes: count("changes")?,
    })
}

/// Creates `to` empty and owner-only; refuses to overwrite anything.
fn create_owner_only(to: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(to)
        .map(drop)
        .map_err(|e| db_error("cannot create", to, e))
}

/// Writes a consistent copy of the database at `from` to the new file `to` (which must
/// not exist), while servers may be reading and writing it. The copy is checked
/// (`integrity_check`) before this returns.
pub fn backup(from: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    if !from.exists() {
        return Err(db_error(
            "there is no database at",
            from,
            "(nothing to back up)",
        ));
    }
    let conn = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error("cannot open", from, e))?;
    // A server may be checkpointing or committing: wait for locks rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| db_error("cannot configure", from, e))?;
    create_owner_only(to)?;
    let target = to.to_string_lossy().into_owned();
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(to);
        return Err(db_error("cannot back up", from, e));
    }
    report(to)
}

/// Restores a backup as the database `to` of an empty data directory: checks the backup,
/// then copies it in (owner-only). Refuses to overwrite an existing database.
pub fn restore(backup_file: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    let checked = report(backup_file)?;
    for suffix in ["", "-wal", "-shm"] {
        let f = std::path::PathBuf::from(format!("{}{suffix}", to.display()));
        if f.exists() {
            return Err(db_error(
                "refusing to overwrite",
                &f,
                "(restore into an empty data directory, with no server running)",
            ));
        }
    }
    super::files::owner_only(to)?;
    std::fs::copy(backup_file, to).map_err(|e| db_error("cannot write", to, e))?;
    let restored = report(to)?;
    if restored
        != (BackupReport {
            bytes: restored.bytes,
            ..checked
        })
    {
        return Err(db_error(
            "the restored copy differs from",
            backup_file,
            "(disk?)",
        ));
    }
    Ok(restored)
}
