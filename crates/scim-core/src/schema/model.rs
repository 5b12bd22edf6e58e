//! The schema model of RFC 7643 §2 and §7: attribute definitions and their characteristics.
//!
//! These types serialise to, and parse from, exactly the JSON that `/Schemas` returns.

use serde::{Deserialize, Serialize};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    /// Text.
    #[default]
    String,
    /// `true` or `false`.
    Boolean,
    /// A number with a fractional part.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 instant.
    DateTime,
    /// Base64-encoded bytes.
    Binary,
    /// A URI (`referenceTypes` says to what).
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl AttributeType {
    /// The type's name as schemas write it (`string`, `dateTime`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Binary => "binary",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
        }
    }
}

/// When and how an attribute may be modified (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only.
    ReadOnly,
    /// Set and changed by clients.
    #[default]
    ReadWrite,
    /// Set once, at creation (or while it has no value).
    Immutable,
    /// Set by clients, never returned (a password).
    WriteOnly,
}

/// When an attribute is returned in a response (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// In every response.
    Always,
    /// In no response.
    Never,
    /// Unless excluded with `excludedAttributes` (or not asked for in `attributes`).
    #[default]
    Default,
    /// Only when asked for in `attributes`.
    Request,
}

/// How the service provider enforces uniqueness (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness.
    #[default]
    None,
    /// Unique within the tenant.
    Server,
    /// Unique across the whole service provider (RFC 7643 §7).
    Global,
}

/// One attribute definition, possibly with sub-attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    /// The attribute's name (canonical spelling).
    pub name: String,
    /// Its type.
    #[serde(rename = "type", default)]
    pub kind: AttributeType,
    /// Whether it holds a list of values.
    #[serde(default)]
    pub multi_valued: bool,
    /// What it means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a resource must have a value.
    #[serde(default)]
    pub required: bool,
    /// Suggested values (`work`, `home`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparisons are case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// When it may be changed.
    #[serde(default)]
    pub mutability: Mutability,
    /// When it is returned.
    #[serde(default)]
    pub returned: Returned,
    /// How unique its values must be.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// What a `reference` may point at (`User`, `Group`, `external`, `uri`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// The sub-attributes of a complex attribute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// A plain attribute with the RFC's default characteristics.
    pub fn new(name: impl Into<String>, kind: AttributeType) -> Self {
        Attribute {
            name: name.into(),
            kind,
            multi_valued: false,
            description: None,
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// The sub-attribute with this name, matched case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether the attribute is complex (has sub-attributes).
    pub fn is_complex(&self) -> bool {
        self.kind == AttributeType::Complex
    }

    /// Whether string comparison on this attribute is case-sensitive. `reference`,
    /// `binary` and `dateTime` values are always compared exactly (RFC 7643 §2.3.7, §2.3.6).
    pub fn compares_exactly(&self) -> bool {
        self.case_exact || matches!(self.kind, AttributeType::Reference | AttributeType::Binary)
    }
}

/// A schema: a named collection of attribute definitions (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The schema's URN.
    pub id: String,
    /// Its short name (`User`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it describes, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its top-level attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The top-level attribute with this name, matched case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema extension of a resource type (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaExtension {
    /// The extension schema's URN.
    pub schema: String,
    /// Whether every resource of the type must carry the extension.
    #[serde(default)]
    pub required: bool,
}

/// A resource type: an endpoint, its core schema and its extensions (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// The resource type's id (`User`).
    pub id: String,
    /// Its name (`User`), as `meta.resourceType` says.
    pub name: String,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The endpoint path relative to the base URL, with its leading slash (`/Users`).
    pub endpoint: String,
    /// The URN of its core schema.
    pub schema: String,
    /// The extension schemas its resources may carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// The endpoint without its leading slash (`Users`).
    pub fn endpoint_name(&self) -> &str {
        self.endpoint.trim_start_matches('/')
    }
}
