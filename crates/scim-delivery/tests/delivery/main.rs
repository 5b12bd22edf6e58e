//! The delivery engine against real receivers over real HTTP, on SQLite and PostgreSQL
//! (skipped with a SKIPPED line without a PostgreSQL server, a failure in CI), and against a
//! real NATS JetStream server (likewise).

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod background;
mod batching;
mod cursors;
mod nats;
mod tail;
mod webhooks;
