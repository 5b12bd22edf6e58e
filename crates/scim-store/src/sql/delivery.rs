//! Delivery destinations and their attempts (see [`crate::delivery`]).

use std::time::Duration;

use scim_core::ScimError;

use super::db::{Db, DbExt, OnFailure, SqlRow, SqlValue, params};
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

/// Records an attempt, sent without waiting for its answer (it is read with the
/// transaction's next one). About one time in a hundred the destination's oldest attempts
/// beyond [`ATTEMPTS_KEPT`] are deleted too, which keeps them bounded at little cost.
fn insert_attempt(
    db: &mut dyn Db,
    id: &str,
    owner: &str,
    a: &NewAttempt,
    delivered: bool,
) -> Result<(), StoreError> {
    // (A NULL parameter is text to PostgreSQL, hence the cast.)
    db.execute_deferred(
        "INSERT INTO delivery_attempts (destination_id, at, first_position, last_position, \
         event_id, events, status, latency_ms, outcome, error, instance) \
         VALUES (?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, ?, ?)",
        vec![
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
        OnFailure::default(),
    )?;
    if rand::random_ratio(1, 100) {
        prune_attempts(db, id)?;
    }
    Ok(())
}

/// Deletes a destination's attempts older than its newest [`ATTEMPTS_KEPT`].
pub(crate) fn prune_attempts(db: &mut dyn Db, id: &str) -> Result<(), StoreError> {
    // Ids are shared by every destination's attempts: the cut is this destination's
    // attempt that has ATTEMPTS_KEPT newer ones (none yet: nothing goes).
    db.execute_deferred(
        &format!(
            "DELETE FROM delivery_attempts WHERE destination_id = ? AND id <= \
             (SELECT id FROM delivery_attempts WHERE destination_id = ? \
              ORDER BY id DESC LIMIT 1 OFFSET {ATTEMPTS_KEPT})"
        ),
        vec![id.into(), id.into()],
        OnFailure::default(),
    )
}

/// Records a deliverer's progress: in the common case one statement that checks the lease
/// (the fence) and the destination's generation, renews the lease and applies `record`,
/// with the attempt's row sent behind it — two round trips to PostgreSQL with the commit.
pub(crate) fn record(
    db: &mut dyn Db,
    id: &str,
    owner: &str,
    generation: i64,
    record: DeliveryRecord,
    ttl: Duration,
) -> Result<Recorded, StoreError> {
    let t = now();
    let attempt = match &record {
        DeliveryRecord::Advanced { attempt, .. } => attempt.as_ref().map(|a| (a, true)),
        DeliveryRecord::Failed { attempt, .. } => Some((attempt, false)),
        DeliveryRecord::Renew => None,
    };
    // What changes besides the lease, and its parameters.
    let (set, mut args): (&str, Vec<SqlValue>) = match &record {
        DeliveryRecord::Renew => ("", Vec::new()),
        DeliveryRecord::Advanced {
            through,
            attempt: None,
        } => (
            ", position = CASE WHEN position > ? THEN position ELSE ? END, failures = 0, \
             failing_since = NULL, next_attempt = NULL",
            vec![(*through).into(), (*through).into()],
        ),
        DeliveryRecord::Advanced {
            through,
            attempt: Some(a),
        } => (
            ", position = CASE WHEN position > ? THEN position ELSE ? END, failures = 0, \
             failing_since = NULL, next_attempt = NULL, last_status = CAST(? AS BIGINT), \
             last_success = ?",
            vec![
                (*through).into(),
                (*through).into(),
                a.status.map_or(SqlValue::Null, SqlValue::Int),
                t.clone().into(),
            ],
        ),
        DeliveryRecord::Failed {
            attempt,
            retry_in,
            pause,
        } => (
            ", failures = failures + 1, failing_since = COALESCE(failing_since, ?), \
             next_attempt = ?, last_status = CAST(? AS BIGINT), last_error = ?, state = ?, \
             paused_reason = ?, updated = ?",
            vec![
                t.clone().into(),
                after(*retry_in).into(),
                attempt.status.map_or(SqlValue::Null, SqlValue::Int),
                attempt.error.clone().into(),
                if pause.is_some() { "paused" } else { "active" }.into(),
                pause.clone().into(),
                t.clone().into(),
            ],
        ),
    };
    let lease = SqlValue::from(after(ttl));
    args.insert(0, lease.clone());
    args.extend([id.into(), owner.into(), generation.into()]);
    // The lease must still be ours (and unexpired, or at least not taken); PostgreSQL locks
    // the row, so a concurrent change of the destination waits for this commit.
    let updated = db.row(
        &format!(
            "UPDATE destinations SET lease_expires = ?{set} \
             WHERE id = ? AND lease_owner = ? AND generation = ? RETURNING {COLUMNS}"
        ),
        &args,
        from_row,
    )?;
    if let Some(updated) = updated {
        if let Some((a, delivered)) = attempt {
            insert_attempt(db, id, owner, a, delivered)?;
        }
        return Ok(Recorded::Done(updated));
    }
    // The lease was lost, or an operator changed the destination (its position or
    // settings) since the deliverer read it: then the attempt is still recorded and the
    // lease renewed, and the deliverer starts again from what the destination is now.
    let held = db.row(
        &format!(
            "UPDATE destinations SET lease_expires = ? WHERE id = ? AND lease_owner = ? \
             RETURNING {COLUMNS}"
        ),
        &[lease, id.into(), owner.into()],
        from_row,
    )?;
    let Some(current) = held else {
        return Ok(Recorded::Lost);
    };
    if let Some((a, delivered)) = attempt {
        insert_attempt(db, id, owner, a, delivered)?;
    }
    // (Were the generation the same, the first statement would have matched; either way
    // the deliverer goes on from the destination as stored, so nothing is skipped.)
    Ok(Recorded::Changed(current))
}

pub(crate) fn release(db: &mut dyn Db, id: &str, owner: &str) -> Result<(), StoreError> {
    db.exec(
        "UPDATE destinations SET lease_owner = NULL, lease_expires = NULL \
         WHERE id = ? AND lease_owner = ?",
        params![id, owner],
    )?;
    Ok(())
}
