//! Schema migrations, embedded in the binary and recorded in `scim_schema_migrations`.
//!
//! All pending migrations are applied in one transaction under an advisory lock, so several
//! instances starting at once on a fresh database neither race nor apply anything twice.

use tokio_postgres::Client;

use super::error;
use crate::StoreError;

/// Every migration this build knows, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "events_admin",
        include_str!("../../migrations/postgres/0002_events_admin.sql"),
    ),
    (
        3,
        "tenant_settings_tokens",
        include_str!("../../migrations/postgres/0003_tenant_settings_tokens.sql"),
    ),
    (
        4,
        "delivery",
        include_str!("../../migrations/postgres/0004_delivery.sql"),
    ),
    (
        5,
        "ops",
        include_str!("../../migrations/postgres/0005_ops.sql"),
    ),
    (
        6,
        "targets",
        include_str!("../../migrations/postgres/0006_targets.sql"),
    ),
    (
        7,
        "manage",
        include_str!("../../migrations/postgres/0007_manage.sql"),
    ),
    (
        8,
        "operator",
        include_str!("../../migrations/postgres/0008_operator.sql"),
    ),
    (
        9,
        "roles2",
        include_str!("../../migrations/postgres/0009_roles2.sql"),
    ),
    (
        10,
        "requests",
        include_str!("../../migrations/postgres/0010_requests.sql"),
    ),
    (
        11,
        "admin_last_used",
        include_str!("../../migrations/postgres/0011_admin_last_used.sql"),
    ),
    (
        12,
        "statistics",
        include_str!("../../migrations/postgres/0012_statistics.sql"),
    ),
];

/// The advisory lock key that serialises migrations ("scimmigr" in ASCII).
const LOCK_KEY: i64 = 0x7363_696d_6d69_6772;

/// The schema version this build expects.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Applies the migrations the database has not seen; returns how many were applied.
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let db = |e: tokio_postgres::Error| error::to_store(&e);
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db)?;
    // "relation already exists, skipping" is expected: keep it out of the logs. A
    // migration (an index on a large table) may take longer than a request's statements.
    tx.batch_execute("SET LOCAL client_min_messages = warning; SET LOCAL statement_timeout = 0")
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS scim_schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db)?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM scim_schema_migrations",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if current > latest() {
        return Err(StoreError::Database(format!(
            "the database is at schema version {current}, newer than this build ({}); upgrade scim",
            latest()
        )));
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Database(format!(
                "migration {version} ({name}) failed: {}",
                error::describe(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO scim_schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db)?;
        applied += 1;
    }
    tx.commit().await.map_err(db)?;
    Ok(applied)
}
