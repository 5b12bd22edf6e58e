//! Behaviour tests of the management API over real HTTP: each test starts the real server
//! (the SCIM router with the management router beside it) on 127.0.0.1:0 with a real
//! database, once per storage backend.
//!
//! This is the only test binary of the crate: add modules here.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod admin_log;
mod audit;
mod auth;
mod directory;
mod events;
mod openapi;
mod roles;
mod tenants;
mod webhooks;
