//! Management writes with their audit record, idempotent creates, resource counts
//! (the store's side of `scim-admin`'s `Manager`). Every operation reuses the tenant,
//! settings and token functions the CLI has always used; this module only adds the audit
//! record and the idempotency key to the same transaction.

use std::collections::HashMap;

use scim_core::ScimError;
use serde_json::{Map, Value, json};

use super::db::{Db, DbExt, Dialect, SqlRow, params};
use super::tenants::{TENANT_COLUMNS, TOKEN_COLUMNS, tenant_from_row, token_from_row};
use super::{format_time, lifecycle, now, operator, settings, tenants};
use crate::delivery::{Destination, DestinationKind};
use crate::manage::{
    AdminOp, AdminOutcome, AdminWritten, AuditActor, AuditEntry, AuditQuery, DestinationOp,
    IDEMPOTENCY_TTL_SECONDS, IdempotencyClaim, ReplayRender, ResourceCounts, TenantDeletion,
};
use crate::model::Tenant;
use crate::{StoreError, TenantUpdate};

fn tenant_or_404(db: &mut dyn Db, name: &str) -> Result<Tenant, StoreError> {
    tenants::find_tenant(db, name, "")?
        .ok_or_else(|| ScimError::not_found(format!("there is no tenant named '{name}'")).into())
}

/// The audit detail of a settings change: what was set (never a key's text).
fn update_detail(u: &TenantUpdate, out: &mut Map<String, Value>) {
    if let Some(m) = u.delete_mode {
        out.insert("delete_mode".into(), json!(m.as_str()));
    }
    if let Some(d) = u.retention_days {
        out.insert("retention_days".into(), json!(d));
    }
    if let Some(r) = u.rate_per_minute {
        out.insert("rate_limit_per_minute".into(), json!(r));
    }
    if let Some(b) = u.rate_burst {
        out.insert("rate_burst".into(), json!(b));
    }
    if let Some(j) = &u.jwt {
        out.insert(
            "jwt".into(),
            match j {
                Some(j) => json!({"issuer": j.issuer, "audience": j.audience,
                    "jwks_url": j.jwks_url, "static_key": j.static_key.is_some(),
                    "tenant_claim": j.tenant_claim, "tenant_value": j.tenant_value}),
                None => Value::Null,
            },
        );
    }
}

fn count(db: &mut dyn Db, sql: &str, tenant_id: i64) -> Result<u64, StoreError> {
    let n = db.one(sql, params![tenant_id], |r| r.int(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// An operation's outcome, the audit record's target and detail.
type Ran = (AdminOutcome, Option<String>, Map<String, Value>);

/// Runs the operation.
fn run(db: &mut dyn Db, op: &AdminOp, actor: &AuditActor) -> Result<Ran, StoreError> {
    let mut detail = Map::new();
    match op {
        AdminOp::CreateTenant {
            name,
            delete_mode,
            retention_days,
            settings: extra,
        } => {
            if !(0..=36_500).contains(retention_days) {
                return Err(
                    ScimError::invalid_value("the retention must be 0 to 36500 days").into(),
                );
            }
            tenants::create_tenant(db, name, *delete_mode, *retention_days)?;
            let update = TenantUpdate {
                delete_mode: None,
                retention_days: None,
                ..extra.clone()
            };
            let (tenant, settings) = settings::update_tenant(db, name, &update)?
                .ok_or_else(|| StoreError::Database("a created tenant is missing".into()))?;
            detail.insert("delete_mode".into(), json!(delete_mode.as_str()));
            detail.insert("retention_days".into(), json!(retention_days));
            update_detail(&update, &mut detail);
            Ok((AdminOutcome::Tenant(tenant, settings), None, detail))
        }
        AdminOp::UpdateTenant { name, update } => {
            let (tenant, settings) =
                settings::update_tenant(db, name, update)?.ok_or_else(|| {
                    StoreError::from(ScimError::not_found(format!(
                        "there is no tenant named '{name}'"
                    )))
                })?;
            update_detail(update, &mut detail);
            Ok((AdminOutcome::Tenant(tenant, settings), None, detail))
        }
        AdminOp::DeleteTenant { name } => {
            let lock = if db.dialect() == Dialect::Postgres {
                " FOR UPDATE"
            } else {
                ""
            };
            let tenant = db
                .row(
                    &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?{lock}"),
                    params![name.as_str()],
                    tenant_from_row,
                )?
                .ok_or_else(|| {
                    StoreError::from(ScimError::not_found(format!(
                        "there is no tenant named '{name}'"
                    )))
                })?;
            let of_type = |t: &str| {
                format!(
                    "SELECT COUNT(*) FROM resources WHERE tenant_id = ? AND resource_type = '{t}'"
                )
            };
            let users = count(db, &of_type("User"), tenant.id)?;
            let groups = count(db, &of_type("Group"), tenant.id)?;
            let (tokens, active_tokens) = operator::token_counts(db, tenant.id, &now())?;
            let changes = count(
                db,
                "SELECT COUNT(*) FROM changes WHERE tenant_id = ?",
                tenant.id,
            )?;
            tenants::delete_tenant(db, name)?;
            detail.insert("uid".into(), json!(tenant.uid));
            detail.insert("users".into(), json!(users));
            detail.insert("groups".into(), json!(groups));
            detail.insert("tokens".into(), json!(tokens));
            detail.insert("active_tokens".into(), json!(active_tokens));
            detail.insert("changes".into(), json!(changes));
            Ok((
                AdminOutcome::TenantDeleted(TenantDeletion {
                    tenant,
                    users,
                    groups,
                    tokens,
                    active_tokens,
                    changes,
                }),
                None,
                detail,
            ))
        }
        AdminOp::CreateToken { tenant, spec } => {
            let t = tenant_or_404(db, tenant)?;
            let (info, text) = lifecycle::create_token(db, t.id, spec)?;
            detail.insert("name".into(), json!(info.name));
            detail.insert("scope".into(), json!(info.scope.as_str()));
            detail.insert("expires".into(), json!(info.expires));
            let target = Some(info.id.clone());
            Ok((AdminOutcome::TokenCreated(info, text), target, detail))
        }
        AdminOp::RevokeToken { tenant, token_id } => {
            let t = tenant_or_404(db, tenant)?;
            if !tenants::revoke_token(db, t.id, token_id)? {
                return Err(ScimError::not_found(format!(
                    "tenant '{tenant}' has no active token with id '{token_id}'"
                ))
                .into());
            }
            let info = db.one(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ? AND tenant_id = ?"),
                params![token_id.as_str(), t.id],
                token_from_row,
            )?;
            detail.insert("name".into(), json!(info.name));
            Ok((
                AdminOutcome::TokenRevoked(info),
                Some(token_id.clone()),
                detail,
            ))
        }
        AdminOp::RotateToken {
            tenant,
            token_id,
            overlap_seconds,
        } => {
            let t = tenant_or_404(db, tenant)?;
            let rotation = lifecycle::rotate_token(db, t.id, token_id, *overlap_seconds)?;
            detail.insert("new_token".into(), json!(rotation.new.id));
            detail.insert("overlap_seconds".into(), json!(overlap_seconds));
            detail.insert("old_token_expires".into(), json!(rotation.old.expires));
            Ok((
                AdminOutcome::TokenRotated(rotation),
                Some(token_id.clone()),
                detail,
            ))
        }
        AdminOp::AddRoleRule { tenant, spec } => {
            let t = tenant_or_404(db, tenant)?;
            let rule = super::roles::add_rule(db, t.id, spec, &role_actor(actor))?;
            detail.insert("role".into(), json!(rule.role));
            detail.insert("match".into(), json!(rule.matches.as_str()));
            detail.insert("value".into(), json!(rule.value));
            if rule.pattern {
                detail.insert("pattern".into(), json!(true));
            }
            let target = Some(rule.id.clone());
            Ok((
                AdminOutcome::RoleRule {
                    tenant_id: t.id,
                    rule,
                    added: true,
                },
                target,
                detail,
            ))
        }
        AdminOp::Destination { tenant, kind, op } => {
            let t = tenant_or_404(db, tenant)?;
            let d = destination_write(db, t.id, *kind, op, &mut detail)?;
            let target = Some(d.id.clone());
            Ok((AdminOutcome::Destination(d), target, detail))
        }
        AdminOp::RemoveRoleRule { tenant, rule_id } => {
            let t = tenant_or_404(db, tenant)?;
            let rule = super::roles::remove_rule(db, t.id, rule_id, &role_actor(actor))?;
            detail.insert("role".into(), json!(rule.role));
            Ok((
                AdminOutcome::RoleRule {
                    tenant_id: t.id,
                    rule,
                    added: false,
                },
                Some(rule_id.clone()),
                detail,
            ))
        }
    }
}

/// A URL as the audit log keeps it: without its user information and without its query
/// (either may be a credential).
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?…"),
        None => (rest, ""),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // A user name alone may be a token (`nats://token@host`).
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => authority.to_string(),
    };
    format!("{scheme}{authority}{path}{query}")
}

/// Runs an operator's change of a push destination and writes its audit detail (never a
/// secret).
fn destination_write(
    db: &mut dyn Db,
    tenant_id: i64,
    kind: DestinationKind,
    op: &DestinationOp,
    detail: &mut Map<String, Value>,
) -> Result<Destination, StoreError> {
    let missing = |id: &str| {
        StoreError::from(ScimError::not_found(format!(
            "this tenant has no {} with id '{id}'",
            kind.as_str()
        )))
    };
    if let Some(id) = op.id() {
        super::delivery::get(db, id)?
            .filter(|d| d.tenant_id == tenant_id && d.kind == kind)
            .ok_or_else(|| missing(id))?;
    }
    match op {
        DestinationOp::Create(new) => {
            if new.tenant_id != tenant_id || new.kind != kind {
                return Err(StoreError::Database(
                    "a destination created for another tenant or kind".into(),
                ));
            }
            let d = super::delivery::create(db, new.clone())?;
            detail.insert("url".into(), json!(redact_url(&d.url)));
            detail.insert("event_types".into(), json!(d.event_types));
            if !d.description.is_empty() {
                detail.insert("description".into(), json!(d.description));
            }
            detail.insert("batch_max".into(), json!(d.batch_max));
            detail.insert("position".into(), json!(d.position));
            Ok(d)
        }
        DestinationOp::Change { id, change } => {
            let d = super::delivery::change(db, id, change.clone())?.ok_or_else(|| missing(id))?;
            if change.url.is_some() {
                detail.insert("url".into(), json!(redact_url(&d.url)));
            }
            if change.event_types.is_some() {
                detail.insert("event_types".into(), json!(d.event_types));
            }
            if change.description.is_some() {
                detail.insert("description".into(), json!(d.description));
            }
            if change.batch_max.is_some() {
                detail.insert("batch_max".into(), json!(d.batch_max));
            }
            if let Some((_, overlap)) = &change.rotate_secret {
                detail.insert("overlap_seconds".into(), json!(overlap.as_secs()));
                detail.insert(
                    "previous_secret_expires".into(),
                    json!(d.previous_secret.as_ref().and(d.previous_expires.as_ref())),
                );
            }
            Ok(d)
        }
        DestinationOp::SetActive { id, active } => {
            let reason = (!active).then(|| "operator".to_string());
            let d =
                super::delivery::set_active(db, id, *active, reason)?.ok_or_else(|| missing(id))?;
            detail.insert("position".into(), json!(d.position));
            Ok(d)
        }
        DestinationOp::Replay { id, from } => {
            let d = super::delivery::replay(db, id, *from)?.ok_or_else(|| missing(id))?;
            detail.insert("from".into(), json!(from));
            Ok(d)
        }
        DestinationOp::Delete { id } => {
            let d = super::delivery::get(db, id)?.ok_or_else(|| missing(id))?;
            super::delivery::delete(db, id)?;
            detail.insert("url".into(), json!(redact_url(&d.url)));
            detail.insert("position".into(), json!(d.position));
            Ok(d)
        }
    }
}

/// The change log's actor of role changes a management write makes.
fn role_actor(a: &AuditActor) -> crate::model::Actor {
    crate::model::Actor {
        token_id: a.id.clone(),
        token_name: Some(format!("admin:{}", a.name)),
        request_id: a.request_id.clone(),
    }
}

/// Claims an idempotency key; `Some` when it was claimed before (replay or refusal).
fn claim(db: &mut dyn Db, claim: &IdempotencyClaim) -> Result<Option<AdminWritten>, StoreError> {
    let expired = format_time(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(IDEMPOTENCY_TTL_SECONDS),
    );
    db.exec(
        "DELETE FROM admin_idempotency WHERE scope = ? AND key = ? AND created < ?",
        params![claim.scope.as_str(), claim.key.as_str(), expired.as_str()],
    )?;
    // PostgreSQL: a concurrent claim of the same key waits here until the first commits
    // (and then finds its row) or rolls back (and then claims it).
    let claimed = db.exec(
        "INSERT INTO admin_idempotency (scope, key, fingerprint, created, response)
         VALUES (?, ?, ?, ?, NULL) ON CONFLICT (scope, key) DO NOTHING",
        params![
            claim.scope.as_str(),
            claim.key.as_str(),
            claim.fingerprint.as_str(),
            now()
        ],
    )?;
    if claimed > 0 {
        return Ok(None);
    }
    let (fingerprint, response) = db.one(
        "SELECT fingerprint, response FROM admin_idempotency WHERE scope = ? AND key = ?",
        params![claim.scope.as_str(), claim.key.as_str()],
        |r| Ok((r.text(0)?, r.opt_text(1)?)),
    )?;
    if fingerprint != claim.fingerprint {
        return Ok(Some(AdminWritten::KeyReused));
    }
    let body = match response {
        Some(text) => serde_json::from_str(&text)?,
        None => Value::Null,
    };
    Ok(Some(AdminWritten::Replayed(body)))
}

pub(crate) fn admin_write(
    db: &mut dyn Db,
    op: &AdminOp,
    actor: &AuditActor,
    idempotency: Option<&IdempotencyClaim>,
    render: ReplayRender,
) -> Result<AdminWritten, StoreError> {
    if let Some(c) = idempotency
        && let Some(earlier) = claim(db, c)?
    {
        return Ok(earlier);
    }
    let (outcome, target, detail) = run(db, op, actor)?;
    let audit_seq = db.one(
        "INSERT INTO admin_audit (at, actor, actor_id, action, tenant, target, request_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        params![
            now(),
            actor.name.as_str(),
            actor.id.clone(),
            op.action(),
            op.tenant(),
            target,
            actor.request_id.clone(),
            Value::Object(detail).to_string()
        ],
        |r| r.int(0),
    )?;
    if let Some(c) = idempotency {
        let body = render(&outcome);
        db.exec(
            "UPDATE admin_idempotency SET response = ? WHERE scope = ? AND key = ?",
            params![body.to_string(), c.scope.as_str(), c.key.as_str()],
        )?;
    }
    Ok(AdminWritten::Done {
        outcome: Box::new(outcome),
        audit_seq,
    })
}

fn audit_from_row(r: &dyn SqlRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.int(0)?,
        at: r.text(1)?,
        actor: r.text(2)?,
        actor_id: r.opt_text(3)?,
        action: r.text(4)?,
        tenant: r.opt_text(5)?,
        target: r.opt_text(6)?,
        request_id: r.opt_text(7)?,
        detail: serde_json::from_str(&r.text(8)?)?,
    })
}

pub(crate) fn audit_log(db: &mut dyn Db, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    const COLUMNS: &str = "seq, at, actor, actor_id, action, tenant, target, request_id, detail";
    let limit = i64::from(q.limit.max(1));
    let bound_limit = db.dialect().limit_param();
    match &q.tenant {
        Some(t) => db.rows(
            &format!(
                "SELECT {COLUMNS} FROM admin_audit WHERE tenant = ? AND seq > ?
                 ORDER BY seq LIMIT {bound_limit}"
            ),
            params![t.as_str(), q.after, limit],
            audit_from_row,
        ),
        None => db.rows(
            &format!(
                "SELECT {COLUMNS} FROM admin_audit WHERE seq > ? ORDER BY seq LIMIT {bound_limit}"
            ),
            params![q.after, limit],
            audit_from_row,
        ),
    }
}

pub(crate) fn resource_counts(
    db: &mut dyn Db,
    tenant_ids: &[i64],
) -> Result<HashMap<i64, ResourceCounts>, StoreError> {
    let mut out: HashMap<i64, ResourceCounts> = HashMap::new();
    // One statement per tenant: each counts on the live-rows index of its tenant.
    for &id in tenant_ids {
        let rows = db.rows(
            "SELECT resource_type, COUNT(*) FROM resources
             WHERE tenant_id = ? AND deleted IS NULL AND resource_type IN ('User', 'Group')
             GROUP BY resource_type",
            params![id],
            |r| Ok((r.text(0)?, r.int(1)?)),
        )?;
        for (rt, n) in rows {
            let c = out.entry(id).or_default();
            let n = u64::try_from(n).unwrap_or(0);
            if rt == "User" {
                c.users = n;
            } else {
                c.groups = n;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_recorded_without_credentials() {
        for (url, kept) in [
            (
                "https://hooks.example.com/scim",
                "https://hooks.example.com/scim",
            ),
            (
                "https://hooks.example.com/scim?token=s3cret#x",
                "https://hooks.example.com/scim?…",
            ),
            (
                "nats://app:s3cret@nats.internal:4222",
                "nats://…@nats.internal:4222",
            ),
            (
                "nats://tok@nats.internal:4222/",
                "nats://…@nats.internal:4222/",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), kept, "{url}");
        }
    }
}
