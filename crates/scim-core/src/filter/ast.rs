//! The filter syntax tree (RFC 7644 §3.4.2.2), as parsed, before schema resolution.

use crate::path::AttrPath;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// The operator as written in a filter (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value: a JSON literal (`compValue` in the RFC grammar).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string (unescaped).
    String(String),
}

/// A parsed filter expression.
///
/// Invariant: inside [`Filter::ValuePath`], paths are relative to the multi-valued
/// attribute's elements (`type`, `value`), never URN-qualified or nested again.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `path op value`
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The value compared with.
        value: CompValue,
    },
    /// `path pr`
    Present(AttrPath),
    /// `attr[filter]`: some element of the multi-valued (or complex) attribute `attr`
    /// matches `filter`. The Entra form `emails[type eq "work"].value eq "x"` is parsed as
    /// `emails[type eq "work" and value eq "x"]`.
    ValuePath {
        /// The multi-valued (or complex) attribute.
        attr: AttrPath,
        /// The filter on its elements.
        filter: Box<Filter>,
    },
}
