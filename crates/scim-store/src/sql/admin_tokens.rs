//! Administration tokens.

use scim_core::ScimError;

use super::db::{Db, DbExt, SqlRow, params};
use super::now;
use super::tenants::expired;
use crate::admin::AdminTokenInfo;
use crate::{StoreError, token};

const COLUMNS: &str = "id, name, created, expires, revoked, last_used";

fn from_row(r: &dyn SqlRow) -> Result<AdminTokenInfo, StoreError> {
    Ok(AdminTokenInfo {
        id: r.text(0)?,
        name: r.text(1)?,
        created: r.text(2)?,
        expires: r.opt_text(3)?,
        revoked: r.opt_text(4)?,
        last_used: r.opt_text(5)?,
    })
}

pub(crate) fn create(
    db: &mut dyn Db,
    name: &str,
    expires: Option<String>,
) -> Result<(AdminTokenInfo, String), StoreError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(
            ScimError::invalid_value("an admin token needs a name (1-200 characters)").into(),
        );
    }
    let created = now();
    if let Some(exp) = &expires {
        if scim_core::value::parse_datetime(exp).is_none() {
            return Err(ScimError::invalid_value(format!(
                "expiry '{exp}' is not an RFC 3339 date-time"
            ))
            .into());
        }
        if expired(exp, &created) {
            return Err(ScimError::invalid_value(format!("expiry '{exp}' is in the past")).into());
        }
    }
    let new = token::generate_with(token::ADMIN_PREFIX);
    let info = db.one(
        &format!(
            "INSERT INTO admin_tokens (id, name, secret_hash, created, expires)
             VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ),
        params![new.id.as_str(), name, new.secret_hash, created, expires],
        from_row,
    )?;
    Ok((info, new.text))
}

pub(crate) fn list(db: &mut dyn Db) -> Result<Vec<AdminTokenInfo>, StoreError> {
    db.rows(
        &format!("SELECT {COLUMNS} FROM admin_tokens ORDER BY created, id"),
        &[],
        from_row,
    )
}

pub(crate) fn revoke(db: &mut dyn Db, id: &str) -> Result<bool, StoreError> {
    let n = db.exec(
        "UPDATE admin_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
        params![now(), id],
    )?;
    Ok(n > 0)
}

/// Records a use of the admin token (to the minute), as `lifecycle::touch` does for a
/// tenant's token.
pub(crate) fn touch(db: &mut dyn Db, id: &str) -> Result<(), StoreError> {
    let minute = super::lifecycle::to_the_minute(&now());
    db.exec(
        "UPDATE admin_tokens SET last_used = ?
         WHERE id = ? AND (last_used IS NULL OR last_used < ?)",
        params![minute.as_str(), id, minute.as_str()],
    )?;
    Ok(())
}

/// A hash no secret has, compared against when the id is unknown, so that an unknown id and
/// a wrong secret take the same work.
const NO_HASH: [u8; 32] = [0; 32];

pub(crate) fn authenticate(
    db: &mut dyn Db,
    presented: &str,
    now: &str,
) -> Result<Option<AdminTokenInfo>, StoreError> {
    let Some((id, secret)) = token::split_with(presented, token::ADMIN_PREFIX) else {
        return Ok(None);
    };
    let row = db.row(
        &format!("SELECT {COLUMNS}, secret_hash FROM admin_tokens WHERE id = ?"),
        params![id],
        |r| Ok((from_row(r)?, r.blob(6)?)),
    )?;
    let (info, hash) = match row {
        Some((info, hash)) => (Some(info), hash),
        None => (None, NO_HASH.to_vec()),
    };
    let verified = token::verify(secret, &hash);
    let Some(info) = info else {
        return Ok(None);
    };
    if !verified || info.revoked.is_some() {
        return Ok(None);
    }
    if let Some(exp) = &info.expires
        && expired(exp, now)
    {
        return Ok(None);
    }
    Ok(Some(info))
}
