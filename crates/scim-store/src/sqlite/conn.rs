//! Opening SQLite connections, migrations, the group-commit writer and the reader pool.
//!
//! Writes go to one writer thread. It takes every job waiting in its queue, runs each in a
//! savepoint of one transaction, commits once (one fsync for the whole batch) and only then
//! answers each job. Concurrent writers therefore share commits instead of queueing behind
//! one fsync each, and a job's answer means its changes are on disk. WAL checkpoints run on
//! a thread of their own (`checkpoint.rs`), not inside the writer's commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use super::checkpoint::{self, Checkpoints, Limits};
use crate::error::StoreError;

const MIGRATIONS: [&str; 11] = [
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
];

/// Most jobs committed together in one transaction.
const MAX_BATCH: usize = 512;
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

/// A unit of work for the writer.
trait Job: Send {
    /// Runs inside the batch transaction; returns whether it succeeded and what to do once
    /// the batch's commit has an outcome.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher);
    /// Answers the job without running it (the transaction could not start).
    fn abort(self: Box<Self>, error: StoreError);
}

type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct TypedJob<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Finisher) {
        let TypedJob { f, reply } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let finish: Finisher = Box::new(move |commit| {
            let outcome = match (result, commit) {
                (Ok(v), Ok(())) => Ok(v),
                (Ok(_), Err(e)) | (Err(e), _) => Err(e),
            };
            let _ = reply.send(outcome);
        });
        (ok, finish)
    }

    fn abort(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The handle to the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: std::sync::mpsc::SyncSender<Box<dyn Job>>,
    /// Jobs sent and not yet taken by the writer thread (`/metrics`).
    queued: Arc<AtomicUsize>,
    #[cfg(test)]
    pub(crate) checkpoints: super::checkpoint::Probe,
}

impl Writer {
    /// Starts the writer thread on `conn` (a read-write connection to `path`) and its
    /// checkpointer. Both threads end once every `Writer` handle is dropped.
    pub(crate) fn start(conn: Connection, path: &Path) -> Result<Writer, StoreError> {
        Writer::start_with(conn, path, Limits::default())
    }

    pub(crate) fn start_with(
        mut conn: Connection,
        path: &Path,
        limits: Limits,
    ) -> Result<Writer, StoreError> {
        checkpoint::configure_writer(&conn, limits)?;
        // Room for the statements of every write, several sizes of multi-row ones included.
        conn.set_prepared_statement_cache_capacity(256);
        let checkpoints = checkpoint::start(path, limits)?;
        #[cfg(test)]
        let probe = checkpoints.probe();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Box<dyn Job>>(4096);
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        std::thread::Builder::new()
            .name("scim-sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    checkpoints.begin_batch();
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    taken.fetch_sub(batch.len(), Ordering::Relaxed);
                    run_batch(&mut conn, batch, &checkpoints);
                }
                // `checkpoints` is dropped here: the checkpointer ends too.
            })
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            tx,
            queued,
            #[cfg(test)]
            checkpoints: probe,
        })
    }

    /// Runs `f` in the next batch transaction; answers once the batch is committed.
    /// If `f` fails, its changes are rolled back and the others in the batch are unaffected.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Box<dyn Job> = Box::new(TypedJob { f, reply });
        let stopped = || StoreError::Unavailable("the SQLite writer stopped".into());
        // Counted before it is sent, so that the writer never takes more than was counted.
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(job)) => {
                // The queue is bounded: wait for room off the async threads.
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || tx.send(job))
                    .await
                    .map_err(|_| stopped())?
                    .map_err(|_| stopped())?;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        // The job's answer is dropped without a reply only if the job panicked.
        let answer = answer
            .await
            .map_err(|_| StoreError::Database("the write failed unexpectedly".into()))?;
        crate::sql::metrics::write_done("sqlite", started.elapsed());
        answer
    }

    /// Writes waiting for the writer thread.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Runs a statement without parameters from the connection's statement cache
/// (`execute_batch` parses its text on every call: several times per request here).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_batch(conn: &mut Connection, batch: Vec<Box<dyn Job>>, checkpoints: &Checkpoints) {
    let started = std::time::Instant::now();
    let writes = batch.len();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        checkpoints.end_batch();
        let e = StoreError::from(e);
        for job in batch {
            job.abort(e.clone());
        }
        return;
    }
    let mut finishers = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            job.abort(e.into());
            continue;
        }
        // A panic in one job (a bug) must not stop the writer for every tenant: its changes
        // are rolled back, its caller gets an error, and the batch goes on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
        let (ok, finish) = match run {
            Ok(done) => done,
            Err(_) => {
                tracing::error!("a write job panicked; its changes were rolled back");
                (false, Box::new(|_| {}) as Finisher)
            }
        };
        let end = if ok {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            tracing::error!(error = %e, "savepoint handling failed");
        }
        finishers.push(finish);
    }
    let commit = exec(conn, "COMMIT").map_err(StoreError::from);
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    checkpoints.end_batch();
    crate::sql::metrics::commit_done("sqlite", writes, started.elapsed());
    for finish in finishers {
        finish(commit.clone());
    }
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
