//! Behaviour tests over real HTTP: each test starts the real server on 127.0.0.1:0 with a
//! real database and talks to it with an HTTP client.
//!
//! Every test is an `async fn(TestServer)` listed in its module's `backend_tests!`, which
//! runs it once per storage backend.
//!
//! This is the only behaviour-test binary of the crate: add modules here rather than new
//! files under `tests/`, each of which would be another slow-to-link binary.
//!
//! Modules: `smoke` (the basic round trip), `entra`, `okta` and `others` (what real
//! identity providers send, after /work/shared/docs/IDP-COMPAT.md), `errors` (bad input
//! gets the right SCIM error and changes nothing), `tenancy`, `resources` (ETags,
//! projection, sorting, pagination, search, memberships, deletion), `bulk`, `discovery`,
//! `large_groups` (PATCH answers, streamed reads and bounded pages of large groups) and
//! `hostile` (what a hostile probe found: each defect reproduced).

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod bulk;
mod custom;
mod discovery;
mod entra;
mod errors;
mod hostile;
mod large_groups;
mod limits;
mod okta;
mod others;
mod requests;
mod resources;
mod smoke;
mod tenancy;
