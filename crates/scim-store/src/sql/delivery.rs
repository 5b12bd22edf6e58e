//! Delivery destinations and their attempts (see [`crate::delivery`]).

use std::time::Duration;

use scim_core::ScimError;

use super::db::{Db, DbExt, SqlRow, SqlValue, params};
use super::{format_time, now};
use crate::StoreError;
use crate::delivery::{
    DeliveryAttempt, DeliveryRecord, Destination, DestinationChange, DestinationKind, NewAttempt,
    NewDestination, Recorded,
};

const COLUMNS: &str = "id, tenant_id, kind, url, event_types, description, secret, \
     previous_secret, previous_expires, batch_max, state, paused_reason, position, generation, \
     failures, failing_since, next_attempt, last_status, last_error, last_success, \
     lease_owner, lease_expires, created, updated";

const ATTEMPT_COLUMNS: &str = "id, destination_id, at, first_position, last_position, event_id, \
     events, status, latency_ms, outcome, error, instance";

/// Attempts kept per destination; older ones are deleted as new ones come.
const ATTEMPTS_KEPT: i64 = 1000;

fn from_row(r: &dyn SqlRow) -> Result<Destination, StoreError> {
    Ok(Destination {
        id: r.text(0)?,
        tenant_id: r.int(1)?,
        kind: DestinationKind::parse(&r.text(2)?).unwrap_or(DestinationKind::Webhook),
        url: r.text(3)?,
        event_types: r.text(4)?,
        description: r.text(5)?,
        secret: r.opt_text(6)?,
        previous_secret: r.opt_text(7)?,
        previous_expires: r.opt_text(8)?,
        batch_max: r.int(9)?,
        active: r.text(10)? == "active",
        paused_reason: r.opt_text(11)?,
        position: r.int(12)?,
        generation: r.int(13)?,
        failures: r.int(14)?,
        failing_since: r.opt_text(15)?,
        next_attempt: r.opt_text(16)?,
        last_status: r.opt_int(17)?,
        last_error: r.opt_text(18)?,
        last_success: r.opt_text(19)?,
        lease_owner: r.opt_text(20)?,
        lease_expires: r.opt_text(21)?,
        created: r.text(22)?,
        updated: r.text(23)?,
    })
}

fn attempt_from_row(r: &dyn SqlRow) -> Result<DeliveryAttempt, StoreError> {
    Ok(DeliveryAttempt {
        id: r.int(0)?,
        destination_id: r.text(1)?,
        at: r.text(2)?,
        first_position: r.int(3)?,
        last_position: r.int(4)?,
        event_id: r.text(5)?,
        events: r.int(6)?,
        status: r.opt_int(7)?,
        latency_ms: r.int(8)?,
        outcome: r.text(9)?,
        error: r.opt_text(10)?,
        instance: r.text(11)?,
    })
}

/// The stored time `d` from now.
fn after(d: Duration) -> String {
    let d = time::Duration::try_from(d).unwrap_or(time::Duration::days(3650));
    format_time(
        time::OffsetDateTime::now_utc()
            .checked_add(d)
            .unwrap_or(time::OffsetDateTime::now_utc()),
    )
}

fn new_id(kind: DestinationKind) -> String {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let prefix = match kind {
        DestinationKind::Webhook => "wh",
        DestinationKind::Nats => "nats",
    };
    format!("{prefix}_{}", hex::encode(bytes))
}

fn check_settings(url: &str, event_types: &str, batch_max: i64) -> Result<(), StoreError> {
    if url.is_empty() || url.len() > 2000 {
        return Err(ScimError::invalid_value(
            "a destination needs a URL (at most 2000 characters)",
        )
        .into());
    }
    if event_types.is_empty() || event_types.len() > 2000 {
        return Err(
            ScimError::invalid_value("the event-type filter must be 1-2000 characters").into(),
        );
    }
    if !(1..=1000).contains(&batch_max) {
        return Err(ScimError::invalid_value("batch size must be 1-1000 events").into());
    }
    Ok(())
}

pub(crate) fn get(db: &mut dyn Db, id: &str) -> Result<Option<Destination>, StoreError> {
    db.row(
        &format!("SELECT {COLUMNS} FROM destinations WHERE id = ?"),
        params![id],
        from_row,
    )
}

pub(crate) fn create(db: &mut dyn Db, new: NewDestination) -> Result<Destination, StoreError> {
    check_settings(&new.url, &new.event_types, new.batch_max)?;
    if new.position < 0 {
        return Err(ScimError::invalid_value("a position is 0 or more").into());
    }
    let exists = db.row(
        "SELECT id FROM tenants WHERE id = ?",
        params![new.tenant_id],
        |r| r.int(0),
    )?;
    if exists.is_none() {
        return Err(ScimError::not_found("there is no such tenant").into());
    }
    let t = now();
    db.one(
        &format!(
            "INSERT INTO destinations (id, tenant_id, kind, url, event_types, description, \
             secret, batch_max, position, created, updated) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ),
        params![
            new_id(new.kind),
            new.tenant_id,
            new.kind.as_str(),
            new.url,
            new.event_types,
            new.description,
            new.secret,
            new.batch_max,
            new.position,
            t.as_str(),
            t
        ],
        from_row,
    )
}

pub(crate) fn list(
    db: &mut dyn Db,
    tenant_id: Option<i64>,
    kind: Option<DestinationKind>,
) -> Result<Vec<Destination>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM destinations WHERE 1 = 1");
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(t) = tenant_id {
        sql.push_str(" AND tenant_id = ?");
        args.push(SqlValue::Int(t));
    }
    if let Some(k) = kind {
        sql.push_str(" AND kind = ?");
        args.push(k.as_str().into());
    }
    sql.push_str(" ORDER BY created, id");
    db.rows(&sql, &args, from_row)
}

pub(crate) fn change(
    db: &mut dyn Db,
    id: &str,
    change: DestinationChange,
) -> Result<Option<Destination>, StoreError> {
    let Some(current) = get(db, id)? else {
        return Ok(None);
    };
    let url = change.url.unwrap_or(current.url);
    let event_types = change.event_types.unwrap_or(current.event_types);
    let batch_max = change.batch_max.unwrap_or(current.batch_max);
    let description = change.description.unwrap_or(current.description);
    check_settings(&url, &event_types, batch_max)?;
    let (secret, previous, previous_expires) = match change.rotate_secret {
        Some((new, overlap)) => {
            let keep = (!overlap.is_zero()).then(|| after(overlap));
            (Some(new), keep.as_ref().and(current.secret), keep)
        }
        None => (
            current.secret,
            current.previous_secret,
            current.previous_expires,
        ),
    };
    db.row(
        &format!(
            "UPDATE destinations SET url = ?, event_types = ?, batch_max = ?, description = ?, \
             secret = ?, previous_secret = ?, previous_expires = ?, \
             generation = generation + 1, updated = ? WHERE id = ? RETURNING {COLUMNS}"
        ),
        params![
            url,
            event_types,
            batch_max,
            description,
            secret,
            previous,
            previous_expires,
            now(),
            id
        ],
        from_row,
    )
}

pub(crate) fn delete(db: &mut dyn Db, id: &str) -> Result<bool, StoreError> {
    db.exec(
        "DELETE FROM delivery_attempts WHERE destination_id = ?",
        params![id],
    )?;
    Ok(db.exec("DELETE FROM destinations WHERE id = ?", params![id])? > 0)
}

pub(crate) fn set_active(
    db: &mut dyn Db,
    id: &str,
    active: bool,
    reason: Option<String>,
) -> Result<Option<Destination>, StoreError> {
    let sql = if active {
        format!(
            "UPDATE destinations SET state = 'active', paused_reason = NULL, failures = 0, \
             failing_since = NULL, next_attempt = NULL, generation = generation + 1, \
             updated = ? WHERE id = ? RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "UPDATE destinations SET state = 'paused', paused_reason = ?, \
             generation = generation + 1, updated = ? WHERE id = ? RETURNING {COLUMNS}"
        )
    };
    if active {
        db.row(&sql, params![now(), id], from_row)
    } else {
        let reason = reason.unwrap_or_else(|| "operator".into());
        db.row(&sql, params![reason, now(), id], from_row)
    }
}

pub(crate) fn replay(
    db: &mut dyn Db,
    id: &str,
    position: i64,
) -> Result<Option<Destination>, StoreError> {
    if position < 0 {
        return Err(ScimError::invalid_value("a position is 0 or more").into());
    }
    db.row(
        &format!(
            "UPDATE destinations SET position = ?, failures = 0, failing_since = NULL, \
             next_attempt = NULL, generation = generation + 1, updated = ? \
             WHERE id = ? RETURNING {COLUMNS}"
        ),
        params![position, now(), id],
        from_row,
    )
}

pub(crate) fn attempts(
    db: &mut dyn Db,
    id: &str,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<DeliveryAttempt>, StoreError> {
    db.rows(
        &format!(
            "SELECT {ATTEMPT_COLUMNS} FROM delivery_attempts \
             WHERE destination_id = ? AND id < ? ORDER BY id DESC LIMIT {}",
            db.dialect().limit_param()
        ),
        params![
            id,
            before.unwrap_or(i64::MAX),
            i64::from(limit.clamp(1, 1000))
        ],
        attempt_from_row,
    )
}

pub(crate) fn acquire(
    db: &mut dyn Db,
    id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<Option<Destination>, StoreError> {
    let t = now();
    // PostgreSQL re-checks the condition after waiting for a concurrent holder's row lock,
    // so of two instances racing for an expired lease exactly one gets it.
    db.row(
        &format!(
            "UPDATE destinations SET lease_owner = ?, lease_expires = ? \
             WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?) \
             RETURNING {COLUMNS}"
        ),
        params![owner, after(ttl), id, owner, t],
        from_row,
    )
}

fn insert_attempt(
    db: &mut dyn Db,
    id: &str,
    owner: &str,
    a: &NewAttempt,
    delivered: bool,
) -> Result<(), StoreError> {
    let attempt_id = db.one(
        "INSERT INTO delivery_attempts (destination_id, at, first_position, last_position, \
         event_id, events, status, latency_ms, outcome, error, instance) \
         VALUES (?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, ?, ?) RETURNING id",
        &[
            id.into(),
            now().into(),
            a.first_position.into(),
            a.last_position.into(),
            a.event_id.as_str().into(),
            a.events.into(),
            a.status.map_or(SqlValue::Null, SqlValue::Int),
            a.latency_ms.into(),
            if delivered { "delivered" } else { "failed" }.into(),
            a.error.clone().into(),
            owner.into(),
        ],
        |r| r.int(0),
    )?;
    // (A NULL parameter is text to PostgreSQL, hence the casts.)
    // Keep the newest attempts only (checked every hundred, so that it costs little).
    if attempt_id % 100 == 0 {
        db.exec(
            "DELETE FROM delivery_attempts WHERE destination_id = ? AND id <= ?",
            params![id, attempt_id - ATTEMPTS_KEPT],
        )?;
    }
    Ok(())
}

pub(crate) fn record(
    db: &mut dyn Db,
    id: &str,
    owner: &str,
    generation: i64,
    record: DeliveryRecord,
    ttl: Duration,
) -> Result<Recorded, StoreError> {
    let t = now();
    // The fence: the lease must still be ours (and unexpired, or at least not taken).
    let held = db.exec(
        "UPDATE destinations SET lease_expires = ? WHERE id = ? AND lease_owner = ?",
        params![after(ttl), id, owner],
    )?;
    if held == 0 {
        return Ok(Recorded::Lost);
    }
    // The row is locked by this transaction from here on (PostgreSQL).
    let Some(current) = get(db, id)? else {
        return Ok(Recorded::Lost);
    };
    let attempt = match &record {
        DeliveryRecord::Advanced { attempt, .. } => attempt.as_ref().map(|a| (a, true)),
        DeliveryRecord::Failed { attempt, .. } => Some((attempt, false)),
        DeliveryRecord::Renew => None,
    };
    if let Some((a, delivered)) = attempt {
        insert_attempt(db, id, owner, a, delivered)?;
    }
    if current.generation != generation {
        return Ok(Recorded::Changed(current));
    }
    let updated = match record {
        DeliveryRecord::Renew => return Ok(Recorded::Done(current)),
        DeliveryRecord::Advanced { through, attempt } => {
            let (status, success) = match &attempt {
                Some(a) => (a.status, Some(t.clone())),
                None => (current.last_status, current.last_success.clone()),
            };
            db.one(
                &format!(
                    "UPDATE destinations SET position = ?, failures = 0, failing_since = NULL, \
                     next_attempt = NULL, last_status = CAST(? AS BIGINT), last_success = ? \
                     WHERE id = ? RETURNING {COLUMNS}"
                ),
                &[
                    through.max(current.position).into(),
                    status.map_or(SqlValue::Null, SqlValue::Int),
                    success.into(),
                    id.into(),
                ],
                from_row,
            )?
        }
        DeliveryRecord::Failed {
            attempt,
            retry_in,
            pause,
        } => {
            let failing_since = current.failing_since.clone().unwrap_or_else(|| t.clone());
            let (state, reason) = match &pause {
                Some(r) => ("paused", Some(r.clone())),
                None => ("active", None),
            };
            db.one(
                &format!(
                    "UPDATE destinations SET failures = failures + 1, failing_since = ?, \
                     next_attempt = ?, last_status = CAST(? AS BIGINT), last_error = ?, state = ?, \
                     paused_reason = ?, updated = ? WHERE id = ? RETURNING {COLUMNS}"
                ),
                &[
                    failing_since.into(),
                    after(retry_in).into(),
                    attempt.status.map_or(SqlValue::Null, SqlValue::Int),
                    attempt.error.into(),
                    state.into(),
                    reason.into(),
                    t.into(),
                    id.into(),
                ],
                from_row,
            )?
        }
    };
    Ok(Recorded::Done(updated))
}

pub(crate) fn release(db: &mut dyn Db, id: &str, owner: &str) -> Result<(), StoreError> {
    db.exec(
        "UPDATE destinations SET lease_owner = NULL, lease_expires = NULL \
         WHERE id = ? AND lease_owner = ?",
        params![id, owner],
    )?;
    Ok(())
}
