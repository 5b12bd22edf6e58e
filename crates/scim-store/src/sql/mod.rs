//! The store's logic, written once against the small [`db::Db`] interface and run by a
//! backend [`Engine`] (SQLite or PostgreSQL) that provides connections and transactions.

pub(crate) mod admin_tokens;
pub(crate) mod auth_cache;
pub mod db;
pub(crate) mod events;
pub(crate) mod list;
pub(crate) mod members;
pub(crate) mod resources;
pub(crate) mod tenants;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use db::Db;
use serde_json::{Map, Value};

use crate::admin::{AdminTokenInfo, AdminTokens};
use crate::events::EventLog;
use crate::index::IndexPlan;
use crate::model::*;
use crate::query::ListRequest;
use crate::signal::CommitSignal;
use crate::{GroupMembership, Store, StoreError};

/// Stored times: UTC, always with exactly three fractional digits, so that their text
/// order is their time order (the indexes on `created` and `last_modified` rely on it).
const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Formats an instant as a stored time (truncated to the millisecond).
pub(crate) fn format_time(t: time::OffsetDateTime) -> String {
    t.checked_to_offset(time::UtcOffset::UTC)
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_default()
}

/// The current time as a stored time.
pub(crate) fn now() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// How a backend runs work: each `write` in its own transaction that is durable when the
/// call returns `Ok`; each `read` on a consistent snapshot.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    #[doc(hidden)]
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static;

    #[doc(hidden)]
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static;

    /// A read that touches few rows whatever the size of the tenant (a lookup by key or
    /// by an indexed value): an engine may run it on the calling thread instead of handing
    /// it to another one, which costs more than the read itself.
    #[doc(hidden)]
    async fn read_short<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.read(f).await
    }

    /// Where the data lives, for logs (a file path or a URL without password).
    fn describe(&self) -> String;
}

/// A [`Store`] over any SQL [`Engine`].
pub struct SqlStore<E> {
    pub(crate) engine: Arc<E>,
    pub(crate) plan: Arc<IndexPlan>,
    pub(crate) auth_cache: Arc<auth_cache::AuthCache>,
    pub(crate) signal: Arc<CommitSignal>,
}

impl<E> Clone for SqlStore<E> {
    fn clone(&self) -> Self {
        SqlStore {
            engine: self.engine.clone(),
            plan: self.plan.clone(),
            auth_cache: self.auth_cache.clone(),
            signal: self.signal.clone(),
        }
    }
}

impl<E> SqlStore<E> {
    /// A store over `engine` for resources indexed as `plan`.
    pub(crate) fn from_engine(engine: E, plan: IndexPlan) -> Self {
        SqlStore {
            engine: Arc::new(engine),
            plan: Arc::new(plan),
            auth_cache: Default::default(),
            signal: Default::default(),
        }
    }

    /// Passes a write's outcome through, signalling the tenant's readers if it committed.
    fn signalled<T>(&self, tenant_id: i64, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_ok() {
            self.signal.notify(tenant_id);
        }
        result
    }
}

impl<E: Engine> SqlStore<E> {
    /// Where the data lives, for logs.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// A read, as [`Engine::read_short`] when it touches few rows whatever the tenant's size.
    async fn read_sized<T, F>(&self, short: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        if short {
            self.engine.read_short(f).await
        } else {
            self.engine.read(f).await
        }
    }
}

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn create_tenant(
        &self,
        name: &str,
        delete_mode: DeleteMode,
        retention_days: i64,
    ) -> Result<Tenant, StoreError> {
        let name = name.to_string();
        self.engine
            .write(move |db| tenants::create_tenant(db, &name, delete_mode, retention_days))
            .await
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_string();
        self.engine
            .read_short(move |db| tenants::tenant(db, &name))
            .await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.engine.read(tenants::list_tenants).await
    }

    async fn delete_tenant(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        let deleted = self
            .engine
            .write(move |db| tenants::delete_tenant(db, &name))
            .await;
        self.auth_cache.clear();
        deleted
    }

    async fn create_token(
        &self,
        tenant_id: i64,
        name: &str,
        expires: Option<String>,
    ) -> Result<(TokenInfo, String), StoreError> {
        let name = name.to_string();
        self.engine
            .write(move |db| tenants::create_token(db, tenant_id, &name, expires))
            .await
    }

    async fn list_tokens(&self, tenant_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
        self.engine
            .read(move |db| tenants::list_tokens(db, tenant_id))
            .await
    }

    async fn revoke_token(&self, tenant_id: i64, token_id: &str) -> Result<bool, StoreError> {
        let token_id = token_id.to_string();
        let revoked = self
            .engine
            .write(move |db| tenants::revoke_token(db, tenant_id, &token_id))
            .await;
        self.auth_cache.clear();
        revoked
    }

    async fn authenticate(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<(Tenant, TokenInfo)>, StoreError> {
        if let Some(hit) = self.auth_cache.get(token, now) {
            return Ok(Some(hit));
        }
        let (key, now) = (token.to_string(), now.to_string());
        let token = key.clone();
        let found = self
            .engine
            .read_short(move |db| tenants::authenticate(db, &token, &now))
            .await?;
        if let Some((tenant, info)) = &found {
            self.auth_cache.put(&key, tenant, info);
        }
        Ok(found)
    }

    async fn create(
        &self,
        tenant_id: i64,
        resource_type: &str,
        data: Map<String, Value>,
        members: Vec<MemberRef>,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError> {
        let (rt, actor, plan) = (resource_type.to_string(), actor.clone(), self.plan.clone());
        let created = self
            .engine
            .write(move |db| resources::create(db, &plan, tenant_id, &rt, data, members, &actor))
            .await;
        self.signalled(tenant_id, created)
    }

    async fn get(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        include: Include,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (rt, id) = (resource_type.to_string(), id.to_string());
        // Members are proportional to the group.
        self.read_sized(!include.members, move |db| {
            resources::get(db, tenant_id, &rt, &id, include)
        })
        .await
    }

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
    ) -> Result<StoredResource, StoreError> {
        let (rt, id, op, actor, plan) = (
            resource_type.to_string(),
            id.to_string(),
            operation.to_string(),
            actor.clone(),
            self.plan.clone(),
        );
        let updated = self
            .engine
            .write(move |db| {
                resources::update(
                    db,
                    &plan,
                    resources::UpdateArgs {
                        tenant_id,
                        resource_type: &rt,
                        id: &id,
                        if_match: if_match.as_deref(),
                        operation: &op,
                        with_members,
                        actor: &actor,
                    },
                    update,
                )
            })
            .await;
        self.signalled(tenant_id, updated)
    }

    async fn delete(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        if_match: Option<String>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let (rt, id, actor) = (resource_type.to_string(), id.to_string(), actor.clone());
        let deleted = self
            .engine
            .write(move |db| {
                resources::delete(db, tenant_id, &rt, &id, if_match.as_deref(), &actor)
            })
            .await;
        self.signalled(tenant_id, deleted)
    }

    async fn restore(
        &self,
        tenant_id: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError> {
        let (id, actor, plan) = (id.to_string(), actor.clone(), self.plan.clone());
        let restored = self
            .engine
            .write(move |db| resources::restore(db, &plan, tenant_id, &id, &actor))
            .await;
        self.signalled(tenant_id, restored)
    }

    async fn list(&self, tenant_id: i64, request: ListRequest) -> Result<Page, StoreError> {
        let plan = self.plan.clone();
        let short = list::is_index_lookup(&request, &plan, tenant_id);
        self.read_sized(short, move |db| list::list(db, &plan, tenant_id, &request))
            .await
    }

    async fn groups_of(
        &self,
        tenant_id: i64,
        member_ids: Vec<String>,
    ) -> Result<HashMap<String, Vec<GroupMembership>>, StoreError> {
        let few = member_ids.len() <= 100;
        self.read_sized(few, move |db| {
            members::groups_of(db, tenant_id, &member_ids)
        })
        .await
    }

    async fn changes(
        &self,
        tenant_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.engine
            .read(move |db| resources::changes(db, tenant_id, after, limit))
            .await
    }
}

#[async_trait]
impl<E: Engine> EventLog for SqlStore<E> {
    async fn tenant_by_id(&self, tenant_id: i64) -> Result<Option<Tenant>, StoreError> {
        self.engine
            .read_short(move |db| events::tenant_by_id(db, tenant_id))
            .await
    }

    async fn change_heads(&self, tenant_ids: Vec<i64>) -> Result<Vec<(i64, i64)>, StoreError> {
        let few = tenant_ids.len() <= 100;
        self.read_sized(few, move |db| events::change_heads(db, &tenant_ids))
            .await
    }

    async fn oldest_change(&self, tenant_id: i64) -> Result<Option<i64>, StoreError> {
        self.engine
            .read_short(move |db| events::oldest_change(db, tenant_id))
            .await
    }

    async fn prune_changes(&self, tenant_id: i64, through: i64) -> Result<u64, StoreError> {
        self.engine
            .write(move |db| events::prune_changes(db, tenant_id, through))
            .await
    }

    fn commit_signal(&self) -> &CommitSignal {
        &self.signal
    }
}

#[async_trait]
impl<E: Engine> AdminTokens for SqlStore<E> {
    async fn create_admin_token(
        &self,
        name: &str,
        expires: Option<String>,
    ) -> Result<(AdminTokenInfo, String), StoreError> {
        let name = name.to_string();
        self.engine
            .write(move |db| admin_tokens::create(db, &name, expires))
            .await
    }

    async fn list_admin_tokens(&self) -> Result<Vec<AdminTokenInfo>, StoreError> {
        self.engine.read(admin_tokens::list).await
    }

    async fn revoke_admin_token(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.engine
            .write(move |db| admin_tokens::revoke(db, &id))
            .await
    }

    async fn authenticate_admin(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<AdminTokenInfo>, StoreError> {
        let (token, now) = (token.to_string(), now.to_string());
        self.engine
            .read_short(move |db| admin_tokens::authenticate(db, &token, &now))
            .await
    }
}
