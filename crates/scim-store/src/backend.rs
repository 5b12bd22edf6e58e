//! Choosing a backend from a database URL: `sqlite://PATH` or `postgres://…`.

use std::path::PathBuf;
use std::sync::Arc;

use scim_core::schema::SchemaRegistry;

use crate::postgres::{PgOptions, PgStore};
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

/// Where a store's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file: `sqlite://PATH` (`sqlite:///abs/path.db` for an absolute path).
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user[:password]@host[:port]/database[?…]`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a database URL.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(p) if !p.is_empty() => Ok(DatabaseUrl::Sqlite(PathBuf::from(p))),
            _ => Err(StoreError::Database(
                "a database URL is postgres://user@host:port/database or sqlite://PATH".into(),
            )),
        }
    }
}

/// A store on either backend.
#[derive(Clone)]
pub enum AnyStore {
    /// The embedded SQLite engine.
    Sqlite(SqliteStore),
    /// The PostgreSQL engine.
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the store at `url`, applying pending migrations. `pg` configures the
    /// PostgreSQL connection pool (ignored for SQLite).
    pub async fn open(
        url: &DatabaseUrl,
        registry: &SchemaRegistry,
        pg: &PgOptions,
    ) -> Result<AnyStore, StoreError> {
        match url {
            // Opening a file and migrating it is brief; it happens once, at start.
            DatabaseUrl::Sqlite(path) => SqliteStore::open(path, registry).map(AnyStore::Sqlite),
            DatabaseUrl::Postgres(url) => PgStore::connect(url, registry, pg)
                .await
                .map(AnyStore::Postgres),
        }
    }

    /// Where the data lives, for logs (never a password).
    pub fn describe(&self) -> String {
        match self {
            AnyStore::Sqlite(s) => s.describe(),
            AnyStore::Postgres(s) => s.describe(),
        }
    }

    /// Sets the per-tenant write limits (writes in progress, share of the writer).
    pub fn set_fairness(&self, f: crate::Fairness) {
        match self {
            AnyStore::Sqlite(s) => s.set_fairness(f),
            AnyStore::Postgres(s) => s.set_fairness(f),
        }
    }

    /// The store's connector target state (`scim-targets`).
    pub fn target_states(&self) -> Arc<dyn crate::TargetStates> {
        match self {
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
            AnyStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The store behind the [`Store`] interface, to share with a server.
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
            AnyStore::Postgres(s) => Arc::new(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/scim/scim.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/scim/scim.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/scim.db").unwrap(),
            DatabaseUrl::Sqlite("data/scim.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
