//! The SQL target: a tenant's users (and their roles) as rows of an existing PostgreSQL or
//! MariaDB/MySQL schema, described by a mapping file (see the README, "Provisioning into
//! your application's database", and [`SqlConfig`]).
//!
//! Writes are idempotent: a user is written with an `UPDATE` of its row (by the key
//! column, which holds the SCIM id) and an `INSERT … WHERE NOT EXISTS`; role rows are
//! inserted when missing and deleted by value. With `position = "target"`, the target's
//! position is moved in the same transaction as the event's effect (in the table
//! `scim_target_positions`, created when missing), which makes every event's effect
//! exactly once, even with a `kill -9` between effect and acknowledgement. The groups'
//! role values are remembered in `scim_target_groups`, so that a membership removed or a
//! group deleted finds its rows without the group.

mod conn;
mod load;

use std::collections::BTreeMap;

use async_trait::async_trait;
use scim_delivery::{Event, EventType};
use scim_mapping::{Resource, Template};
use serde_json::Value;

pub use conn::Dialect;
use conn::{Stmt, Tx, my_error, pg_error};
pub use load::{SqlConfig, load_sql_target};

use crate::TargetError;
use crate::target::{Applied, Readback, Row, Target};

/// The table where targets keep their positions in their own database.
pub const POSITIONS_TABLE: &str = "scim_target_positions";
/// The table where targets remember each group's role value.
pub const GROUPS_TABLE: &str = "scim_target_groups";

/// How a column's values are written and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Integers.
    Int,
    /// Booleans.
    Bool,
    /// Decimal and floating-point numbers.
    Num,
    /// Text (and every type not listed elsewhere).
    Text,
    /// Dates and times.
    Time,
}

impl Category {
    /// The category of a column's SQL data type (`information_schema` spelling).
    pub fn of(data_type: &str) -> Category {
        let t = data_type.to_ascii_lowercase();
        match t.as_str() {
            "smallint" | "integer" | "bigint" | "int" | "tinyint" | "mediumint" | "bit" => {
                Category::Int
            }
            "boolean" => Category::Bool,
            "numeric" | "decimal" | "real" | "double precision" | "double" | "float" => {
                Category::Num
            }
            _ if t.starts_with("timestamp") || t == "datetime" || t == "date" => Category::Time,
            _ => Category::Text,
        }
    }

    /// A template's value as the text sent for a column of this category.
    pub fn text(self, v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(match (self, b) {
                (Category::Int | Category::Num, true) => "1".into(),
                (Category::Int | Category::Num, false) => "0".into(),
                (_, true) => "true".into(),
                (_, false) => "false".into(),
            }),
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            other => Some(other.to_string()),
        }
    }
}

/// A column filled from a template.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// What it is set to, from the resource.
    pub template: Template,
    /// How its values are written and compared.
    pub category: Category,
    /// The type parameters are cast to (PostgreSQL).
    pub sql_type: String,
}

impl Column {
    fn value(&self, resource: &Value) -> Result<Option<String>, TargetError> {
        let v = self
            .template
            .eval(&Resource(resource))
            .map_err(|e| TargetError::permanent(format!("column {}: {e}", self.name)))?;
        Ok(self.category.text(&v))
    }
}

/// What happens to a user's row on deactivation or deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPolicy {
    /// The row stays; its mapped columns (deactivation) or `on_delete` columns
    /// (deletion) are updated.
    Update,
    /// The row (and its role rows) is deleted.
    Delete,
}

/// The users table.
#[derive(Debug, Clone)]
pub struct UsersTable {
    /// The table's name.
    pub table: String,
    /// The column holding the SCIM id.
    pub key: String,
    /// The SQL type of the key column.
    pub key_type: String,
    /// The primary key that role rows reference.
    pub id: String,
    /// A column holding the tenant's name, and its SQL type (multi-customer schemas).
    pub tenant_column: Option<(String, String)>,
    /// The mapped columns.
    pub columns: Vec<Column>,
    /// What a deactivation does to the row.
    pub deactivate: RowPolicy,
    /// What a deletion does to the row.
    pub delete: RowPolicy,
    /// The columns set on deletion when the row stays.
    pub on_delete: Vec<Column>,
}

/// Group memberships as rows of a link table: (user's primary key, the group's value).
#[derive(Debug, Clone)]
pub struct RolesTable {
    /// The link table's name.
    pub table: String,
    /// The column referencing the user's primary key.
    pub user: String,
    /// Its SQL type.
    pub user_type: String,
    /// The column holding the group's value.
    pub value: String,
    /// Its SQL type.
    pub value_type: String,
    /// The group's value, a template over the group.
    pub from: Template,
}

/// One piece of work on the target database.
enum Work<'a> {
    Apply(&'a Event),
    ApplyBatch(&'a [Event]),
    Claim(&'a str, i64),
    Exec(Vec<Stmt>),
    Query(Stmt),
    Describe(Vec<String>),
}

enum Output {
    None,
    Applied(Applied),
    Rows(Vec<Vec<Option<String>>>),
    Described(Vec<Result<std::collections::HashMap<String, load::DbColumn>, String>>),
}

enum Pool {
    Pg {
        config: Box<tokio_postgres::Config>,
        client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
    },
    My(mysql_async::Pool),
}

/// A SQL target (see the module documentation).
pub struct SqlTarget {
    name: String,
    dialect: Dialect,
    pool: Pool,
    keeps_position: bool,
    users: UsersTable,
    roles: Option<RolesTable>,
}

async fn pg_connect(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, TargetError> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| TargetError::retry(format!("connecting to PostgreSQL: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "target PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl SqlTarget {
    /// The database it writes to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn q(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    /// `key = ? [AND tenant = ?]`, for the user `id` of `tenant`, with the table alias
    /// `alias` (empty for none).
    fn user_match(&self, s: &mut Stmt, alias: &str, tenant: &str, id: &str) -> String {
        let d = self.dialect;
        let u = &self.users;
        let prefix = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        let mut w = format!(
            "{prefix}{} = {}",
            self.q(&u.key),
            s.p(d, Some(id.to_string()), &u.key_type)
        );
        if let Some((col, ty)) = &u.tenant_column {
            w.push_str(&format!(
                " AND {prefix}{} = {}",
                self.q(col),
                s.p(d, Some(tenant.to_string()), ty)
            ));
        }
        w
    }

    /// The tenant's users: `[WHERE] tenant = ?` or nothing.
    fn tenant_only(&self, s: &mut Stmt, tenant: &str) -> Option<String> {
        let (col, ty) = self.users.tenant_column.as_ref()?;
        Some(format!(
            "{} = {}",
            self.q(col),
            s.p(self.dialect, Some(tenant.to_string()), ty)
        ))
    }

    async fn upsert_user(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        id: &str,
        resource: &Value,
        columns: &[Column],
    ) -> Result<(), TargetError> {
        let d = self.dialect;
        let u = &self.users;
        let mut values = Vec::with_capacity(columns.len());
        for c in columns {
            values.push(c.value(resource)?);
        }
        if !columns.is_empty() {
            let mut s = Stmt::default();
            let sets: Vec<String> = columns
                .iter()
                .zip(&values)
                .map(|(c, v)| format!("{} = {}", self.q(&c.name), s.p(d, v.clone(), &c.sql_type)))
                .collect();
            let w = self.user_match(&mut s, "", tenant, id);
            s.sql = format!(
                "UPDATE {} SET {} WHERE {w}",
                self.q(&u.table),
                sets.join(", ")
            );
            tx.exec(&s).await?;
        }
        let mut s = Stmt::default();
        let mut names = vec![self.q(&u.key)];
        let mut holes = vec![s.p(d, Some(id.to_string()), &u.key_type)];
        if let Some((col, ty)) = &u.tenant_column {
            names.push(self.q(col));
            holes.push(s.p(d, Some(tenant.to_string()), ty));
        }
        for (c, v) in columns.iter().zip(&values) {
            names.push(self.q(&c.name));
            holes.push(s.p(d, v.clone(), &c.sql_type));
        }
        let w = self.user_match(&mut s, "", tenant, id);
        s.sql = format!(
            "INSERT INTO {t} ({}) SELECT {}{} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {w})",
            names.join(", "),
            holes.join(", "),
            d.from_dual(),
            t = self.q(&u.table),
        );
        tx.exec(&s).await?;
        Ok(())
    }

    async fn delete_user(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        id: &str,
    ) -> Result<(), TargetError> {
        let u = &self.users;
        if let Some(r) = &self.roles {
            let mut s = Stmt::default();
            let w = self.user_match(&mut s, "", tenant, id);
            s.sql = format!(
                "DELETE FROM {} WHERE {} IN (SELECT {} FROM {} WHERE {w})",
                self.q(&r.table),
                self.q(&r.user),
                self.q(&u.id),
                self.q(&u.table)
            );
            tx.exec(&s).await?;
        }
        let mut s = Stmt::default();
        let w = self.user_match(&mut s, "", tenant, id);
        s.sql = format!("DELETE FROM {} WHERE {w}", self.q(&u.table));
        tx.exec(&s).await?;
        Ok(())
    }

    async fn remembered_group(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        group: &str,
    ) -> Result<Option<String>, TargetError> {
        let d = self.dialect;
        let mut s = Stmt::default();
        let (a, b, c) = (
            s.p(d, Some(self.name.clone()), "text"),
            s.p(d, Some(tenant.to_string()), "text"),
            s.p(d, Some(group.to_string()), "text"),
        );
        s.sql = format!(
            "SELECT {} FROM {GROUPS_TABLE} WHERE target = {a} AND tenant = {b} AND group_id = {c}",
            d.as_text("value")
        );
        Ok(tx
            .query(&s)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    async fn remember_group(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        group: &str,
        value: Option<&str>,
    ) -> Result<(), TargetError> {
        let d = self.dialect;
        let key = |s: &mut Stmt| {
            format!(
                "target = {} AND tenant = {} AND group_id = {}",
                s.p(d, Some(self.name.clone()), "text"),
                s.p(d, Some(tenant.to_string()), "text"),
                s.p(d, Some(group.to_string()), "text")
            )
        };
        let mut s = Stmt::default();
        let w = key(&mut s);
        s.sql = format!("DELETE FROM {GROUPS_TABLE} WHERE {w}");
        tx.exec(&s).await?;
        if let Some(v) = value {
            let mut s = Stmt::default();
            let holes = [
                s.p(d, Some(self.name.clone()), "text"),
                s.p(d, Some(tenant.to_string()), "text"),
                s.p(d, Some(group.to_string()), "text"),
                s.p(d, Some(v.to_string()), "text"),
            ];
            s.sql = format!(
                "INSERT INTO {GROUPS_TABLE} (target, tenant, group_id, value) VALUES ({})",
                holes.join(", ")
            );
            tx.exec(&s).await?;
        }
        Ok(())
    }

    fn group_value(
        &self,
        roles: &RolesTable,
        group: &Value,
    ) -> Result<Option<String>, TargetError> {
        let v = roles
            .from
            .eval(&Resource(group))
            .map_err(|e| TargetError::permanent(format!("roles.from: {e}")))?;
        Ok(Category::Text.text(&v).filter(|s| !s.is_empty()))
    }

    /// The group's value: from the event's group when it has one (remembered), else the
    /// remembered one.
    async fn value_of_group(
        &self,
        tx: &mut dyn Tx,
        roles: &RolesTable,
        event: &Event,
    ) -> Result<Option<String>, TargetError> {
        match &event.data.resource {
            Some(group) => {
                let v = self.group_value(roles, group)?;
                let old = self
                    .remembered_group(tx, &event.tenant, &event.data.id)
                    .await?;
                if old != v {
                    self.remember_group(tx, &event.tenant, &event.data.id, v.as_deref())
                        .await?;
                }
                Ok(v)
            }
            None => {
                self.remembered_group(tx, &event.tenant, &event.data.id)
                    .await
            }
        }
    }

    async fn group_changed(
        &self,
        tx: &mut dyn Tx,
        roles: &RolesTable,
        event: &Event,
    ) -> Result<(), TargetError> {
        let Some(group) = &event.data.resource else {
            return Ok(());
        };
        let d = self.dialect;
        let new = self.group_value(roles, group)?;
        let old = self
            .remembered_group(tx, &event.tenant, &event.data.id)
            .await?;
        if old == new {
            return Ok(());
        }
        if let (Some(old), Some(new)) = (&old, &new) {
            let mut s = Stmt::default();
            let n = s.p(d, Some(new.clone()), &roles.value_type);
            let o = s.p(d, Some(old.clone()), &roles.value_type);
            let users = self.users_of_tenant(&mut s, &event.tenant);
            s.sql = format!(
                "UPDATE {} SET {v} = {n} WHERE {v} = {o} AND {} IN ({users})",
                self.q(&roles.table),
                self.q(&roles.user),
                v = self.q(&roles.value),
            );
            tx.exec(&s).await?;
        }
        self.remember_group(tx, &event.tenant, &event.data.id, new.as_deref())
            .await
    }

    fn users_of_tenant(&self, s: &mut Stmt, tenant: &str) -> String {
        let mut sql = format!(
            "SELECT {} FROM {}",
            self.q(&self.users.id),
            self.q(&self.users.table)
        );
        if let Some(w) = self.tenant_only(s, tenant) {
            sql.push_str(&format!(" WHERE {w}"));
        }
        sql
    }

    async fn members(
        &self,
        tx: &mut dyn Tx,
        roles: &RolesTable,
        event: &Event,
        added: bool,
    ) -> Result<(), TargetError> {
        let d = self.dialect;
        let Some(value) = self.value_of_group(tx, roles, event).await? else {
            return Ok(());
        };
        for m in &event.data.members {
            if m.kind.as_deref().is_some_and(|k| k != "User") {
                continue;
            }
            let mut s = Stmt::default();
            if added {
                let v1 = s.p(d, Some(value.clone()), &roles.value_type);
                let w = self.user_match(&mut s, "u", &event.tenant, &m.value);
                let v2 = s.p(d, Some(value.clone()), &roles.value_type);
                s.sql = format!(
                    "INSERT INTO {r} ({ru}, {rv}) SELECT u.{uid}, {v1} FROM {ut} u WHERE {w} \
                     AND NOT EXISTS (SELECT 1 FROM {r} l WHERE l.{ru} = u.{uid} AND l.{rv} = {v2})",
                    r = self.q(&roles.table),
                    ru = self.q(&roles.user),
                    rv = self.q(&roles.value),
                    uid = self.q(&self.users.id),
                    ut = self.q(&self.users.table),
                );
            } else {
                let v = s.p(d, Some(value.clone()), &roles.value_type);
                let w = self.user_match(&mut s, "", &event.tenant, &m.value);
                s.sql = format!(
                    "DELETE FROM {} WHERE {} = {v} AND {} IN (SELECT {} FROM {} WHERE {w})",
                    self.q(&roles.table),
                    self.q(&roles.value),
                    self.q(&roles.user),
                    self.q(&self.users.id),
                    self.q(&self.users.table),
                );
            }
            tx.exec(&s).await?;
        }
        Ok(())
    }

    async fn group_deleted(
        &self,
        tx: &mut dyn Tx,
        roles: &RolesTable,
        event: &Event,
    ) -> Result<(), TargetError> {
        let d = self.dialect;
        if let Some(value) = self
            .remembered_group(tx, &event.tenant, &event.data.id)
            .await?
        {
            let mut s = Stmt::default();
            let v = s.p(d, Some(value), &roles.value_type);
            let users = self.users_of_tenant(&mut s, &event.tenant);
            s.sql = format!(
                "DELETE FROM {} WHERE {} = {v} AND {} IN ({users})",
                self.q(&roles.table),
                self.q(&roles.value),
                self.q(&roles.user),
            );
            tx.exec(&s).await?;
        }
        self.remember_group(tx, &event.tenant, &event.data.id, None)
            .await
    }

    /// Moves the stored position to `position` unless it is there already. `false`: the
    /// event was applied before.
    async fn claim(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        position: i64,
    ) -> Result<bool, TargetError> {
        self.claim_range(tx, tenant, position, position).await
    }

    /// Moves the stored position to `last` if it is before `first` (none of the events
    /// `first..=last` was applied). `false`: some were.
    async fn claim_range(
        &self,
        tx: &mut dyn Tx,
        tenant: &str,
        first: i64,
        position: i64,
    ) -> Result<bool, TargetError> {
        let d = self.dialect;
        let mut s = Stmt::default();
        let p = s.p(d, Some(position.to_string()), "bigint");
        let (t, n) = (
            s.p(d, Some(self.name.clone()), "text"),
            s.p(d, Some(tenant.to_string()), "text"),
        );
        let p2 = s.p(d, Some(first.to_string()), "bigint");
        s.sql = format!(
            "UPDATE {POSITIONS_TABLE} SET position = {p} WHERE target = {t} AND tenant = {n} AND position < {p2}"
        );
        if tx.exec(&s).await? > 0 {
            return Ok(true);
        }
        let mut s = Stmt::default();
        let (t, n) = (
            s.p(d, Some(self.name.clone()), "text"),
            s.p(d, Some(tenant.to_string()), "text"),
        );
        s.sql = format!(
            "SELECT {} FROM {POSITIONS_TABLE} WHERE target = {t} AND tenant = {n}",
            d.as_text("position")
        );
        if !tx.query(&s).await?.is_empty() {
            return Ok(false);
        }
        let mut s = Stmt::default();
        let holes = [
            s.p(d, Some(self.name.clone()), "text"),
            s.p(d, Some(tenant.to_string()), "text"),
            s.p(d, Some(position.to_string()), "bigint"),
        ];
        s.sql = format!(
            "INSERT INTO {POSITIONS_TABLE} (target, tenant, position) VALUES ({})",
            holes.join(", ")
        );
        tx.exec(&s).await?;
        Ok(true)
    }

    /// The event's effect, in `tx`.
    async fn effect(&self, tx: &mut dyn Tx, event: &Event) -> Result<(), TargetError> {
        let tenant = event.tenant.as_str();
        let id = event.data.id.as_str();
        let u = &self.users;
        match event.event_type {
            EventType::UserCreated
            | EventType::UserUpdated
            | EventType::UserReactivated
            | EventType::UserRestored => {
                let Some(r) = &event.data.resource else {
                    return Err(TargetError::permanent(format!(
                        "{} event without the user",
                        event.event_type
                    )));
                };
                self.upsert_user(tx, tenant, id, r, &u.columns).await
            }
            EventType::UserDeactivated => match (u.deactivate, &event.data.resource) {
                (RowPolicy::Delete, _) => self.delete_user(tx, tenant, id).await,
                (RowPolicy::Update, Some(r)) => {
                    self.upsert_user(tx, tenant, id, r, &u.columns).await
                }
                (RowPolicy::Update, None) => Err(TargetError::permanent(
                    "user.deactivated event without the user",
                )),
            },
            EventType::UserDeleted => match u.delete {
                RowPolicy::Delete => self.delete_user(tx, tenant, id).await,
                RowPolicy::Update => {
                    let mut s = Stmt::default();
                    let d = self.dialect;
                    let empty = Value::Object(Default::default());
                    let mut sets = Vec::new();
                    for c in &u.on_delete {
                        let v = c.value(&empty)?;
                        sets.push(format!("{} = {}", self.q(&c.name), s.p(d, v, &c.sql_type)));
                    }
                    if sets.is_empty() {
                        return Ok(());
                    }
                    let w = self.user_match(&mut s, "", tenant, id);
                    s.sql = format!(
                        "UPDATE {} SET {} WHERE {w}",
                        self.q(&u.table),
                        sets.join(", ")
                    );
                    tx.exec(&s).await.map(|_| ())
                }
            },
            EventType::GroupCreated | EventType::GroupUpdated | EventType::GroupRestored => {
                match &self.roles {
                    Some(roles) => self.group_changed(tx, roles, event).await,
                    None => Ok(()),
                }
            }
            EventType::GroupMembersAdded | EventType::GroupMembersRemoved => match &self.roles {
                Some(roles) => {
                    self.members(
                        tx,
                        roles,
                        event,
                        event.event_type == EventType::GroupMembersAdded,
                    )
                    .await
                }
                None => Ok(()),
            },
            EventType::GroupDeleted => match &self.roles {
                Some(roles) => self.group_deleted(tx, roles, event).await,
                None => Ok(()),
            },
            // Resources of custom types are not mapped.
            _ => Ok(()),
        }
    }

    /// Claims the position (when kept here and the event is not a repair) and applies the
    /// effect, in `tx`.
    async fn apply_in(&self, tx: &mut dyn Tx, event: &Event) -> Result<Applied, TargetError> {
        if self.keeps_position
            && event.position > 0
            && !self.claim(tx, &event.tenant, event.position).await?
        {
            return Ok(Applied::AlreadyApplied);
        }
        self.effect(tx, event).await?;
        Ok(Applied::Done)
    }

    async fn pg_client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<tokio_postgres::Client>>, TargetError> {
        let Pool::Pg { config, client } = &self.pool else {
            return Err(TargetError::permanent("not a PostgreSQL target"));
        };
        let mut guard = client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(pg_connect(config).await?);
        }
        Ok(guard)
    }

    async fn my_conn(&self) -> Result<mysql_async::Conn, TargetError> {
        let Pool::My(pool) = &self.pool else {
            return Err(TargetError::permanent("not a MySQL target"));
        };
        pool.get_conn().await.map_err(|e| my_error(&e))
    }

    /// Runs one piece of work, in a transaction when `tx`.
    async fn run(&self, work: Work<'_>, tx: bool) -> Result<Output, TargetError> {
        match self.dialect {
            Dialect::Postgres => {
                let mut guard = self.pg_client().await?;
                let Some(c) = guard.as_mut() else {
                    return Err(TargetError::retry("no PostgreSQL connection"));
                };
                let out = if tx {
                    match c.transaction().await {
                        Ok(mut t) => match self.work(&mut t, work).await {
                            Ok(out) => t.commit().await.map(|_| out).map_err(|e| pg_error(&e)),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(pg_error(&e)),
                    }
                } else {
                    self.work(c, work).await
                };
                if c.is_closed() {
                    *guard = None;
                }
                out
            }
            Dialect::MySql => {
                let mut c = self.my_conn().await?;
                if tx {
                    let mut t = c
                        .start_transaction(mysql_async::TxOpts::default())
                        .await
                        .map_err(|e| my_error(&e))?;
                    let out = self.work(&mut t, work).await?;
                    t.commit().await.map_err(|e| my_error(&e))?;
                    Ok(out)
                } else {
                    self.work(&mut c, work).await
                }
            }
        }
    }

    async fn work(&self, tx: &mut dyn Tx, work: Work<'_>) -> Result<Output, TargetError> {
        match work {
            Work::Apply(event) => self.apply_in(tx, event).await.map(Output::Applied),
            Work::ApplyBatch(events) => {
                let (Some(first), Some(last)) = (events.first(), events.last()) else {
                    return Ok(Output::Applied(Applied::Done));
                };
                if !self
                    .claim_range(tx, &first.tenant, first.position, last.position)
                    .await?
                {
                    return Ok(Output::Applied(Applied::AlreadyApplied));
                }
                for e in events {
                    self.effect(tx, e).await?;
                }
                Ok(Output::Applied(Applied::Done))
            }
            Work::Claim(tenant, position) => {
                self.claim(tx, tenant, position).await.map(|_| Output::None)
            }
            Work::Exec(stmts) => {
                for s in &stmts {
                    tx.exec(s).await?;
                }
                Ok(Output::None)
            }
            Work::Query(s) => tx.query(&s).await.map(Output::Rows),
            Work::Describe(tables) => {
                let mut out = Vec::new();
                for t in tables {
                    out.push(load::columns_of(tx, self.dialect, &t).await);
                }
                Ok(Output::Described(out))
            }
        }
    }

    async fn query(&self, s: Stmt) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        match self.run(Work::Query(s), false).await? {
            Output::Rows(r) => Ok(r),
            _ => Ok(Vec::new()),
        }
    }

    /// Creates the target's own tables (positions, groups) when missing.
    pub async fn ensure_tables(&self) -> Result<(), TargetError> {
        let stmts = [
            format!(
                "CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (target VARCHAR(200) NOT NULL, \
                 tenant VARCHAR(200) NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (target, tenant))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {GROUPS_TABLE} (target VARCHAR(200) NOT NULL, \
                 tenant VARCHAR(200) NOT NULL, group_id VARCHAR(200) NOT NULL, value TEXT NOT NULL, \
                 PRIMARY KEY (target, tenant, group_id))"
            ),
        ];
        let stmts = stmts
            .into_iter()
            .map(|sql| Stmt {
                sql,
                params: Vec::new(),
            })
            .collect();
        self.run(Work::Exec(stmts), false).await.map(|_| ())
    }

    /// The users table.
    pub fn users(&self) -> &UsersTable {
        &self.users
    }
}

#[async_trait]
impl Target for SqlTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn keeps_position(&self) -> bool {
        self.keeps_position
    }

    async fn position(&self, tenant: &str) -> Result<Option<i64>, TargetError> {
        let d = self.dialect;
        let mut s = Stmt::default();
        let (t, n) = (
            s.p(d, Some(self.name.clone()), "text"),
            s.p(d, Some(tenant.to_string()), "text"),
        );
        s.sql = format!(
            "SELECT {} FROM {POSITIONS_TABLE} WHERE target = {t} AND tenant = {n}",
            d.as_text("position")
        );
        let rows = self.query(s).await?;
        match rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
        {
            Some(p) => p.parse().map(Some).map_err(|_| {
                TargetError::permanent(format!("stored position '{p}' is not a number"))
            }),
            None => Ok(None),
        }
    }

    async fn apply(&self, event: &Event) -> Result<Applied, TargetError> {
        match self.run(Work::Apply(event), true).await? {
            Output::Applied(a) => Ok(a),
            _ => Ok(Applied::Done),
        }
    }

    fn batches(&self) -> bool {
        self.keeps_position
    }

    async fn apply_batch(&self, events: &[Event]) -> Result<Applied, TargetError> {
        if events.iter().any(|e| e.position <= 0) {
            return Err(TargetError::permanent(
                "a batch holds only events of the log",
            ));
        }
        match self.run(Work::ApplyBatch(events), true).await? {
            Output::Applied(a) => Ok(a),
            _ => Ok(Applied::AlreadyApplied),
        }
    }

    async fn skip(&self, tenant: &str, position: i64) -> Result<(), TargetError> {
        if !self.keeps_position {
            return Ok(());
        }
        self.run(Work::Claim(tenant, position), true)
            .await
            .map(|_| ())
    }

    fn readback(&self) -> Option<&dyn Readback> {
        Some(self)
    }
}

fn expected_row(columns: &[Column], resource: &Value) -> Result<Row, TargetError> {
    let mut row = BTreeMap::new();
    for c in columns {
        row.insert(c.name.clone(), c.value(resource)?);
    }
    Ok(row)
}

#[async_trait]
impl Readback for SqlTarget {
    async fn rows_after(
        &self,
        tenant: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Row)>, TargetError> {
        let d = self.dialect;
        let u = &self.users;
        let key = self.q(&u.key);
        let mut s = Stmt::default();
        let mut cols = vec![d.as_text(&key)];
        cols.extend(u.columns.iter().map(|c| d.as_text(&self.q(&c.name))));
        let after_p = s.p(d, Some(after.to_string()), "text");
        let mut w = format!("{} > {}", d.bytewise(&key), d.bytewise(&after_p));
        if let Some(t) = self.tenant_only(&mut s, tenant) {
            w.push_str(&format!(" AND {t}"));
        }
        s.sql = format!(
            "SELECT {} FROM {} WHERE {w} ORDER BY {} LIMIT {limit}",
            cols.join(", "),
            self.q(&u.table),
            d.bytewise(&key)
        );
        let rows = self.query(s).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                let key = it.next().flatten()?;
                let row = u.columns.iter().map(|c| c.name.clone()).zip(it).collect();
                Some((key, row))
            })
            .collect())
    }

    fn expected(&self, _tenant: &str, user: &Value) -> Result<Option<Row>, TargetError> {
        if self.users.deactivate == RowPolicy::Delete
            && user.get("active") == Some(&Value::Bool(false))
        {
            return Ok(None);
        }
        expected_row(&self.users.columns, user).map(Some)
    }

    fn expected_for_deleted(&self, _tenant: &str) -> Option<Row> {
        match self.users.delete {
            RowPolicy::Delete => None,
            RowPolicy::Update => {
                let empty = Value::Object(Default::default());
                let set: BTreeMap<String, Option<String>> = self
                    .users
                    .on_delete
                    .iter()
                    .filter_map(|c| c.value(&empty).ok().map(|v| (c.name.clone(), v)))
                    .collect();
                Some(set)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(template: &str, category: Category) -> Column {
        Column {
            name: "c".into(),
            template: Template::parse(template).unwrap_or_else(|e| panic!("{template}: {e:?}")),
            category,
            sql_type: "text".into(),
        }
    }

    #[test]
    fn column_values_from_templates() -> Result<(), TargetError> {
        let user = json!({
            "id": "u1",
            "userName": "alice@example.com",
            "active": false,
            "emails": [{"type": "work", "value": "a@x.com", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Eng"}
        });
        let cases = [
            ("{userName}", Category::Text, Some("alice@example.com")),
            ("{active | default(true)}", Category::Int, Some("0")),
            ("{active}", Category::Bool, Some("false")),
            ("{title}", Category::Text, None),
            (
                "{emails[type eq \"work\"].value}",
                Category::Text,
                Some("a@x.com"),
            ),
            (
                "{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department}",
                Category::Text,
                Some("Eng"),
            ),
        ];
        for (t, cat, want) in cases {
            assert_eq!(column(t, cat).value(&user)?.as_deref(), want, "{t}");
        }
        let absent = json!({"id": "u2"});
        assert_eq!(
            column("{active | default(true)}", Category::Int)
                .value(&absent)?
                .as_deref(),
            Some("1")
        );
        Ok(())
    }

    #[test]
    fn categories_of_database_types() {
        assert_eq!(Category::of("tinyint"), Category::Int);
        assert_eq!(Category::of("character varying"), Category::Text);
        assert_eq!(Category::of("boolean"), Category::Bool);
        assert_eq!(Category::of("timestamp with time zone"), Category::Time);
        assert_eq!(Category::of("numeric"), Category::Num);
    }
}
