//! A pooled PostgreSQL connection as a [`Db`]: `?` placeholders rewritten to `$n`, typed
//! parameters, and a per-connection statement cache.

use std::borrow::Cow;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Row, Statement};

use super::error::{self, Kind};
use crate::StoreError;
use crate::sql::db::{Db, DbError, Dialect, SqlRow, SqlValue, numbered_placeholders};

/// Prepared statements kept per connection. The store's fixed statements are a few dozen;
/// listings add one per filter *shape*, which a client chooses, so the cache is bounded.
const STATEMENT_CACHE_LIMIT: usize = 512;

/// The parameter type of a value: the schema's BIGINT, BOOLEAN, TEXT and BYTEA. A NULL is
/// a text NULL (every nullable column the store writes a NULL to is TEXT).
fn param_type(v: &SqlValue) -> Type {
    match v {
        SqlValue::Null | SqlValue::Text(_) => Type::TEXT,
        SqlValue::Int(_) => Type::INT8,
        SqlValue::Bool(_) => Type::BOOL,
        SqlValue::Blob(_) => Type::BYTEA,
    }
}

/// The escape character of stored text (see [`escape`]).
const ESCAPE: char = '\u{1}';

/// PostgreSQL text cannot hold NUL, which SQLite and JSON strings can: text is stored with
/// a lossless escape, U+0001 as U+0001 U+0001 and NUL as U+0001 '0'. The mapping is one to
/// one and no encoded character is a prefix of another, so equality, uniqueness and lookups
/// are exactly those of the original strings. (Only the relative order of strings that
/// differ at a NUL or U+0001 can differ from SQLite's.)
fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => {
                out.push(ESCAPE);
                out.push('0');
            }
            ESCAPE => {
                out.push(ESCAPE);
                out.push(ESCAPE);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape`].
fn unescape(s: String) -> String {
    if !s.contains(ESCAPE) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == ESCAPE {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => out.push(ESCAPE),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(i) => i.to_sql(ty, out),
            SqlValue::Bool(b) => b.to_sql(ty, out),
            SqlValue::Text(s) => escape(s).as_ref().to_sql(ty, out),
            SqlValue::Blob(b) => b.to_sql(ty, out),
        }
    }

    /// Statements are prepared with the types of `param_type`, so the declared type always
    /// fits the value; the per-value check happens in `to_sql`.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Why a statement failed: the database said so, or it did not answer in time (a server
/// that accepts connections but hangs, a cut network the kernel has not noticed yet).
#[derive(Debug)]
pub(crate) enum StmtError {
    Pg(tokio_postgres::Error),
    TimedOut(Duration),
}

impl StmtError {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            StmtError::Pg(e) => error::kind(e),
            // The connection is in an unknown state: never reuse it.
            StmtError::TimedOut(_) => Kind::Broken,
        }
    }

    pub(crate) fn to_store(&self) -> StoreError {
        match self {
            StmtError::Pg(e) => error::to_store(e),
            StmtError::TimedOut(d) => StoreError::Unavailable(format!(
                "the database did not answer within {} s",
                d.as_secs_f64()
            )),
        }
    }
}

/// Runs `fut` on the runtime from a blocking thread, for at most `deadline`.
pub(crate) fn wait<T>(
    handle: &Handle,
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StmtError> {
    handle.block_on(async {
        match tokio::time::timeout(deadline, fut).await {
            Ok(r) => r.map_err(StmtError::Pg),
            Err(_) => Err(StmtError::TimedOut(deadline)),
        }
    })
}

/// A connection inside a transaction, used from a blocking thread: each statement is run to
/// completion with the runtime handle (the connection's I/O task runs on the runtime).
pub(crate) struct PgDb<'c> {
    client: &'c ClientWrapper,
    handle: &'c Handle,
    /// How long one statement may take before the connection is given up (the server's
    /// own `statement_timeout` is shorter; this covers a server that does not answer).
    deadline: Duration,
    /// Transaction commands not sent yet (the `BEGIN …`, savepoint handling between the
    /// writes of a batch): they go out together with the next statement (one round trip for
    /// both; the connection runs them in order), and not at all when no statement follows.
    pub(crate) pending: Option<String>,
    /// Whether the first pending commands (the `BEGIN`) went out: a transaction is open.
    pub(crate) began: bool,
    /// Statements sent so far.
    pub(crate) statements: u64,
    /// Rows inserted, updated or deleted by the statements so far (for [`super::analyze`]).
    pub(crate) rows_written: u64,
    /// The first statement failure of the transaction. PostgreSQL aborts a transaction on
    /// any error, and `COMMIT` of an aborted transaction quietly rolls back; remembering
    /// the failure makes sure such a transaction is never reported as committed.
    pub(crate) failure: Option<Kind>,
}

impl<'c> PgDb<'c> {
    pub(crate) fn new(
        client: &'c ClientWrapper,
        handle: &'c Handle,
        begin: String,
        deadline: Duration,
    ) -> Self {
        PgDb {
            client,
            handle,
            deadline,
            pending: Some(begin),
            began: false,
            statements: 0,
            rows_written: 0,
            failure: None,
        }
    }

    /// Runs `run` (one statement), preceded by the pending commands if there are any.
    fn with_begin<T, Fut>(
        &mut self,
        run: impl FnOnce(&'c ClientWrapper) -> Fut,
    ) -> Result<T, StmtError>
    where
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = self.client;
        self.statements += 1;
        match self.pending.take() {
            None => wait(self.handle, self.deadline, run(client)),
            Some(pending) => {
                self.began = true;
                wait(self.handle, self.deadline, async {
                    // Both requests are queued in this order before either answer is awaited.
                    let (sent, result) = tokio::join!(client.batch_execute(&pending), run(client));
                    sent?;
                    result
                })
            }
        }
    }

    fn note(&mut self, e: &StmtError) -> Kind {
        let kind = e.kind();
        self.failure.get_or_insert(kind);
        kind
    }

    fn prepare(&mut self, sql: &str, params: &[SqlValue]) -> Result<Statement, StmtError> {
        let types: Vec<Type> = params.iter().map(param_type).collect();
        let sql = numbered_placeholders(sql);
        if self.client.statement_cache.size() >= STATEMENT_CACHE_LIMIT {
            self.client.statement_cache.clear();
        }
        wait(
            self.handle,
            self.deadline,
            self.client.prepare_typed_cached(&sql, &types),
        )
    }

    fn run_query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StmtError> {
        let stmt = self.prepare(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.with_begin(|client| async move { client.query(&stmt, &refs).await })?;
        if writes(sql) {
            self.rows_written += rows.len() as u64;
        }
        Ok(rows)
    }

    fn run_execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StmtError> {
        let stmt = self.prepare(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let n = self.with_begin(|client| async move { client.execute(&stmt, &refs).await })?;
        if writes(sql) {
            self.rows_written += n;
        }
        Ok(n)
    }
}

/// Whether a statement changes rows (rather than only reading them).
fn writes(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or_default();
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|w| head.eq_ignore_ascii_case(w))
}

impl Db for PgDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        match self.run_execute(sql, params) {
            Ok(n) => Ok(n),
            Err(e) => match self.note(&e) {
                Kind::Unique => Err(DbError::Unique),
                _ => Err(DbError::Store(e.to_store())),
            },
        }
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let rows = match self.run_query(sql, params) {
            Ok(rows) => rows,
            Err(e) => {
                self.note(&e);
                return Err(e.to_store());
            }
        };
        for row in &rows {
            f(&PgRow(row))?;
        }
        Ok(())
    }
}

/// One result row.
struct PgRow<'r>(&'r Row);

impl PgRow<'_> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(&'a self, i: usize) -> Result<T, StoreError> {
        self.0
            .try_get(i)
            .map_err(|e| StoreError::Database(format!("column {i}: {}", error::describe(&e))))
    }
}

impl SqlRow for PgRow<'_> {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT4) => self.get::<i32>(i).map(i64::from),
            Some(Type::INT2) => self.get::<i16>(i).map(i64::from),
            _ => self.get::<i64>(i),
        }
    }
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map(unescape)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get::<Option<String>>(i).map(|t| t.map(unescape))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT4) => Ok(self.get::<Option<i32>>(i)?.map(i64::from)),
            _ => self.get::<Option<i64>>(i),
        }
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escaping_round_trips_and_keeps_equality() {
        let samples = [
            "",
            "plain",
            "nul\0in",
            "\u{1}",
            "\u{1}0",
            "\0",
            "a\u{1}\u{1}\0b",
            "\u{1}\0",
        ];
        for a in samples {
            assert_eq!(unescape(escape(a).into_owned()), a);
            assert!(!escape(a).contains('\0'));
            for b in samples {
                assert_eq!(escape(a) == escape(b), a == b, "{a:?} {b:?}");
            }
        }
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}
