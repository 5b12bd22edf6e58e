//! Tenants and tokens.

use scim_core::ScimError;

use super::db::{Db, DbExt, SqlRow, params};
use super::now;
use crate::model::{DeleteMode, Tenant, TokenInfo};
use crate::{StoreError, token};

pub(crate) const TENANT_COLUMNS: &str = "id, name, created, delete_mode, retention_days, uid";

pub(crate) fn tenant_from_row(r: &dyn SqlRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.int(0)?,
        name: r.text(1)?,
        created: r.text(2)?,
        delete_mode: DeleteMode::parse(&r.text(3)?).unwrap_or(DeleteMode::Hard),
        retention_days: r.int(4)?,
        uid: r.text(5)?,
    })
}

/// A new tenant uid: 8 random bytes, hex.
fn new_uid() -> String {
    let mut bytes = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// Whether a tenant name is usable in a URL path segment.
pub(crate) fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn create_tenant(
    db: &mut dyn Db,
    name: &str,
    delete_mode: DeleteMode,
    retention_days: i64,
) -> Result<Tenant, StoreError> {
    if !valid_tenant_name(name) {
        return Err(ScimError::invalid_value(format!(
            "tenant name '{name}' must be 1-64 letters, digits, '-' or '_'"
        ))
        .into());
    }
    if tenant(db, name)?.is_some() {
        return Err(ScimError::uniqueness(format!("tenant '{name}' already exists")).into());
    }
    db.one(
        &format!(
            "INSERT INTO tenants (name, created, delete_mode, retention_days, change_seq, uid)
             VALUES (?, ?, ?, ?, 0, ?) RETURNING {TENANT_COLUMNS}"
        ),
        params![name, now(), delete_mode.as_str(), retention_days, new_uid()],
        tenant_from_row,
    )
}

pub(crate) fn tenant(db: &mut dyn Db, name: &str) -> Result<Option<Tenant>, StoreError> {
    db.row(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?"),
        params![name],
        tenant_from_row,
    )
}

pub(crate) fn list_tenants(db: &mut dyn Db) -> Result<Vec<Tenant>, StoreError> {
    db.rows(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"),
        &[],
        tenant_from_row,
    )
}

pub(crate) fn delete_tenant(db: &mut dyn Db, name: &str) -> Result<bool, StoreError> {
    let Some(t) = tenant(db, name)? else {
        return Ok(false);
    };
    for table in ["attr_index", "members", "changes", "resources", "tokens"] {
        db.exec(
            &format!("DELETE FROM {table} WHERE tenant_id = ?"),
            params![t.id],
        )?;
    }
    db.exec("DELETE FROM tenants WHERE id = ?", params![t.id])?;
    Ok(true)
}

const TOKEN_COLUMNS: &str = "id, tenant_id, name, created, expires, revoked";

fn token_from_row(r: &dyn SqlRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.text(0)?,
        tenant_id: r.int(1)?,
        name: r.text(2)?,
        created: r.text(3)?,
        expires: r.opt_text(4)?,
        revoked: r.opt_text(5)?,
    })
}

pub(crate) fn create_token(
    db: &mut dyn Db,
    tenant_id: i64,
    name: &str,
    expires: Option<String>,
) -> Result<(TokenInfo, String), StoreError> {
    if name.trim().is_empty() {
        return Err(ScimError::invalid_value("a token needs a name").into());
    }
    let new = token::generate();
    let info = db.one(
        &format!(
            "INSERT INTO tokens (id, tenant_id, name, secret_hash, created, expires)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING {TOKEN_COLUMNS}"
        ),
        params![
            new.id.as_str(),
            tenant_id,
            name,
            new.secret_hash,
            now(),
            expires
        ],
        token_from_row,
    )?;
    Ok((info, new.text))
}

pub(crate) fn list_tokens(db: &mut dyn Db, tenant_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
    db.rows(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE tenant_id = ? ORDER BY created, id"),
        params![tenant_id],
        token_from_row,
    )
}

pub(crate) fn revoke_token(db: &mut dyn Db, tenant_id: i64, id: &str) -> Result<bool, StoreError> {
    let n = db.exec(
        "UPDATE tokens SET revoked = ? WHERE id = ? AND tenant_id = ? AND revoked IS NULL",
        params![now(), id, tenant_id],
    )?;
    Ok(n > 0)
}

pub(crate) fn authenticate(
    db: &mut dyn Db,
    presented: &str,
    now: &str,
) -> Result<Option<(Tenant, TokenInfo)>, StoreError> {
    let Some((id, secret)) = token::split(presented) else {
        return Ok(None);
    };
    let row = db.row(
        &format!("SELECT {TOKEN_COLUMNS}, secret_hash FROM tokens WHERE id = ?"),
        params![id],
        |r| Ok((token_from_row(r)?, r.blob(6)?)),
    )?;
    let Some((info, hash)) = row else {
        return Ok(None);
    };
    if !token::verify(secret, &hash) || info.revoked.is_some() {
        return Ok(None);
    }
    if let Some(exp) = &info.expires
        && expired(exp, now)
    {
        return Ok(None);
    }
    let tenant = db.row(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?"),
        params![info.tenant_id],
        tenant_from_row,
    )?;
    Ok(tenant.map(|t| (t, info)))
}

pub(crate) fn expired(expires: &str, now: &str) -> bool {
    match (
        scim_core::value::parse_datetime(expires),
        scim_core::value::parse_datetime(now),
    ) {
        (Some(e), Some(n)) => n >= e,
        // An unreadable expiry is treated as expired: fail closed.
        _ => true,
    }
}
