//! The store's face for the management layer (`scim-admin`'s `Manager`): management writes
//! that are recorded in an audit log in the same transaction, idempotent creates, and the
//! counts a tenant list shows.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::delivery::{Destination, DestinationChange, DestinationKind, NewDestination};
use crate::model::{DeleteMode, Tenant, TokenInfo};
use crate::{Rotation, StoreError, TenantSettings, TenantUpdate, TokenSpec};

/// Live users and groups of a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceCounts {
    /// Live users.
    pub users: u64,
    /// Live groups.
    pub groups: u64,
}

/// What deleting a tenant removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDeletion {
    /// The tenant as it was.
    pub tenant: Tenant,
    /// Users and groups, soft-deleted ones included.
    pub users: u64,
    /// Groups, soft-deleted ones included.
    pub groups: u64,
    /// Tokens, revoked and expired ones included.
    pub tokens: u64,
    /// Of those, the tokens that worked until the delete (neither revoked nor expired).
    pub active_tokens: u64,
    /// Change records (events).
    pub changes: u64,
}

/// A management write. Each runs in one transaction together with its audit record.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminOp {
    /// Creates a tenant with its settings (all or nothing).
    CreateTenant {
        /// The tenant's name.
        name: String,
        /// What DELETE does to its resources.
        delete_mode: DeleteMode,
        /// Days a soft-deleted resource stays restorable.
        retention_days: i64,
        /// Rate limits and JWT mode; `delete_mode`/`retention_days` here are ignored.
        settings: TenantUpdate,
    },
    /// Changes a tenant's settings.
    UpdateTenant {
        /// The tenant's name.
        name: String,
        /// The settings to change.
        update: TenantUpdate,
    },
    /// Deletes a tenant and every trace of its data.
    DeleteTenant {
        /// The tenant's name.
        name: String,
    },
    /// Creates a token for a tenant.
    CreateToken {
        /// The tenant's name.
        tenant: String,
        /// The token's name, expiry and scope.
        spec: TokenSpec,
    },
    /// Revokes a token.
    RevokeToken {
        /// The tenant's name.
        tenant: String,
        /// The token's id.
        token_id: String,
    },
    /// Creates a token in place of another, which keeps working for an overlap.
    RotateToken {
        /// The tenant's name.
        tenant: String,
        /// The id of the token replaced.
        token_id: String,
        /// How long the old token keeps working (0: revoked at once).
        overlap_seconds: i64,
    },
    /// Adds a role rule; the roles of the users it affects are recomputed with it.
    AddRoleRule {
        /// The tenant's name.
        tenant: String,
        /// The rule.
        spec: crate::roles::RoleRuleSpec,
    },
    /// Removes a role rule; the roles of the users it affected are recomputed with it.
    RemoveRoleRule {
        /// The tenant's name.
        tenant: String,
        /// The rule's id.
        rule_id: String,
    },
    /// An operator's change of one of a tenant's push destinations (webhook endpoint,
    /// NATS publisher). Its audit record never holds a secret, nor the user information
    /// or query of its URL.
    Destination {
        /// The tenant's name.
        tenant: String,
        /// Which kind of destination (a destination of another kind is not found).
        kind: DestinationKind,
        /// What is done.
        op: DestinationOp,
    },
}

/// What an operator does to a push destination ([`AdminOp::Destination`]).
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationOp {
    /// Creates one (of the op's tenant and kind).
    Create(NewDestination),
    /// Changes its settings, or rotates its secret (`rotate_secret`).
    Change {
        /// The destination's id.
        id: String,
        /// What changes.
        change: DestinationChange,
    },
    /// Resumes it (`true`: failures cleared, next attempt at once) or pauses it
    /// (`false`: an operator's pause, its position kept).
    SetActive {
        /// The destination's id.
        id: String,
        /// Resume or pause.
        active: bool,
    },
    /// Resends every event after a position.
    Replay {
        /// The destination's id.
        id: String,
        /// The position delivery goes on after.
        from: i64,
    },
    /// Deletes it with its attempts.
    Delete {
        /// The destination's id.
        id: String,
    },
}

impl DestinationOp {
    /// The destination's id (`None` for a create).
    pub fn id(&self) -> Option<&str> {
        match self {
            DestinationOp::Create(_) => None,
            DestinationOp::Change { id, .. }
            | DestinationOp::SetActive { id, .. }
            | DestinationOp::Replay { id, .. }
            | DestinationOp::Delete { id } => Some(id),
        }
    }

    /// The audit log's name of the operation (`webhook.create`, `nats.pause`, …).
    pub fn action(&self, kind: DestinationKind) -> &'static str {
        let i = match self {
            DestinationOp::Create(_) => 0,
            DestinationOp::Change { change, .. } if change.rotate_secret.is_some() => 1,
            DestinationOp::Change { .. } => 2,
            DestinationOp::SetActive { active: false, .. } => 3,
            DestinationOp::SetActive { active: true, .. } => 4,
            DestinationOp::Replay { .. } => 5,
            DestinationOp::Delete { .. } => 6,
        };
        const WEBHOOK: [&str; 7] = [
            "webhook.create",
            "webhook.rotate_secret",
            "webhook.update",
            "webhook.pause",
            "webhook.resume",
            "webhook.replay",
            "webhook.delete",
        ];
        const NATS: [&str; 7] = [
            "nats.create",
            "nats.rotate_secret",
            "nats.update",
            "nats.pause",
            "nats.resume",
            "nats.replay",
            "nats.delete",
        ];
        match kind {
            DestinationKind::Webhook => WEBHOOK[i],
            DestinationKind::Nats => NATS[i],
        }
    }
}

impl AdminOp {
    /// The audit log's name of the operation (`tenant.create`, `token.rotate`, …).
    pub fn action(&self) -> &'static str {
        match self {
            AdminOp::CreateTenant { .. } => "tenant.create",
            AdminOp::UpdateTenant { .. } => "tenant.update",
            AdminOp::DeleteTenant { .. } => "tenant.delete",
            AdminOp::CreateToken { .. } => "token.create",
            AdminOp::RevokeToken { .. } => "token.revoke",
            AdminOp::RotateToken { .. } => "token.rotate",
            AdminOp::AddRoleRule { .. } => "role_rule.add",
            AdminOp::RemoveRoleRule { .. } => "role_rule.remove",
            AdminOp::Destination { kind, op, .. } => op.action(*kind),
        }
    }

    /// The tenant the operation is about.
    pub fn tenant(&self) -> &str {
        match self {
            AdminOp::CreateTenant { name, .. }
            | AdminOp::UpdateTenant { name, .. }
            | AdminOp::DeleteTenant { name } => name,
            AdminOp::CreateToken { tenant, .. }
            | AdminOp::RevokeToken { tenant, .. }
            | AdminOp::RotateToken { tenant, .. }
            | AdminOp::AddRoleRule { tenant, .. }
            | AdminOp::RemoveRoleRule { tenant, .. }
            | AdminOp::Destination { tenant, .. } => tenant,
        }
    }
}

/// What a management write did.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminOutcome {
    /// A tenant created or updated, with its settings.
    Tenant(Tenant, TenantSettings),
    /// A tenant deleted, with what was removed.
    TenantDeleted(TenantDeletion),
    /// A token created, and its text (the only time it is visible).
    TokenCreated(TokenInfo, String),
    /// A token revoked.
    TokenRevoked(TokenInfo),
    /// A token rotated: the new one (with its text) and the old one.
    TokenRotated(Rotation),
    /// A role rule added or removed (`tenant_id`: whose users' roles were recomputed).
    RoleRule {
        /// The tenant.
        tenant_id: i64,
        /// The rule.
        rule: crate::roles::RoleRule,
        /// `true` when added, `false` when removed.
        added: bool,
    },
    /// A push destination as it is after the write (as it was, for a delete).
    Destination(Destination),
}

/// Who makes a management write, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditActor {
    /// The admin token's name, the name an embedding application's hook gave, or
    /// `cli:<user>` for a local command.
    pub name: String,
    /// The admin token's id, when there is one.
    pub id: Option<String>,
    /// The request's id (`X-Request-Id`), when there is one.
    pub request_id: Option<String>,
}

/// An `Idempotency-Key` claim on a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Whose keys these are (keys of different callers never meet).
    pub scope: String,
    /// The key, as the client sent it.
    pub key: String,
    /// A digest of what was asked (method, path, body): the same key with a different
    /// request is refused.
    pub fingerprint: String,
}

/// Computes the answer stored for replays from a write's outcome (never put a secret in it).
pub type ReplayRender = Box<dyn FnOnce(&AdminOutcome) -> Value + Send>;

/// The result of [`Management::admin_write`].
#[derive(Debug, Clone, PartialEq)]
pub enum AdminWritten {
    /// The write was made; `seq` is its audit record.
    Done {
        /// What the write did.
        outcome: Box<AdminOutcome>,
        /// The position of its audit record.
        audit_seq: i64,
    },
    /// The key was used before for the same request: its stored answer, nothing written.
    Replayed(Value),
    /// The key was used before for a different request: nothing written.
    KeyReused,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Its position in the audit log.
    pub seq: i64,
    /// When it was committed (RFC 3339).
    pub at: String,
    /// Who made the write ([`AuditActor::name`]).
    pub actor: String,
    /// The admin token's id, when there was one.
    pub actor_id: Option<String>,
    /// What was done (`tenant.create`, `token.rotate`, …).
    pub action: String,
    /// The tenant acted on.
    pub tenant: Option<String>,
    /// The object acted on besides the tenant (a token id, a rule id).
    pub target: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// What changed (never a secret).
    pub detail: Value,
}

/// Which audit records to read: after a position, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Records after this position.
    pub after: i64,
    /// Most records to return.
    pub limit: u32,
    /// Only the records about this tenant.
    pub tenant: Option<String>,
}

/// How long an `Idempotency-Key` is remembered, in seconds.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 3600;

/// The management layer's face of the store.
#[async_trait]
pub trait Management: Send + Sync {
    /// Live users and groups of each of these tenants (tenants with none are absent).
    async fn resource_counts(
        &self,
        tenant_ids: Vec<i64>,
    ) -> Result<HashMap<i64, ResourceCounts>, StoreError>;

    /// Runs a management write and appends its audit record in the same transaction. With
    /// an idempotency claim, a key seen before (within [`IDEMPOTENCY_TTL_SECONDS`]) replays
    /// the stored answer or refuses a different request, and writes nothing; a new key
    /// stores `render(outcome)` with the write. A write that fails leaves no trace.
    async fn admin_write(
        &self,
        op: AdminOp,
        actor: AuditActor,
        claim: Option<IdempotencyClaim>,
        render: ReplayRender,
    ) -> Result<AdminWritten, StoreError>;

    /// A tenant's role rules, oldest first.
    async fn role_rules(&self, tenant_id: i64) -> Result<Vec<crate::roles::RoleRule>, StoreError>;

    /// A user's effective roles, sorted; `None` when the tenant has no such live user.
    async fn user_roles(
        &self,
        tenant_id: i64,
        user_id: &str,
    ) -> Result<Option<Vec<String>>, StoreError>;

    /// The roles of these users (each a sorted list; users without roles are absent).
    async fn roles_of_users(
        &self,
        tenant_id: i64,
        user_ids: Vec<String>,
    ) -> Result<HashMap<String, Vec<String>>, StoreError>;

    /// Audit records, oldest first.
    async fn audit_log(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
}
