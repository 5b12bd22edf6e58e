//! `scim sync` behaviour over real HTTP against the real `scim` server, on SQLite and
//! PostgreSQL: CSV and JSON Lines sources with and without a mapping file, SCIM → SCIM
//! copies with memberships, idempotence, the delete guard, resuming an interrupted run,
//! and 429s from the server's per-tenant rate limit.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod cases;
