//! Behaviour tests of targets through the applier, on a real SQLite store. The SQL target
//! on real MariaDB/PostgreSQL is tested end to end through the `scim` binary
//! (`crates/scim-cli/tests/cli/targets.rs`).

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http;
