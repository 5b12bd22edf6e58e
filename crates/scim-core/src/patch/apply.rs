//! Applying operations, one after the other, to a scratch copy of the resource.
//!
//! Every function here may leave the scratch copy half-modified when it fails: the caller
//! ([`super::apply_patch`]) then discards the copy, so a failed PATCH changes nothing.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::ResolvedFilter;
use crate::path::AttrPath;
use crate::schema::{Attribute, Mutability, ResolvedAttr, ResourceType, Schema, SchemaRegistry};
use crate::value::describe;

use super::index::ElementIndex;
use super::members;
use super::normalize::{
    ReadOnlySubs, attribute_value, element_list, element_value, identified_by_value, is_blank,
    same_value, simple_equal, sub_value, value_key,
};
use super::path::{PatchPath, Target, resolve_target, seed_element};
use super::request::{PatchOp, PatchOperation};
use super::{MemberChange, PatchOptions};

/// How a target was named: by an operation's `path`, or by a key of the `value` object of
/// an operation without `path`. Keys are treated leniently (see [`super`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Path,
    ValueKey,
}

/// Applies operations and collects the membership changes of an external attribute.
pub(crate) struct Engine<'a> {
    registry: &'a SchemaRegistry,
    rt: &'a ResourceType,
    options: &'a PatchOptions,
    pub(crate) members: Vec<MemberChange>,
    /// Whether an operation applied to the document (not only to the external attribute).
    pub(crate) touched_document: bool,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        registry: &'a SchemaRegistry,
        rt: &'a ResourceType,
        options: &'a PatchOptions,
    ) -> Self {
        Engine {
            registry,
            rt,
            options,
            members: Vec::new(),
            touched_document: false,
        }
    }

    /// Applies one operation to `doc`.
    pub(crate) fn apply(
        &mut self,
        doc: &mut Map<String, Value>,
        op: &PatchOperation,
    ) -> ScimResult<()> {
        match &op.path {
            Some(path) => {
                let target = resolve_target(self.registry, self.rt, path)?;
                self.apply_target(doc, op.op, target, op.value.as_ref(), Origin::Path)
            }
            None if op.op == PatchOp::Remove => Err(ScimError::no_target(
                "a \"remove\" operation needs a \"path\" naming what to remove",
            )),
            None => self.apply_pathless(doc, op.op, op.value.as_ref()),
        }
    }

    /// `add`/`replace` without `path`: each key of the value object names a target
    /// (attribute, `attr.sub`, URN-qualified attribute, extension URN, or even a value
    /// filter path) and is applied in order.
    fn apply_pathless(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOp,
        value: Option<&Value>,
    ) -> ScimResult<()> {
        let obj = match value {
            Some(Value::Object(obj)) => obj,
            Some(v) if is_blank(v) => return Ok(()),
            None => return Ok(()),
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "an \"{kind}\" operation without \"path\" needs an object whose keys are attribute names, got {}",
                    describe(other)
                )));
            }
        };
        for (key, v) in obj {
            let step = |engine: &mut Self, doc: &mut Map<String, Value>| -> ScimResult<()> {
                if key.trim().eq_ignore_ascii_case(&engine.rt.schema) {
                    // `{"urn:…:core:2.0:User": {"displayName": …}}`: the core attributes,
                    // grouped under the core schema's URN like an extension's.
                    return engine.apply_core_object(doc, kind, v);
                }
                let path = PatchPath::parse(key)?;
                let target = resolve_target(engine.registry, engine.rt, &path)?;
                if let Target::Attr(ra) = &target
                    && server_managed(ra)
                {
                    // `schemas` and `meta` are maintained by the server; clients echo them.
                    return Ok(());
                }
                engine.apply_target(doc, kind, target, Some(v), Origin::ValueKey)
            };
            step(self, doc).map_err(|e| e.context(format!("value key '{}'", crate::Sent(key))))?;
        }
        Ok(())
    }

    /// The value of a core-schema URN key in a path-less value: an object of core
    /// attribute names (no URNs, no further nesting).
    fn apply_core_object(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOp,
        value: &Value,
    ) -> ScimResult<()> {
        let obj = match value {
            Value::Object(obj) => obj,
            v if is_blank(v) => return Ok(()),
            other => {
                return Err(ScimError::invalid_value(format!(
                    "the value for the core schema '{}' must be an object of its attributes, got {}",
                    self.rt.schema,
                    describe(other)
                )));
            }
        };
        for (key, v) in obj {
            let path = super::path::parse_attr_path(key).map_err(|e| {
                ScimError::invalid_path(format!("'{}': {}", crate::Sent(key), e.marked()))
            })?;
            if path.schema.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "'{}' inside the core schema's object must be a plain attribute name",
                    crate::Sent(key)
                )));
            }
            let target = super::path::resolve_attr_path(self.registry, self.rt, &path)?;
            if let Target::Attr(ra) = &target
                && server_managed(ra)
            {
                continue;
            }
            self.apply_target(doc, kind, target, Some(v), Origin::ValueKey)?;
        }
        Ok(())
    }

    fn is_external(&self, ra: &ResolvedAttr<'_>) -> bool {
        let Some(name) = self.options.external_members.as_deref() else {
            return false;
        };
        let whole = ResolvedAttr { sub: None, ..*ra };
        name.eq_ignore_ascii_case(&whole.canonical_path())
    }

    fn apply_target(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOp,
        target: Target<'a>,
        value: Option<&Value>,
        origin: Origin,
    ) -> ScimResult<()> {
        match target {
            Target::Extension(schema) => {
                self.touched_document = true;
                self.apply_extension(doc, kind, schema, value, origin)
            }
            Target::Attr(ra) => {
                if server_managed(&ra) {
                    return Err(ScimError::mutability(format!(
                        "'{}' is maintained by the server and cannot be patched",
                        ra.canonical_path()
                    )));
                }
                if is_read_only(ra.attr, ra.sub) {
                    if origin == Origin::ValueKey
                        && kind != PatchOp::Remove
                        && unchanged(doc, &ra, value)?
                    {
                        return Ok(());
                    }
                    return Err(read_only_error(&ra.canonical_path(), kind, origin));
                }
                if self.is_external(&ra) {
                    let changes = members::attr_changes(kind, &ra, value)?;
                    self.members.extend(changes);
                    return Ok(());
                }
                self.touched_document = true;
                match ra.sub {
                    None => apply_whole(doc, kind, &ra, value, self.options.max_values),
                    Some(sub) => apply_sub(doc, kind, &ra, sub, value),
                }
            }
            Target::Filtered { ra, filter, sub } => {
                if is_read_only(ra.attr, sub) {
                    let path = match sub {
                        Some(s) => format!("{}.{}", ra.canonical_path(), s.name),
                        None => ra.canonical_path(),
                    };
                    return Err(read_only_error(&path, kind, Origin::Path));
                }
                if self.is_external(&ra) {
                    let changes = members::filtered_changes(kind, &ra, filter, sub, value)?;
                    self.members.extend(changes);
                    return Ok(());
                }
                self.touched_document = true;
                apply_filtered(doc, kind, &ra, &filter, sub, value, origin)
            }
        }
    }

    /// A whole extension: `add`/`replace` apply to each attribute in the value object (the
    /// others are left as they are, like the sub-attributes of a complex attribute, RFC 7644
    /// §3.5.2.3); `remove`, or `replace` with an empty value, removes the extension.
    fn apply_extension(
        &mut self,
        doc: &mut Map<String, Value>,
        kind: PatchOp,
        schema: &'a Schema,
        value: Option<&Value>,
        origin: Origin,
    ) -> ScimResult<()> {
        let v = value.unwrap_or(&Value::Null);
        if kind == PatchOp::Remove || is_blank(v) {
            if kind != PatchOp::Add {
                remove_extension(doc, schema)?;
            }
            return Ok(());
        }
        let Value::Object(obj) = v else {
            return Err(ScimError::invalid_value(format!(
                "the value for extension '{}' must be an object of its attributes, got {}",
                schema.id,
                describe(v)
            )));
        };
        for (key, inner) in obj {
            // scim2-tester and others echo the resource's `schemas` inside an extension
            // value; like `schemas` in a path-less value, it is server-managed and ignored.
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let parsed = super::path::parse_attr_path(key).map_err(|e| {
                ScimError::invalid_path(format!(
                    "'{}' in the value for extension '{}': {}",
                    crate::Sent(key),
                    schema.id,
                    e.marked()
                ))
            })?;
            if let Some(urn) = &parsed.schema
                && !urn.eq_ignore_ascii_case(&schema.id)
            {
                return Err(ScimError::invalid_path(format!(
                    "'{}' in the value for extension '{}' names another schema",
                    crate::Sent(key),
                    schema.id
                )));
            }
            let path = AttrPath {
                schema: Some(schema.id.clone()),
                ..parsed
            };
            let ra = self.registry.resolve(self.rt, &path).ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "'{}' is not an attribute of extension '{}'",
                    crate::Sent(key),
                    schema.id
                ))
            })?;
            self.apply_target(doc, kind, Target::Attr(ra), Some(inner), origin)?;
        }
        Ok(())
    }
}

/// `schemas` and `meta`: never patched by clients.
fn server_managed(ra: &ResolvedAttr<'_>) -> bool {
    ra.common && (ra.attr.name == "schemas" || ra.attr.name == "meta")
}

fn is_read_only(attr: &Attribute, sub: Option<&Attribute>) -> bool {
    attr.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
}

fn read_only_error(path: &str, kind: PatchOp, origin: Origin) -> ScimError {
    let verb = match kind {
        PatchOp::Add => "added",
        PatchOp::Replace => "replaced",
        PatchOp::Remove => "removed",
    };
    let hint = if origin == Origin::ValueKey {
        " (the value differs from the current one; leave the attribute out of the request)"
    } else {
        ""
    };
    ScimError::mutability(format!(
        "attribute '{path}' is readOnly and cannot be {verb}{hint}"
    ))
}

fn immutable_error(path: &str) -> ScimError {
    ScimError::mutability(format!(
        "attribute '{path}' is immutable: it can be set when it has no value, but not changed or removed"
    ))
}

/// Whether a readOnly target named in a path-less value already has this value (Okta
/// echoes `id` when renaming a group).
fn unchanged(
    doc: &Map<String, Value>,
    ra: &ResolvedAttr<'_>,
    value: Option<&Value>,
) -> ScimResult<bool> {
    let Some(v) = value else {
        return Ok(false);
    };
    let path = ra.canonical_path();
    match ra.sub {
        None => {
            let given = attribute_value(ra.attr, v, &path, ReadOnlySubs::Keep)?;
            Ok(same_value(ra.attr, given.as_ref(), current(doc, ra)))
        }
        Some(sub) if !ra.attr.multi_valued => {
            let given = sub_value(sub, v, &path)?;
            let cur = current(doc, ra).and_then(|c| c.get(&sub.name));
            Ok(match (given, cur) {
                (None, None) => true,
                (Some(g), Some(c)) => simple_equal(sub, &g, c),
                _ => false,
            })
        }
        Some(_) => Ok(false),
    }
}

/// The attribute's current value in `doc`.
fn current<'d>(doc: &'d Map<String, Value>, ra: &ResolvedAttr<'_>) -> Option<&'d Value> {
    let container = if ra.extension {
        doc.get(ra.schema)?.as_object()?
    } else {
        doc
    };
    container.get(&ra.attr.name).filter(|v| !v.is_null())
}

/// Replaces the attribute's value by what `f` makes of the current one (`None` = absent),
/// keeping its position among the other attributes. An extension object left empty is
/// removed.
fn update(
    doc: &mut Map<String, Value>,
    ra: &ResolvedAttr<'_>,
    f: impl FnOnce(Option<Value>) -> ScimResult<Option<Value>>,
) -> ScimResult<()> {
    if !ra.extension {
        return update_in(doc, &ra.attr.name, f);
    }
    let key = ra.schema;
    let mut ext = match doc.get_mut(key) {
        Some(Value::Object(m)) => std::mem::take(m),
        _ => Map::new(),
    };
    update_in(&mut ext, &ra.attr.name, f)?;
    if ext.is_empty() {
        doc.shift_remove(key);
    } else {
        doc.insert(key.to_string(), Value::Object(ext));
    }
    Ok(())
}

fn update_in(
    container: &mut Map<String, Value>,
    name: &str,
    f: impl FnOnce(Option<Value>) -> ScimResult<Option<Value>>,
) -> ScimResult<()> {
    let cur = container
        .get_mut(name)
        .map(std::mem::take)
        .filter(|v| !v.is_null());
    match f(cur)? {
        Some(v) => {
            container.insert(name.to_string(), v);
        }
        None => {
            container.shift_remove(name);
        }
    }
    Ok(())
}

fn remove_extension(doc: &mut Map<String, Value>, schema: &Schema) -> ScimResult<()> {
    if let Some(Value::Object(ext)) = doc.get(&schema.id) {
        for (key, v) in ext {
            if let Some(attr) = schema.attribute(key)
                && attr.mutability == Mutability::ReadOnly
                && !is_blank(v)
            {
                return Err(read_only_error(
                    &format!("{}:{}", schema.id, attr.name),
                    PatchOp::Remove,
                    Origin::Path,
                ));
            }
        }
    }
    doc.shift_remove(&schema.id);
    Ok(())
}

/// The elements of a multi-valued attribute's current value.
fn as_list(cur: Option<Value>) -> Vec<Value> {
    match cur {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

/// An attribute without sub-attribute path or filter.
fn apply_whole(
    doc: &mut Map<String, Value>,
    kind: PatchOp,
    ra: &ResolvedAttr<'_>,
    value: Option<&Value>,
    max_values: usize,
) -> ScimResult<()> {
    let attr = ra.attr;
    let path = ra.canonical_path();
    if kind == PatchOp::Remove {
        return match value {
            // Entra ID: remove only the listed elements, never the whole list.
            Some(v) if attr.multi_valued => {
                let listed = element_list(attr, v, &path, ReadOnlySubs::Drop)?;
                if listed.is_empty() {
                    return Ok(());
                }
                update(doc, ra, |cur| {
                    let mut list = as_list(cur);
                    let mut index = ElementIndex::new(attr, true);
                    let mut gone = HashSet::new();
                    for l in &listed {
                        gone.extend(index.designated(&list, l));
                    }
                    let mut i = 0;
                    list.retain(|_| {
                        i += 1;
                        !gone.contains(&(i - 1))
                    });
                    Ok((!list.is_empty()).then_some(Value::Array(list)))
                })
            }
            _ => update(doc, ra, |_| Ok(None)),
        };
    }
    let v = value.unwrap_or(&Value::Null);
    let Some(new) = attribute_value(attr, v, &path, ReadOnlySubs::Drop)? else {
        // "Replace with empty" clears the attribute; "add" of nothing changes nothing.
        return if kind == PatchOp::Replace {
            update(doc, ra, |_| Ok(None))
        } else {
            Ok(())
        };
    };
    if attr.multi_valued {
        if kind == PatchOp::Replace {
            update(doc, ra, |_| Ok(Some(new)))
        } else {
            update(doc, ra, |cur| {
                add_elements(attr, cur, new, &path, max_values).map(Some)
            })
        }
    } else if attr.is_complex() {
        // Sub-attributes not given are left as they are (RFC 7644 §3.5.2.1, §3.5.2.3).
        update(doc, ra, |cur| {
            Ok(Some(match (cur, new) {
                (Some(Value::Object(mut old)), Value::Object(given)) => {
                    for (k, v) in given {
                        old.insert(k, v);
                    }
                    Value::Object(old)
                }
                (_, new) => new,
            }))
        })
    } else {
        update(doc, ra, |_| Ok(Some(new)))
    }
}

/// Appends the new elements that are not already there (typed equality of the given
/// sub-attributes; by `value` for references such as `members`), in time proportional to
/// the two lists (see [`ElementIndex`]). More than `max_values` new elements are refused
/// before any comparison, and so is a result of more than `max_values`.
fn add_elements(
    attr: &Attribute,
    cur: Option<Value>,
    new: Value,
    path: &str,
    max_values: usize,
) -> ScimResult<Value> {
    let mut list = as_list(cur);
    let new = as_list(Some(new));
    check_count(path, new.len(), max_values)?;
    let by_value = identified_by_value(attr);
    let mut keys: HashSet<String> = if by_value {
        list.iter().filter_map(|e| value_key(attr, e)).collect()
    } else {
        HashSet::new()
    };
    let mut index = ElementIndex::new(attr, by_value);
    let mut touched = Vec::new();
    for element in new {
        let duplicate = match by_value.then(|| value_key(attr, &element)).flatten() {
            Some(key) => !keys.insert(key),
            None => index.contains(&list, &element),
        };
        if !duplicate {
            touched.push(list.len());
            list.push(element);
            index.appended(&list, list.len() - 1);
        }
    }
    check_count(path, list.len(), max_values)?;
    Ok(finish_list(attr, list, &touched, path)?.unwrap_or(Value::Array(Vec::new())))
}

/// A sub-attribute path without filter: `name.givenName`, or `emails.type` (every
/// element of a multi-valued attribute).
fn apply_sub(
    doc: &mut Map<String, Value>,
    kind: PatchOp,
    ra: &ResolvedAttr<'_>,
    sub: &Attribute,
    value: Option<&Value>,
) -> ScimResult<()> {
    let path = ra.canonical_path();
    let new = match kind {
        PatchOp::Remove => None,
        _ => sub_value(sub, value.unwrap_or(&Value::Null), &path)?,
    };
    if kind == PatchOp::Add && new.is_none() {
        return Ok(());
    }
    if !ra.attr.multi_valued {
        return update(doc, ra, |cur| {
            let mut obj = match cur {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            match new {
                Some(n) => {
                    obj.insert(sub.name.clone(), n);
                }
                None => {
                    obj.shift_remove(&sub.name);
                }
            }
            Ok((!obj.is_empty()).then_some(Value::Object(obj)))
        });
    }
    update(doc, ra, |cur| {
        let mut list = as_list(cur);
        let mut touched = Vec::new();
        match new {
            Some(n) if list.is_empty() => {
                let mut one = Map::new();
                one.insert(sub.name.clone(), n);
                list.push(Value::Object(one));
                touched.push(0);
            }
            new => {
                touched = (0..list.len()).collect();
                set_sub_on(sub, &mut list, &touched, new.as_ref(), &path)?;
            }
        }
        finish_list(ra.attr, list, &touched, &path)
    })
}

/// Sets (or with `None` removes) sub-attribute `sub` on the elements at `indices`, refusing
/// to change an immutable one that has a value.
fn set_sub_on(
    sub: &Attribute,
    list: &mut [Value],
    indices: &[usize],
    new: Option<&Value>,
    path: &str,
) -> ScimResult<()> {
    for &i in indices {
        let Some(Value::Object(e)) = list.get_mut(i) else {
            continue;
        };
        if sub.mutability == Mutability::Immutable
            && let Some(old) = e.get(&sub.name)
            && !new.is_some_and(|n| simple_equal(sub, old, n))
        {
            return Err(immutable_error(path));
        }
        match new {
            Some(n) => {
                e.insert(sub.name.clone(), n.clone());
            }
            None => {
                e.shift_remove(&sub.name);
            }
        }
    }
    Ok(())
}

/// Merges the sub-attributes of `given` into an existing element.
fn merge_into(attr: &Attribute, element: &mut Value, given: &Value, path: &str) -> ScimResult<()> {
    let (Value::Object(e), Value::Object(g)) = (&mut *element, given) else {
        *element = given.clone();
        return Ok(());
    };
    for (k, v) in g {
        if let Some(sub) = attr.sub_attribute(k)
            && sub.mutability == Mutability::Immutable
            && e.get(k).is_some_and(|old| !simple_equal(sub, old, v))
        {
            return Err(immutable_error(&format!("{path}.{}", sub.name)));
        }
        e.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// Makes "primary" unique (a newly set primary wins), drops elements left empty, and gives
/// `None` for an empty list.
fn finish_list(
    attr: &Attribute,
    mut list: Vec<Value>,
    touched: &[usize],
    path: &str,
) -> ScimResult<Option<Value>> {
    if attr.is_complex() && attr.sub_attribute("primary").is_some() {
        let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
        let chosen: Vec<usize> = touched
            .iter()
            .copied()
            .filter(|&i| list.get(i).is_some_and(is_primary))
            .collect();
        if chosen.len() > 1 {
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' would have {} values with \"primary\": true; at most one is allowed",
                chosen.len()
            )));
        }
        if let [keep] = chosen[..] {
            for (i, e) in list.iter_mut().enumerate() {
                if i != keep
                    && is_primary(e)
                    && let Value::Object(o) = e
                {
                    o.shift_remove("primary");
                }
            }
        }
        let n = list.iter().filter(|v| is_primary(v)).count();
        if n > 1 {
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' has {n} values with \"primary\": true; at most one is allowed"
            )));
        }
    }
    list.retain(|e| !is_blank(e));
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

/// `attr[filter]` and `attr[filter].sub`.
///
/// - remove: the matching elements (or their sub-attribute); no match is a no-op.
/// - replace: each matching element is replaced (duplicates collapse into one), or its
///   sub-attribute set; no match is 400 `noTarget` (RFC 7644 §3.5.2.3), except for a key of
///   a path-less value, which is treated as an add.
/// - add: the value's sub-attributes are merged into each matching element (or the
///   sub-attribute set); when nothing matches, a new element is made from the filter's
///   `sub eq value` comparisons plus the value (Entra ID adds `emails[type eq "work"].value`
///   to users without a work email); other filters give 400 `noTarget`.
fn apply_filtered(
    doc: &mut Map<String, Value>,
    kind: PatchOp,
    ra: &ResolvedAttr<'_>,
    filter: &ResolvedFilter,
    sub: Option<&Attribute>,
    value: Option<&Value>,
    origin: Origin,
) -> ScimResult<()> {
    let attr = ra.attr;
    let base = ra.canonical_path();
    let path = match sub {
        Some(s) => format!("{base}.{}", s.name),
        None => base.clone(),
    };
    let v = value.unwrap_or(&Value::Null);
    let may_create = kind == PatchOp::Add || origin == Origin::ValueKey;
    let no_match = || {
        ScimError::no_target(format!(
            "no value of '{base}' matches the filter [{}]",
            crate::Sent(filter)
        ))
    };
    let create = |given: Value| -> ScimResult<Value> {
        let mut seed = seed_element(filter).ok_or_else(|| {
            ScimError::no_target(format!(
                "no value of '{base}' matches the filter [{}], and the filter does not describe a new value (only 'sub eq value' comparisons joined by 'and' do)",
                crate::Sent(filter)
            ))
        })?;
        if let Value::Object(g) = given {
            for (k, v) in g {
                seed.insert(k, v);
            }
        }
        element_value(attr, &Value::Object(seed), &path, ReadOnlySubs::Drop)?.ok_or_else(no_match)
    };
    update(doc, ra, |cur| {
        let mut list = as_list(cur);
        let matched: Vec<usize> = (0..list.len())
            .filter(|&i| list.get(i).is_some_and(|e| filter.matches_element(e)))
            .collect();
        let mut touched = Vec::new();
        match (kind, sub) {
            (PatchOp::Remove, None) => remove_indices(&mut list, &matched),
            (PatchOp::Remove, Some(s)) => set_sub_on(s, &mut list, &matched, None, &path)?,
            (_, None) => match element_value(attr, v, &path, ReadOnlySubs::Drop)? {
                None if kind == PatchOp::Replace => remove_indices(&mut list, &matched),
                None => {}
                Some(given) if matched.is_empty() => {
                    if !may_create {
                        return Err(no_match());
                    }
                    touched.push(list.len());
                    list.push(create(given)?);
                }
                Some(given) if kind == PatchOp::Replace => {
                    if let [first, rest @ ..] = &matched[..] {
                        if let Some(slot) = list.get_mut(*first) {
                            *slot = given;
                        }
                        touched.push(*first);
                        remove_indices(&mut list, rest);
                    }
                }
                Some(given) => {
                    for &i in &matched {
                        if let Some(e) = list.get_mut(i) {
                            merge_into(attr, e, &given, &base)?;
                        }
                    }
                    touched = matched;
                }
            },
            (_, Some(s)) => match sub_value(s, v, &path)? {
                None if kind == PatchOp::Replace => {
                    set_sub_on(s, &mut list, &matched, None, &path)?;
                }
                None => {}
                Some(n) if matched.is_empty() => {
                    if !may_create {
                        return Err(no_match());
                    }
                    let mut one = Map::new();
                    one.insert(s.name.clone(), n);
                    touched.push(list.len());
                    list.push(create(Value::Object(one))?);
                }
                Some(n) => {
                    set_sub_on(s, &mut list, &matched, Some(&n), &path)?;
                    touched = matched;
                }
            },
        }
        finish_list(attr, list, &touched, &base)
    })
}

/// Removes the elements at `indices` (any order), keeping the others in order.
fn remove_indices(list: &mut Vec<Value>, indices: &[usize]) {
    if indices.is_empty() {
        return;
    }
    let gone: HashSet<usize> = indices.iter().copied().collect();
    let mut i = 0;
    list.retain(|_| {
        let keep = !gone.contains(&i);
        i += 1;
        keep
    });
}

/// 400 `invalidValue` when a multi-valued attribute would have more than `max` values.
pub(crate) fn check_count(path: &str, n: usize, max: usize) -> ScimResult<()> {
    if n <= max {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "attribute '{path}' would have {n} values; at most {max} are allowed per attribute"
    )))
}
