//! The storage behaviour suite: every test runs against SQLite and against PostgreSQL
//! (a fresh database per test; skipped with a notice when no server is reachable, and a
//! failure in CI). Both backends must behave identically.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod audit;
mod changes;
mod concurrency;
mod copy;
mod delivery;
mod events;
mod lifecycle;
mod list;
mod members;
mod operator;
mod resources;
mod retention;
mod roles;
mod safety;
mod tenants;
mod tls;
