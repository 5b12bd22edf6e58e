//! The group-commit writer: one thread runs every write of the store.
//!
//! Writes queue in lanes, one per tenant (`lanes.rs`), served in turn. The writer takes the
//! next job, opens a transaction, and keeps taking jobs in turn — each in a savepoint of
//! its own — while jobs are waiting, up to [`MAX_BATCH`] jobs; then it commits once (one
//! fsync for the whole batch) and only then answers each job. Concurrent writers therefore
//! share commits instead of queueing behind one fsync each, and a job's answer means its
//! changes are on disk. A batch that holds writes of more than one tenant also commits once
//! it has run for [`shared_batch_time`]: otherwise a tenant's small write, served in its
//! turn between another tenant's large ones, would still wait for all of them to commit.
//! WAL checkpoints run on a thread of their own (`checkpoint.rs`), not inside the commits.

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

/// How long a batch holding writes of more than one tenant runs before it commits: 5 ms,
/// or `SCIM_SQLITE_BATCH_MS` milliseconds (0: no bound). A batch of one tenant's writes
/// (with the store's own) is never cut short, so a tenant's Bulk or burst keeps sharing
/// commits.
///
/// Without it, a normal tenant's write taken in its turn between another tenant's PATCHes
/// of 1,000 values each was answered only when the batch of all of them committed: 230–330
/// ms instead of 2–15 ms (BENCHMARKS.md, 2026-12-03, `scripts/bench-fairness`).
fn shared_batch_time() -> Duration {
    match std::env::var("SCIM_SQLITE_BATCH_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) => Duration::MAX,
        Some(ms) => Duration::from_millis(ms),
        None => SHARED_BATCH_TIME,
    }
}

/// The default of [`shared_batch_time`].
const SHARED_BATCH_TIME: Duration = Duration::from_millis(5);

/// Batches slower than this are logged at debug level (`SCIM_LOG=scim_store=debug`).
const SLOW_BATCH: Duration = Duration::from_millis(5);

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
        Writer::start_with(conn, path, Limits::default(), shared_batch_time())
    }

    /// [`Writer::start`] with these checkpoint limits and bound of a batch shared by
    /// several tenants.
    pub(crate) fn start_with(
        mut conn: Connection,
        path: &Path,
        limits: Limits,
        shared_bound: Duration,
    ) -> Result<Writer, StoreError> {
        checkpoint::configure_writer(&conn, limits)?;
        // Room for the statements of every write, several sizes of multi-row ones included.
        conn.set_prepared_statement_cache_capacity(256);
        let checkpoints = checkpoint::start(path, limits)?;
        #[cfg(test)]
        let probe = checkpoints.probe();
        let queue: Arc<Queue> = Arc::new(Lanes::new(QUEUE_CAPACITY));
        let jobs = queue.clone();
        std::thread::Builder::new()
            .name("scim-sqlite-writer".into())
            .spawn(move || {
                while let Some(first) = jobs.pop_blocking() {
                    checkpoints.begin_batch();
                    run_batch(&mut conn, first, &jobs, shared_bound, &checkpoints);
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

/// One transaction: `first`, then jobs in turn while they wait, up to [`MAX_BATCH`] and,
/// once it holds writes of two tenants, for at most `shared_bound`.
fn run_batch(
    conn: &mut Connection,
    (first_lane, first): (Lane, Box<dyn Job>),
    queue: &Queue,
    shared_bound: Duration,
    checkpoints: &Checkpoints,
) {
    let started = Instant::now();
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        checkpoints.end_batch();
        let e = StoreError::from(e);
        first.abort(e.clone());
        // Every waiting job would meet the same failure; answer them rather than retry
        // in a loop (the next write tries again).
        while let Some((_, job)) = queue.try_pop() {
            job.abort(e.clone());
        }
        return;
    }
    let mut finishers = Vec::new();
    finishers.extend(run_job(conn, first));
    let mut slowest = started.elapsed();
    let mut writes = 1;
    // The first tenant in the batch, and whether another one's writes wait on it too.
    let mut tenant = first_lane;
    let mut shared = false;
    while writes < MAX_BATCH && !(shared && started.elapsed() >= shared_bound) {
        let Some((lane, job)) = queue.try_pop() else {
            break;
        };
        match (tenant, lane) {
            (None, _) => tenant = lane,
            (Some(a), Some(b)) if a != b => shared = true,
            _ => {}
        }
        let job_started = Instant::now();
        finishers.extend(run_job(conn, job));
        slowest = slowest.max(job_started.elapsed());
        writes += 1;
    }
    let worked = started.elapsed();
    let commit = exec(conn, "COMMIT").map_err(StoreError::from);
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    checkpoints.end_batch();
    let took = started.elapsed();
    crate::sql::metrics::commit_done("sqlite", writes, took);
    if took >= SLOW_BATCH {
        // What a slow answer waited for: the batch's jobs, or its commit (fsync).
        tracing::debug!(
            writes,
            shared,
            work_ms = worked.as_secs_f64() * 1e3,
            slowest_job_ms = slowest.as_secs_f64() * 1e3,
            commit_ms = (took - worked).as_secs_f64() * 1e3,
            "slow SQLite write batch"
        );
    }
    for finish in finishers {
        finish(commit.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Order = Arc<Mutex<Vec<&'static str>>>;

    /// Holds the writer inside a job of tenant 1 (it records `a0` in `order` once released
    /// by the returned sender); returns once that job is running.
    async fn hold(
        writer: &Writer,
        order: &Order,
    ) -> (
        tokio::task::JoinHandle<Result<(), StoreError>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let (w, order) = (writer.clone(), order.clone());
        let first = tokio::spawn(async move {
            w.write(Some(1), move |_| {
                let _ = started.send(());
                let _ = held.recv();
                order.lock().unwrap().push("a0");
                Ok(())
            })
            .await
        });
        running.await.unwrap();
        (first, release)
    }

    #[tokio::test]
    async fn a_tenant_with_many_writes_queued_does_not_go_before_another_tenants_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanes.db");
        let conn = super::super::conn::open(&path, false).unwrap();
        let writer = Writer::start(conn, &path).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the writer inside a job of tenant 1 until every other write is queued.
        let (first, release) = hold(&writer, &order).await;
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

    /// A batch holding two tenants' writes commits once it has run for the bound: the
    /// tenant with one small write is answered before the other tenant's long writes
    /// queued after it have run, not with all of them.
    #[tokio::test]
    async fn a_batch_shared_by_two_tenants_commits_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let conn = super::super::conn::open(&path, false).unwrap();
        let writer =
            Writer::start_with(conn, &path, Limits::default(), Duration::from_millis(5)).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (first, release) = hold(&writer, &order).await;
        // Tenant 1's long writes, then tenant 2's small one.
        let mut long = Vec::new();
        for name in ["a1", "a2", "a3"] {
            let (w, order) = (writer.clone(), order.clone());
            long.push(tokio::spawn(async move {
                w.write(Some(1), move |_| {
                    order.lock().unwrap().push(name);
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
            }));
        }
        let small = {
            let (w, order) = (writer.clone(), order.clone());
            tokio::spawn(async move {
                w.write(Some(2), move |_| {
                    order.lock().unwrap().push("b1");
                    Ok(())
                })
                .await
            })
        };
        while writer.queued() < 4 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        small.await.unwrap().unwrap();
        // b1 ran after a1 (its turn) and the batch committed right after it: a3, which
        // would start 300 ms after a2, has not started.
        let seen = order.lock().unwrap().clone();
        assert_eq!(seen[..3], ["a0", "a1", "b1"], "{seen:?}");
        assert!(!seen.contains(&"a3"), "{seen:?}");
        first.await.unwrap().unwrap();
        for l in long {
            l.await.unwrap().unwrap();
        }
    }

    /// One tenant's batch is not cut by the bound: its writes keep sharing a commit.
    #[test]
    fn one_tenants_batch_is_not_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("single.db");
        let conn = super::super::conn::open(&path, false).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let writer = Writer::start_with(conn, &path, Limits::default(), Duration::ZERO).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        rt.block_on(async {
            let w = writer.clone();
            let first = tokio::spawn(async move {
                w.write(Some(1), move |_| {
                    let _ = started.send(());
                    let _ = held.recv();
                    Ok(())
                })
                .await
            });
            running.recv().unwrap();
            // Each write counts the committed rows (on a connection of its own) and adds
            // one: in one batch, none of the others' rows is committed yet.
            let reader = Arc::new(Mutex::new(super::super::conn::open(&path, true).unwrap()));
            let writes: Vec<_> = (0..5)
                .map(|i| {
                    let (w, reader) = (writer.clone(), reader.clone());
                    let lane = if i % 2 == 0 { Some(1) } else { None };
                    tokio::spawn(async move {
                        w.write(lane, move |c| {
                            let reader = reader.lock().unwrap();
                            let n: i64 =
                                reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                            c.execute("INSERT INTO t VALUES (1)", [])?;
                            Ok(n)
                        })
                        .await
                    })
                })
                .collect();
            while writer.queued() < 5 {
                tokio::task::yield_now().await;
            }
            release.send(()).unwrap();
            first.await.unwrap().unwrap();
            let mut seen = Vec::new();
            for w in writes {
                seen.push(w.await.unwrap().unwrap());
            }
            // The five ran in the first batch (with the held write), whatever the bound.
            assert_eq!(seen, [0, 0, 0, 0, 0]);
        });
    }
}
