//! The store's figures for `/metrics`, recorded through the `metrics` facade (kept only
//! when the process installed a recorder: `scim serve` does).

use std::time::Duration;

/// Time a write waited and ran, from the call to its durable answer: `backend`.
pub(crate) const WRITE_SECONDS: &str = "scim_store_write_seconds";
/// Time of one commit batch, from `BEGIN` to `COMMIT`: `backend`.
pub(crate) const COMMIT_SECONDS: &str = "scim_store_commit_seconds";
/// Writes committed together in one transaction (group commit): `backend`.
pub(crate) const COMMIT_BATCH_SIZE: &str = "scim_store_commit_batch_size";
/// Writes waiting for SQLite's writer thread.
pub(crate) const WRITER_QUEUE: &str = "scim_store_writer_queue_depth";
/// PostgreSQL pool connections: `state` (`in_use`, `idle`).
pub(crate) const POOL_CONNECTIONS: &str = "scim_store_pool_connections";
/// The most connections the PostgreSQL pool opens.
pub(crate) const POOL_MAX: &str = "scim_store_pool_max_connections";

pub(crate) fn write_done(backend: &'static str, took: Duration) {
    metrics::histogram!(WRITE_SECONDS, "backend" => backend).record(took.as_secs_f64());
}

pub(crate) fn commit_done(backend: &'static str, writes: usize, took: Duration) {
    metrics::histogram!(COMMIT_SECONDS, "backend" => backend).record(took.as_secs_f64());
    metrics::histogram!(COMMIT_BATCH_SIZE, "backend" => backend).record(writes as f64);
}
