//! Resource creation input (RFC 7644 §3.3).

use serde_json::{Map, Value};

use super::assemble::assemble;
use super::body::parse_body;
use super::required::check_required;
use crate::error::ScimResult;
use crate::schema::{ResourceType, SchemaRegistry};

/// Validates and normalises a POST body into the canonical stored form, without `id` and
/// `meta` (the caller adds them with [`super::set_meta`]).
///
/// - The body must be a JSON object (else 400 `invalidSyntax`) whose `schemas` lists the core
///   schema and every extension whose attributes it carries (400 `invalidSyntax` when
///   `schemas` is missing or malformed, `invalidValue` when its content is wrong). Unknown
///   URNs are rejected, except Entra ID's group URN, which is dropped.
/// - Attribute names match case-insensitively; the result uses canonical names. Extension
///   attributes may come in an object under the extension URN or as URN-qualified keys;
///   `parent.sub` keys set one sub-attribute of a single-valued complex attribute.
/// - Unknown attributes are a 400 `invalidSyntax`; readOnly ones (`id`, `meta`, `groups`, …)
///   and readOnly sub-attributes are ignored.
/// - Values are type-checked with [`crate::value::coerce_attribute`]; `null` and `""` mean no
///   value; a bare string for a complex attribute with a `value` sub-attribute means
///   `{"value": …}`.
/// - Required attributes and required sub-attributes of present values are enforced
///   (400 `invalidValue` naming them).
/// - writeOnly attributes (`password`) are kept as sent; the caller may hash them.
///
/// `schemas` in the result is rebuilt: the core URN, then each extension that has attributes.
pub fn prepare_create(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    input: Value,
) -> ScimResult<Map<String, Value>> {
    let body = parse_body(reg, rt, input)?;
    check_required(reg, rt, &body.attrs)?;
    assemble(reg, rt, body.attrs)
}
