//! The small SQL interface the store's logic is written against, implemented by SQLite and
//! PostgreSQL connections. Statements use `?` placeholders; a backend rewrites them to its
//! own syntax. Only SQL that both databases accept is written against it.

use crate::StoreError;

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A boolean (an integer on SQLite).
    Bool(bool),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A JSON document: text, which SQLite stores compressed when it is large
    /// ([`super::document`]); read back with [`SqlRow::text`] like any text.
    Document(std::sync::Arc<super::document::Document>),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Bool(v)
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}
impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(SqlValue::Null, SqlValue::Text)
    }
}
impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        v.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_string()))
    }
}
impl From<std::sync::Arc<super::document::Document>> for SqlValue {
    fn from(v: std::sync::Arc<super::document::Document>) -> Self {
        SqlValue::Document(v)
    }
}
impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        SqlValue::Blob(v)
    }
}

/// Builds a parameter list: `params![a, b, c]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::sql::db::SqlValue::from($v)),*][..]
    };
}
pub(crate) use params;

/// One result row, read by column index.
pub trait SqlRow {
    /// Column `i` as an integer.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// Column `i` as text.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// Column `i` as text, `None` for `NULL`.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// Column `i` as an integer, `None` for `NULL`.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// Column `i` as bytes.
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

/// Which database a statement runs on, for the few places where SQL must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// A `LIMIT` bound to a parameter. SQLite's planner reads a plain `LIMIT ?`, so it
    /// expires the statement whenever the parameter is bound again and re-parses it on every
    /// execution (a fifth of the CPU of a filtered list); a scalar subquery is evaluated at
    /// run time instead and the cached statement is reused.
    pub fn limit_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "(SELECT ?)",
            Dialect::Postgres => "?",
        }
    }
}

/// A connection (inside a transaction, for writes).
pub trait Db {
    /// The database the statements run on.
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the number of rows it changed. A unique-constraint
    /// violation is [`DbError::Unique`].
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError>;

    /// Runs a query and hands each row to `f`.
    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        f: &mut dyn FnMut(&dyn SqlRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs a statement whose outcome the write needs only once it ends. An engine may send
    /// it without waiting for its answer, together with the write's next statements (one
    /// network round trip for all of them); its failure then surfaces at the write's next
    /// statement that waits for an answer, or when the write ends, and fails the whole write
    /// either way, with the error `on` names. The default runs it at once.
    fn execute_deferred(
        &mut self,
        sql: &str,
        params: Vec<SqlValue>,
        on: OnFailure,
    ) -> Result<(), StoreError> {
        match self.execute(sql, &params) {
            Ok(_) => Ok(()),
            Err(DbError::Unique) => Err(on.unique.unwrap_or_else(|| DbError::Unique.into())),
            Err(DbError::Store(e)) => Err(e),
        }
    }

    /// A fact remembered by [`Db::remember`] earlier in this transaction, if the engine keeps
    /// such facts (the default keeps none).
    fn remembered(&self, key: &str) -> Option<bool> {
        let _ = key;
        None
    }

    /// Remembers a fact that cannot change while this transaction runs, for the transaction's
    /// later writes. An engine keeps it only where that holds: PostgreSQL's batches of one
    /// tenant's writes hold the tenant's row, which every change of such a fact locks first.
    fn remember(&mut self, key: &str, value: bool) {
        let _ = (key, value);
    }
}

/// What the failures of a statement run by [`Db::execute_deferred`] mean to its write.
#[derive(Debug, Clone, Default)]
pub struct OnFailure {
    /// The write's error when the statement violates a unique constraint (default: a storage
    /// error).
    pub unique: Option<StoreError>,
    /// The write's error when the statement violates a NOT NULL constraint (PostgreSQL, whose
    /// statements use it to say that a row they read from was missing; default: a storage
    /// error).
    pub not_null: Option<StoreError>,
}

/// A statement's failure, with unique violations told apart (they become 409s).
#[derive(Debug)]
pub enum DbError {
    /// A unique constraint was violated.
    Unique,
    /// Any other failure.
    Store(StoreError),
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError::Store(e)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique => {
                StoreError::Database("unexpected unique constraint violation".into())
            }
            DbError::Store(e) => e,
        }
    }
}

/// Query helpers on any [`Db`].
pub trait DbExt: Db {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        Ok(self.execute(sql, params)?)
    }

    /// Every row of a query, each mapped by `map`.
    fn rows<T>(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        mut map: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |r| {
            out.push(map(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of a query, if any.
    fn row<T>(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        map: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.rows(sql, params, map)?.into_iter().next())
    }

    /// The first row of a query, which must exist.
    fn one<T>(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        map: impl FnMut(&dyn SqlRow) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.row(sql, params, map)?
            .ok_or_else(|| StoreError::Database(format!("query returned no row: {sql}")))
    }
}

impl<D: Db + ?Sized> DbExt for D {}

/// Rewrites `?` placeholders to `$1`, `$2`, … (PostgreSQL). The store's SQL has no `?`
/// inside string literals.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_placeholders() {
        assert_eq!(
            numbered_placeholders("SELECT a FROM t WHERE x = ? AND y IN (?, ?)"),
            "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"
        );
    }
}
