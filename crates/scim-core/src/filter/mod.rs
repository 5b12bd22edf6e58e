//! SCIM filters (RFC 7644 §3.4.2.2): parsing, rendering, schema resolution and evaluation.

mod ast;

pub use ast::{CompValue, CompareOp, Filter};
