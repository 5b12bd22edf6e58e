//! What an operator sees before an irreversible step or while undoing one: a tenant's
//! contents (before `scim tenant delete`) and its soft-deleted resources (for
//! `scim restore`).

use serde::Serialize;

/// What a tenant holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantContents {
    /// Live resources per resource type (`User`, `Group`, …), by type name.
    pub resources: Vec<(String, i64)>,
    /// Soft-deleted resources still kept.
    pub deleted: i64,
    /// Tokens, revoked and expired ones included: all that a delete removes.
    pub tokens: i64,
    /// Of those, the tokens that work now (neither revoked nor expired).
    pub active_tokens: i64,
    /// Change records kept (retention may have removed older ones): all that a delete
    /// removes.
    pub changes: i64,
}

impl TenantContents {
    /// Live resources of one type.
    pub fn count(&self, resource_type: &str) -> i64 {
        self.resources
            .iter()
            .find(|(t, _)| t == resource_type)
            .map_or(0, |(_, n)| *n)
    }
}

/// A soft-deleted resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedResource {
    /// Its id.
    pub id: String,
    /// Its resource type.
    pub resource_type: String,
    /// Its displayName or userName.
    pub display: Option<String>,
    /// When it was deleted (RFC 3339).
    pub deleted: String,
    /// Until when `restore` can bring it back (RFC 3339).
    pub restorable_until: Option<String>,
    /// The groups it was removed from at deletion (a restore puts it back in those that
    /// still exist).
    pub groups: i64,
}
