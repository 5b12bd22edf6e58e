//! `scim-store`: where `scim` keeps tenants, tokens, resources, group memberships and the
//! change log, on SQLite ([`sqlite`]) or PostgreSQL ([`postgres`]), chosen by a
//! [`DatabaseUrl`]. Both run the same logic ([`sql`]).
//!
//! The [`Store`] trait is the boundary: the server computes *what* to write with the pure
//! `scim-core` functions, and the store decides *how* to write it atomically, durably and
//! without losing concurrent changes. Every write appends a [`ChangeRecord`] in its own
//! transaction.

#![warn(missing_docs)]

mod admin;
pub mod audit;
mod backend;
pub mod copy;
pub mod delivery;
mod error;
mod events;
mod index;
pub mod manage;
mod model;
mod operator;
pub mod postgres;
mod query;
pub mod requests;
pub mod retention;
pub mod roles;
mod settings;
mod signal;
pub mod sql;
pub mod sqlite;
mod targets;
pub mod token;

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use admin::{AdminTokenInfo, AdminTokens};
pub use audit::Audit;
pub use backend::{AnyStore, DatabaseUrl};
pub use delivery::DeliveryStore;
pub use error::StoreError;
pub use events::{EventLog, LogSlice};
pub use index::{IndexPlan, MAX_INDEXED_VALUES, indexed_attributes};
pub use manage::Management;
pub use model::{
    Actor, ChangeRecord, DeleteMode, GroupMembership, Include, IndexedAttr, LARGE_VALUES,
    MEMBERS_PER_RECORD, Member, MemberOp, MemberPredicate, MemberRef, MemberStream, Page,
    RecordedMember, StoredResource, Tenant, TokenInfo, Update, UpdateFn, is_large,
};
pub use operator::{DeletedResource, TenantContents};
pub use query::{DEFAULT_MAX_SCAN, ListRequest, Pagination};
pub use requests::RequestLog;
pub use retention::{PolicyUpdate, Retention, RetentionPolicy};
pub use settings::{JwtSettings, Rotation, TenantSettings, TenantUpdate, TokenScope, TokenSpec};
pub use signal::CommitSignal;
pub use sql::fairness::Fairness;
pub use targets::{ParkedEvent, TargetStates, TargetStatus};

/// Storage for every tenant's directory. Its other faces are separate traits, which every
/// store implements: the change log as an event source ([`EventLog`]) and administration
/// tokens ([`AdminTokens`]).
#[async_trait]
pub trait Store:
    EventLog + AdminTokens + DeliveryStore + Audit + Management + Retention + RequestLog + Send + Sync
{
    /// Sets the gauges of the `metrics` facade to their current values (SQLite's writer
    /// queue, PostgreSQL's pool); called before each `/metrics` scrape.
    fn record_gauges(&self) {}

    // Tenants.
    /// Creates a tenant (409 when the name is taken, case-insensitively).
    async fn create_tenant(
        &self,
        name: &str,
        delete_mode: DeleteMode,
        retention_days: i64,
    ) -> Result<Tenant, StoreError>;
    /// The tenant of this name, matched case-insensitively (an exact match first).
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Deletes a tenant and everything in it. `false` if there was no such tenant.
    async fn delete_tenant(&self, name: &str) -> Result<bool, StoreError>;

    // Tokens.
    /// Creates a token; the returned text is the only time the secret is visible.
    async fn create_token(
        &self,
        tenant_id: i64,
        name: &str,
        expires: Option<String>,
    ) -> Result<(TokenInfo, String), StoreError>;
    /// A tenant's tokens, revoked and expired ones included.
    async fn list_tokens(&self, tenant_id: i64) -> Result<Vec<TokenInfo>, StoreError>;
    /// Revokes a token of this tenant. `false` if there was no such token.
    async fn revoke_token(&self, tenant_id: i64, token_id: &str) -> Result<bool, StoreError>;
    /// The tenant and token a presented bearer token belongs to, if it is valid now.
    async fn authenticate(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<(Tenant, TokenInfo)>, StoreError>;

    // Resources.
    /// Stores a new resource with a fresh id; `data` is the canonical resource without
    /// `id`/`meta`. Enforces uniqueness. Members that are resources of the tenant get their
    /// type; other ids are kept as sent (see [`MemberRef`]).
    async fn create(
        &self,
        tenant_id: i64,
        resource_type: &str,
        data: Map<String, Value>,
        members: Vec<MemberRef>,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError>;

    /// A resource, with what `include` asks for read in the same snapshot.
    async fn get(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        include: Include,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// Reads the resource, computes its new state with `update` and writes it, atomically:
    /// no other write to the resource can come between. `if_match` is an ETag that must be
    /// current (412 otherwise). `operation` names the change in the change record.
    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        if_match: Option<String>,
        operation: &str,
        update: UpdateFn,
        with_members: bool,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError>;

    /// Deletes (or soft-deletes, per the tenant's setting) a resource and removes it from
    /// every group.
    async fn delete(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        if_match: Option<String>,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Restores a soft-deleted resource, and the group memberships its deletion ended
    /// where both sides still exist.
    async fn restore(
        &self,
        tenant_id: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError>;

    /// A page of resources of one type, filtered and sorted as asked.
    async fn list(&self, tenant_id: i64, request: ListRequest) -> Result<Page, StoreError>;

    /// [`Store::get`], except that when `include` asks for a group's members they come as a
    /// [`MemberStream`] read in the same snapshot as the resource (whose `members` is then
    /// `None`), so that the caller can send them on without holding them all.
    async fn get_streamed(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        include: Include,
    ) -> Result<Option<(StoredResource, Option<MemberStream>)>, StoreError>;

    /// Whether a group has more than `limit` members (reads at most `limit + 1` entries of
    /// the membership index, whatever the group's size).
    async fn has_more_members_than(
        &self,
        tenant_id: i64,
        group_id: &str,
        limit: u64,
    ) -> Result<bool, StoreError>;

    /// [`Store::list`] with the groups' members bounded: the page ends before the group whose
    /// members would take the page over `members_budget` members (fewer results than
    /// `count`, as RFC 7644 §3.4.2.4 allows; the page's length and `next_cursor` say where it
    /// ended). The first group is always on the page; when it alone is over the budget, the
    /// page holds only it and its members come as the returned [`MemberStream`].
    async fn list_streamed(
        &self,
        tenant_id: i64,
        request: ListRequest,
        members_budget: u64,
    ) -> Result<(Page, Option<MemberStream>), StoreError>;

    /// The groups each of these resources belongs to, directly and through nested groups
    /// (one query for a whole page). Resources in no group are absent from the map.
    async fn groups_of(
        &self,
        tenant_id: i64,
        member_ids: Vec<String>,
    ) -> Result<HashMap<String, Vec<GroupMembership>>, StoreError>;

    /// Change records of a tenant with `seq > after`, oldest first (see [`ChangeRecord`]).
    async fn changes(
        &self,
        tenant_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    // Tenant settings and the token lifecycle (`sql/settings.rs`, `sql/lifecycle.rs`).
    /// A tenant's rate limit and JWT settings (defaults when none were set).
    async fn tenant_settings(&self, tenant_id: i64) -> Result<TenantSettings, StoreError>;
    /// Changes a tenant's delete mode, retention and settings. `None` if there is no such
    /// tenant.
    async fn update_tenant(
        &self,
        name: &str,
        update: TenantUpdate,
    ) -> Result<Option<(Tenant, TenantSettings)>, StoreError>;
    /// Creates a token with a scope; an expiry must be a future RFC 3339 time (400
    /// `invalidValue` otherwise). The text is returned once.
    async fn create_token_with(
        &self,
        tenant_id: i64,
        spec: TokenSpec,
    ) -> Result<(TokenInfo, String), StoreError>;
    /// Replaces an active token by a new one with the same name and scope; the old one
    /// keeps working for `overlap_seconds` (0: revoked now). 404 if there is no such active
    /// token.
    async fn rotate_token(
        &self,
        tenant_id: i64,
        token_id: &str,
        overlap_seconds: i64,
    ) -> Result<Rotation, StoreError>;

    // What an operator checks (issue 12, `sql/operator.rs`).
    /// How many resources (per type), soft-deleted resources, tokens and change records a
    /// tenant has: what deleting it would erase.
    async fn tenant_contents(&self, tenant_id: i64) -> Result<TenantContents, StoreError>;
    /// The tenant's soft-deleted resources, most recently deleted first (at most `limit`).
    async fn deleted_resources(
        &self,
        tenant_id: i64,
        limit: u32,
    ) -> Result<Vec<DeletedResource>, StoreError>;
}
