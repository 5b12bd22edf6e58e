//! Request handlers, one module per endpoint family.

pub mod bulk;
pub mod discovery;
pub mod resources;
