//! The group-commit writer: one thread runs every write of the store.
//!
//! Writes queue in lanes, one per tenant (`lanes.rs`), served in turn. The writer takes the
//! next job, opens a transaction, and keeps taking jobs in turn — each in a savepoint of
//! its own — while jobs are waiting, up to [`MAX_BATCH`] jobs (and, if configured, a
//! bound on the batch's time); then it commits once (one fsync for the whole batch) and
//! only then answers each job. Concurrent writers therefore share commits instead of
//! queueing behind one fsync each, and a job's answer means its changes are on disk. WAL
//! checkpoints run on a thread of their own (`checkpoint.rs`), not inside the commits.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::{self, Checkpoints, Limits};
use super::conn::exec;
use super::lanes::{Lane, Lanes, PushError};
use crate::error::StoreError;

/// Most jobs committed together in one transaction.
const MAX_BATCH: usize = 512;

/// The batch time bound: none by default, or `SCIM_SQLITE_BATCH_MS` milliseconds of work
/// after which a batch takes no more jobs and commits (a tuning knob; 0 means none).
///
/// A bound lets the jobs served between a tenant's large writes (a PATCH of thousands of
/// values) be answered sooner, at the price of more commits (each an fsync) under load.
/// Measured (BENCHMARKS.md, 2026-12-03): with 10 ms, an initial `scim sync` of 100,000
/// users through Bulk took 53 s instead of 43 s, while a normal tenant's p99 beside one
/// sending 1,000-value PATCHes stayed at 100–450 ms either way (decided by the single
/// large job and the checkpoints after it, not by the queue): so no bound by default.
fn batch_time() -> Duration {
    match std::env::var("SCIM_SQLITE_BATCH_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) | None => Duration::MAX,
        Some(ms) => Duration::from_millis(ms),
    }
}

/// Jobs waiting before senders wait for room.
const QUEUE_CAPACITY: usize = 4096;

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

type Queue = Lanes<Box<dyn Job>>;

/// Closes the queue once the last [`Writer`] handle is gone, which ends the thread.
struct Sender(Arc<Queue>);

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The handle to the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    sender: Arc<Sender>,
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
        let queue: Arc<Queue> = Arc::new(Lanes::new(QUEUE_CAPACITY));
        let jobs = queue.clone();
        let bound = batch_time();
        std::thread::Builder::new()
            .name("scim-sqlite-writer".into())
            .spawn(move || {
                while let Some(first) = jobs.pop_blocking() {
                    checkpoints.begin_batch();
                    run_batch(&mut conn, first, &jobs, bound, &checkpoints);
                }
                // `checkpoints` is dropped here: the checkpointer ends too.
            })
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            sender: Arc::new(Sender(queue)),
            #[cfg(test)]
            checkpoints: probe,
        })
    }

    /// Runs `f` in a coming batch transaction, in `lane`'s turn; answers once the batch is
    /// committed. If `f` fails, its changes are rolled back and the others in the batch
    /// are unaffected.
    pub(crate) async fn write<T, F>(&self, lane: Lane, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel::<Result<T, StoreError>>();
        let job: Box<dyn Job> = Box::new(TypedJob { f, reply });
        let stopped = || StoreError::Unavailable("the SQLite writer stopped".into());
        match self.sender.0.try_push(lane, job) {
            Ok(()) => {}
            Err(PushError::Full(job)) => {
                // The queue is bounded: wait for room off the async threads.
                let queue = self.sender.0.clone();
                tokio::task::spawn_blocking(move || queue.push_blocking(lane, job))
                    .await
                    .map_err(|_| stopped())?
                    .map_err(|_| stopped())?;
            }
            Err(PushError::Closed(_)) => return Err(stopped()),
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
        self.sender.0.len()
    }
}

/// Runs one job in its savepoint; what answers it once the batch's outcome is known.
fn run_job(conn: &Connection, job: Box<dyn Job>) -> Option<Finisher> {
    if let Err(e) = exec(conn, "SAVEPOINT job") {
        job.abort(e.into());
        return None;
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
    Some(finish)
}

/// One transaction: `first`, then jobs in turn while they wait, within the batch's bounds.
fn run_batch(
    conn: &mut Connection,
    first: Box<dyn Job>,
    queue: &Queue,
    bound: Duration,
    checkpoints: &Checkpoints,
) {
    let started = Instant::now();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        checkpoints.end_batch();
        let e = StoreError::from(e);
        first.abort(e.clone());
        // Every waiting job would meet the same failure; answer them rather than retry
        // in a loop (the next write tries again).
        while let Some(job) = queue.try_pop() {
            job.abort(e.clone());
        }
        return;
    }
    let mut finishers = Vec::new();
    finishers.extend(run_job(conn, first));
    let mut writes = 1;
    while writes < MAX_BATCH && started.elapsed() < bound {
        let Some(job) = queue.try_pop() else {
            break;
        };
        finishers.extend(run_job(conn, job));
        writes += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_tenant_with_many_writes_queued_does_not_go_before_another_tenants_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanes.db");
        let conn = super::super::conn::open(&path, false).unwrap();
        let writer = Writer::start(conn, &path).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the writer inside a job of tenant 1 until every other write is queued.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let (w, order) = (writer.clone(), order.clone());
            tokio::spawn(async move {
                w.write(Some(1), move |_| {
                    let _ = started.send(());
                    let _ = held.recv();
                    order.lock().unwrap().push("a0");
                    Ok(())
                })
                .await
            })
        };
        running.await.unwrap();
        let mut queued = Vec::new();
        let mut queue = |lane: Lane, name: &'static str| {
            let (w, order) = (writer.clone(), order.clone());
            queued.push(tokio::spawn(async move {
                w.write(lane, move |_| {
                    order.lock().unwrap().push(name);
                    Ok(())
                })
                .await
            }));
        };
        for name in ["a1", "a2", "a3", "a4"] {
            queue(Some(1), name);
        }
        queue(Some(2), "b1");
        queue(None, "store");
        while writer.queued() < 6 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        for q in queued {
            q.await.unwrap().unwrap();
        }
        // Tenant 2's write and the store's own run after one more of tenant 1's, not
        // after all four.
        assert_eq!(
            *order.lock().unwrap(),
            ["a0", "a1", "b1", "store", "a2", "a3", "a4"]
        );
    }
}
