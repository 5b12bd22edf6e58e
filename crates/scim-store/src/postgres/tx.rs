//! Running one unit of the store's work in one PostgreSQL transaction.

use std::sync::Arc;

use deadpool_postgres::Object;
use tokio::runtime::Handle;

use std::time::Duration;

use super::analyze::Analyzer;
use super::db::{PgDb, wait};
use crate::StoreError;
use crate::sql::db::Db;

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// READ COMMITTED: every statement sees the latest committed rows, and the row locks
    /// the store takes (`FOR UPDATE` on the resource, the tenant's change counter) order
    /// concurrent writers. A write that waits for a lock re-reads the row once it has it.
    Write,
    /// REPEATABLE READ READ ONLY: every statement of a read sees one snapshot, so a page and
    /// its totalResults, or a group and its members, always agree.
    Read,
}

/// How a write transaction starts.
pub(crate) const WRITE_BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE";

impl Mode {
    fn begin(self) -> &'static str {
        match self {
            Mode::Write => WRITE_BEGIN,
            Mode::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }
}

/// A pooled connection that goes back to the pool only if its last transaction ended
/// cleanly; otherwise (a broken connection, a failed rollback, a panic in the work) it is
/// closed, so that no one is ever handed a connection in an unknown state.
pub(crate) struct Lease {
    pub(crate) conn: Option<Object>,
    pub(crate) clean: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.clean
        {
            drop(Object::take(conn));
        }
    }
}

/// Runs `f` in a transaction of the given mode on `conn`, on the current (blocking)
/// thread. On `Ok` the transaction has committed; on `Err` nothing of it remains.
pub(crate) fn run<T>(
    handle: &Handle,
    conn: Object,
    mode: Mode,
    deadline: Duration,
    analyzer: &Arc<Analyzer>,
    f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut lease = Lease {
        conn: Some(conn),
        clean: false,
    };
    let Some(client) = lease.conn.as_deref() else {
        return Err(StoreError::Database("no connection".into()));
    };
    let mut db = PgDb::new(client, handle, mode.begin().to_string(), deadline);
    let result = f(&mut db);
    // The answers still due: whether every statement succeeded.
    let settled = db.finish();
    let (began, rows) = (db.began(), db.rows_written);
    let broken = db.broken().is_some();
    drop(db);
    if !began {
        // The work ran no statement: there is no transaction to end.
        lease.clean = true;
        return result;
    }
    let outcome = match (result, settled) {
        (Ok(value), Ok(())) => match wait(handle, deadline, client.batch_execute("COMMIT")) {
            Ok(()) => {
                analyzer.note(rows);
                Ok(value)
            }
            // The outcome of a COMMIT whose answer was lost is unknown: never report success.
            Err(e) => Err(e.to_store()),
        },
        (Ok(_), Err(e)) | (Err(e), _) => {
            rollback(handle, deadline, &mut lease, broken);
            return Err(e);
        }
    };
    lease.clean = outcome.is_ok();
    outcome
}

/// Ends a transaction that failed (unless its connection is gone: then the connection is
/// dropped instead).
pub(crate) fn rollback(handle: &Handle, deadline: Duration, lease: &mut Lease, broken: bool) {
    if broken {
        return;
    }
    if let Some(client) = lease.conn.as_deref() {
        lease.clean = wait(handle, deadline, client.batch_execute("ROLLBACK")).is_ok();
    }
}
