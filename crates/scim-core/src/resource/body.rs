//! Turning a request body into the stored shape: names resolved case-insensitively to their
//! canonical spelling, extension attributes gathered under their URN, values type-checked,
//! readOnly attributes ignored.

use serde_json::{Map, Value};

use super::lenient::{coerce_input, coerce_sub_input};
use super::schemas_attr::declared_extensions;
use crate::error::{ScimError, ScimResult};
use crate::path::{AttrPath, is_urn};
use crate::schema::{
    Attribute, ENTRA_GROUP_SCHEMA, Mutability, ResolvedAttr, ResourceType, Schema, SchemaRegistry,
};
use crate::value::describe;

/// A request body in the stored shape, before required checks and canonical ordering.
pub(super) struct Body {
    /// `externalId` and writable core attributes at the top level, extension attributes in an
    /// object under the extension's canonical URN. No `schemas`, `id` or `meta`.
    pub attrs: Map<String, Value>,
}

/// Normalises a request body (RFC 7644 §3.3, §3.5.1).
pub(super) fn parse_body(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    input: Value,
) -> ScimResult<Body> {
    let Value::Object(obj) = input else {
        return Err(ScimError::invalid_syntax(format!(
            "the request body must be a JSON object, got {}",
            describe(&input)
        )));
    };
    let declared = declared_extensions(
        reg,
        rt,
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .map(|(_, v)| v),
    )?;
    let mut b = Builder {
        reg,
        rt,
        attrs: Map::new(),
        dotted: Vec::new(),
    };
    for (key, value) in obj {
        b.entry(key, value)?;
    }
    b.apply_dotted()?;
    for (schema, extension, _) in reg.schemas_of(rt) {
        if extension && b.attrs.contains_key(&schema.id) && !declared.contains(&schema.id) {
            return Err(ScimError::invalid_value(format!(
                "the body has attributes of the extension {0}, but 'schemas' does not list {0}",
                schema.id
            )));
        }
    }
    Ok(Body { attrs: b.attrs })
}

/// A sub-attribute given on its own (`name.givenName`), applied after whole values.
struct Dotted<'a> {
    extension: Option<&'a str>,
    attr: &'a Attribute,
    sub: &'a Attribute,
    value: Value,
}

struct Builder<'a> {
    reg: &'a SchemaRegistry,
    rt: &'a ResourceType,
    attrs: Map<String, Value>,
    dotted: Vec<Dotted<'a>>,
}

impl<'a> Builder<'a> {
    fn unknown(&self, key: &str) -> ScimError {
        ScimError::invalid_syntax(format!(
            "unknown attribute '{}': resource type {} has no such attribute",
            crate::Sent(key),
            self.rt.name
        ))
    }

    /// One top-level member of the body.
    fn entry(&mut self, key: String, value: Value) -> ScimResult<()> {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case(ENTRA_GROUP_SCHEMA) {
            return Ok(());
        }
        if is_urn(&key) {
            if let Some(ext) = self.reg.extension_of(self.rt, &key) {
                return self.extension_object(ext, &key, value);
            }
            if key.eq_ignore_ascii_case(&self.rt.schema) {
                // Core attributes nested under the core URN: accepted like top-level ones.
                return match value {
                    Value::Null => Ok(()),
                    Value::Object(obj) => obj
                        .into_iter()
                        .try_for_each(|(k, v)| self.plain(k, v, None)),
                    _ => Err(self.unknown(&key)),
                };
            }
        }
        self.plain(key, value, None)
    }

    /// An object under an extension URN key: the extension's attributes.
    fn extension_object(&mut self, ext: &'a Schema, key: &str, value: Value) -> ScimResult<()> {
        match value {
            Value::Null => Ok(()),
            Value::Object(obj) => obj
                .into_iter()
                .try_for_each(|(k, v)| self.plain(k, v, Some(ext))),
            other => Err(ScimError::invalid_syntax(format!(
                "'{key}' must be an object holding the extension's attributes, got {}",
                describe(&other)
            ))),
        }
    }

    /// An attribute key (`userName`, `name.givenName`, `urn:…:department`), optionally inside
    /// an extension object.
    fn plain(&mut self, key: String, value: Value, ext: Option<&'a Schema>) -> ScimResult<()> {
        let shown = match ext {
            Some(s) => format!("{}:{key}", s.id),
            None => key.clone(),
        };
        if ext.is_some() && is_urn(&key) {
            return Err(self.unknown(&shown));
        }
        let mut path = AttrPath::parse(&key).map_err(|_| self.unknown(&shown))?;
        if let Some(s) = ext {
            path.schema = Some(s.id.clone());
        }
        let Some(r) = self.reg.resolve(self.rt, &path) else {
            return Err(self.unknown(&shown));
        };
        self.place(r, value, &shown)
    }

    fn place(&mut self, r: ResolvedAttr<'a>, value: Value, shown: &str) -> ScimResult<()> {
        let attr = r.attr;
        if r.common && attr.name == "schemas" {
            return Ok(());
        }
        if attr.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        let extension = r.extension.then_some(r.schema);
        let Some(sub) = r.sub else {
            let path = r.canonical_path();
            let Some(v) = coerce_input(attr, value, &path)? else {
                return Ok(());
            };
            let container = self.container(extension)?;
            if container.contains_key(&attr.name) {
                return Err(ScimError::invalid_syntax(format!(
                    "attribute '{path}' appears more than once in the request body"
                )));
            }
            container.insert(attr.name.clone(), v);
            return Ok(());
        };
        if sub.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        if attr.multi_valued {
            return Err(ScimError::invalid_syntax(format!(
                "'{shown}' sets a sub-attribute of the multi-valued attribute '{}'; send the list of values instead",
                attr.name
            )));
        }
        self.dotted.push(Dotted {
            extension,
            attr,
            sub,
            value,
        });
        Ok(())
    }

    /// Applies `parent.sub` keys over whole values.
    fn apply_dotted(&mut self) -> ScimResult<()> {
        for d in std::mem::take(&mut self.dotted) {
            let path = match d.extension {
                Some(urn) => format!("{urn}:{}.{}", d.attr.name, d.sub.name),
                None => format!("{}.{}", d.attr.name, d.sub.name),
            };
            let Some(v) = coerce_sub_input(d.sub, d.value, &path)? else {
                continue;
            };
            let container = self.container(d.extension)?;
            let parent = container
                .entry(d.attr.name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(obj) = parent {
                obj.insert(d.sub.name.clone(), v);
            }
        }
        Ok(())
    }

    /// The map an attribute goes into: the top level, or the extension's object (created on
    /// first use).
    fn container(&mut self, extension: Option<&str>) -> ScimResult<&mut Map<String, Value>> {
        let Some(urn) = extension else {
            return Ok(&mut self.attrs);
        };
        match self
            .attrs
            .entry(urn.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(obj) => Ok(obj),
            _ => Err(ScimError::internal(format!(
                "extension {urn} is not stored as an object"
            ))),
        }
    }
}
