//! Attribute paths (RFC 7644 §3.10): `userName`, `name.givenName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.

use std::fmt;

/// A path to an attribute or a sub-attribute, optionally qualified by its schema URN.
///
/// Names are kept as written; resolution against a schema ([`crate::schema::SchemaRegistry`])
/// matches them case-insensitively and yields the canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN, when the path was URN-qualified.
    pub schema: Option<String>,
    /// The attribute's name (`emails`, `name`).
    pub attr: String,
    /// The sub-attribute's name (`givenName` in `name.givenName`).
    pub sub_attr: Option<String>,
}

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("the attribute path is empty")]
    Empty,
    /// A name has characters attribute names may not have.
    #[error("'{0}' is not a valid attribute name")]
    InvalidName(String),
    /// More than one level of sub-attributes (`a.b.c`).
    #[error("'{0}' has more than one sub-attribute level")]
    TooDeep(String),
}

impl PathError {
    /// The message with the text the client sent marked ([`crate::Sent`]), for an error
    /// detail.
    pub fn marked(&self) -> String {
        use crate::Sent;
        match self {
            PathError::Empty => self.to_string(),
            PathError::InvalidName(t) => format!("'{}' is not a valid attribute name", Sent(t)),
            PathError::TooDeep(t) => format!("'{}' has more than one sub-attribute level", Sent(t)),
        }
    }
}

/// Whether `s` is a valid attribute name: `ATTRNAME = ALPHA *(nameChar)` (RFC 7644 §3.10),
/// plus the `$ref` sub-attribute name.
pub fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `s` looks like a schema URN (`urn:` followed by something).
pub fn is_urn(s: &str) -> bool {
    s.len() > 4 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

impl AttrPath {
    /// A path to a top-level attribute of the core schema.
    pub fn simple(attr: impl Into<String>) -> Self {
        AttrPath {
            schema: None,
            attr: attr.into(),
            sub_attr: None,
        }
    }

    /// Parses `[URN ":"] ATTRNAME ["." subAttr]`.
    ///
    /// A bare URN (no attribute) is not an attribute path: it is rejected here and handled by
    /// the callers that accept it (PATCH and projection).
    pub fn parse(text: &str) -> Result<AttrPath, PathError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let (schema, rest) = if is_urn(text) {
            match text.rfind(':') {
                Some(i) => (Some(text[..i].to_string()), &text[i + 1..]),
                None => return Err(PathError::InvalidName(text.to_string())),
            }
        } else {
            (None, text)
        };
        let mut parts = rest.split('.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(PathError::TooDeep(text.to_string()));
        }
        if !is_attr_name(attr) {
            return Err(PathError::InvalidName(rest.to_string()));
        }
        if let Some(sub) = sub
            && !is_attr_name(sub)
        {
            return Err(PathError::InvalidName(rest.to_string()));
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_string(),
            sub_attr: sub.map(str::to_string),
        })
    }

    /// The same path without its sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath {
            schema: self.schema.clone(),
            attr: self.attr.clone(),
            sub_attr: None,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_sub_and_urn_paths() {
        assert_eq!(
            AttrPath::parse("userName").unwrap(),
            AttrPath::simple("userName")
        );
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(p.attr, "name");
        assert_eq!(p.sub_attr.as_deref(), Some("givenName"));
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        assert_eq!(
            p.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(AttrPath::parse(""), Err(PathError::Empty));
        assert!(matches!(
            AttrPath::parse("a.b.c"),
            Err(PathError::TooDeep(_))
        ));
        assert!(matches!(
            AttrPath::parse("1abc"),
            Err(PathError::InvalidName(_))
        ));
        assert!(matches!(
            AttrPath::parse("a b"),
            Err(PathError::InvalidName(_))
        ));
        assert!(matches!(
            AttrPath::parse("emails."),
            Err(PathError::InvalidName(_))
        ));
    }

    #[test]
    fn non_ascii_input_is_rejected_not_a_panic() {
        assert!(AttrPath::parse("abcé").is_err());
        assert!(AttrPath::parse("uré:x").is_err());
        assert!(!is_urn("abcé"));
    }

    #[test]
    fn ref_is_a_valid_sub_attribute() {
        let p = AttrPath::parse("members.$ref").unwrap();
        assert_eq!(p.sub_attr.as_deref(), Some("$ref"));
    }
}
