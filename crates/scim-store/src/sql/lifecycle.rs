//! The token lifecycle: creating tokens with a scope and a future expiry, rotating them
//! with an overlap window, and recording when each was last used, coarsely.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scim_core::ScimError;

use super::db::{Db, DbExt, params};
use super::tenants::{TOKEN_COLUMNS, token_from_row};
use super::{format_time, now};
use crate::model::TokenInfo;
use crate::{Rotation, StoreError, TokenSpec, token};

/// A future expiry in the stored form (UTC, milliseconds), or 400 `invalidValue`.
fn future_expiry(expires: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(text) = expires else {
        return Ok(None);
    };
    let Some(at) = scim_core::value::parse_datetime(text) else {
        return Err(ScimError::invalid_value(format!(
            "the expiry '{text}' is not an RFC 3339 time such as 2027-01-01T00:00:00Z"
        ))
        .into());
    };
    if at <= time::OffsetDateTime::now_utc() {
        return Err(ScimError::invalid_value(format!(
            "the expiry {text} is in the past: a token must expire in the future"
        ))
        .into());
    }
    Ok(Some(format_time(at)))
}

pub(crate) fn create_token(
    db: &mut dyn Db,
    tenant_id: i64,
    spec: &TokenSpec,
) -> Result<(TokenInfo, String), StoreError> {
    if spec.name.trim().is_empty() {
        return Err(ScimError::invalid_value("a token needs a name").into());
    }
    let expires = future_expiry(spec.expires.as_deref())?;
    let new = token::generate();
    let info = db.one(
        &format!(
            "INSERT INTO tokens (id, tenant_id, name, secret_hash, created, expires, scope)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {TOKEN_COLUMNS}"
        ),
        params![
            new.id.as_str(),
            tenant_id,
            spec.name.as_str(),
            new.secret_hash,
            now(),
            expires,
            spec.scope.as_str()
        ],
        token_from_row,
    )?;
    Ok((info, new.text))
}

pub(crate) fn rotate_token(
    db: &mut dyn Db,
    tenant_id: i64,
    id: &str,
    overlap_seconds: i64,
) -> Result<Rotation, StoreError> {
    if overlap_seconds < 0 {
        return Err(ScimError::invalid_value("the overlap cannot be negative").into());
    }
    let current = now();
    let old = db
        .row(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ? AND tenant_id = ?"),
            params![id, tenant_id],
            token_from_row,
        )?
        .filter(|t| {
            t.revoked.is_none()
                && !t
                    .expires
                    .as_deref()
                    .is_some_and(|e| super::tenants::expired(e, &current))
        })
        .ok_or_else(|| ScimError::not_found(format!("no active token with id '{id}'")))?;
    let (new, text) = create_token(
        db,
        tenant_id,
        &TokenSpec {
            name: old.name.clone(),
            // The new token keeps the old one's expiry only when that is later than the
            // rotation; otherwise it does not expire.
            expires: old.expires.clone(),
            scope: old.scope,
        },
    )?;
    let at = time::OffsetDateTime::now_utc();
    let end = format_time(at + time::Duration::seconds(overlap_seconds));
    let old_end = match &old.expires {
        Some(e) if super::tenants::expired(e, &end) => e.clone(),
        _ => end,
    };
    let revoked = (overlap_seconds == 0).then(|| format_time(at));
    let old = db.one(
        &format!(
            "UPDATE tokens SET expires = ?, revoked = ?, rotated_to = ? WHERE id = ?
             RETURNING {TOKEN_COLUMNS}"
        ),
        params![old_end, revoked, new.id.as_str(), id],
        token_from_row,
    )?;
    Ok(Rotation { new, text, old })
}

/// How often a token's `last_used` is written, per token and process: a busy token costs
/// one small write a minute, not one per request.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);
/// Tokens remembered; beyond that the memory is emptied (a token is then written again
/// at its next use).
const LAST_USED_CAPACITY: usize = 100_000;

/// When this process last wrote each token's `last_used`.
#[derive(Default)]
pub(crate) struct LastUsed {
    written: Mutex<HashMap<String, Instant>>,
}

impl LastUsed {
    /// Whether the token's use should be written now (and notes that it is).
    pub(crate) fn due(&self, token_id: &str) -> bool {
        let Ok(mut written) = self.written.lock() else {
            return false;
        };
        match written.get(token_id) {
            Some(at) if at.elapsed() < LAST_USED_EVERY => false,
            _ => {
                if written.len() >= LAST_USED_CAPACITY {
                    written.clear();
                }
                written.insert(token_id.to_string(), Instant::now());
                true
            }
        }
    }
}

/// `at` (RFC 3339, as `now()` writes it) rounded down to its minute.
pub(crate) fn to_the_minute(at: &str) -> String {
    at.get(..16)
        .map_or_else(|| at.to_string(), |m| format!("{m}:00.000Z"))
}

/// Records a use of the token (to the minute).
pub(crate) fn touch(db: &mut dyn Db, token_id: &str) -> Result<(), StoreError> {
    let minute = to_the_minute(&now());
    db.exec(
        "UPDATE tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)",
        params![minute.as_str(), token_id, minute.as_str()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_must_be_future_rfc3339_times() {
        assert_eq!(future_expiry(None).ok(), Some(None));
        assert!(future_expiry(Some("2020-01-01T00:00:00Z")).is_err());
        assert!(future_expiry(Some("tomorrow")).is_err());
        let later = future_expiry(Some("2999-01-01T00:00:00+02:00"))
            .ok()
            .flatten();
        assert_eq!(later.as_deref(), Some("2998-12-31T22:00:00.000Z"));
    }

    #[test]
    fn last_use_is_written_once_a_minute() {
        let l = LastUsed::default();
        assert!(l.due("a"));
        assert!(!l.due("a"));
        assert!(l.due("b"));
    }
}
