//! The set of schemas and resource types a service provider serves, and attribute resolution.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::model::{Attribute, AttributeType, Mutability, Returned, Schema, Uniqueness};
use super::model::{ResourceType, SchemaExtension};
use crate::path::{AttrPath, is_attr_name, is_urn};

/// The core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The ServiceProviderConfig schema (RFC 7643 §5).
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The ResourceType schema (RFC 7643 §6).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The schema of Schema resources (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The extra group schema URN that Microsoft Entra ID sends; accepted and ignored.
pub const ENTRA_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

const BUILTIN_SCHEMAS: [(&str, &str); 6] = [
    ("user.json", include_str!("../../schemas/user.json")),
    ("group.json", include_str!("../../schemas/group.json")),
    (
        "enterprise_user.json",
        include_str!("../../schemas/enterprise_user.json"),
    ),
    (
        "service_provider_config.json",
        include_str!("../../schemas/service_provider_config.json"),
    ),
    (
        "resource_type.json",
        include_str!("../../schemas/resource_type.json"),
    ),
    ("schema.json", include_str!("../../schemas/schema.json")),
];

/// Why a schema or resource type document was rejected. Every variant names the source
/// (usually a file name) and, where it applies, the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A document is not valid JSON.
    #[error("{source_name}: not valid JSON: {message}")]
    Json {
        /// Where the document came from (a file name).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A document is not a schema or resource type document.
    #[error("{source_name}: {message}")]
    Document {
        /// Where the document came from (a file name).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// An attribute definition is invalid.
    #[error("{source_name}: schema {schema}, attribute '{attribute}': {message}")]
    Attribute {
        /// Where the document came from (a file name).
        source_name: String,
        /// The schema's URN.
        schema: String,
        /// The attribute's path.
        attribute: String,
        /// What is wrong.
        message: String,
    },
    /// A resource type document is invalid.
    #[error("{source_name}: resource type '{resource_type}': {message}")]
    ResourceType {
        /// Where the document came from (a file name).
        source_name: String,
        /// The resource type's name.
        resource_type: String,
        /// What is wrong.
        message: String,
    },
}

/// What an attribute path resolved to.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// The URN of the schema that defines the attribute (canonical spelling).
    pub schema: &'a str,
    /// Whether that schema is an extension of the resource type (stored under its URN).
    pub extension: bool,
    /// Whether the attribute is a common attribute (`id`, `externalId`, `meta`).
    pub common: bool,
    /// The attribute's definition.
    pub attr: &'a Attribute,
    /// The sub-attribute's definition, when the path names one.
    pub sub: Option<&'a Attribute>,
}

impl<'a> ResolvedAttr<'a> {
    /// The innermost definition: the sub-attribute if there is one, else the attribute.
    pub fn target(&self) -> &'a Attribute {
        self.sub.unwrap_or(self.attr)
    }

    /// The canonical path, URN-qualified for extension attributes.
    pub fn canonical_path(&self) -> String {
        let mut s = String::new();
        if self.extension {
            s.push_str(self.schema);
            s.push(':');
        }
        s.push_str(&self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(&sub.name);
        }
        s
    }
}

/// Schemas and resource types, loaded once and shared read-only.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    schemas: Vec<Arc<Schema>>,
    by_id: HashMap<String, usize>,
    resource_types: Vec<ResourceType>,
    common: Schema,
}

/// The common attributes every resource has (RFC 7643 §3.1).
fn common_attributes() -> Schema {
    let mut id = Attribute::new("id", AttributeType::String);
    id.case_exact = true;
    id.mutability = Mutability::ReadOnly;
    id.returned = Returned::Always;
    id.uniqueness = Uniqueness::Server;
    let mut external_id = Attribute::new("externalId", AttributeType::String);
    external_id.case_exact = true;
    let ro = |name: &str, kind: AttributeType| {
        let mut a = Attribute::new(name, kind);
        a.mutability = Mutability::ReadOnly;
        a.case_exact = true;
        a
    };
    let mut meta = ro("meta", AttributeType::Complex);
    meta.sub_attributes = vec![
        ro("resourceType", AttributeType::String),
        ro("created", AttributeType::DateTime),
        ro("lastModified", AttributeType::DateTime),
        ro("location", AttributeType::Reference),
        ro("version", AttributeType::String),
    ];
    let mut schemas = Attribute::new("schemas", AttributeType::Reference);
    schemas.multi_valued = true;
    schemas.case_exact = true;
    schemas.returned = Returned::Always;
    schemas.required = true;
    Schema {
        id: "urn:scim:common".into(),
        name: Some("Common".into()),
        description: None,
        attributes: vec![schemas, id, external_id, meta],
    }
}

impl SchemaRegistry {
    /// The built-in schemas (User, Group, EnterpriseUser and the three discovery schemas)
    /// and the resource types User (with the enterprise extension) and Group.
    pub fn builtin() -> Result<SchemaRegistry, SchemaError> {
        let mut reg = SchemaRegistry {
            schemas: Vec::new(),
            by_id: HashMap::new(),
            resource_types: Vec::new(),
            common: common_attributes(),
        };
        for (name, text) in BUILTIN_SCHEMAS {
            reg.add_schema_json(name, text)?;
        }
        reg.add_resource_type(
            "builtin",
            ResourceType {
                id: "User".into(),
                name: "User".into(),
                description: Some("User account".into()),
                endpoint: "/Users".into(),
                schema: USER_SCHEMA.into(),
                schema_extensions: vec![SchemaExtension {
                    schema: ENTERPRISE_USER_SCHEMA.into(),
                    required: false,
                }],
            },
        )?;
        reg.add_resource_type(
            "builtin",
            ResourceType {
                id: "Group".into(),
                name: "Group".into(),
                description: Some("Group".into()),
                endpoint: "/Groups".into(),
                schema: GROUP_SCHEMA.into(),
                schema_extensions: Vec::new(),
            },
        )?;
        Ok(reg)
    }

    /// Adds schemas from a JSON document: one schema object, an array of them, or a
    /// `/Schemas` ListResponse. `source_name` (a file name) is used in errors.
    pub fn add_schema_json(&mut self, source_name: &str, text: &str) -> Result<(), SchemaError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SchemaError::Json {
            source_name: source_name.into(),
            message: e.to_string(),
        })?;
        for item in documents(value) {
            let schema: Schema = parse_document(source_name, item)?;
            self.add_schema(source_name, schema)?;
        }
        Ok(())
    }

    /// Adds resource types from a JSON document: one ResourceType object, an array, or a
    /// `/ResourceTypes` ListResponse.
    pub fn add_resource_type_json(
        &mut self,
        source_name: &str,
        text: &str,
    ) -> Result<(), SchemaError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SchemaError::Json {
            source_name: source_name.into(),
            message: e.to_string(),
        })?;
        for item in documents(value) {
            let rt: ResourceType = parse_document(source_name, item)?;
            self.add_resource_type(source_name, rt)?;
        }
        Ok(())
    }

    /// Adds a JSON document that holds schemas, resource types or both (told apart by
    /// their `schemas` URN, or by the presence of `endpoint`).
    pub fn add_json(&mut self, source_name: &str, text: &str) -> Result<(), SchemaError> {
        self.add_json_documents(&[(source_name, text)])
    }

    /// Adds several JSON documents (for example every file of a directory) as one set:
    /// all their schemas first, then all their resource types, so a resource type may name
    /// a schema from any of the documents.
    pub fn add_json_documents(&mut self, docs: &[(&str, &str)]) -> Result<(), SchemaError> {
        let mut schemas = Vec::new();
        let mut rts = Vec::new();
        for (source_name, text) in docs {
            let value: Value = serde_json::from_str(text).map_err(|e| SchemaError::Json {
                source_name: (*source_name).into(),
                message: e.to_string(),
            })?;
            for d in documents(value) {
                let is_rt = d.get("endpoint").is_some()
                    || d.get("schemas")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|s| s == RESOURCE_TYPE_SCHEMA));
                if is_rt {
                    rts.push((*source_name, d));
                } else {
                    schemas.push((*source_name, d));
                }
            }
        }
        for (source_name, item) in schemas {
            let schema: Schema = parse_document(source_name, item)?;
            self.add_schema(source_name, schema)?;
        }
        for (source_name, item) in rts {
            let rt: ResourceType = parse_document(source_name, item)?;
            self.add_resource_type(source_name, rt)?;
        }
        Ok(())
    }

    /// Validates and adds one schema.
    pub fn add_schema(&mut self, source_name: &str, schema: Schema) -> Result<(), SchemaError> {
        if !is_urn(&schema.id) {
            return Err(SchemaError::Document {
                source_name: source_name.into(),
                message: format!("schema id '{}' is not a URN (urn:...)", schema.id),
            });
        }
        let key = schema.id.to_ascii_lowercase();
        if self.by_id.contains_key(&key) {
            return Err(SchemaError::Document {
                source_name: source_name.into(),
                message: format!("schema {} is defined twice", schema.id),
            });
        }
        // The Schema meta-schema itself nests subAttributes two levels deep (RFC 7643 §8.7.2);
        // every other schema must follow §2.3.8.
        // The discovery schemas describe resources that are not provisioned: they define their
        // own `id`, and the Schema schema nests subAttributes two levels deep (§8.7.2).
        let discovery = [
            SERVICE_PROVIDER_CONFIG_SCHEMA,
            RESOURCE_TYPE_SCHEMA,
            SCHEMA_SCHEMA,
        ]
        .contains(&schema.id.as_str());
        let rules = Rules {
            max_depth: if discovery { 2 } else { 1 },
            allow_common: discovery,
        };
        validate_attributes(source_name, &schema.id, "", &schema.attributes, 0, rules)?;
        self.by_id.insert(key, self.schemas.len());
        self.schemas.push(Arc::new(schema));
        Ok(())
    }

    /// Validates and adds one resource type; its schema and extensions must be known.
    pub fn add_resource_type(
        &mut self,
        source_name: &str,
        rt: ResourceType,
    ) -> Result<(), SchemaError> {
        let err = |message: String| SchemaError::ResourceType {
            source_name: source_name.into(),
            resource_type: rt.name.clone(),
            message,
        };
        if !rt.endpoint.starts_with('/')
            || rt.endpoint.len() < 2
            || !rt.endpoint[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err(format!(
                "endpoint '{}' must be '/' followed by letters, digits, '-' or '_'",
                rt.endpoint
            )));
        }
        if rt.name.is_empty() || rt.id.is_empty() {
            return Err(err("id and name must not be empty".into()));
        }
        for reserved in [
            "/Schemas",
            "/ResourceTypes",
            "/ServiceProviderConfig",
            "/Bulk",
            "/Me",
        ] {
            if rt.endpoint.eq_ignore_ascii_case(reserved) {
                return Err(err(format!("endpoint {reserved} is reserved")));
            }
        }
        if self.schema(&rt.schema).is_none() {
            return Err(err(format!("unknown schema {}", rt.schema)));
        }
        for ext in &rt.schema_extensions {
            if self.schema(&ext.schema).is_none() {
                return Err(err(format!("unknown extension schema {}", ext.schema)));
            }
        }
        // A document for an existing type (same id, name and endpoint) redefines it: this is
        // how a deployment adds an extension to User or Group.
        if let Some(existing) = self.resource_types.iter_mut().find(|o| {
            o.id.eq_ignore_ascii_case(&rt.id)
                && o.name.eq_ignore_ascii_case(&rt.name)
                && o.endpoint.eq_ignore_ascii_case(&rt.endpoint)
        }) {
            *existing = rt;
            return Ok(());
        }
        for other in &self.resource_types {
            if other.name.eq_ignore_ascii_case(&rt.name)
                || other.id.eq_ignore_ascii_case(&rt.id)
                || other.endpoint.eq_ignore_ascii_case(&rt.endpoint)
            {
                return Err(err(format!(
                    "name, id or endpoint clashes with resource type '{}'",
                    other.name
                )));
            }
        }
        self.resource_types.push(rt);
        Ok(())
    }

    /// All schemas, in load order.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.iter().map(|s| s.as_ref())
    }

    /// The schema with this URN, matched case-insensitively.
    pub fn schema(&self, id: &str) -> Option<&Schema> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .and_then(|&i| self.schemas.get(i))
            .map(|s| s.as_ref())
    }

    /// Every resource type served.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The resource type with this name or id (case-insensitive).
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(name) || rt.id.eq_ignore_ascii_case(name))
    }

    /// The resource type served at this endpoint (`Users` or `/Users`, case-insensitive).
    pub fn resource_type_by_endpoint(&self, endpoint: &str) -> Option<&ResourceType> {
        let endpoint = endpoint.trim_start_matches('/');
        self.resource_types
            .iter()
            .find(|rt| rt.endpoint_name().eq_ignore_ascii_case(endpoint))
    }

    /// The common attributes (`schemas`, `id`, `externalId`, `meta`).
    pub fn common_attributes(&self) -> &[Attribute] {
        &self.common.attributes
    }

    /// The schemas of a resource type: the core schema first, then each extension with
    /// its `required` flag.
    pub fn schemas_of<'a>(
        &'a self,
        rt: &'a ResourceType,
    ) -> impl Iterator<Item = (&'a Schema, bool, bool)> + 'a {
        let core = self.schema(&rt.schema).map(|s| (s, false, true));
        core.into_iter().chain(
            rt.schema_extensions
                .iter()
                .filter_map(|e| self.schema(&e.schema).map(|s| (s, true, e.required))),
        )
    }

    /// The extension of `rt` with this URN (case-insensitive), in canonical spelling.
    pub fn extension_of<'a>(&'a self, rt: &'a ResourceType, urn: &str) -> Option<&'a Schema> {
        rt.schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(urn))
            .and_then(|e| self.schema(&e.schema))
    }

    /// Resolves a path against a resource type: common attributes, then the core schema,
    /// then (for URN-qualified paths) the named schema. Names match case-insensitively.
    pub fn resolve<'a>(
        &'a self,
        rt: &'a ResourceType,
        path: &AttrPath,
    ) -> Option<ResolvedAttr<'a>> {
        let (schema, extension, common, attr) = match &path.schema {
            Some(urn) => {
                if urn.eq_ignore_ascii_case(&rt.schema) {
                    let s = self.schema(&rt.schema)?;
                    match s.attribute(&path.attr) {
                        Some(a) => (s.id.as_str(), false, false, a),
                        None => {
                            let a = self.common.attribute(&path.attr)?;
                            (s.id.as_str(), false, true, a)
                        }
                    }
                } else {
                    let s = self.extension_of(rt, urn)?;
                    (s.id.as_str(), true, false, s.attribute(&path.attr)?)
                }
            }
            None => {
                if let Some(a) = self.common.attribute(&path.attr) {
                    (rt.schema.as_str(), false, true, a)
                } else {
                    let s = self.schema(&rt.schema)?;
                    (s.id.as_str(), false, false, s.attribute(&path.attr)?)
                }
            }
        };
        let sub = match &path.sub_attr {
            Some(name) => Some(attr.sub_attribute(name)?),
            None => None,
        };
        Some(ResolvedAttr {
            schema,
            extension,
            common,
            attr,
            sub,
        })
    }
}

/// Splits a document into its items: an array, a ListResponse's `Resources`, or one object.
fn documents(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(mut obj) => match obj.remove("Resources") {
            Some(Value::Array(items)) => items,
            Some(other) => {
                obj.insert("Resources".into(), other);
                vec![Value::Object(obj)]
            }
            None => vec![Value::Object(obj)],
        },
        other => vec![other],
    }
}

fn parse_document<T: serde::de::DeserializeOwned>(
    source_name: &str,
    item: Value,
) -> Result<T, SchemaError> {
    let label = item
        .get("id")
        .or_else(|| item.get("name"))
        .and_then(Value::as_str)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    serde_json::from_value(item).map_err(|e| SchemaError::Document {
        source_name: source_name.into(),
        message: format!("invalid definition{label}: {e}"),
    })
}

#[derive(Debug, Clone, Copy)]
struct Rules {
    max_depth: usize,
    allow_common: bool,
}

fn validate_attributes(
    source_name: &str,
    schema_id: &str,
    parent: &str,
    attrs: &[Attribute],
    depth: usize,
    rules: Rules,
) -> Result<(), SchemaError> {
    let mut seen: Vec<String> = Vec::with_capacity(attrs.len());
    for a in attrs {
        let path = if parent.is_empty() {
            a.name.clone()
        } else {
            format!("{parent}.{}", a.name)
        };
        let err = |message: String| SchemaError::Attribute {
            source_name: source_name.into(),
            schema: schema_id.into(),
            attribute: path.clone(),
            message,
        };
        if !is_attr_name(&a.name) {
            return Err(err(
                "the name must start with a letter and contain only letters, digits, '-' and '_'"
                    .into(),
            ));
        }
        let lower = a.name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(err("defined twice (names are case-insensitive)".into()));
        }
        seen.push(lower);
        if depth == 0
            && !rules.allow_common
            && ["id", "externalid", "meta", "schemas"].contains(&seen[seen.len() - 1].as_str())
        {
            return Err(err(
                "this common attribute is implicit and must not be redefined".into(),
            ));
        }
        match (a.kind, a.sub_attributes.is_empty()) {
            (AttributeType::Complex, true) => {
                return Err(err("a complex attribute needs subAttributes".into()));
            }
            (AttributeType::Complex, false) if depth >= rules.max_depth => {
                return Err(err(
                    "a sub-attribute cannot be complex (RFC 7643 §2.3.8)".into()
                ));
            }
            (AttributeType::Complex, false) => {
                validate_attributes(
                    source_name,
                    schema_id,
                    &path,
                    &a.sub_attributes,
                    depth + 1,
                    rules,
                )?;
            }
            (kind, false) => {
                return Err(err(format!(
                    "only complex attributes may have subAttributes, this one is {}",
                    kind.as_str()
                )));
            }
            (_, true) => {}
        }
        if !a.canonical_values.is_empty() && a.kind != AttributeType::String {
            return Err(err(
                "canonicalValues are only allowed on string attributes".into()
            ));
        }
        if !a.reference_types.is_empty() && a.kind != AttributeType::Reference {
            return Err(err(
                "referenceTypes are only allowed on reference attributes".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> SchemaRegistry {
        SchemaRegistry::builtin().unwrap()
    }

    #[test]
    fn builtin_registry_loads() {
        let reg = registry();
        assert_eq!(reg.schemas().count(), 6);
        let user = reg.schema(USER_SCHEMA).unwrap();
        let user_name = user.attribute("USERNAME").unwrap();
        assert_eq!(user_name.name, "userName");
        assert!(user_name.required);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        assert!(!user_name.case_exact);
        let password = user.attribute("password").unwrap();
        assert_eq!(password.mutability, Mutability::WriteOnly);
        assert_eq!(password.returned, Returned::Never);
        let emails = user.attribute("emails").unwrap();
        assert!(emails.multi_valued);
        assert!(emails.sub_attribute("primary").is_some());
        assert!(
            reg.schema(ENTERPRISE_USER_SCHEMA)
                .unwrap()
                .attribute("manager")
                .is_some()
        );
        assert!(
            reg.schema(GROUP_SCHEMA)
                .unwrap()
                .attribute("members")
                .is_some()
        );
    }

    #[test]
    fn resolves_paths_case_insensitively_to_canonical_names() {
        let reg = registry();
        let users = reg.resource_type("User").unwrap();
        let r = reg
            .resolve(users, &AttrPath::parse("NAME.GIVENNAME").unwrap())
            .unwrap();
        assert_eq!(r.canonical_path(), "name.givenName");
        let r = reg
            .resolve(
                users,
                &AttrPath::parse(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT",
                )
                .unwrap(),
            )
            .unwrap();
        assert!(r.extension);
        assert_eq!(
            r.canonical_path(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        );
        let r = reg
            .resolve(users, &AttrPath::parse("meta.lastModified").unwrap())
            .unwrap();
        assert!(r.common);
        assert_eq!(r.target().kind, AttributeType::DateTime);
        let r = reg
            .resolve(
                users,
                &AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(),
            )
            .unwrap();
        assert_eq!(r.canonical_path(), "userName");
        assert!(
            reg.resolve(users, &AttrPath::parse("nope").unwrap())
                .is_none()
        );
        assert!(
            reg.resolve(users, &AttrPath::parse("name.nope").unwrap())
                .is_none()
        );
        let groups = reg.resource_type_by_endpoint("groups").unwrap();
        assert!(
            reg.resolve(groups, &AttrPath::parse("userName").unwrap())
                .is_none()
        );
    }

    #[test]
    fn custom_schema_and_resource_type_load() {
        let mut reg = registry();
        reg.add_json(
            "device.json",
            r#"[{"id":"urn:example:scim:schemas:Device","name":"Device","attributes":[
                {"name":"serialNumber","type":"string","required":true,"uniqueness":"server","caseExact":true},
                {"name":"owner","type":"complex","subAttributes":[{"name":"value","type":"string"}]}]},
               {"schemas":["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],"id":"Device","name":"Device",
                "endpoint":"/Devices","schema":"urn:example:scim:schemas:Device"}]"#,
        )
        .unwrap();
        let rt = reg.resource_type_by_endpoint("Devices").unwrap();
        assert!(
            reg.resolve(rt, &AttrPath::parse("serialnumber").unwrap())
                .is_some()
        );
    }

    #[test]
    fn invalid_schema_errors_name_the_file_and_attribute() {
        let mut reg = registry();
        let e = reg
            .add_schema_json(
                "bad.json",
                r#"{"id":"urn:x:Bad","attributes":[{"name":"address","type":"complex","subAttributes":[
                    {"name":"geo","type":"complex","subAttributes":[{"name":"lat","type":"decimal"}]}]}]}"#,
            )
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bad.json"), "{msg}");
        assert!(msg.contains("address.geo"), "{msg}");

        let e = reg
            .add_schema_json(
                "t.json",
                r#"{"id":"urn:x:T","attributes":[{"name":"a","type":"strin"}]}"#,
            )
            .unwrap_err();
        assert!(e.to_string().contains("t.json"), "{e}");
        let e = reg
            .add_schema_json("n.json", r#"{"id":"urn:x:N","attributes":[{"name":"1a"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("'1a'"), "{e}");
        let e = reg
            .add_schema_json(
                "d.json",
                r#"{"id":"urn:x:D","attributes":[{"name":"a"},{"name":"A"}]}"#,
            )
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = reg.add_schema_json("j.json", "{").unwrap_err();
        assert!(matches!(e, SchemaError::Json { .. }));
        let e = reg
            .add_resource_type_json(
                "rt.json",
                r#"{"id":"X","name":"X","endpoint":"/X","schema":"urn:missing"}"#,
            )
            .unwrap_err();
        assert!(e.to_string().contains("unknown schema"), "{e}");
    }
}
