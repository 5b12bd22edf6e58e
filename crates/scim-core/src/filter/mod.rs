//! SCIM filters (RFC 7644 §3.4.2.2): parsing, rendering, schema resolution and evaluation.
//!
//! The pipeline is text → [`Filter`] ([`parse_filter`]) → [`ResolvedFilter`] ([`resolve`],
//! against a resource type's schemas) → a yes/no per resource
//! ([`ResolvedFilter::matches`]) or a store's query. [`Filter`] prints as canonical
//! filter text that parses back to the same tree.
//!
//! Files: `lexer.rs` (tokens), `parser.rs` (grammar, limits, error positions),
//! `display.rs` (canonical text), `resolve.rs` (names, types, operator checks), `eval.rs`
//! (matching canonical JSON).

mod ast;
mod display;
mod eval;
mod lexer;
mod parser;
mod resolve;

pub use ast::{CompValue, CompareOp, Filter};
pub use parser::{FilterLimits, parse_element_filter, parse_filter, parse_filter_with};
pub use resolve::{Comparison, ResolvedFilter, ResolvedPath, resolve, resolve_element_filter};

#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod semantics_tests;
