//! `scim-targets`: connector targets. `scim`'s changes, as the events of `scim-delivery`,
//! applied to an application's own database (PostgreSQL, MariaDB/MySQL: [`sql`]) or its
//! REST API ([`http`]), or to any [`Target`] an embedder writes; and [`reconcile`], which
//! finds and repairs what drifted.
//!
//! One mapping language for every direction: column values and request bodies are
//! `scim-mapping` templates over SCIM attribute paths.

#![warn(missing_docs)]

mod applier;
mod error;
pub mod reconcile;
mod target;

pub use applier::{
    Applier, Progress, RetryPolicy, RetryReport, RunMode, Stopped, closed, retry_parked,
};
pub use error::{Disposition, RunError, TargetError};
pub use target::{Applied, Readback, Row, Target};

pub mod config;
pub mod http;
pub mod sql;

pub use config::{Configured, TenantBinding, load_dir, load_target};
