//! The two database drivers behind one small interface: statements with text parameters,
//! run in a transaction.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;

use crate::TargetError;

/// Which database a target writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    MySql,
}

impl Dialect {
    /// An identifier quoted for this database (`"name"` or `` `name` ``).
    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{ident}\""),
            Dialect::MySql => format!("`{ident}`"),
        }
    }

    /// The placeholder of parameter `n` (1-based), converted to the column type `ty`.
    /// Every parameter is sent as text; PostgreSQL casts it, MySQL converts it itself.
    pub fn param(self, n: usize, ty: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST(${n}::text AS {ty})"),
            Dialect::MySql => "?".to_string(),
        }
    }

    /// `INSERT … SELECT <values>` needs a table in MySQL.
    pub fn from_dual(self) -> &'static str {
        match self {
            Dialect::Postgres => "",
            Dialect::MySql => " FROM DUAL",
        }
    }

    /// A column read as text.
    pub fn as_text(self, column: &str) -> String {
        match self {
            Dialect::Postgres => format!("{column}::text"),
            Dialect::MySql => format!("CAST({column} AS CHAR)"),
        }
    }

    /// A text expression compared and ordered byte by byte.
    pub fn bytewise(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!("({expr}::text) COLLATE \"C\""),
            Dialect::MySql => format!("BINARY {expr}"),
        }
    }
}

/// A statement and its parameters (all text, `None` for NULL).
#[derive(Debug, Clone, Default)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

impl Stmt {
    /// Adds a parameter; returns its placeholder.
    pub fn p(&mut self, d: Dialect, value: Option<String>, ty: &str) -> String {
        self.params.push(value);
        d.param(self.params.len(), ty)
    }
}

/// A transaction (or a plain connection) that runs statements.
#[async_trait]
pub trait Tx: Send {
    async fn exec(&mut self, s: &Stmt) -> Result<u64, TargetError>;
    async fn query(&mut self, s: &Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError>;
}

/// How a PostgreSQL error is handled: data and constraint errors are permanent, the rest
/// (connection, serialization, lock) transient.
pub fn pg_error(e: &tokio_postgres::Error) -> TargetError {
    match e.code() {
        Some(code) => {
            let class = &code.code()[..2];
            let text = match e.as_db_error() {
                Some(db) => format!("PostgreSQL {}: {}", code.code(), db.message()),
                None => format!("PostgreSQL: {e}"),
            };
            if matches!(class, "22" | "23" | "42" | "44" | "2B" | "0A") {
                TargetError::permanent(text)
            } else {
                TargetError::retry(text)
            }
        }
        None => TargetError::retry(format!("PostgreSQL: {e}")),
    }
}

/// How a MySQL/MariaDB error is handled: the server's data and constraint errors are
/// permanent; deadlocks, lock waits, lost connections and I/O errors transient.
pub fn my_error(e: &mysql_async::Error) -> TargetError {
    match e {
        mysql_async::Error::Server(s) => {
            let text = format!("MySQL {}: {}", s.code, s.message);
            // Lock wait timeout, deadlock, too many connections, connection killed,
            // server shutting down, read-only (a failover in progress).
            if matches!(s.code, 1205 | 1213 | 1040 | 1053 | 1927 | 1290 | 1836) {
                TargetError::retry(text)
            } else {
                TargetError::permanent(text)
            }
        }
        other => TargetError::retry(format!("MySQL: {other}")),
    }
}

fn pg_params(s: &Stmt) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    s.params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

fn pg_rows(rows: Vec<tokio_postgres::Row>) -> Result<Vec<Vec<Option<String>>>, TargetError> {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<_, Option<String>>(i).map_err(|e| pg_error(&e)))
                .collect()
        })
        .collect()
}

#[async_trait]
impl Tx for tokio_postgres::Transaction<'_> {
    async fn exec(&mut self, s: &Stmt) -> Result<u64, TargetError> {
        self.execute(s.sql.as_str(), &pg_params(s))
            .await
            .map_err(|e| pg_error(&e))
    }

    async fn query(&mut self, s: &Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let rows = tokio_postgres::Transaction::query(self, s.sql.as_str(), &pg_params(s))
            .await
            .map_err(|e| pg_error(&e))?;
        pg_rows(rows)
    }
}

#[async_trait]
impl Tx for tokio_postgres::Client {
    async fn exec(&mut self, s: &Stmt) -> Result<u64, TargetError> {
        self.execute(s.sql.as_str(), &pg_params(s))
            .await
            .map_err(|e| pg_error(&e))
    }

    async fn query(&mut self, s: &Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let rows = tokio_postgres::Client::query(self, s.sql.as_str(), &pg_params(s))
            .await
            .map_err(|e| pg_error(&e))?;
        pg_rows(rows)
    }
}

fn my_params(s: &Stmt) -> mysql_async::Params {
    if s.params.is_empty() {
        return mysql_async::Params::Empty;
    }
    mysql_async::Params::Positional(
        s.params
            .iter()
            .map(|p| match p {
                Some(t) => mysql_async::Value::Bytes(t.clone().into_bytes()),
                None => mysql_async::Value::NULL,
            })
            .collect(),
    )
}

fn my_text(v: &mysql_async::Value) -> Option<String> {
    use mysql_async::Value as V;
    match v {
        V::NULL => None,
        V::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        V::Int(i) => Some(i.to_string()),
        V::UInt(u) => Some(u.to_string()),
        V::Float(f) => Some(f.to_string()),
        V::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn my_rows(rows: Vec<mysql_async::Row>) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.as_ref(i).and_then(my_text))
                .collect()
        })
        .collect()
}

#[async_trait]
impl Tx for mysql_async::Transaction<'_> {
    async fn exec(&mut self, s: &Stmt) -> Result<u64, TargetError> {
        self.exec_drop(s.sql.as_str(), my_params(s))
            .await
            .map_err(|e| my_error(&e))?;
        Ok(self.affected_rows())
    }

    async fn query(&mut self, s: &Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let rows: Vec<mysql_async::Row> = Queryable::exec(self, s.sql.as_str(), my_params(s))
            .await
            .map_err(|e| my_error(&e))?;
        Ok(my_rows(rows))
    }
}

#[async_trait]
impl Tx for mysql_async::Conn {
    async fn exec(&mut self, s: &Stmt) -> Result<u64, TargetError> {
        self.exec_drop(s.sql.as_str(), my_params(s))
            .await
            .map_err(|e| my_error(&e))?;
        Ok(self.affected_rows())
    }

    async fn query(&mut self, s: &Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let rows: Vec<mysql_async::Row> = Queryable::exec(self, s.sql.as_str(), my_params(s))
            .await
            .map_err(|e| my_error(&e))?;
        Ok(my_rows(rows))
    }
}
