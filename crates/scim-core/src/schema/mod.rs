//! Schemas and resource types (RFC 7643 §2, §6, §7, §8.7).

mod model;
mod registry;

pub use model::{
    Attribute, AttributeType, Mutability, ResourceType, Returned, Schema, SchemaExtension,
    Uniqueness,
};
pub use registry::{
    ENTERPRISE_USER_SCHEMA, ENTRA_GROUP_SCHEMA, GROUP_SCHEMA, RESOURCE_TYPE_SCHEMA, ResolvedAttr,
    SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA, SchemaError, SchemaRegistry, USER_SCHEMA,
};
