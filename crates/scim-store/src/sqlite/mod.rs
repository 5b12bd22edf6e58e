//! The embedded backend: one SQLite file in WAL mode, a group-commit writer thread and a
//! pool of read connections.

pub mod backup;
mod checkpoint;
mod conn;
mod files;
mod lanes;
mod writer;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value as RValue};
use rusqlite::{Connection, ToSql, params_from_iter};
use scim_core::schema::SchemaRegistry;

use crate::StoreError;
use crate::index::indexed_attributes;
use crate::sql::db::{Db, DbError, Dialect, SqlRow, SqlValue};
use crate::sql::{Engine, SqlStore};
use conn::Readers;
use writer::Writer;

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// Runs the store's work on SQLite: writes on the group-commit writer, reads on the pool.
pub struct SqliteEngine {
    writer: Writer,
    readers: Readers,
    path: PathBuf,
}

impl SqlStore<SqliteEngine> {
    /// Opens (creating if needed) the database file and applies pending migrations. A
    /// missing directory is created owner-only (0700) and the database files are made
    /// owner-only (0600), whatever the umask: they hold personal data and token hashes.
    pub fn open(path: &Path, registry: &SchemaRegistry) -> Result<SqliteStore, StoreError> {
        files::owner_only(path)?;
        let mut conn = conn::open(path, false)?;
        conn::migrate(&mut conn)?;
        let engine = SqliteEngine {
            writer: Writer::start(conn, path)?,
            readers: Readers::new(path.to_path_buf()),
            path: path.to_path_buf(),
        };
        Ok(SqlStore::from_engine(engine, indexed_attributes(registry)))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.engine.path
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(None, move |c| f(&mut SqliteDb(c))).await
    }

    async fn write_tenant<T, F>(&self, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        // The tenant's own lane: its queued writes take turns with other tenants'.
        self.writer
            .write(Some(tenant_id), move |c| f(&mut SqliteDb(c)))
            .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(move |c| f(&mut SqliteDb(c))).await
    }

    async fn read_short<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read_here(move |c| f(&mut SqliteDb(c))).await
    }

    fn record_gauges(&self) {
        metrics::gauge!(crate::sql::metrics::WRITER_QUEUE).set(self.writer.queued() as f64);
    }

    fn dialect(&self) -> crate::sql::db::Dialect {
        crate::sql::db::Dialect::Sqlite
    }

    fn describe(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn packs_documents(&self) -> bool {
        true
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(RValue::Null),
            SqlValue::Int(i) => ToSqlOutput::Owned(RValue::Integer(*i)),
            SqlValue::Bool(b) => ToSqlOutput::Owned(RValue::Integer(i64::from(*b))),
            SqlValue::Text(s) => {
                ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes()))
            }
            SqlValue::Blob(b) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(b)),
            SqlValue::Document(d) => match d.pack() {
                Some(packed) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(packed)),
                None => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(d.text().as_bytes())),
            },
        })
    }
}

/// A SQLite connection as a [`Db`].
struct SqliteDb<'c>(&'c Connection);

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl SqlRow for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.0.get(i)?)
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| {
            StoreError::Database(format!("column {i} is NULL where text was expected"))
        })
    }
    /// Text, or a document stored packed (`sql/document.rs`).
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        use rusqlite::types::ValueRef;
        match self.0.get_ref(i)? {
            ValueRef::Blob(b) => match crate::sql::document::unpack(b)? {
                Some(text) => Ok(Some(text)),
                None => Ok(self.0.get(i)?),
            },
            _ => Ok(self.0.get(i)?),
        }
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.0.get(i)?)
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.0.get(i)?)
    }
}

impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(StoreError::from)?;
        match stmt.execute(params_from_iter(params.iter())) {
            Ok(n) => Ok(n as u64),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                    {
                        Err(DbError::Unique)
                    }
                    other => Err(DbError::Store(other.into())),
                }
            }
            Err(e) => Err(DbError::Store(e.into())),
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            f(&SqliteRow(row))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destinations_attempts_beyond_the_newest_thousand_are_pruned() {
        use crate::delivery::{DestinationKind, NewDestination};
        use crate::sql::db::DbExt;
        let dir = tempfile::tempdir().unwrap();
        let mut c = conn::open(&dir.path().join("attempts.db"), false).unwrap();
        conn::migrate(&mut c).unwrap();
        let mut db = SqliteDb(&c);
        let tenant =
            crate::sql::tenants::create_tenant(&mut db, "acme", crate::model::DeleteMode::Hard, 30)
                .unwrap();
        let destination = |db: &mut SqliteDb, url: &str| {
            let new = NewDestination {
                tenant_id: tenant.id,
                kind: DestinationKind::Webhook,
                url: url.into(),
                event_types: "*".into(),
                description: String::new(),
                secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
                batch_max: 1,
                position: 0,
            };
            crate::sql::delivery::create(db, new).unwrap().id
        };
        let (busy, quiet) = (
            destination(&mut db, "https://a.example/hook"),
            destination(&mut db, "https://b.example/hook"),
        );
        let attempt = |db: &mut SqliteDb, id: &str, n: i64| {
            db.exec(
                "INSERT INTO delivery_attempts (destination_id, at, first_position, \
                 last_position, event_id, events, status, latency_ms, outcome, error, instance) \
                 VALUES (?, '2026-12-05T00:00:00Z', ?, ?, 'evt', 1, 200, 1, 'delivered', NULL, 'i')",
                crate::sql::db::params![id, n, n],
            )
            .unwrap();
        };
        // Interleaved, as two destinations' attempts are: ids are shared.
        for n in 1..=1005 {
            attempt(&mut db, &busy, n);
            if n <= 3 {
                attempt(&mut db, &quiet, n);
            }
        }
        crate::sql::delivery::prune_attempts(&mut db, &quiet).unwrap();
        crate::sql::delivery::prune_attempts(&mut db, &busy).unwrap();
        let kept = |db: &mut SqliteDb, id: &str| {
            db.rows(
                "SELECT COUNT(*), MIN(first_position) FROM delivery_attempts \
                 WHERE destination_id = ?",
                crate::sql::db::params![id],
                |r| Ok((r.int(0)?, r.int(1)?)),
            )
            .unwrap()[0]
        };
        // The newest thousand stay; the other destination's attempts are not touched.
        assert_eq!(kept(&mut db, &busy), (1000, 6));
        assert_eq!(kept(&mut db, &quiet), (3, 1));
    }

    /// A statement whose `LIMIT` is a plain parameter is prepared again by SQLite whenever
    /// the limit bound changes (its planner reads the value); the change log's page, read
    /// with a different limit on nearly every feed read, uses `Dialect::limit_param` and is
    /// prepared once (re-preparing it was 3% of the server's CPU with two consumers).
    #[test]
    fn the_change_log_page_is_not_prepared_again_for_each_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = conn::open(&dir.path().join("reprepare.db"), false).unwrap();
        conn::migrate(&mut c).unwrap();
        let reprepared = |sql: &str| {
            c.prepare_cached(sql)
                .unwrap()
                .get_status(rusqlite::StatementStatus::RePrepare)
        };
        for limit in 1..=5 {
            crate::sql::resources::changes(&mut SqliteDb(&c), 1, 0, limit).unwrap();
        }
        let page = crate::sql::resources::changes_statement(Dialect::Sqlite);
        assert_eq!(reprepared(&page), 0);
        // And it is the statement `changes` ran, each time.
        let runs = c
            .prepare_cached(&page)
            .unwrap()
            .get_status(rusqlite::StatementStatus::Run);
        assert_eq!(runs, 5);
        // What it avoids: the same statement with a plain `LIMIT ?`.
        let plain = page.replace(Dialect::Sqlite.limit_param(), "?");
        assert_ne!(plain, page);
        for limit in 1..=5 {
            let mut stmt = c.prepare_cached(&plain).unwrap();
            let mut rows = stmt.query(rusqlite::params![1, 0, limit]).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        assert!(
            reprepared(&plain) > 0,
            "SQLite no longer re-prepares on a new LIMIT"
        );
    }

    /// `groups_of` runs for every user rendered: its statements must reach memberships and
    /// resources by index, never by scanning the tenant (a scan made GET by id 400 times
    /// slower at 200,000 users; see BENCHMARKS.md).
    #[test]
    fn groups_of_plan_uses_indexes_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = conn::open(&dir.path().join("plan.db"), false).unwrap();
        conn::migrate(&mut c).unwrap();
        let expected = [
            "members_by_member (tenant_id=? AND member_id=?)",
            "resources_by_id (tenant_id=? AND id=?)",
        ];
        for (sql, index) in crate::sql::members::groups_of_statements()
            .iter()
            .zip(expected)
        {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params_from_iter([1i64; 9].iter()), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            for step in &plan {
                assert!(
                    !step.starts_with("SCAN") && !step.ends_with("(tenant_id=?)"),
                    "plan step '{step}' of {sql}: {plan:#?}"
                );
            }
            assert!(plan.iter().any(|s| s.contains(index)), "{sql}: {plan:#?}");
        }
    }
}
