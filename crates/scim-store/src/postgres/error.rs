//! Which PostgreSQL failures a client may retry (503 + Retry-After) and which are bugs.

use std::error::Error as _;

use tokio_postgres::error::SqlState;

use crate::StoreError;

/// What a driver error means to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A unique constraint was violated (the statement did nothing).
    Unique,
    /// A foreign key to `tenants` was violated: the tenant was deleted under the write.
    TenantGone,
    /// The database is unreachable, restarting, overloaded, or chose this transaction as a
    /// deadlock or serialization victim: nothing was committed and a retry may succeed.
    Unavailable,
    /// The connection itself is gone or unusable: unavailable, and the connection must not
    /// go back to the pool.
    Broken,
    /// Anything else (a bug in a statement, a type mismatch): a 500.
    Other,
}

/// Classifies a driver error.
pub(crate) fn kind(e: &tokio_postgres::Error) -> Kind {
    if let Some(code) = e.code() {
        return kind_of_state(code);
    }
    if e.is_closed() {
        return Kind::Broken;
    }
    // Without an SQLSTATE the failure happened on our side of the wire: a type conversion
    // is a bug, everything else (I/O, timeouts, a broken protocol stream) is the connection.
    let source = e.source();
    let conversion = source.is_some_and(|s| {
        s.is::<tokio_postgres::types::WasNull>() || s.is::<tokio_postgres::types::WrongType>()
    });
    if conversion {
        Kind::Other
    } else {
        Kind::Broken
    }
}

fn kind_of_state(code: &SqlState) -> Kind {
    let class = code.code().get(..2).unwrap_or_default();
    if *code == SqlState::UNIQUE_VIOLATION {
        Kind::Unique
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        Kind::TenantGone
    } else if class == "08" // connection exception
        || *code == SqlState::ADMIN_SHUTDOWN // 57P01: the server is shutting down
        || *code == SqlState::CRASH_SHUTDOWN // 57P02
        || *code == SqlState::IDLE_SESSION_TIMEOUT
    {
        Kind::Broken
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE // 40001
        || *code == SqlState::T_R_DEADLOCK_DETECTED // 40P01
        || *code == SqlState::CANNOT_CONNECT_NOW // 57P03: starting up or in recovery
        || *code == SqlState::TOO_MANY_CONNECTIONS // 53300
        || *code == SqlState::QUERY_CANCELED // 57014: statement_timeout
        || *code == SqlState::LOCK_NOT_AVAILABLE // 55P03: lock_timeout
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION // 25006: a standby after failover
        || class == "53"
    // insufficient resources (disk full, out of memory)
    {
        Kind::Unavailable
    } else {
        Kind::Other
    }
}

/// The store error for a driver error. Unique violations that the caller did not expect
/// are storage errors.
pub(crate) fn to_store(e: &tokio_postgres::Error) -> StoreError {
    match kind(e) {
        Kind::Unavailable | Kind::Broken => StoreError::Unavailable(describe(e)),
        Kind::TenantGone => crate::sql::tenant_gone(),
        Kind::Unique | Kind::Other => StoreError::Database(describe(e)),
    }
}

/// The error text with the server's detail, for logs (never sent to clients).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("postgres {}: {}", db.code().code(), db.message()),
        None => match e.source() {
            Some(s) => format!("postgres: {e}: {s}"),
            None => format!("postgres: {e}"),
        },
    }
}

/// The store error for a failure to get a pooled connection: always retryable.
pub(crate) fn from_pool(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => {
            StoreError::Unavailable(format!("cannot connect to the database: {}", describe(&e)))
        }
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "no database connection available in time ({kind:?} timeout)"
        )),
        other => StoreError::Unavailable(format!("database pool: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_states_are_unavailable() {
        for code in [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::DISK_FULL,
        ] {
            assert!(
                matches!(kind_of_state(&code), Kind::Unavailable | Kind::Broken),
                "{code:?}"
            );
        }
        assert_eq!(kind_of_state(&SqlState::UNIQUE_VIOLATION), Kind::Unique);
        assert_eq!(kind_of_state(&SqlState::SYNTAX_ERROR), Kind::Other);
        assert_eq!(kind_of_state(&SqlState::UNDEFINED_TABLE), Kind::Other);
    }
}
