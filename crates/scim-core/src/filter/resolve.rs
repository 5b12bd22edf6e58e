//! Schema resolution: from the parsed [`Filter`] to a [`ResolvedFilter`] whose paths carry
//! canonical names, types and case sensitivity, and whose values are checked against the
//! attribute types.
//!
//! This is the typed query a store translates (to SQL, say) and that
//! [`ResolvedFilter::matches`] evaluates in memory; both therefore agree on what a filter
//! means.

use std::fmt;

use serde_json::Value;

use crate::Sent;
use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;
use crate::schema::{Attribute, AttributeType, ResolvedAttr, ResourceType, SchemaRegistry};
use crate::value::parse_datetime;

use super::ast::{CompValue, CompareOp, Filter};

/// A filter resolved against a resource type (see [`resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedFilter {
    /// Both match.
    And(Box<ResolvedFilter>, Box<ResolvedFilter>),
    /// Either matches.
    Or(Box<ResolvedFilter>, Box<ResolvedFilter>),
    /// The inner filter does not match.
    Not(Box<ResolvedFilter>),
    /// `path op value`: some value at `path` compares as asked (for `ne`: none equals).
    Compare(Comparison),
    /// `path pr`: the path has a non-empty value.
    Present(ResolvedPath),
    /// `attr[filter]`: some element of the complex attribute `attr` matches `filter`.
    ///
    /// Inside `filter`, every path names the same attribute as `attr` and a sub-attribute
    /// of it (`sub_attr` is always set); those paths are read from one element at a time.
    ValuePath {
        /// The complex attribute.
        attr: ResolvedPath,
        /// The filter on its elements.
        filter: Box<ResolvedFilter>,
    },
}

/// A resolved, type-checked comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The attribute compared, resolved against the schema.
    pub path: ResolvedPath,
    /// The operator.
    pub op: CompareOp,
    /// The comparison value, normalised for the attribute's type: a string for string,
    /// reference, binary and dateTime attributes (dateTimes are valid RFC 3339), a number
    /// for integer and decimal ones, a boolean for boolean ones (`"True"` from Entra ID
    /// becomes `true`); `Null` only with `eq` and `ne`.
    pub value: CompValue,
    /// `value` as JSON, built once for evaluation.
    json: Value,
}

impl Comparison {
    /// A comparison (no checks: [`resolve`] makes the checked ones).
    pub fn new(path: ResolvedPath, op: CompareOp, value: CompValue) -> Self {
        let json = to_json(&value);
        Comparison {
            path,
            op,
            value,
            json,
        }
    }

    /// The comparison value as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }
}

/// An attribute path resolved to its definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedPath {
    /// The canonical URN of the schema that defines the attribute (the resource type's
    /// core schema for common attributes).
    pub schema: String,
    /// Whether the attribute belongs to a schema extension: it is stored inside the object
    /// under the extension's URN (`schema`), not at the top level.
    pub extension: bool,
    /// Whether it is a common attribute (`id`, `externalId`, `meta`, `schemas`).
    pub common: bool,
    /// The canonical attribute name (`emails`, `userName`, `meta`).
    pub attr: String,
    /// The canonical sub-attribute name (`value`, `lastModified`), if the path has one.
    /// A comparison on a complex attribute without one (`emails co "@x"`) means its
    /// `value` sub-attribute, and is resolved to it.
    pub sub_attr: Option<String>,
    /// The type of the target: the sub-attribute if there is one, else the attribute.
    pub kind: AttributeType,
    /// Whether strings at the target compare case-sensitively
    /// ([`Attribute::compares_exactly`]).
    pub case_exact: bool,
    /// Whether the attribute (not the sub-attribute) is multi-valued: the path then yields
    /// one value per element, and a comparison matches if any of them does.
    pub multi_valued: bool,
}

impl ResolvedPath {
    fn new(r: &ResolvedAttr<'_>) -> Self {
        let target = r.target();
        ResolvedPath {
            schema: r.schema.to_string(),
            extension: r.extension,
            common: r.common,
            attr: r.attr.name.clone(),
            sub_attr: r.sub.map(|s| s.name.clone()),
            kind: target.kind,
            case_exact: target.compares_exactly(),
            multi_valued: r.attr.multi_valued,
        }
    }

    /// The path as it reads in a filter at the top level: `emails.value`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
    pub fn canonical(&self) -> String {
        self.to_attr_path(false).to_string()
    }

    /// The path as written in a filter: inside a value path, only the sub-attribute.
    fn to_attr_path(&self, in_element: bool) -> AttrPath {
        match (&self.sub_attr, in_element) {
            (Some(sub), true) => AttrPath::simple(sub.clone()),
            _ => AttrPath {
                schema: self.extension.then(|| self.schema.clone()),
                attr: self.attr.clone(),
                sub_attr: self.sub_attr.clone(),
            },
        }
    }

    /// A stand-in attribute definition for [`crate::value::compare`], which looks only
    /// at the type and case sensitivity.
    pub(crate) fn comparator(&self) -> Attribute {
        let mut a = Attribute::new(String::new(), self.kind);
        a.case_exact = self.case_exact;
        a
    }
}

impl fmt::Display for ResolvedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_attr_path(false))
    }
}

impl ResolvedFilter {
    /// The filter with canonical names and normalised values, as a parse tree.
    pub fn to_filter(&self) -> Filter {
        self.to_filter_in(false)
    }

    fn to_filter_in(&self, in_element: bool) -> Filter {
        match self {
            ResolvedFilter::And(..) | ResolvedFilter::Or(..) => {
                // Walk the left spine in a loop (see `Resolver::node`).
                let is_and = matches!(self, ResolvedFilter::And(..));
                let mut rights = Vec::new();
                let mut node = self;
                while let (ResolvedFilter::And(l, r), true) | (ResolvedFilter::Or(l, r), false) =
                    (node, is_and)
                {
                    rights.push(r);
                    node = l;
                }
                let mut acc = node.to_filter_in(in_element);
                for r in rights.iter().rev() {
                    let r = Box::new(r.to_filter_in(in_element));
                    acc = if is_and {
                        Filter::And(Box::new(acc), r)
                    } else {
                        Filter::Or(Box::new(acc), r)
                    };
                }
                acc
            }
            ResolvedFilter::Not(f) => Filter::Not(Box::new(f.to_filter_in(in_element))),
            ResolvedFilter::Compare(c) => Filter::Compare {
                path: c.path.to_attr_path(in_element),
                op: c.op,
                value: c.value.clone(),
            },
            ResolvedFilter::Present(p) => Filter::Present(p.to_attr_path(in_element)),
            ResolvedFilter::ValuePath { attr, filter } => Filter::ValuePath {
                attr: attr.to_attr_path(false),
                filter: Box::new(filter.to_filter_in(true)),
            },
        }
    }
}

impl fmt::Display for ResolvedFilter {
    /// Canonical filter text (see [`ResolvedFilter::to_filter`]). Paths print in full,
    /// also those of a filter made by [`resolve_element_filter`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_filter())
    }
}

fn to_json(v: &CompValue) -> Value {
    match v {
        CompValue::Null => Value::Null,
        CompValue::Bool(b) => Value::Bool(*b),
        CompValue::Number(n) => Value::Number(n.clone()),
        CompValue::String(s) => Value::String(s.clone()),
    }
}

/// Resolves `filter` against the schemas of resource type `rt`.
///
/// Names match case-insensitively and come out canonical. Errors are `400 invalidFilter`:
/// unknown attributes (`unknown attribute 'x' for resource type User`), operators that do
/// not apply to the attribute's type (`gt` on a boolean, `co` on a dateTime), values of the
/// wrong type (a string for an integer, a non-RFC 3339 string for a dateTime), a value
/// filter on a simple attribute, and `[` nested inside `[…]`.
pub fn resolve(
    filter: &Filter,
    registry: &SchemaRegistry,
    rt: &ResourceType,
) -> ScimResult<ResolvedFilter> {
    Resolver { registry, rt }.node(filter, None, 0)
}

/// Resolves a value filter (the part between `[` and `]`) relative to the elements of the
/// complex attribute `attr`, as in the PATCH paths `members[value eq "x"]` and
/// `addresses[type eq "work"].locality`. Evaluate it with
/// [`ResolvedFilter::matches_element`].
pub fn resolve_element_filter(
    filter: &Filter,
    registry: &SchemaRegistry,
    rt: &ResourceType,
    attr: &ResolvedAttr<'_>,
) -> ScimResult<ResolvedFilter> {
    let resolver = Resolver { registry, rt };
    let scope = resolver.element_scope(attr)?;
    resolver.node(filter, Some(&scope), 0)
}

/// How deeply [`resolve`] recurses (through `not`, parenthesised right operands and value
/// paths) before giving up; parsed filters stay far below it ([`super::FilterLimits`]).
const MAX_RESOLVE_DEPTH: usize = 128;

/// The complex attribute whose elements a value filter looks at.
struct Scope<'a> {
    resolved: ResolvedAttr<'a>,
    path: ResolvedPath,
}

struct Resolver<'a> {
    registry: &'a SchemaRegistry,
    rt: &'a ResourceType,
}

impl<'a> Resolver<'a> {
    /// Resolves one node. Recursion happens only for `not`, the right operands of
    /// `and`/`or` and value paths: a left-deep chain (`a or b or c …`, as the parser builds
    /// it) is walked in a loop, so the stack stays shallow however long the chain.
    fn node(
        &self,
        f: &Filter,
        scope: Option<&Scope<'a>>,
        depth: usize,
    ) -> ScimResult<ResolvedFilter> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(ScimError::invalid_filter(
                "invalid filter: it is nested too deeply",
            ));
        }
        match f {
            Filter::And(..) | Filter::Or(..) => self.chain(f, scope, depth),
            Filter::Not(inner) => Ok(ResolvedFilter::Not(Box::new(self.node(
                inner,
                scope,
                depth + 1,
            )?))),
            Filter::Present(path) => Ok(ResolvedFilter::Present(self.path(path, scope)?.1)),
            Filter::Compare { path, op, value } => self.comparison(path, *op, value, scope),
            Filter::ValuePath { attr, filter } => self.value_path(attr, filter, scope, depth),
        }
    }

    /// An `and` or `or` node and the same operator down its left spine.
    fn chain(
        &self,
        f: &Filter,
        scope: Option<&Scope<'a>>,
        depth: usize,
    ) -> ScimResult<ResolvedFilter> {
        let is_and = matches!(f, Filter::And(..));
        let mut rights = Vec::new();
        let mut node = f;
        while let (Filter::And(l, r), true) | (Filter::Or(l, r), false) = (node, is_and) {
            rights.push(r);
            node = l;
        }
        let mut acc = self.node(node, scope, depth + 1)?;
        for r in rights.iter().rev() {
            let r = Box::new(self.node(r, scope, depth + 1)?);
            acc = if is_and {
                ResolvedFilter::And(Box::new(acc), r)
            } else {
                ResolvedFilter::Or(Box::new(acc), r)
            };
        }
        Ok(acc)
    }

    fn comparison(
        &self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: Option<&Scope<'a>>,
    ) -> ScimResult<ResolvedFilter> {
        let (mut target, mut resolved) = self.path(path, scope)?;
        // `emails eq null` asks whether emails has no value at all.
        if *value != CompValue::Null {
            target = self.implicit_value(target, &mut resolved, path)?;
        }
        let value = check_comparison(&resolved, target, op, value)?;
        Ok(ResolvedFilter::Compare(Comparison::new(
            resolved, op, value,
        )))
    }

    fn value_path(
        &self,
        attr: &AttrPath,
        filter: &Filter,
        scope: Option<&Scope<'a>>,
        depth: usize,
    ) -> ScimResult<ResolvedFilter> {
        if let Some(scope) = scope {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: value filters cannot be nested ('{}[…]' inside '{}[…]')",
                Sent(attr),
                scope.path.canonical()
            )));
        }
        let resolved = self.lookup(attr)?;
        let scope = self.element_scope(&resolved)?;
        let inner = self.node(filter, Some(&scope), depth + 1)?;
        Ok(ResolvedFilter::ValuePath {
            attr: scope.path,
            filter: Box::new(inner),
        })
    }

    /// The scope for a value filter on `attr`, which must be a complex attribute.
    fn element_scope(&self, attr: &ResolvedAttr<'a>) -> ScimResult<Scope<'a>> {
        let path = ResolvedPath::new(attr);
        if attr.sub.is_some() {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: a value filter '[…]' applies to an attribute, not to the sub-attribute '{}'",
                path.canonical()
            )));
        }
        if !attr.attr.is_complex() {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: a value filter '[…]' needs a complex attribute, and '{}' is {}",
                path.canonical(),
                attr.attr.kind.as_str()
            )));
        }
        Ok(Scope {
            resolved: *attr,
            path,
        })
    }

    /// Resolves a path, at the top level or (with a scope) as a sub-attribute of the
    /// scope's elements. Returns the target definition and the resolved path.
    fn path(
        &self,
        path: &AttrPath,
        scope: Option<&Scope<'a>>,
    ) -> ScimResult<(&'a Attribute, ResolvedPath)> {
        let Some(scope) = scope else {
            let r = self.lookup(path)?;
            return Ok((r.target(), ResolvedPath::new(&r)));
        };
        let parent = scope.path.canonical();
        if path.schema.is_some() || path.sub_attr.is_some() {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: inside '{parent}[…]' a path names one sub-attribute of '{parent}', found '{}'",
                Sent(path)
            )));
        }
        let Some(sub) = scope.resolved.attr.sub_attribute(&path.attr) else {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: unknown sub-attribute '{}' of '{parent}' (it has {})",
                Sent(&path.attr),
                list_names(&scope.resolved.attr.sub_attributes)
            )));
        };
        let r = ResolvedAttr {
            sub: Some(sub),
            ..scope.resolved
        };
        Ok((sub, ResolvedPath::new(&r)))
    }

    /// Looks a top-level path up in the registry, explaining a miss.
    fn lookup(&self, path: &AttrPath) -> ScimResult<ResolvedAttr<'a>> {
        if let Some(r) = self.registry.resolve(self.rt, path) {
            return Ok(r);
        }
        let rt = &self.rt.name;
        if let Some(urn) = &path.schema
            && !urn.eq_ignore_ascii_case(&self.rt.schema)
            && self.registry.extension_of(self.rt, urn).is_none()
        {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: unknown attribute '{}' for resource type {rt}: '{}' is not one of its schemas",
                Sent(path),
                Sent(urn)
            )));
        }
        if let Some(sub) = &path.sub_attr
            && let Some(parent) = self.registry.resolve(self.rt, &path.parent())
        {
            let detail = if parent.attr.sub_attributes.is_empty() {
                format!(
                    "'{}' is {} and has no sub-attributes",
                    parent.attr.name,
                    parent.attr.kind.as_str()
                )
            } else {
                format!(
                    "'{}' has {}",
                    parent.attr.name,
                    list_names(&parent.attr.sub_attributes)
                )
            };
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: unknown sub-attribute '{}' in '{}' for resource type {rt}: {detail}",
                Sent(sub),
                Sent(path)
            )));
        }
        Err(ScimError::invalid_filter(format!(
            "invalid filter: unknown attribute '{}' for resource type {rt}",
            Sent(path)
        )))
    }

    /// A comparison on a complex attribute compares its `value` sub-attribute
    /// (`emails eq "a@x"`, RFC 7644 §3.4.2.2).
    fn implicit_value(
        &self,
        target: &'a Attribute,
        resolved: &mut ResolvedPath,
        written: &AttrPath,
    ) -> ScimResult<&'a Attribute> {
        if !target.is_complex() {
            return Ok(target);
        }
        let Some(value) = target.sub_attribute("value") else {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: '{written}' is complex and has no 'value' sub-attribute; compare one of its sub-attributes ({})",
                list_names(&target.sub_attributes)
            )));
        };
        resolved.sub_attr = Some(value.name.clone());
        resolved.kind = value.kind;
        resolved.case_exact = value.compares_exactly();
        Ok(value)
    }
}

fn list_names(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `op` applies to the target's type and that `value` has that type;
/// returns the value normalised.
fn check_comparison(
    path: &ResolvedPath,
    target: &Attribute,
    op: CompareOp,
    value: &CompValue,
) -> ScimResult<CompValue> {
    let kind = target.kind;
    let op_name = op.as_str();
    let err = |why: String| {
        Err(ScimError::invalid_filter(format!(
            "invalid filter: '{} {op_name} {}': {why}",
            path.canonical(),
            Sent(value)
        )))
    };
    if *value == CompValue::Null {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(CompValue::Null),
            _ => err(format!(
                "null can only be compared with eq or ne (use '{} pr' to test for a value)",
                path.canonical()
            )),
        };
    }
    match op {
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            if matches!(kind, AttributeType::Boolean | AttributeType::Binary) =>
        {
            return err(format!(
                "'{op_name}' does not apply to {} attributes; use eq or ne",
                kind.as_str()
            ));
        }
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew
            if !matches!(
                kind,
                AttributeType::String | AttributeType::Reference | AttributeType::Binary
            ) =>
        {
            return err(format!(
                "'{op_name}' applies to string, reference and binary attributes, and this one is {}",
                kind.as_str()
            ));
        }
        _ => {}
    }
    let normalised = match (kind, value) {
        (
            AttributeType::String | AttributeType::Reference | AttributeType::Binary,
            CompValue::String(_),
        ) => value.clone(),
        (AttributeType::String | AttributeType::Reference | AttributeType::Binary, _) => {
            return err(format!(
                "the attribute is {}, so the value must be a string in double quotes",
                kind.as_str()
            ));
        }
        (AttributeType::Boolean, CompValue::Bool(_)) => value.clone(),
        // Entra ID writes booleans as strings; accept "True"/"false" here as on writes.
        (AttributeType::Boolean, CompValue::String(s)) if s.eq_ignore_ascii_case("true") => {
            CompValue::Bool(true)
        }
        (AttributeType::Boolean, CompValue::String(s)) if s.eq_ignore_ascii_case("false") => {
            CompValue::Bool(false)
        }
        (AttributeType::Boolean, _) => {
            return err("the attribute is boolean, so the value must be true or false".into());
        }
        (AttributeType::Integer | AttributeType::Decimal, CompValue::Number(_)) => value.clone(),
        (AttributeType::Integer | AttributeType::Decimal, _) => {
            return err(format!(
                "the attribute is {}, so the value must be a number (without quotes)",
                kind.as_str()
            ));
        }
        (AttributeType::DateTime, CompValue::String(s)) if parse_datetime(s).is_some() => {
            value.clone()
        }
        (AttributeType::DateTime, _) => {
            return err(
                "the attribute is a dateTime, so the value must be an RFC 3339 date-time string such as \"2024-05-01T12:00:00Z\""
                    .into(),
            );
        }
        (AttributeType::Complex, _) => {
            return err(
                "a complex attribute cannot be compared; compare one of its sub-attributes".into(),
            );
        }
    };
    Ok(normalised)
}
