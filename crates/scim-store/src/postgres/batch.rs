//! Group commit of one tenant's writes on PostgreSQL.
//!
//! Every write of a tenant's directory appends to the tenant's change log, whose position
//! comes from the tenant's counter row, locked until the write commits (ARCHITECTURE.md,
//! "Change log"): one tenant's transactions commit one after another, each waiting for its
//! own WAL flush. To share commits, as the SQLite writer does, a tenant's writes queue here:
//! a leader task takes a connection and runs every write waiting for that tenant (up to
//! [`MAX_BATCH`]) in one transaction, each in a savepoint of its own, and commits once. A
//! write that fails is rolled back to its savepoint and answered with its error; the others
//! commit. Nothing is answered before the commit, so an answered write is durable, and the
//! change log keeps its numbering and order.
//!
//! The transaction locks the tenant's row before anything else: batches of one tenant (on
//! any number of instances) run one after another, so the row locks their writes take
//! (resources, then the counter) can never deadlock across batches. Different tenants'
//! batches run in parallel on different connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::analyze::Analyzer;
use super::db::{PgDb, wait};
use super::error;
use super::tx::{Lease, WRITE_BEGIN};
use crate::StoreError;
use crate::sql::db::Db;

/// Most writes committed together.
pub(crate) const MAX_BATCH: usize = 256;

type Finisher = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One write waiting in a tenant's queue.
trait Job: Send {
    /// Runs the write; whether it succeeded, and what answers it once the batch's outcome
    /// is known.
    fn run(self: Box<Self>, db: &mut dyn Db) -> (bool, Finisher);
    /// Answers the write without running it.
    fn abort(self: Box<Self>, error: StoreError);
}

struct TypedJob<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, db: &mut dyn Db) -> (bool, Finisher) {
        let TypedJob { f, reply } = *self;
        let result = f(db);
        let ok = result.is_ok();
        let finish: Finisher = Box::new(move |outcome| {
            let _ = reply.send(match (result, outcome) {
                (Ok(v), Ok(())) => Ok(v),
                (Ok(_), Err(e)) | (Err(e), _) => Err(e),
            });
        });
        (ok, finish)
    }

    fn abort(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The writes waiting, per tenant. A tenant has an entry exactly while a leader runs for it.
type Queues = Arc<Mutex<HashMap<i64, Vec<Box<dyn Job>>>>>;

/// Queues a tenant's writes and runs them in shared transactions.
#[derive(Clone)]
pub(crate) struct Batcher {
    pool: Pool,
    queues: Queues,
    analyzer: Arc<Analyzer>,
    /// The client-side bound on one statement (see `PgOptions::statement_timeout`).
    deadline: Duration,
}

impl Batcher {
    pub(crate) fn new(pool: Pool, analyzer: Arc<Analyzer>, deadline: Duration) -> Batcher {
        Batcher {
            pool,
            queues: Default::default(),
            analyzer,
            deadline,
        }
    }

    /// Runs `f` in the next batch of the tenant's writes; answers once it is committed.
    pub(crate) async fn write<T, F>(&self, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob { f, reply });
        let lead = {
            let mut queues = self
                .queues
                .lock()
                .map_err(|_| StoreError::Database("the write queue is poisoned".into()))?;
            match queues.get_mut(&tenant_id) {
                Some(queue) => {
                    queue.push(job);
                    false
                }
                None => {
                    queues.insert(tenant_id, vec![job]);
                    true
                }
            }
        };
        if lead {
            // A task of its own: the caller's future may be dropped (its client gone) while
            // other writes wait on this leader.
            tokio::spawn(self.clone().lead(tenant_id));
        }
        // The reply is dropped unanswered only if the batch panicked.
        answer
            .await
            .map_err(|_| StoreError::Database("the write failed unexpectedly".into()))?
    }

    /// The writes waiting for `tenant_id`, at most [`MAX_BATCH`]; none (and the tenant's
    /// entry removed, ending its leader) when the queue is empty.
    fn take(&self, tenant_id: i64) -> Vec<Box<dyn Job>> {
        let Ok(mut queues) = self.queues.lock() else {
            return Vec::new();
        };
        let Some(queue) = queues.get_mut(&tenant_id) else {
            return Vec::new();
        };
        if queue.is_empty() {
            queues.remove(&tenant_id);
            return Vec::new();
        }
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }

    /// Whether writes wait for `tenant_id`; when none do, the tenant's entry is removed
    /// (ending its leader) as [`Batcher::take`] does.
    fn has_queued(&self, tenant_id: i64) -> bool {
        let Ok(mut queues) = self.queues.lock() else {
            return false;
        };
        match queues.get(&tenant_id) {
            Some(queue) if !queue.is_empty() => true,
            Some(_) => {
                queues.remove(&tenant_id);
                false
            }
            None => false,
        }
    }

    /// Runs the tenant's batches until its queue is empty.
    async fn lead(self, tenant_id: i64) {
        let handle = Handle::current();
        loop {
            // A leader whose queue is empty ends without taking a connection: one taken
            // only to find nothing to do would send the request that needs it next (often
            // the same client's next read) to open a new one.
            if !self.has_queued(tenant_id) {
                return;
            }
            // The connection first: writes that arrive while it is awaited join the batch.
            let conn = self.pool.get().await;
            let batch = self.take(tenant_id);
            if batch.is_empty() {
                return;
            }
            match conn {
                Err(e) => {
                    let e = error::from_pool(e);
                    for job in batch {
                        job.abort(e.clone());
                    }
                }
                Ok(conn) => {
                    let handle = handle.clone();
                    let (analyzer, deadline) = (self.analyzer.clone(), self.deadline);
                    let ran = tokio::task::spawn_blocking(move || {
                        let rows = run_batch(&handle, conn, tenant_id, batch, deadline);
                        analyzer.note(rows);
                    })
                    .await;
                    if ran.is_err() {
                        tracing::error!("a batch of writes panicked; it was rolled back");
                    }
                }
            }
        }
    }
}

/// Runs a batch in one transaction on `conn` and answers each write once it has an outcome.
/// Returns the rows the committed batch changed.
fn run_batch(
    handle: &Handle,
    conn: Object,
    tenant_id: i64,
    batch: Vec<Box<dyn Job>>,
    deadline: Duration,
) -> u64 {
    let started = std::time::Instant::now();
    let writes = batch.len();
    let mut lease = Lease {
        conn: Some(conn),
        clean: false,
    };
    let Some(client) = lease.conn.as_deref() else {
        for job in batch {
            job.abort(StoreError::Database("no connection".into()));
        }
        return 0;
    };
    let begin = format!(
        "{WRITE_BEGIN}; SELECT 1 FROM tenants WHERE id = {tenant_id} FOR NO KEY UPDATE; SAVEPOINT job"
    );
    let mut db = PgDb::batch(client, handle, begin, deadline);
    // Each write's answer, and its number in the transaction.
    let mut finishers: Vec<(Finisher, usize)> = Vec::with_capacity(batch.len());
    for job in batch {
        if let Some(e) = db.broken() {
            job.abort(e.clone());
            continue;
        }
        // A panic in one write (a bug) fails that write, not the batch.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut db)));
        let (ok, finish) = match run {
            Ok(done) => done,
            Err(_) => {
                tracing::error!("a write panicked; its changes were rolled back");
                (false, Box::new(|_| {}) as Finisher)
            }
        };
        let index = db.end_write(ok);
        finishers.push((finish, index));
    }
    // The answers still due (the writes' deferred statements), then one commit.
    let commit = match db.finish() {
        Err(e) => Err(e),
        // No write ran a statement: there is no transaction to end.
        Ok(()) if !db.began() => {
            lease.clean = true;
            Ok(())
        }
        Ok(()) => {
            // The outcome of a COMMIT whose answer was lost is unknown: never report success.
            let outcome =
                wait(handle, deadline, client.batch_execute("COMMIT")).map_err(|e| e.to_store());
            lease.clean = outcome.is_ok();
            outcome
        }
    };
    // A statement of the write failed, although the write itself reported success (a
    // deferred statement): the write was undone, and answers that failure.
    let finishers: Vec<(Finisher, Option<StoreError>)> = finishers
        .into_iter()
        .map(|(finish, index)| (finish, db.write_failure(index)))
        .collect();
    let rows = if commit.is_ok() { db.rows_written } else { 0 };
    crate::sql::metrics::commit_done("postgres", writes, started.elapsed());
    drop(db);
    drop(lease);
    for (finish, forced) in finishers {
        finish(match forced {
            Some(e) => Err(e),
            None => commit.clone(),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use futures_util::future::join_all;

    use crate::Store;
    use crate::postgres::testing::{TestDatabase, store_with_tenants};
    use crate::sql::Engine;
    use crate::sql::db::DbExt;

    /// A store with the tenant `a` (its id) and a table `probe` holding the value 1, for
    /// batches in which one write fails ([`taken`]).
    async fn store_with_probe(test: &str) -> Option<(TestDatabase, crate::postgres::PgStore, i64)> {
        let (db, store, ids) = store_with_tenants(test, &["a"]).await?;
        store
            .engine
            .write(|db| {
                db.exec("CREATE TABLE probe (v BIGINT PRIMARY KEY)", &[])?;
                db.exec("INSERT INTO probe VALUES (1)", &[])
            })
            .await
            .unwrap();
        Some((db, store, ids[0]))
    }

    /// A write whose deferred insert fails (the value 1 is in `probe` already).
    fn taken(db: &mut dyn crate::sql::db::Db) -> Result<(), crate::StoreError> {
        db.execute_deferred(
            "INSERT INTO probe VALUES (?)",
            vec![crate::sql::db::SqlValue::Int(1)],
            crate::sql::db::OnFailure {
                unique: Some(crate::StoreError::Database("taken".into())),
                not_null: None,
            },
        )
    }

    /// Concurrent writes of one tenant run in shared transactions (fewer top-level
    /// transaction ids than writes), writes of two tenants in separate ones, and a failing
    /// write is undone alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenants_concurrent_writes_share_transactions() {
        let Some((_db, store, ids)) = store_with_tenants(
            "a_tenants_concurrent_writes_share_transactions",
            &["a", "b"],
        )
        .await
        else {
            return;
        };
        let (a, b) = (ids[0], ids[1]);
        let engine = store.engine.clone();
        let writes = (0..100).map(|i| {
            let engine = engine.clone();
            let tenant = if i % 10 == 9 { b } else { a };
            async move {
                engine
                    .write_tenant(tenant, move |db| {
                        // The top-level transaction's id, even inside a savepoint.
                        let xid =
                            db.one("SELECT pg_current_xact_id()::text", &[], |r| r.text(0))?;
                        if i % 7 == 0 {
                            db.exec("SELECT 1/0", &[])?;
                        }
                        Ok((tenant, xid))
                    })
                    .await
            }
        });
        let results = join_all(writes).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(failed, 15, "{results:?}");
        let done: Vec<(i64, String)> = results.into_iter().filter_map(Result::ok).collect();
        let xids = |t: i64| -> HashSet<&String> {
            done.iter()
                .filter(|(x, _)| *x == t)
                .map(|(_, id)| id)
                .collect()
        };
        let writes_a = done.iter().filter(|(t, _)| *t == a).count();
        assert!(
            xids(a).len() < writes_a,
            "{writes_a} writes in {} transactions",
            xids(a).len()
        );
        assert!(xids(a).is_disjoint(&xids(b)));
    }

    /// A write whose statement is new to the connection (it must be prepared) right after a
    /// write of the same batch whose deferred statement failed: both are answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_prepared_after_a_failed_write_is_answered() {
        use crate::sql::db::{OnFailure, SqlValue};
        let Some((_db, store, t)) = store_with_probe("prepared_after_a_failed_write").await else {
            return;
        };
        let engine = store.engine.clone();
        for round in 0..50_i64 {
            let taken = engine.write_tenant(t, taken);
            let fresh = engine.write_tenant(t, move |db| {
                // A text no connection has prepared yet.
                db.execute_deferred(
                    &format!("INSERT INTO probe VALUES (? + {round})"),
                    vec![SqlValue::Int(1000)],
                    OnFailure::default(),
                )
            });
            let both = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                futures_util::future::join(taken, fresh),
            )
            .await;
            let (taken, fresh) = both.unwrap_or_else(|_| panic!("round {round}: no answer"));
            assert!(taken.is_err(), "round {round}");
            fresh.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }

    /// A write that needs its statement's answer at once, in a batch where an earlier
    /// write's deferred statement failed and the writes in between are sent again after the
    /// rollback to its savepoint: each gets its own outcome, and the answer awaited sees
    /// the writes before it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_statement_answered_at_once_after_a_failed_write_is_answered() {
        use crate::sql::db::{OnFailure, SqlValue};
        let Some((_db, store, t)) = store_with_probe("answered_at_once_after_a_failed_write").await
        else {
            return;
        };
        let engine = store.engine.clone();
        for round in 0..30_i64 {
            let base = 1000 * (round + 1);
            let taken = engine.write_tenant(t, taken);
            let between = futures_util::future::join_all((0..5).map(|k| {
                engine.write_tenant(t, move |db| {
                    db.execute_deferred(
                        "INSERT INTO probe VALUES (?)",
                        vec![SqlValue::Int(base + k)],
                        OnFailure::default(),
                    )
                })
            }));
            let count = engine.write_tenant(t, move |db| {
                db.row(
                    "SELECT count(*) FROM probe WHERE v >= ?",
                    &[SqlValue::Int(base)],
                    |r| r.int(0),
                )
            });
            let all = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                futures_util::future::join3(taken, between, count),
            )
            .await;
            let (taken, between, count) =
                all.unwrap_or_else(|_| panic!("round {round}: no answer"));
            assert!(taken.is_err(), "round {round}");
            for w in between {
                w.unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
            assert_eq!(count.unwrap(), Some(5), "round {round}");
        }
    }

    /// A client that writes and then reads, one request after the other, needs one
    /// connection: the leader of its write ends without taking a connection once its queue
    /// is empty (it took one, only to find nothing, and the client's read, arriving at that
    /// moment, opened a second: under load, opening one can fail and answer 503).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_and_reads_one_after_another_need_one_connection() {
        let Some((_db, store, ids)) =
            store_with_tenants("writes_and_reads_one_after_another", &["a"]).await
        else {
            return;
        };
        let t = ids[0];
        let engine = store.engine.clone();
        // Where autovacuum is off the store analyses its tables in the background, at
        // start and after many changes, on a connection of its own (that connection made
        // this test fail under CI's load).
        engine.analyzer.stop().await;
        // The connections opening the store took are closed: from here on one suffices.
        engine.pool.retain(|_, _| false);
        for _ in 0..200 {
            engine
                .write_tenant(t, |db| db.exec("SELECT 1", &[]))
                .await
                .unwrap();
            store.tenant("a").await.unwrap();
        }
        let status = engine.pool.status();
        assert_eq!(status.size, 1, "{status:?}");
    }
}
