//! Resource input processing and output representation (RFC 7643 §2, §3; RFC 7644 §3.3, §3.5.1).
//!
//! Every layer shares one canonical stored form of a resource: a JSON object with
//! - `schemas`: the core schema URN first, then each extension that has attributes;
//! - `id`, optional `externalId`, and `meta` (`resourceType`, `created`, `lastModified`,
//!   `location`, `version`), set by the server through [`set_meta`];
//! - core attributes at the top level under their canonical names, complex values nested
//!   (`name: {givenName}`);
//! - each extension's attributes in an object under the extension's canonical URN.
//!
//! Empty values are absent: no `null`, no `""`, no empty arrays or objects are stored.
//! writeOnly attributes (`password`) are kept in the stored form and never rendered.
//!
//! Input ([`prepare_create`], [`prepare_replace`]) turns a request body into that form;
//! output ([`render`]) turns the stored form into a response body under a
//! [`crate::projection::Projection`].

mod assemble;
mod body;
mod create;
mod lenient;
mod meta;
mod output;
mod replace;
mod required;
mod schemas_attr;

pub use create::prepare_create;
pub use meta::{Meta, set_meta};
pub use output::render;
pub use replace::prepare_replace;

#[cfg(test)]
mod tests;
