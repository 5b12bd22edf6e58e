//! Projection: `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9).
//!
//! A [`Projection`] says which attributes a response carries. It is parsed once per request
//! against the resource type's schemas and then consulted by
//! [`crate::resource::render`] for every resource, and by stores through
//! [`Projection::includes`] to skip loading what will not be returned (for example
//! `members` when Entra ID reads groups with `excludedAttributes=members`).
//!
//! Rules (the RFC leaves some of them open; these are the choices made here):
//! - Names are comma-separated, surrounding whitespace is ignored, matching is
//!   case-insensitive, and names may be URN-qualified (`urn:…:enterprise:2.0:User:department`).
//!   A bare schema URN names every attribute of that schema (as by default).
//! - Names that resolve to no attribute of the resource type are ignored (the RFC says
//!   nothing; clients ask for attributes of other resource types in shared code paths).
//!   A name that is not even syntactically an attribute path (`a b`, `a.b.c`) is a 400
//!   `invalidValue`, because ignoring it would silently return the wrong shape.
//! - `attributes` replaces the default set with the named attributes; `returned: always`
//!   attributes (`id`, `schemas`, …) are added regardless.
//! - `excludedAttributes` removes the named attributes from whatever would be returned, except
//!   `returned: always` ones. When both parameters are given, both apply.
//! - `returned: request` attributes appear only when named (the attribute itself or one of
//!   its sub-attributes); a bare schema URN does not name them.
//! - `returned: never` attributes and writeOnly attributes are never returned.

use crate::error::{ScimError, ScimResult};
use crate::path::{AttrPath, is_urn};
use crate::schema::{Attribute, ResourceType, Returned, SchemaRegistry};

/// How much of one attribute a parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pick {
    /// The attribute itself (`emails`).
    Whole,
    /// Only these sub-attributes, by canonical name (`emails.value`).
    Subs(Vec<String>),
}

/// One named attribute, resolved to canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The canonical URN of the schema defining the attribute (the core schema for `id`,
    /// `externalId` and `meta`).
    schema: String,
    /// Whether the schema is an extension (attribute stored under the URN key).
    extension: bool,
    /// The canonical attribute name.
    attr: String,
    pick: Pick,
}

/// The attributes named by one parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Selection {
    entries: Vec<Entry>,
    /// Canonical URNs of schemas named as a whole.
    schemas: Vec<String>,
}

impl Selection {
    fn entry(&self, schema: &str, attr: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.attr == attr && e.schema == schema)
    }

    fn names_schema(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s == schema)
    }

    fn add(&mut self, target: Target) {
        match target {
            Target::Schema(urn) => {
                if !self.names_schema(&urn) {
                    self.schemas.push(urn);
                }
            }
            Target::Attr {
                schema,
                extension,
                attr,
                sub,
            } => {
                let existing = self
                    .entries
                    .iter_mut()
                    .find(|e| e.attr == attr && e.schema == schema);
                match (existing, sub) {
                    (Some(e), None) => e.pick = Pick::Whole,
                    (Some(e), Some(sub)) => {
                        if let Pick::Subs(subs) = &mut e.pick
                            && !subs.contains(&sub)
                        {
                            subs.push(sub);
                        }
                    }
                    (None, sub) => self.entries.push(Entry {
                        schema,
                        extension,
                        attr,
                        pick: sub.map_or(Pick::Whole, |s| Pick::Subs(vec![s])),
                    }),
                }
            }
        }
    }

    /// The entry for this attribute, matched case-insensitively.
    fn entry_ci(&self, schema: &str, attr: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.attr.eq_ignore_ascii_case(attr) && e.schema.eq_ignore_ascii_case(schema))
    }

    fn names_schema_ci(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s.eq_ignore_ascii_case(schema))
    }
}

/// What a parameter item resolved to.
enum Target {
    Schema(String),
    Attr {
        schema: String,
        extension: bool,
        attr: String,
        sub: Option<String>,
    },
}

/// The result of `attributes` and `excludedAttributes` for one request.
///
/// [`Projection::default()`] is "no parameters": every attribute returned by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// `attributes`: `None` means the default set.
    include: Option<Selection>,
    exclude: Selection,
    /// Canonical top-level paths (`id`, `urn:…:x`) of `returned: always` attributes, for
    /// [`Projection::includes`]; empty for the default projection (where nothing is excluded).
    always: Vec<String>,
    /// The canonical core schema URN of the resource type (empty for the default projection).
    core: String,
    /// The canonical extension URNs of the resource type.
    extensions: Vec<String>,
}

/// How render should treat one attribute, as decided by the projection alone (the
/// attribute's own `returned` characteristic is applied by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice<'a> {
    /// Returned as by default: all default sub-attributes, minus the excluded ones.
    Default { excluded_subs: &'a [String] },
    /// Named explicitly as a whole: all default sub-attributes, minus the excluded ones.
    Named { excluded_subs: &'a [String] },
    /// Only the named sub-attributes (plus `returned: always` ones), minus the excluded ones.
    Subs {
        subs: &'a [String],
        excluded_subs: &'a [String],
    },
}

impl Choice<'_> {
    /// Whether the attribute itself (or one of its sub-attributes) was named, which is what
    /// `returned: request` attributes need.
    pub(crate) fn is_explicit(self) -> bool {
        !matches!(self, Choice::Default { .. })
    }

    /// Whether a sub-attribute with this definition is kept.
    pub(crate) fn keeps_sub(self, sub: &Attribute) -> bool {
        if sub.returned == Returned::Never || sub.mutability == crate::schema::Mutability::WriteOnly
        {
            return false;
        }
        if sub.returned == Returned::Always {
            return true;
        }
        let (named, excluded) = match self {
            Choice::Default { excluded_subs } | Choice::Named { excluded_subs } => {
                (sub.returned != Returned::Request, excluded_subs)
            }
            Choice::Subs {
                subs,
                excluded_subs,
            } => (subs.contains(&sub.name), excluded_subs),
        };
        named && !excluded.contains(&sub.name)
    }
}

const NO_SUBS: &[String] = &[];

impl Projection {
    /// Parses the `attributes` and `excludedAttributes` parameters (comma-separated lists)
    /// against a resource type. Unknown names are ignored; a syntactically invalid name is a
    /// 400 `invalidValue`. An `attributes` list without any name counts as absent.
    pub fn parse(
        reg: &SchemaRegistry,
        rt: &ResourceType,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> ScimResult<Projection> {
        // An empty `attributes` (`?attributes=`) names nothing: the default set applies.
        let include = match attributes {
            Some(list) if list.split(',').any(|s| !s.trim().is_empty()) => {
                Some(parse_list(reg, rt, list, "attributes")?)
            }
            _ => None,
        };
        let exclude = match excluded {
            Some(list) => parse_list(reg, rt, list, "excludedAttributes")?,
            None => Selection::default(),
        };
        let mut always = Vec::new();
        let mut core = String::new();
        let mut extensions = Vec::new();
        for (schema, extension, _) in reg.schemas_of(rt) {
            if extension {
                extensions.push(schema.id.clone());
            } else {
                core = schema.id.clone();
            }
            let attrs = if extension {
                schema.attributes.iter().collect::<Vec<_>>()
            } else {
                reg.common_attributes()
                    .iter()
                    .chain(schema.attributes.iter())
                    .collect()
            };
            for a in attrs {
                if a.returned == Returned::Always {
                    always.push(if extension {
                        format!("{}:{}", schema.id, a.name)
                    } else {
                        a.name.clone()
                    });
                }
            }
        }
        Ok(Projection {
            include,
            exclude,
            always,
            core,
            extensions,
        })
    }

    /// Whether this projection restricts nothing (no `attributes`, no `excludedAttributes`).
    pub fn is_default(&self) -> bool {
        self.include.is_none() && self.exclude == Selection::default()
    }

    /// Whether the top-level attribute (canonical name such as `members`, or URN-qualified
    /// such as `urn:…:enterprise:2.0:User:manager`, or a bare extension URN) may appear in
    /// the output, so that a store can skip loading it. Case-insensitive.
    ///
    /// Conservative: it does not know the attribute's `returned` characteristic beyond
    /// `always`, so it may answer `true` for an attribute that render then leaves out (for
    /// example `password`), never `false` for one that render emits.
    pub fn includes(&self, canonical_top_level_attr: &str) -> bool {
        let name = canonical_top_level_attr.trim();
        if self.always.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return true;
        }
        if let Some(urn) = self
            .extensions
            .iter()
            .chain(std::iter::once(&self.core))
            .find(|u| !u.is_empty() && u.eq_ignore_ascii_case(name))
        {
            // A bare schema URN: does any of its attributes appear?
            if self.exclude.names_schema(urn) {
                return false;
            }
            return match &self.include {
                None => true,
                Some(sel) => sel.names_schema(urn) || sel.entries.iter().any(|e| e.schema == *urn),
            };
        }
        let (schema, attr) = match split_qualified(name) {
            (Some(urn), attr) => (urn, attr),
            (None, attr) => (self.core.as_str(), attr),
        };
        let excluded = matches!(
            self.exclude.entry_ci(schema, attr),
            Some(Entry {
                pick: Pick::Whole,
                ..
            })
        ) || self.exclude.names_schema_ci(schema);
        if excluded {
            return false;
        }
        match &self.include {
            None => true,
            Some(sel) => sel.entry_ci(schema, attr).is_some() || sel.names_schema_ci(schema),
        }
    }

    /// The decision for one attribute of schema `schema` (canonical URN), or `None` when the
    /// projection leaves it out. `returned` characteristics are the caller's business.
    pub(crate) fn choice(&self, schema: &str, attr: &str) -> Option<Choice<'_>> {
        if self.exclude.names_schema(schema) {
            return None;
        }
        let excluded_subs = match self.exclude.entry(schema, attr) {
            Some(Entry {
                pick: Pick::Whole, ..
            }) => return None,
            Some(Entry {
                pick: Pick::Subs(subs),
                ..
            }) => subs.as_slice(),
            None => NO_SUBS,
        };
        match &self.include {
            None => Some(Choice::Default { excluded_subs }),
            Some(sel) => match sel.entry(schema, attr) {
                Some(Entry {
                    pick: Pick::Whole, ..
                }) => Some(Choice::Named { excluded_subs }),
                Some(Entry {
                    pick: Pick::Subs(subs),
                    ..
                }) => Some(Choice::Subs {
                    subs,
                    excluded_subs,
                }),
                None if sel.names_schema(schema) => Some(Choice::Default { excluded_subs }),
                None => None,
            },
        }
    }
}

/// Splits `urn:…:attr` into its URN and attribute; a plain name has no URN.
fn split_qualified(name: &str) -> (Option<&str>, &str) {
    if is_urn(name)
        && let Some(i) = name.rfind(':')
    {
        return (Some(&name[..i]), &name[i + 1..]);
    }
    (None, name)
}

fn parse_list(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    list: &str,
    param: &str,
) -> ScimResult<Selection> {
    let mut sel = Selection::default();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(target) = resolve_item(reg, rt, item, param)? {
            sel.add(target);
        }
    }
    Ok(sel)
}

fn resolve_item(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    item: &str,
    param: &str,
) -> ScimResult<Option<Target>> {
    let core = reg.schema(&rt.schema).map(|s| s.id.as_str());
    if is_urn(item) {
        if item.eq_ignore_ascii_case(&rt.schema) {
            return Ok(core.map(|c| Target::Schema(c.to_string())));
        }
        if let Some(ext) = reg.extension_of(rt, item) {
            return Ok(Some(Target::Schema(ext.id.clone())));
        }
    }
    let path = match AttrPath::parse(item) {
        Ok(p) => p,
        // An unknown URN is unknown, not malformed.
        Err(_) if is_urn(item) => return Ok(None),
        Err(e) => {
            return Err(ScimError::invalid_value(format!(
                "{param}: '{}' is not an attribute name ({})",
                crate::Sent(item),
                e.marked()
            )));
        }
    };
    let Some(r) = reg.resolve(rt, &path) else {
        return Ok(None);
    };
    let schema = if r.common {
        core.unwrap_or(r.schema).to_string()
    } else {
        r.schema.to_string()
    };
    Ok(Some(Target::Attr {
        schema,
        extension: r.extension,
        attr: r.attr.name.clone(),
        sub: r.sub.map(|s| s.name.clone()),
    }))
}

#[cfg(test)]
mod tests;
