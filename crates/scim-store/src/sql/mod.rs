//! The store's logic, written once against the small [`db::Db`] interface and run by a
//! backend [`Engine`] (SQLite or PostgreSQL) that provides connections and transactions.

pub(crate) mod admin_tokens;
pub(crate) mod audit;
pub(crate) mod auth_cache;
pub mod db;
pub(crate) mod delivery;
pub mod document;
pub(crate) mod events;
pub mod fairness;
pub(crate) mod lifecycle;
pub(crate) mod list;
pub(crate) mod manage;
pub(crate) mod members;
pub(crate) mod metrics;
pub(crate) mod operator;
pub(crate) mod requests;
pub(crate) mod resources;
pub(crate) mod retention;
pub(crate) mod roles;
pub(crate) mod settings;
pub(crate) mod stream;
pub(crate) mod target_state;
pub(crate) mod tenants;
mod update_lock;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use db::Db;
use serde_json::{Map, Value};

use crate::admin::{AdminTokenInfo, AdminTokens};
use crate::events::{EventLog, LogSlice};
use crate::index::IndexPlan;
use crate::model::*;
use crate::query::ListRequest;
use crate::signal::CommitSignal;
use crate::{
    DeletedResource, GroupMembership, Rotation, Store, StoreError, TenantContents, TenantSettings,
    TenantUpdate, TokenSpec,
};

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

/// The error of a write for a tenant that no longer exists (deleted by another process
/// while a server still remembered one of its tokens): the same 401 as any token that is
/// not valid, never a database error.
pub(crate) fn tenant_gone() -> StoreError {
    StoreError::Scim(scim_core::ScimError::unauthorized())
}

/// How many times an update computed outside the write is computed again because the
/// resource changed in between, before the client is asked to retry (503). After the
/// first collision the update waits its turn behind this process's other updates of the
/// resource ([`update_lock`]), so only writes by other instances make it collide again.
const UPDATE_ATTEMPTS: u32 = 16;

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

    /// A write of one tenant's directory (resources, members, its change log). An engine
    /// may run it in one transaction with other writes of the same tenant, each in a
    /// savepoint of its own, so that they share one commit; it is durable when the call
    /// returns `Ok`, and a failed write leaves no trace while the others commit.
    #[doc(hidden)]
    async fn write_tenant<T, F>(&self, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let _ = tenant_id;
        self.write(f).await
    }

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

    /// A read that is one statement: every row of `sql`, each mapped by `map`. One
    /// statement sees one snapshot on every engine, so an engine may run it without a
    /// transaction around it and without handing it to a blocking thread (PostgreSQL: one
    /// network round trip, awaited where it is asked).
    #[doc(hidden)]
    async fn read_statement<T, M>(
        &self,
        sql: String,
        params: Vec<db::SqlValue>,
        map: M,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        M: FnMut(&dyn db::SqlRow) -> Result<T, StoreError> + Send + 'static,
    {
        use db::DbExt;
        self.read(move |db| db.rows(&sql, &params, map)).await
    }

    /// [`Engine::read_statement`] for a statement that touches few rows (as
    /// [`Engine::read_short`]): an engine that runs short reads on the calling thread does
    /// so here too.
    #[doc(hidden)]
    async fn read_statement_short<T, M>(
        &self,
        sql: String,
        params: Vec<db::SqlValue>,
        map: M,
    ) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        M: FnMut(&dyn db::SqlRow) -> Result<T, StoreError> + Send + 'static,
    {
        use db::DbExt;
        self.read_short(move |db| db.rows(&sql, &params, map)).await
    }

    /// The SQL dialect of the database.
    fn dialect(&self) -> db::Dialect;

    /// Where the data lives, for logs (a file path or a URL without password).
    fn describe(&self) -> String;

    /// Whether the backend stores large documents compressed ([`document`]), so that the
    /// store compresses an update's documents before handing it to the writer.
    fn packs_documents(&self) -> bool {
        false
    }

    /// Sets the engine's gauges (see [`Store::record_gauges`]).
    fn record_gauges(&self) {}
}

/// A [`Store`] over any SQL [`Engine`].
pub struct SqlStore<E> {
    pub(crate) engine: Arc<E>,
    pub(crate) plan: Arc<IndexPlan>,
    pub(crate) auth_cache: Arc<auth_cache::AuthCache<(Tenant, TokenInfo)>>,
    /// Admin tokens checked lately (the same rules as `auth_cache`).
    pub(crate) admin_auth_cache: Arc<auth_cache::AuthCache<AdminTokenInfo>>,
    pub(crate) signal: Arc<CommitSignal>,
    pub(crate) update_locks: Arc<update_lock::UpdateLocks>,
    pub(crate) last_used: Arc<lifecycle::LastUsed>,
    pub(crate) gates: Arc<fairness::WriteGates>,
    pub(crate) streams: stream::StreamSlots,
}

impl<E> Clone for SqlStore<E> {
    fn clone(&self) -> Self {
        SqlStore {
            engine: self.engine.clone(),
            plan: self.plan.clone(),
            auth_cache: self.auth_cache.clone(),
            admin_auth_cache: self.admin_auth_cache.clone(),
            signal: self.signal.clone(),
            update_locks: self.update_locks.clone(),
            last_used: self.last_used.clone(),
            gates: self.gates.clone(),
            streams: self.streams.clone(),
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
            admin_auth_cache: Default::default(),
            signal: Default::default(),
            update_locks: Default::default(),
            last_used: Default::default(),
            gates: Default::default(),
            streams: Default::default(),
        }
    }
}

impl<E: Engine> SqlStore<E> {
    /// Where the data lives, for logs.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// Sets the per-tenant write limits (see [`fairness`]).
    pub fn set_fairness(&self, f: fairness::Fairness) {
        self.gates.configure(f);
    }

    /// A write of a tenant's data: it waits for the tenant's turn at the writer, and its
    /// time inside the writer is charged to the tenant.
    async fn write_for<T, F>(&self, tenant_id: i64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let turn = self.gates.enter(tenant_id).await?;
        let spent = Arc::new(std::sync::Mutex::new(std::time::Duration::ZERO));
        let clock = spent.clone();
        let result = self
            .engine
            .write_tenant(tenant_id, move |db| {
                let started = std::time::Instant::now();
                let r = f(db);
                if let Ok(mut s) = clock.lock() {
                    *s = started.elapsed();
                }
                r
            })
            .await;
        let spent = spent.lock().map(|s| *s).unwrap_or_default();
        turn.done(spent);
        if result.is_ok() {
            // Readers of the tenant's change log wake up (a write that changed nothing
            // only makes them read once more).
            self.signal.notify(tenant_id);
        }
        result
    }

    /// Records a token's use, at most once a minute per token, off the request's path.
    fn note_use(&self, token_id: &str) {
        if !self.last_used.due(token_id) {
            return;
        }
        let (engine, id) = (self.engine.clone(), token_id.to_string());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = engine.write(move |db| lifecycle::touch(db, &id)).await {
                    tracing::debug!(error = %e, "could not record a token's last use");
                }
            });
        }
    }

    /// Records an admin token's use, at most once a minute per token, off the request's
    /// path (its ids share the memory of [`Self::note_use`], prefixed so none collides).
    fn note_admin_use(&self, id: &str) {
        if !self.last_used.due(&format!("admin:{id}")) {
            return;
        }
        let (engine, id) = (self.engine.clone(), id.to_string());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = engine.write(move |db| admin_tokens::touch(db, &id)).await {
                    tracing::debug!(error = %e, "could not record an admin token's last use");
                }
            });
        }
    }

    /// Forgets what this instance remembers of a tenant whose write found it deleted.
    fn forget_if_gone<T>(
        &self,
        tenant_id: i64,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(StoreError::Scim(e)) = &result
            && e.status == 401
        {
            self.auth_cache.forget_tenant(tenant_id);
        }
        result
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
    fn record_gauges(&self) {
        self.engine.record_gauges();
    }

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
        // One statement: on PostgreSQL one round trip without a transaction around it, on
        // SQLite on the calling thread.
        let found = self
            .engine
            .read_statement_short(
                tenants::tenant_statement(),
                db::params![name, name].to_vec(),
                tenants::tenant_from_row,
            )
            .await?;
        Ok(tenants::pick_tenant(found, name))
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
        let found = self
            .auth_cache
            .get_or_check(token, now, || {
                let (presented, at) = (token.to_string(), now.to_string());
                self.engine
                    .read_short(move |db| tenants::authenticate(db, &presented, &at))
            })
            .await?;
        if let Some((_, info)) = &found {
            self.note_use(&info.id);
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
            .write_for(tenant_id, move |db| {
                resources::create(db, &plan, tenant_id, &rt, data, members, &actor)
            })
            .await;
        self.forget_if_gone(tenant_id, created)
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
        // Computed on a snapshot, outside the write: a slow or failing computation holds
        // no transaction, no connection and no place in the SQLite writer's queue. The
        // write checks that the resource is still at the version computed from.
        let mut turn = None;
        for attempt in 0..UPDATE_ATTEMPTS {
            let current = {
                let (rt, id) = (resource_type.to_string(), id.to_string());
                self.engine
                    .read_short(move |db| resources::snapshot(db, tenant_id, &rt, &id))
                    .await?
            };
            resources::check_if_match(if_match.as_deref(), &current)?;
            let pack = self.engine.packs_documents();
            let prepared = if update.marked_large() || crate::model::is_large(current.data.values())
            {
                // Off the async worker: see `UpdateFn`.
                let (update, plan, rt) =
                    (update.clone(), self.plan.clone(), resource_type.to_string());
                tokio::task::spawn_blocking(move || {
                    resources::PreparedUpdate::compute(&plan, &rt, current, &update, pack)
                })
                .await
                .map_err(|e| {
                    if e.is_cancelled() {
                        StoreError::Unavailable("the server is shutting down".into())
                    } else {
                        StoreError::Database("an update's computation failed unexpectedly".into())
                    }
                })??
            } else {
                // A panic (a bug) answers as it does on a blocking thread: an error, not a
                // dropped connection.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    resources::PreparedUpdate::compute(
                        &self.plan,
                        resource_type,
                        current,
                        &update,
                        pack,
                    )
                }))
                .map_err(|_| {
                    StoreError::Database("an update's computation failed unexpectedly".into())
                })??
            };
            let (rt, rid, op, actor, if_match) = (
                resource_type.to_string(),
                id.to_string(),
                operation.to_string(),
                actor.clone(),
                if_match.clone(),
            );
            let written = self
                .write_for(tenant_id, move |db| {
                    resources::apply_update(
                        db,
                        resources::UpdateArgs {
                            tenant_id,
                            resource_type: &rt,
                            id: &rid,
                            if_match: if_match.as_deref(),
                            operation: &op,
                            with_members,
                            actor: &actor,
                        },
                        prepared,
                    )
                })
                .await?;
            if let Some(stored) = written {
                return Ok(stored);
            }
            // Another write came between. In this process: wait for the resource's turn
            // (the others racing here compute after us). Across instances: back off a
            // little, with jitter, so that racing requests do not collide again.
            if turn.is_none() {
                turn = Some(self.update_locks.turn(tenant_id, id).await);
            } else {
                let pause = rand::random::<u64>() % (500 * u64::from(attempt + 1));
                tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
            }
        }
        Err(StoreError::Unavailable(format!(
            "{resource_type} '{id}' changed {UPDATE_ATTEMPTS} times while this update was computed"
        )))
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
        self.write_for(tenant_id, move |db| {
            resources::delete(db, tenant_id, &rt, &id, if_match.as_deref(), &actor)
        })
        .await
    }

    async fn restore(
        &self,
        tenant_id: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<StoredResource, StoreError> {
        let (id, actor, plan) = (id.to_string(), actor.clone(), self.plan.clone());
        self.write_for(tenant_id, move |db| {
            resources::restore(db, &plan, tenant_id, &id, &actor)
        })
        .await
    }

    async fn list(&self, tenant_id: i64, request: ListRequest) -> Result<Page, StoreError> {
        let plan = self.plan.clone();
        let short = list::is_index_lookup(&request, &plan, tenant_id);
        self.read_sized(short, move |db| list::list(db, &plan, tenant_id, &request))
            .await
    }

    async fn get_streamed(
        &self,
        tenant_id: i64,
        resource_type: &str,
        id: &str,
        include: Include,
    ) -> Result<Option<(StoredResource, Option<MemberStream>)>, StoreError> {
        if !include.members {
            let found = self.get(tenant_id, resource_type, id, include).await?;
            return Ok(found.map(|r| (r, None)));
        }
        let (rt, id) = (resource_type.to_string(), id.to_string());
        let resource_only = Include {
            members: false,
            ..include
        };
        let (found, members) =
            stream::spawn(self.engine.clone(), &self.streams, move |db, sink| {
                let found = resources::get(db, tenant_id, &rt, &id, resource_only)?;
                let exists = found.is_some();
                sink.head(found);
                if exists {
                    sink.members(db, tenant_id, &id)?;
                }
                Ok(())
            })
            .await?;
        Ok(found.map(|r| (r, Some(members))))
    }

    async fn has_more_members_than(
        &self,
        tenant_id: i64,
        group_id: &str,
        limit: u64,
    ) -> Result<bool, StoreError> {
        let group_id = group_id.to_string();
        let limit = limit.saturating_add(1);
        // A short read while the count is small enough to stay cheap.
        let n = self
            .read_sized(limit <= 10_000, move |db| {
                members::count_up_to(db, tenant_id, &group_id, limit)
            })
            .await?;
        Ok(n >= limit)
    }

    async fn list_streamed(
        &self,
        tenant_id: i64,
        request: ListRequest,
        members_budget: u64,
    ) -> Result<(Page, Option<MemberStream>), StoreError> {
        if !request.include.members {
            return Ok((self.list(tenant_id, request).await?, None));
        }
        let plan = self.plan.clone();
        let ((page, streamed), members) =
            stream::spawn(self.engine.clone(), &self.streams, move |db, sink| {
                let (page, oversized) =
                    list::list_bounded(db, &plan, tenant_id, &request, Some(members_budget))?;
                sink.head((page, oversized.is_some()));
                if let Some(group) = oversized {
                    sink.members(db, tenant_id, &group)?;
                }
                Ok(())
            })
            .await?;
        Ok((page, streamed.then_some(members)))
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

    async fn tenant_settings(&self, tenant_id: i64) -> Result<TenantSettings, StoreError> {
        self.engine
            .read_short(move |db| settings::tenant_settings(db, tenant_id))
            .await
    }

    async fn update_tenant(
        &self,
        name: &str,
        update: TenantUpdate,
    ) -> Result<Option<(Tenant, TenantSettings)>, StoreError> {
        let name = name.to_string();
        let updated = self
            .engine
            .write(move |db| settings::update_tenant(db, &name, &update))
            .await;
        // Cached checks carry the tenant's delete mode: take the change at once.
        self.auth_cache.clear();
        updated
    }

    async fn create_token_with(
        &self,
        tenant_id: i64,
        spec: TokenSpec,
    ) -> Result<(TokenInfo, String), StoreError> {
        self.engine
            .write(move |db| lifecycle::create_token(db, tenant_id, &spec))
            .await
    }

    async fn rotate_token(
        &self,
        tenant_id: i64,
        token_id: &str,
        overlap_seconds: i64,
    ) -> Result<Rotation, StoreError> {
        let id = token_id.to_string();
        let rotated = self
            .engine
            .write(move |db| lifecycle::rotate_token(db, tenant_id, &id, overlap_seconds))
            .await;
        // The old token's cached check carries its old expiry.
        self.auth_cache.clear();
        rotated
    }

    async fn tenant_contents(&self, tenant_id: i64) -> Result<TenantContents, StoreError> {
        self.engine
            .read(move |db| operator::tenant_contents(db, tenant_id))
            .await
    }

    async fn deleted_resources(
        &self,
        tenant_id: i64,
        limit: u32,
    ) -> Result<Vec<DeletedResource>, StoreError> {
        self.engine
            .read(move |db| operator::deleted_resources(db, tenant_id, limit))
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

    async fn first_kept(&self, tenant_id: i64) -> Result<i64, StoreError> {
        self.engine
            .read_short(move |db| events::first_kept(db, tenant_id))
            .await
    }

    async fn prune_changes(&self, tenant_id: i64, through: i64) -> Result<u64, StoreError> {
        // The audit index takes in what is pruned first (sql/audit.rs).
        self.prune_indexed(tenant_id, through).await
    }

    async fn roles_at(
        &self,
        tenant_id: i64,
        at: Vec<(String, i64)>,
    ) -> Result<HashMap<(String, i64), Vec<String>>, StoreError> {
        if at.is_empty() {
            return Ok(HashMap::new());
        }
        self.engine
            .read(move |db| roles::roles_at(db, tenant_id, &at))
            .await
    }

    async fn log_slice(
        &self,
        tenant_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<LogSlice, StoreError> {
        let rows = self
            .engine
            .read_statement(
                events::log_page_statement(self.engine.dialect()),
                events::log_page_params(tenant_id, after, limit),
                events::page_row,
            )
            .await?;
        let (mut slice, users) = events::log_page(rows, limit);
        if !users.is_empty() {
            // A second read: a user's roles as of a committed record do not change (records
            // at or before it are immutable; see `roles_at`), so this snapshot tells the
            // page's roles — but for a user whose earlier records were pruned and who is
            // deleted between the two reads: its event then goes without roles, as it
            // would have had the deletion come first.
            let roles = self
                .engine
                .read(move |db| roles::roles_at(db, tenant_id, &users))
                .await?;
            slice.roles.extend(roles);
        }
        Ok(slice)
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
        let revoked = self
            .engine
            .write(move |db| admin_tokens::revoke(db, &id))
            .await;
        self.admin_auth_cache.clear();
        revoked
    }

    async fn authenticate_admin(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<AdminTokenInfo>, StoreError> {
        let found = self
            .admin_auth_cache
            .get_or_check(token, now, || {
                let (presented, at) = (token.to_string(), now.to_string());
                self.engine
                    .read_short(move |db| admin_tokens::authenticate(db, &presented, &at))
            })
            .await?;
        if let Some(info) = &found {
            self.note_admin_use(&info.id);
        }
        Ok(found)
    }
}

#[async_trait]
impl<E: Engine> crate::delivery::DeliveryStore for SqlStore<E> {
    async fn create_destination(
        &self,
        new: crate::delivery::NewDestination,
    ) -> Result<crate::delivery::Destination, StoreError> {
        let d = self
            .engine
            .write(move |db| delivery::create(db, new))
            .await?;
        self.signal.destinations_changed();
        Ok(d)
    }

    async fn destination(
        &self,
        id: &str,
    ) -> Result<Option<crate::delivery::Destination>, StoreError> {
        let id = id.to_string();
        self.engine
            .read_short(move |db| delivery::get(db, &id))
            .await
    }

    async fn list_destinations(
        &self,
        tenant_id: Option<i64>,
        kind: Option<crate::delivery::DestinationKind>,
    ) -> Result<Vec<crate::delivery::Destination>, StoreError> {
        self.engine
            .read(move |db| delivery::list(db, tenant_id, kind))
            .await
    }

    async fn change_destination(
        &self,
        id: &str,
        change: crate::delivery::DestinationChange,
    ) -> Result<Option<crate::delivery::Destination>, StoreError> {
        let id = id.to_string();
        let d = self
            .engine
            .write(move |db| delivery::change(db, &id, change))
            .await?;
        self.wake_deliverer(d.as_ref());
        Ok(d)
    }

    async fn delete_destination(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        let d = self
            .engine
            .write(move |db| {
                let d = delivery::get(db, &id)?;
                delivery::delete(db, &id)?;
                Ok(d)
            })
            .await?;
        self.wake_deliverer(d.as_ref());
        Ok(d.is_some())
    }

    async fn set_destination_active(
        &self,
        id: &str,
        active: bool,
        reason: Option<String>,
    ) -> Result<Option<crate::delivery::Destination>, StoreError> {
        let id = id.to_string();
        let d = self
            .engine
            .write(move |db| delivery::set_active(db, &id, active, reason))
            .await?;
        self.wake_deliverer(d.as_ref());
        Ok(d)
    }

    async fn replay_destination(
        &self,
        id: &str,
        position: i64,
    ) -> Result<Option<crate::delivery::Destination>, StoreError> {
        let id = id.to_string();
        let d = self
            .engine
            .write(move |db| delivery::replay(db, &id, position))
            .await?;
        self.wake_deliverer(d.as_ref());
        Ok(d)
    }

    async fn delivery_attempts(
        &self,
        id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::delivery::DeliveryAttempt>, StoreError> {
        let id = id.to_string();
        self.engine
            .read(move |db| delivery::attempts(db, &id, before, limit))
            .await
    }

    async fn acquire_destination(
        &self,
        id: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<crate::delivery::Destination>, StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.engine
            .write(move |db| delivery::acquire(db, &id, &owner, ttl))
            .await
    }

    async fn record_delivery(
        &self,
        id: &str,
        owner: &str,
        generation: i64,
        record: crate::delivery::DeliveryRecord,
        ttl: std::time::Duration,
    ) -> Result<crate::delivery::Recorded, StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.engine
            .write(move |db| delivery::record(db, &id, &owner, generation, record, ttl))
            .await
    }

    async fn release_destination(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.engine
            .write(move |db| delivery::release(db, &id, &owner))
            .await
    }
}

impl<E> SqlStore<E> {
    /// Wakes the deliverer of a destination an operator changed (it waits on its tenant's
    /// commit signal), so that a pause, a replay or new settings apply at once.
    fn wake_deliverer(&self, d: Option<&crate::delivery::Destination>) {
        if let Some(d) = d {
            // First the version (what a woken deliverer checks), then the wake-ups; a
            // destination resumed or re-created has no worker yet: the engine's loop.
            self.signal.destinations_changed();
            self.signal.notify(d.tenant_id);
        }
    }
}

#[async_trait]
impl<E: Engine> crate::manage::Management for SqlStore<E> {
    async fn resource_counts(
        &self,
        tenant_ids: Vec<i64>,
    ) -> Result<HashMap<i64, crate::manage::ResourceCounts>, StoreError> {
        self.engine
            .read(move |db| manage::resource_counts(db, &tenant_ids))
            .await
    }

    async fn admin_write(
        &self,
        op: crate::manage::AdminOp,
        actor: crate::manage::AuditActor,
        claim: Option<crate::manage::IdempotencyClaim>,
        render: crate::manage::ReplayRender,
    ) -> Result<crate::manage::AdminWritten, StoreError> {
        let clears_auth = !matches!(
            op,
            crate::manage::AdminOp::CreateTenant { .. }
                | crate::manage::AdminOp::CreateToken { .. }
                | crate::manage::AdminOp::Destination { .. }
        );
        let written = self
            .engine
            .write(move |db| manage::admin_write(db, &op, &actor, claim.as_ref(), render))
            .await;
        if let Ok(crate::manage::AdminWritten::Done { outcome, .. }) = &written
            && let crate::manage::AdminOutcome::RoleRule { tenant_id, .. } = outcome.as_ref()
        {
            // Its roles_changed records wake the tenant's readers.
            self.signal.notify(*tenant_id);
        }
        if let Ok(crate::manage::AdminWritten::Done { outcome, .. }) = &written
            && let crate::manage::AdminOutcome::Destination(d) = outcome.as_ref()
        {
            // The deliverer picks up the operator's change at once.
            self.wake_deliverer(Some(d));
        }
        if clears_auth {
            // Cached token checks carry the tenant's settings and the token's expiry.
            self.auth_cache.clear();
        }
        written
    }

    async fn role_rules(&self, tenant_id: i64) -> Result<Vec<crate::roles::RoleRule>, StoreError> {
        self.engine
            .read_short(move |db| roles::rules(db, tenant_id))
            .await
    }

    async fn user_roles(
        &self,
        tenant_id: i64,
        user_id: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let user_id = user_id.to_string();
        self.engine
            .read_short(move |db| roles::roles_of_live_user(db, tenant_id, &user_id))
            .await
    }

    async fn roles_of_users(
        &self,
        tenant_id: i64,
        user_ids: Vec<String>,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        self.engine
            .read_short(move |db| roles::roles_of_users(db, tenant_id, &user_ids))
            .await
    }

    async fn audit_log(
        &self,
        query: crate::manage::AuditQuery,
    ) -> Result<Vec<crate::manage::AuditEntry>, StoreError> {
        self.engine
            .read(move |db| manage::audit_log(db, &query))
            .await
    }
}
