//! `ANALYZE` of the store's tables where nothing else does it.
//!
//! PostgreSQL's planner works from table statistics that autovacuum keeps up to date. On a
//! server with autovacuum off, a table that grew from empty to 200,000 users still has the
//! statistics of an empty table, and the plans chosen from them read every row of the
//! tenant for a lookup by id (a GET became 100 times slower in a benchmark sitting). So
//! when autovacuum is off, the store analyses its own tables: once at start, and again
//! whenever the rows its writes changed since the last time exceed autovacuum's own default
//! threshold (50 rows plus 10% of the tables' rows; at least [`MIN_CHANGED`]). It runs on a
//! connection of its own in the background, one at a time, and at most [`DUTY_PERCENT`]% of
//! the time: an `ANALYZE` of large tables reads a sample of 30,000 rows of each (about 0.4 s
//! of the database server's CPU here), and under a steady stream of creates the threshold is
//! crossed every few seconds (autovacuum itself looks at a database at most once a minute,
//! `autovacuum_naptime`). One that comes due sooner runs once the pause is over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::time::Instant;

use super::error;

/// The store's tables.
const TABLES: &str = "tenants, tokens, resources, attr_index, members, changes";
/// Fewest changed rows that start another `ANALYZE`.
const MIN_CHANGED: u64 = 1000;
/// Most of the time spent analysing, in percent: after an `ANALYZE` that took `d`, the next
/// starts no sooner than `d * (100 / DUTY_PERCENT - 1)` after it ended.
const DUTY_PERCENT: u32 = 5;
/// The longest pause between two `ANALYZE`s (autovacuum's own `autovacuum_naptime`).
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// The pause after an `ANALYZE` that failed (no connection, an error).
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// How long to wait after an `ANALYZE` that took `took` before the next one.
fn pause_after(took: Duration) -> Duration {
    (took * (100 / DUTY_PERCENT - 1)).min(MAX_PAUSE)
}

/// Counts the rows the store's writes change and analyses the tables when they are many.
pub(crate) struct Analyzer {
    pool: Pool,
    /// Whether the store analyses (autovacuum is off).
    enabled: AtomicBool,
    changed: AtomicU64,
    threshold: AtomicU64,
    /// An `ANALYZE` is running or waiting for its pause to end.
    running: AtomicBool,
    /// When the next `ANALYZE` may start ([`DUTY_PERCENT`]).
    next_start: std::sync::Mutex<Option<Instant>>,
    /// Ends a launch's pause when the analyzer is turned off.
    stopped: tokio::sync::Notify,
}

impl Analyzer {
    pub(crate) fn new(pool: Pool) -> Arc<Analyzer> {
        Arc::new(Analyzer {
            pool,
            enabled: AtomicBool::new(false),
            changed: AtomicU64::new(0),
            threshold: AtomicU64::new(MIN_CHANGED),
            running: AtomicBool::new(false),
            next_start: std::sync::Mutex::new(None),
            stopped: tokio::sync::Notify::new(),
        })
    }

    /// Reads whether autovacuum is off; if so, enables the analyzer and analyses the tables
    /// now (in the background).
    pub(crate) async fn start(self: &Arc<Self>) {
        let off = match self.pool.get().await {
            Ok(conn) => conn
                .query_one("SELECT current_setting('autovacuum') = 'off'", &[])
                .await
                .map(|row| row.get::<_, bool>(0))
                .unwrap_or(false),
            Err(_) => false,
        };
        if off {
            tracing::info!(
                "autovacuum is off on this PostgreSQL server: scim analyses its own tables \
                 after large changes"
            );
            self.enabled.store(true, Ordering::Relaxed);
            self.launch();
        }
    }

    /// Whether the analyzer is on (autovacuum is off).
    #[cfg(test)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns the analyzer off, ends a pause before the next `ANALYZE` and waits for a
    /// running one to end, so that a test counting the pool's connections sees none of its
    /// own.
    #[cfg(test)]
    pub(crate) async fn stop(&self) {
        self.enabled.store(false, Ordering::Relaxed);
        self.stopped.notify_waiters();
        while self.running.load(Ordering::Acquire) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Notes rows changed by a committed write; analyses when they add up. Call it from
    /// inside the runtime (any thread of it).
    pub(crate) fn note(self: &Arc<Self>, rows: u64) {
        if rows == 0 || !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let changed = self.changed.fetch_add(rows, Ordering::Relaxed) + rows;
        if changed >= self.threshold.load(Ordering::Relaxed) {
            self.launch();
        }
    }

    /// Starts an `ANALYZE` unless one is running or waiting: at once, or once the pause
    /// after the last one is over.
    fn launch(self: &Arc<Self>) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.running.store(false, Ordering::Release);
            return;
        };
        let this = self.clone();
        handle.spawn(async move {
            let due = this.next_start.lock().ok().and_then(|next| *next);
            if let Some(due) = due {
                this.pause_until(due).await;
            }
            if !this.enabled.load(Ordering::Relaxed) {
                this.running.store(false, Ordering::Release);
                return;
            }
            // Rows changed from here on count towards the next one.
            this.changed.store(0, Ordering::Relaxed);
            let pause = match this.analyze().await {
                Ok((rows, took)) => {
                    let next = (50 + rows / 10).max(MIN_CHANGED);
                    this.threshold.store(next, Ordering::Relaxed);
                    tracing::debug!(rows, next, ?took, "analysed the store's tables");
                    pause_after(took)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ANALYZE of the store's tables failed");
                    RETRY_PAUSE
                }
            };
            if let Ok(mut next) = this.next_start.lock() {
                *next = Some(Instant::now() + pause);
            }
            this.running.store(false, Ordering::Release);
            // Writes that crossed the threshold meanwhile found it running.
            if this.enabled.load(Ordering::Relaxed)
                && this.changed.load(Ordering::Relaxed) >= this.threshold.load(Ordering::Relaxed)
            {
                this.launch();
            }
        });
    }

    /// Sleeps until `due`, or until the analyzer is turned off.
    async fn pause_until(&self, due: Instant) {
        let stopped = self.stopped.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = stopped => {}
        }
    }

    /// Runs `ANALYZE`; returns the rows the tables hold now (the planner's estimate) and how
    /// long the statements took (not the wait for a connection).
    async fn analyze(&self) -> Result<(u64, Duration), String> {
        let conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        conn.batch_execute(&format!("ANALYZE {TABLES}"))
            .await
            .map_err(|e| error::describe(&e))?;
        let rows: f64 = conn
            .query_one(
                "SELECT COALESCE(sum(GREATEST(reltuples, 0)), 0)::float8 FROM pg_class
                 WHERE relname IN ('resources', 'attr_index', 'members', 'changes')
                   AND relnamespace = current_schema()::regnamespace",
                &[],
            )
            .await
            .map_err(|e| error::describe(&e))?
            .get(0);
        Ok((rows as u64, started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::pause_after;
    use crate::postgres::testing::store_with_tenants;
    use crate::{Actor, Store};

    #[test]
    fn analysing_takes_at_most_five_percent_of_the_time() {
        let took = Duration::from_millis(400);
        let pause = pause_after(took);
        assert_eq!(pause, Duration::from_millis(7600));
        assert!((took.as_secs_f64() / (took + pause).as_secs_f64() - 0.05).abs() < 1e-9);
        assert_eq!(pause_after(Duration::ZERO), Duration::ZERO);
        // Never longer than autovacuum's own naptime.
        assert_eq!(
            pause_after(Duration::from_secs(10)),
            Duration::from_secs(60)
        );
    }

    /// Where autovacuum is off, the tables have statistics soon after a large change;
    /// where it is on, the store leaves analysing to it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_are_analysed_after_large_changes_when_autovacuum_is_off() {
        let Some((db, store, ids)) =
            store_with_tenants("tables_are_analysed_after_large_changes", &["a"]).await
        else {
            return;
        };
        let tenant = ids[0];
        let autovacuum_off = db
            .query_i64(
                "SELECT CASE WHEN current_setting('autovacuum') = 'off' THEN 1::bigint ELSE 0 END",
            )
            .await
            .unwrap()
            == 1;
        assert_eq!(store.engine.analyzer.enabled(), autovacuum_off);
        create_users(&store, tenant, 300).await;
        if !autovacuum_off {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = db
                .query_i64("SELECT reltuples::bigint FROM pg_class WHERE relname = 'resources'")
                .await
                .unwrap();
            // An ANALYZE ran after the tables grew (the one at start saw them empty); the
            // writes that came after it are fewer than the next threshold.
            if rows >= 100 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no ANALYZE after 300 creates: reltuples {rows}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates `n` users in `tenant`, concurrently.
    async fn create_users(store: &crate::postgres::PgStore, tenant: i64, n: usize) {
        let actor = Actor::default();
        let creates = (0..n).map(|i| {
            let Some(data) = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("u{i}"), "externalId": format!("e{i}")})
            .as_object()
            .cloned() else {
                unreachable!()
            };
            store.create(tenant, "User", data, Vec::new(), &actor)
        });
        for r in futures_util::future::join_all(creates).await {
            r.unwrap();
        }
    }

    /// `ANALYZE` leaves the stored documents out (migration 0012) and still covers the
    /// columns that statements filter and sort on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn documents_get_no_statistics() {
        let Some((db, store, ids)) =
            store_with_tenants("documents_get_no_statistics", &["a"]).await
        else {
            return;
        };
        let tenant = ids[0];
        create_users(&store, tenant, 20).await;
        store.engine.analyzer.analyze().await.unwrap();
        for (table, column, kept) in [
            ("resources", "created", 1),
            ("resources", "data", 0),
            ("changes", "resource_id", 1),
            ("changes", "before", 0),
            ("changes", "after", 0),
            ("changes", "changed", 0),
        ] {
            let stats = db
                .query_i64(&format!(
                    "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()
                       AND tablename = '{table}' AND attname = '{column}'"
                ))
                .await
                .unwrap();
            assert_eq!(stats, kept, "{table}.{column}");
        }
    }
}
