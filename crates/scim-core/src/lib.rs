//! `scim-core`: the SCIM 2.0 protocol core (RFC 7643, RFC 7644) as a pure library.
//!
//! Architecture invariant: this crate does no I/O. It reads no files, opens no sockets and
//! reads no clock; callers pass in documents, times and identifiers. Everything here is
//! deterministic and can be tested and fuzzed in isolation.

#![warn(missing_docs)]

pub mod error;
pub mod filter;
pub mod json;
pub mod limits;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod sort;
pub mod value;

pub use error::{ScimError, ScimResult, ScimType, Sent};
