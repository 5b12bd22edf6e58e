//! End-to-end tests of the `scim` binary: real processes on real databases.
//!
//! `scale_out` runs two servers on one PostgreSQL database and sends conflicting writes
//! through both; `faults` cuts the database away under a running server; `admin` covers
//! the commands and settings on PostgreSQL and `scim store copy`. Tests that need
//! PostgreSQL are skipped (with a SKIPPED line) when none is reachable, except in CI.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod audit;
mod backup;
mod client;
mod events;
mod faults;
mod metrics;
mod operator;
mod ready;
mod remote;
mod requests;
mod roles;
mod safety;
mod scale_out;
mod targets;
mod tls;
mod webhooks;
