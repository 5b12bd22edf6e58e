//! Group-to-role mapping: the types of per-tenant role rules (see `sql/roles.rs` for how a
//! user's effective roles are kept in step with its memberships).

/// What a role rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleMatch {
    /// Members (direct or through nested groups) of the group with this `displayName`
    /// (case-insensitive, as SCIM compares it).
    GroupDisplayName,
    /// Members of the group with this `externalId` (the identity provider's id).
    GroupExternalId,
    /// Members of the group with this `id`.
    GroupId,
    /// Every active user.
    Default,
}

impl RoleMatch {
    /// The kind's name (`group_display_name`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RoleMatch::GroupDisplayName => "group_display_name",
            RoleMatch::GroupExternalId => "group_external_id",
            RoleMatch::GroupId => "group_id",
            RoleMatch::Default => "default",
        }
    }

    /// Reads a kind's name.
    pub fn parse(s: &str) -> Option<RoleMatch> {
        Some(match s {
            "group_display_name" => RoleMatch::GroupDisplayName,
            "group_external_id" => RoleMatch::GroupExternalId,
            "group_id" => RoleMatch::GroupId,
            "default" => RoleMatch::Default,
            _ => return None,
        })
    }
}

/// A role rule to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRuleSpec {
    /// The application role it gives (e.g. `admin`).
    pub role: String,
    /// What the rule matches on.
    pub matches: RoleMatch,
    /// The group's displayName, externalId or id; `None` for [`RoleMatch::Default`].
    pub value: Option<String>,
}

/// A tenant's role rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    /// The rule's id.
    pub id: String,
    /// The application role it gives.
    pub role: String,
    /// What it matches on.
    pub matches: RoleMatch,
    /// The value matched (`None` for [`RoleMatch::Default`]).
    pub value: Option<String>,
    /// When it was added (RFC 3339).
    pub created: String,
}

/// How many users' roles this process has recomputed for the tenant with this uid: the
/// cost measure of role recomputation (one per user a write can affect), for tests and
/// benchmarks.
pub fn recomputations(tenant_uid: &str) -> u64 {
    crate::sql::roles::RECOMPUTED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(tenant_uid).copied()))
        .unwrap_or(0)
}
