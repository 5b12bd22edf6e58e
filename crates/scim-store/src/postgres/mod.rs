//! The PostgreSQL backend: any number of `scim` instances on one database.
//!
//! The store's logic is the shared SQL in [`crate::sql`]; this module provides connections
//! and transactions ([`PgEngine`]). Each `write` is one READ COMMITTED transaction whose row
//! locks order concurrent writers (across instances too); a tenant's writes
//! (`write_tenant`) share transactions and commits (`batch`); each `read` is one REPEATABLE
//! READ READ ONLY transaction (a consistent snapshot). Where autovacuum is off, the store
//! analyses its own tables (`analyze`).
//!
//! Driver choice: `tokio-postgres` with the `deadpool-postgres` pool. The store's logic is
//! synchronous code over [`crate::sql::db::Db`], so it runs on a blocking thread
//! (`spawn_blocking`) and drives each statement with `Handle::block_on`, while the
//! connection's socket is served by the server's own runtime (the one the store was opened
//! on: work asked from another runtime is run there). Waiting for a free connection
//! is asynchronous (a queue of waiters does not occupy blocking threads, and the wait is
//! bounded), the pool comes with a per-connection statement cache, and both crates are
//! actively maintained. The synchronous `postgres` crate would instead start a private
//! runtime inside every connection and needs a blocking pool (`r2d2`) whose waiters each
//! hold a thread.

mod analyze;
mod batch;
mod db;
mod error;
mod migrate;
#[doc(hidden)]
pub mod testing;
mod tls;
mod tx;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use scim_core::schema::SchemaRegistry;
use tokio_postgres::config::Host;

use crate::StoreError;
use crate::index::indexed_attributes;
use crate::sql::db::{Db, Dialect, SqlRow, SqlValue};
use crate::sql::{Engine, SqlStore};
use tx::Mode;

/// The store on PostgreSQL.
pub type PgStore = SqlStore<PgEngine>;

/// Connection pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections this process opens.
    pub max_connections: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a request may wait for a free connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// How long one statement may run (the server's `statement_timeout`, lock waits
    /// included) before it is cancelled and the request answered 503. A server that does
    /// not answer at all is given up on a second later, and the connection closed.
    pub statement_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Runs the store's work on a PostgreSQL connection pool.
pub struct PgEngine {
    pool: Pool,
    /// Group commit of each tenant's writes.
    batcher: batch::Batcher,
    /// `ANALYZE` of the store's tables where autovacuum is off.
    analyzer: Arc<analyze::Analyzer>,
    describe: String,
    /// The client-side bound on one statement (see [`PgOptions::statement_timeout`]).
    deadline: Duration,
    /// The runtime the store was opened on. Connections are made and statements driven
    /// there, whichever runtime a caller runs on: a connection opened on another (delivery's
    /// lower-priority threads, `scim_delivery::runtime`) would have its socket served
    /// there for as long as it stays in the pool, requests' statements included.
    home: tokio::runtime::Handle,
}

/// Parses a `postgres://` URL (or a libpq key=value string).
pub(crate) fn parse_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    parse_with_tls(url).map(|(config, _)| config)
}

/// Parses a URL and its TLS settings (`sslmode`, `sslrootcert`; see [`tls`]).
fn parse_with_tls(url: &str) -> Result<(tokio_postgres::Config, tls::TlsSettings), StoreError> {
    let (rest, settings) = tls::split_url(url)?;
    let mut config = rest
        .parse::<tokio_postgres::Config>()
        .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
    config.ssl_mode(settings.driver_mode());
    Ok((config, settings))
}

/// A URL for logs: user, hosts, ports and database, never the password.
pub(crate) fn redacted(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

impl SqlStore<PgEngine> {
    /// Connects to the database at `url`, applies pending migrations and returns the store.
    /// Fails if the database cannot be reached within the connect timeout.
    pub async fn connect(
        url: &str,
        registry: &SchemaRegistry,
        options: &PgOptions,
    ) -> Result<PgStore, StoreError> {
        let (mut config, tls) = parse_with_tls(url)?;
        let connector = tls.connector()?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("scim");
        }
        // A peer that vanishes without closing the connection (a cut network) is noticed
        // within seconds instead of the kernel's default of hours.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        config.keepalives_idle(Duration::from_secs(30));
        // The server cancels a statement that runs (or waits for a lock) too long; the
        // request gets 503 + Retry-After instead of hanging.
        let timeout_ms = options.statement_timeout.as_millis().max(1);
        let server_options = match config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c statement_timeout={timeout_ms}"),
            _ => format!("-c statement_timeout={timeout_ms}"),
        };
        config.options(&server_options);
        let describe = redacted(&config);
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                // A closed connection is detected by the driver; one that breaks while
                // idle fails its next statement, is dropped, and the request gets a 503.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Database(format!("cannot build the connection pool: {e}")))?;
        let analyzer = analyze::Analyzer::new(pool.clone());
        let deadline = options.statement_timeout + Duration::from_secs(1);
        let engine = PgEngine {
            batcher: batch::Batcher::new(pool.clone(), analyzer.clone(), deadline),
            analyzer,
            pool,
            describe,
            deadline,
            home: tokio::runtime::Handle::current(),
        };
        engine.migrate().await.map_err(|e| tls.explain(e))?;
        engine.analyzer.start().await;
        Ok(SqlStore::from_engine(engine, indexed_attributes(registry)))
    }
}

impl PgEngine {
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool.get().await.map_err(error::from_pool)?;
        let applied = migrate::migrate(&mut conn).await?;
        if applied > 0 {
            tracing::info!(
                applied,
                version = migrate::latest(),
                database = %self.describe,
                "applied database migrations"
            );
        }
        Ok(applied)
    }

    async fn run<T, F>(&self, mode: Mode, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (pool, analyzer, deadline) = (self.pool.clone(), self.analyzer.clone(), self.deadline);
        let work = async move {
            let conn = pool.get().await.map_err(error::from_pool)?;
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                tx::run(&handle, conn, mode, deadline, &analyzer, f)
            })
            .await
            .map_err(|e| StoreError::Database(format!("database task failed: {e}")))?
        };
        self.at_home(work).await
    }

    /// Runs `work` on the runtime the store was opened on (see [`PgEngine::home`]): here if
    /// that is where the caller is, else as a task there, which is not cancelled with the
    /// caller (nor is a blocking task): a write runs to its end.
    async fn at_home<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let at_home = tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == self.home.id());
        if at_home {
            return work.await;
        }
        self.home
            .spawn(work)
            .await
            .map_err(|e| StoreError::Database(format!("database task failed: {e}")))?
    }
}

#[async_trait]
impl Engine for PgEngine {
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let done = self.run(Mode::Write, f).await;
        crate::sql::metrics::write_done("postgres", started.elapsed());
        done
    }

    async fn write_tenant<T, F>(&self, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let done = self.batcher.write(tenant_id, f).await;
        crate::sql::metrics::write_done("postgres", started.elapsed());
        done
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(Mode::Read, f).await
    }

    /// One network round trip on a pooled connection, without `BEGIN` and `COMMIT` and
    /// without a blocking thread; the rows are mapped where the caller runs.
    async fn read_statement<T, M>(
        &self,
        sql: String,
        params: Vec<SqlValue>,
        map: M,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        M: FnMut(&dyn SqlRow) -> Result<T, StoreError> + Send + 'static,
    {
        let (pool, deadline) = (self.pool.clone(), self.deadline);
        let rows = self
            .at_home(async move {
                // Back to the pool only once the statement's answer was read (or it failed
                // cleanly): a caller that gives up mid-way (its future dropped) leaves a
                // request in flight, and the connection is closed instead.
                let mut lease = tx::Lease {
                    conn: Some(pool.get().await.map_err(error::from_pool)?),
                    clean: false,
                };
                let Some(conn) = lease.conn.as_deref() else {
                    return Err(StoreError::Database("no connection".into()));
                };
                let answer = db::query_once(conn, &sql, &params, deadline).await;
                // A timed-out or broken connection is in an unknown state.
                lease.clean = answer
                    .as_ref()
                    .map_or_else(|e| e.kind() != error::Kind::Broken, |_| true);
                answer.map_err(|e| e.to_store())
            })
            .await?;
        db::map_rows(&rows, map)
    }

    /// As [`Engine::read_statement`]: one round trip is already shorter than a blocking
    /// thread.
    async fn read_statement_short<T, M>(
        &self,
        sql: String,
        params: Vec<SqlValue>,
        map: M,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        M: FnMut(&dyn SqlRow) -> Result<T, StoreError> + Send + 'static,
    {
        self.read_statement(sql, params, map).await
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn record_gauges(&self) {
        use crate::sql::metrics::{POOL_CONNECTIONS, POOL_MAX};
        let status = self.pool.status();
        let idle = status.available;
        let in_use = status.size.saturating_sub(idle);
        metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
        metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
        metrics::gauge!(POOL_MAX).set(status.max_size as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password() {
        let c = parse_config("postgres://scim:s3cret@db.example:6543/directory").unwrap();
        let d = redacted(&c);
        assert_eq!(d, "postgres://scim@db.example:6543/directory");
        assert!(!d.contains("s3cret"));
    }
}
