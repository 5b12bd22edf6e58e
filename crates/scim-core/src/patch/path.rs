//! PATCH paths (RFC 7644 §3.5.2, figure 1): `attrPath`, `attrPath[valFilter]`,
//! `attrPath[valFilter].subAttr`, URN-qualified paths and bare extension URNs; and their
//! resolution against a resource type.

use std::fmt;

use serde_json::{Map, Value};

use crate::Sent;
use crate::error::{ScimError, ScimResult, ScimType};
use crate::filter::{
    CompValue, CompareOp, Filter, ResolvedFilter, parse_element_filter, resolve_element_filter,
};
use crate::path::{AttrPath, PathError, is_attr_name, is_urn};
use crate::schema::{Attribute, ResolvedAttr, ResourceType, Schema, SchemaRegistry};

/// A parsed (not yet resolved) PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    text: String,
    kind: PatchPathKind,
}

/// The shapes a PATCH path can take.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPathKind {
    /// `attr`, `attr.sub`, `urn:…:attr`, `urn:…:attr.sub`. A URN-qualified path without a
    /// sub-attribute may also be a whole extension
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` parses as schema
    /// `…:2.0`, attribute `User`); resolution checks the extension first.
    Attr(AttrPath),
    /// `attr[filter]` or `attr[filter].sub`: elements of a multi-valued complex attribute.
    Filtered {
        /// The multi-valued complex attribute.
        attr: AttrPath,
        /// Which of its elements.
        filter: Filter,
        /// The sub-attribute of those elements, when the path names one.
        sub_attr: Option<String>,
    },
    /// A URN that is not also an attribute path (`urn:example:ext:2.0`): it can only name a
    /// whole extension.
    Urn(String),
}

fn path_error(text: &str, e: &PathError) -> ScimError {
    ScimError::invalid_path(format!("invalid path '{}': {}", Sent(text), e.marked()))
}

/// Whether `text` (trimmed) can be handed to [`AttrPath::parse`] and [`is_urn`]: they slice
/// the first four bytes, which panics when byte 4 falls inside a multi-byte character. Such
/// text starts with a non-ASCII character and is neither an attribute name nor a URN.
fn sliceable(text: &str) -> bool {
    let t = text.trim();
    t.len() <= 4 || t.is_char_boundary(4)
}

/// [`AttrPath::parse`], safe on any text.
pub(crate) fn parse_attr_path(text: &str) -> Result<AttrPath, PathError> {
    if !sliceable(text) {
        return Err(PathError::InvalidName(text.trim().to_string()));
    }
    AttrPath::parse(text)
}

/// Characters a bare URN may contain (RFC 8141, loosely).
fn is_urn_text(s: &str) -> bool {
    sliceable(s)
        && is_urn(s)
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '[' | ']' | '"'))
}

/// The byte index of the `]` closing the `[` at `open`, skipping quoted strings.
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i <= open) {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '"' => in_string = true,
                ']' => return Some(i),
                _ => {}
            }
        }
    }
    None
}

impl PatchPath {
    /// Parses a PATCH path. URNs are never split on their dots: the attribute starts after
    /// the URN's last colon. The bracket contents are parsed with
    /// [`crate::filter::parse_element_filter`].
    ///
    /// Errors are 400 `invalidPath` with a detail naming the problem (filter syntax errors
    /// included, keeping the filter parser's detail).
    pub fn parse(text: &str) -> ScimResult<PatchPath> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ScimError::invalid_path("the path is empty"));
        }
        let kind = match trimmed.find('[') {
            Some(open) => Self::parse_filtered(trimmed, open)?,
            None => match parse_attr_path(trimmed) {
                Ok(p) => PatchPathKind::Attr(p),
                Err(_) if is_urn_text(trimmed) => PatchPathKind::Urn(trimmed.to_string()),
                Err(e) => return Err(path_error(trimmed, &e)),
            },
        };
        Ok(PatchPath {
            text: trimmed.to_string(),
            kind,
        })
    }

    fn parse_filtered(text: &str, open: usize) -> ScimResult<PatchPathKind> {
        let head = text.get(..open).unwrap_or_default();
        let attr = parse_attr_path(head).map_err(|e| path_error(text, &e))?;
        if attr.sub_attr.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path '{}': a value filter '[…]' must follow an attribute, not the sub-attribute '{}'",
                Sent(text),
                Sent(&attr)
            )));
        }
        let Some(close) = closing_bracket(text, open) else {
            return Err(ScimError::invalid_path(format!(
                "invalid path '{}': the '[' has no matching ']'",
                Sent(text)
            )));
        };
        let inner = text.get(open + 1..close).unwrap_or_default();
        let filter = parse_element_filter(inner).map_err(|e| {
            ScimError::invalid_path(format!(
                "invalid path '{}': the value filter is not valid: {}",
                Sent(text),
                e.marked_detail()
            ))
        })?;
        let rest = text.get(close + 1..).unwrap_or_default();
        let sub_attr = if rest.is_empty() {
            None
        } else {
            match rest.strip_prefix('.') {
                Some(sub) if is_attr_name(sub) => Some(sub.to_string()),
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "invalid path '{}': after ']' only '.subAttribute' may follow, found '{}'",
                        Sent(text),
                        Sent(rest)
                    )));
                }
            }
        };
        Ok(PatchPathKind::Filtered {
            attr,
            filter,
            sub_attr,
        })
    }

    /// The path as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed shape.
    pub fn kind(&self) -> &PatchPathKind {
        &self.kind
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a PATCH path designates in a resource of one type.
#[derive(Debug, Clone)]
pub(crate) enum Target<'a> {
    /// A whole schema extension (the object under its URN).
    Extension(&'a Schema),
    /// An attribute, or a sub-attribute (`ra.sub`) of a complex one.
    Attr(ResolvedAttr<'a>),
    /// The elements of the multi-valued complex attribute `ra.attr` that match `filter`,
    /// or their sub-attribute `sub`.
    Filtered {
        ra: ResolvedAttr<'a>,
        filter: ResolvedFilter,
        sub: Option<&'a Attribute>,
    },
}

/// An "unknown attribute" error for `path` (400 `invalidPath`).
fn unknown(registry: &SchemaRegistry, rt: &ResourceType, path: &AttrPath) -> ScimError {
    if let Some(sub) = &path.sub_attr
        && let Some(parent) = registry.resolve(rt, &path.parent())
    {
        let names: Vec<&str> = parent
            .attr
            .sub_attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        return ScimError::invalid_path(format!(
            "'{}' is not a sub-attribute of '{}' (it has: {})",
            Sent(sub),
            parent.canonical_path(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    ScimError::invalid_path(format!(
        "unknown attribute '{}' for resource type {}",
        Sent(path),
        rt.name
    ))
}

/// Resolves an attribute path (no filter) against `rt`, trying a whole extension first for
/// URN-qualified paths without a sub-attribute.
pub(crate) fn resolve_attr_path<'a>(
    registry: &'a SchemaRegistry,
    rt: &'a ResourceType,
    path: &AttrPath,
) -> ScimResult<Target<'a>> {
    if let (Some(urn), None) = (&path.schema, &path.sub_attr)
        && let Some(ext) = registry.extension_of(rt, &format!("{urn}:{}", path.attr))
    {
        return Ok(Target::Extension(ext));
    }
    registry
        .resolve(rt, path)
        .map(Target::Attr)
        .ok_or_else(|| unknown(registry, rt, path))
}

/// Resolves a parsed PATCH path against resource type `rt`.
///
/// Errors are 400 `invalidPath`: unknown attributes or sub-attributes, a URN that is not an
/// extension of `rt`, a value filter on an attribute that is not multi-valued and complex,
/// and filters naming unknown sub-attributes or comparing values of the wrong type.
pub(crate) fn resolve_target<'a>(
    registry: &'a SchemaRegistry,
    rt: &'a ResourceType,
    path: &PatchPath,
) -> ScimResult<Target<'a>> {
    match &path.kind {
        PatchPathKind::Urn(urn) => registry
            .extension_of(rt, urn)
            .map(Target::Extension)
            .ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "'{}' is not a schema extension of resource type {}",
                    Sent(urn),
                    rt.name
                ))
            }),
        PatchPathKind::Attr(p) => resolve_attr_path(registry, rt, p),
        PatchPathKind::Filtered {
            attr,
            filter,
            sub_attr,
        } => {
            let ra = registry
                .resolve(rt, attr)
                .ok_or_else(|| unknown(registry, rt, attr))?;
            if !ra.attr.multi_valued || !ra.attr.is_complex() {
                return Err(ScimError::invalid_path(format!(
                    "invalid path '{}': a value filter '[…]' applies to multi-valued complex attributes, and '{}' is not one",
                    Sent(path),
                    ra.canonical_path()
                )));
            }
            let filter = resolve_element_filter(filter, registry, rt, &ra).map_err(|e| {
                if e.scim_type == Some(ScimType::InvalidFilter) {
                    ScimError::invalid_path(format!(
                        "invalid path '{}': {}",
                        Sent(path),
                        e.marked_detail()
                    ))
                } else {
                    e
                }
            })?;
            let sub = match sub_attr {
                None => None,
                Some(name) => Some(ra.attr.sub_attribute(name).ok_or_else(|| {
                    unknown(
                        registry,
                        rt,
                        &AttrPath {
                            sub_attr: Some(name.clone()),
                            ..attr.clone()
                        },
                    )
                })?),
            };
            Ok(Target::Filtered { ra, filter, sub })
        }
    }
}

/// The element a value filter describes, when it is a conjunction of `sub eq value`
/// comparisons (`type eq "work"`, `type eq "work" and primary eq true`): used to create the
/// element when an `add` finds none. `None` for any other filter.
pub(crate) fn seed_element(filter: &ResolvedFilter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(f: &ResolvedFilter, out: &mut Map<String, Value>) -> bool {
        match f {
            ResolvedFilter::And(l, r) => walk(l, out) && walk(r, out),
            ResolvedFilter::Compare(c) if c.op == CompareOp::Eq && !c.json().is_null() => {
                let Some(sub) = &c.path.sub_attr else {
                    return false;
                };
                match out.get(sub) {
                    Some(existing) if existing != c.json() => false,
                    _ => {
                        out.insert(sub.clone(), c.json().clone());
                        true
                    }
                }
            }
            _ => false,
        }
    }
    walk(filter, &mut out).then_some(out)
}

/// The `value`s a filter lists, when it is `value eq "a"` or a disjunction of such
/// comparisons (`value eq "a" or value eq "b"`). `None` for any other filter.
pub(crate) fn listed_values(filter: &ResolvedFilter) -> Option<Vec<String>> {
    fn walk(f: &ResolvedFilter, out: &mut Vec<String>) -> bool {
        match f {
            ResolvedFilter::Or(l, r) => walk(l, out) && walk(r, out),
            ResolvedFilter::Compare(c) if c.op == CompareOp::Eq => {
                match (&c.path.sub_attr, &c.value) {
                    (Some(sub), CompValue::String(s)) if sub == "value" => {
                        if !out.contains(s) {
                            out.push(s.clone());
                        }
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
    let mut out = Vec::new();
    walk(filter, &mut out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER_SCHEMA;

    fn kind(text: &str) -> PatchPathKind {
        PatchPath::parse(text).unwrap().kind
    }

    fn err(text: &str) -> ScimError {
        let e = PatchPath::parse(text).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{text}");
        e
    }

    #[test]
    fn parses_attribute_and_sub_attribute_paths() {
        assert_eq!(
            kind("  userName "),
            PatchPathKind::Attr(AttrPath::simple("userName"))
        );
        let PatchPathKind::Attr(p) = kind("name.givenName") else {
            panic!()
        };
        assert_eq!(
            (p.attr.as_str(), p.sub_attr.as_deref()),
            ("name", Some("givenName"))
        );
        assert_eq!(
            PatchPath::parse(" name.givenName").unwrap().as_str(),
            "name.givenName"
        );
    }

    #[test]
    fn urn_paths_are_never_split_on_their_dots() {
        let PatchPathKind::Attr(p) = kind(&format!("{ENTERPRISE_USER_SCHEMA}:department")) else {
            panic!()
        };
        assert_eq!(p.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.attr, "department");
        let PatchPathKind::Attr(p) = kind(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value"))
        else {
            panic!()
        };
        assert_eq!(p.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(
            (p.attr.as_str(), p.sub_attr.as_deref()),
            ("manager", Some("value"))
        );
        // The bare enterprise URN parses as an attribute path; resolution makes it the
        // extension. A URN ending in a version number is kept whole.
        assert!(matches!(
            kind(ENTERPRISE_USER_SCHEMA),
            PatchPathKind::Attr(_)
        ));
        assert_eq!(
            kind("urn:example:scim:ext:2.0"),
            PatchPathKind::Urn("urn:example:scim:ext:2.0".into())
        );
    }

    #[test]
    fn parses_value_filter_paths() {
        let PatchPathKind::Filtered {
            attr,
            filter,
            sub_attr,
        } = kind(r#"emails[type eq "work"].value"#)
        else {
            panic!()
        };
        assert_eq!(attr, AttrPath::simple("emails"));
        assert!(matches!(filter, Filter::Compare { .. }));
        assert_eq!(sub_attr.as_deref(), Some("value"));
        let PatchPathKind::Filtered { sub_attr, .. } =
            kind(r#"members[value eq "a]b\"]" or value eq "c"]"#)
        else {
            panic!()
        };
        assert_eq!(sub_attr, None);
        assert!(matches!(
            kind(r#"addresses[type eq "work"].locality"#),
            PatchPathKind::Filtered { .. }
        ));
    }

    #[test]
    fn malformed_paths_are_invalid_path_with_detail() {
        assert!(err("").detail.contains("empty"));
        err("a.b.c");
        err("1abc");
        err("emails[");
        assert!(
            err(r#"emails[type eq "work""#)
                .detail
                .contains("no matching")
        );
        assert!(
            err(r#"emails[type eq "work"]value"#)
                .detail
                .contains("after ']'")
        );
        assert!(
            err(r#"emails[type eq "work"].1x"#)
                .detail
                .contains("after ']'")
        );
        assert!(err(r#"emails[type eq]"#).detail.contains("value filter"));
        assert!(
            err(r#"name.givenName[type eq "x"]"#)
                .detail
                .contains("sub-attribute")
        );
        err(r#"emails[type eq "a"][type eq "b"]"#);
        err("urn:bad urn");
        err("display name");
        // Byte 4 inside a multi-byte character (found by fuzzing).
        err("k\"l\u{7cd}");
        err("abc\u{e9}[type eq \"x\"]");
        err("\u{1F600}");
    }

    fn registry() -> SchemaRegistry {
        SchemaRegistry::builtin().unwrap()
    }

    fn resolve_err(rt: &str, text: &str) -> String {
        let reg = registry();
        let rt = reg.resource_type(rt).unwrap();
        let p = PatchPath::parse(text).unwrap();
        let e = resolve_target(&reg, rt, &p).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(ScimType::InvalidPath),
            "{text}: {}",
            e.detail
        );
        e.detail
    }

    #[test]
    fn resolves_extensions_attributes_and_filters() {
        let reg = registry();
        let users = reg.resource_type("User").unwrap();
        let t = |s: &str| resolve_target(&reg, users, &PatchPath::parse(s).unwrap()).unwrap();
        assert!(
            matches!(t(ENTERPRISE_USER_SCHEMA), Target::Extension(s) if s.id == ENTERPRISE_USER_SCHEMA)
        );
        assert!(matches!(
            t("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
            Target::Extension(_)
        ));
        let Target::Attr(ra) = t(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")) else {
            panic!()
        };
        assert_eq!(
            ra.canonical_path(),
            format!("{ENTERPRISE_USER_SCHEMA}:manager.value")
        );
        let Target::Filtered { ra, filter, sub } = t(r#"ADDRESSES[TYPE eq "work"].LOCALITY"#)
        else {
            panic!()
        };
        assert_eq!(ra.attr.name, "addresses");
        assert_eq!(sub.map(|s| s.name.as_str()), Some("locality"));
        assert!(filter.matches_element(&serde_json::json!({"type": "Work"})));
    }

    #[test]
    fn resolution_errors_are_invalid_path() {
        assert!(resolve_err("User", "nope").contains("unknown attribute 'nope'"));
        assert!(resolve_err("User", "name.nope").contains("givenName"));
        assert!(resolve_err("User", "urn:example:scim:ext:2.0").contains("not a schema extension"));
        assert!(resolve_err("User", r#"name[givenName eq "x"]"#).contains("multi-valued"));
        assert!(resolve_err("User", r#"emails[nope eq "x"]"#).contains("nope"));
        assert!(resolve_err("User", r#"emails[type eq "x"].nope"#).contains("nope"));
        assert!(resolve_err("User", r#"emails[primary eq "yes"]"#).contains("primary"));
        resolve_err("Group", "userName");
        resolve_err("User", "urn:ietf:params:scim:schemas:core:2.0:User");
    }

    #[test]
    fn seeds_and_listed_values_come_from_simple_filters() {
        let reg = registry();
        let users = reg.resource_type("User").unwrap();
        let groups = reg.resource_type("Group").unwrap();
        let filtered =
            |rt, s: &str| match resolve_target(&reg, rt, &PatchPath::parse(s).unwrap()).unwrap() {
                Target::Filtered { filter, .. } => filter,
                _ => panic!(),
            };
        let f = filtered(users, r#"emails[type eq "work" and primary eq "True"]"#);
        assert_eq!(
            Value::Object(seed_element(&f).unwrap()),
            serde_json::json!({"type": "work", "primary": true})
        );
        assert!(seed_element(&filtered(users, r#"emails[type ne "work"]"#)).is_none());
        assert!(seed_element(&filtered(users, r#"emails[type eq "a" and type eq "b"]"#)).is_none());
        let f = filtered(
            groups,
            r#"members[value eq "a" or value eq "b" or value eq "a"]"#,
        );
        assert_eq!(listed_values(&f).unwrap(), ["a", "b"]);
        assert!(listed_values(&filtered(groups, r#"members[type eq "User"]"#)).is_none());
        assert!(
            listed_values(&filtered(
                groups,
                r#"members[value eq "a" and type eq "User"]"#
            ))
            .is_none()
        );
    }
}
