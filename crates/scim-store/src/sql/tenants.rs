//! Tenants and tokens.

use scim_core::ScimError;

use super::db::{Db, DbExt, SqlRow, params};
use super::now;
use crate::model::{DeleteMode, Tenant, TokenInfo};
use crate::{StoreError, TokenScope, TokenSpec, token};

pub(crate) const TENANT_COLUMNS: &str = "id, name, created, delete_mode, retention_days, uid";

pub(crate) fn tenant_from_row(r: &dyn SqlRow) -> Result<Tenant, StoreError> {
    tenant_at(r, 0)
}

/// A tenant from the columns of [`TENANT_COLUMNS`] starting at column `at`.
fn tenant_at(r: &dyn SqlRow, at: usize) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.int(at)?,
        name: r.text(at + 1)?,
        created: r.text(at + 2)?,
        delete_mode: DeleteMode::parse(&r.text(at + 3)?).unwrap_or(DeleteMode::Hard),
        retention_days: r.int(at + 4)?,
        uid: r.text(at + 5)?,
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
    // Names are case-insensitive: `Acme` is refused when `acme` exists.
    if let Some(existing) = db.row(
        "SELECT name FROM tenants WHERE lower(name) = lower(?)",
        params![name],
        |r| r.text(0),
    )? {
        let detail = if existing == name {
            format!("tenant '{name}' already exists")
        } else {
            format!(
                "tenant '{existing}' already exists, and tenant names are case-insensitive: \
                 '{name}' would name the same tenant"
            )
        };
        return Err(ScimError::uniqueness(detail).into());
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

/// The statement of a lookup by name ([`find_tenant`] without a lock), bound `(name, name)`:
/// one statement, which a store may run without a transaction around it.
pub(crate) fn tenant_statement() -> String {
    find_statement("")
}

fn find_statement(lock: &str) -> String {
    format!(
        "SELECT {TENANT_COLUMNS} FROM tenants
         WHERE name = ? OR (lower(name) = lower(?) AND case_twin IS NULL){lock}"
    )
}

/// Of the tenants a lookup by `name` found, the one the name designates (see [`find_tenant`]).
pub(crate) fn pick_tenant(found: Vec<Tenant>, name: &str) -> Option<Tenant> {
    let exact = found.iter().position(|t| t.name == name);
    match exact {
        Some(i) => found.into_iter().nth(i),
        None => found.into_iter().next(),
    }
}

/// The tenant a name designates, in any letter case: the tenant of that exact name, else
/// the one whose name differs only by case. Two tenants created before names became
/// case-insensitive whose names differ only by case (`case_twin`, migration 0008) are
/// each found by their exact name only. `lock` is appended to the query (` FOR UPDATE`).
pub(crate) fn find_tenant(
    db: &mut dyn Db,
    name: &str,
    lock: &str,
) -> Result<Option<Tenant>, StoreError> {
    let found = db.rows(&find_statement(lock), params![name, name], tenant_from_row)?;
    Ok(pick_tenant(found, name))
}

pub(crate) fn list_tenants(db: &mut dyn Db) -> Result<Vec<Tenant>, StoreError> {
    db.rows(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY name"),
        &[],
        tenant_from_row,
    )
}

pub(crate) fn delete_tenant(db: &mut dyn Db, name: &str) -> Result<bool, StoreError> {
    // PostgreSQL: lock the tenant's row first. A concurrent write then either committed
    // before (its rows are deleted here) or waits and finds the tenant gone (its change
    // counter row, its foreign keys): no write of a deleted tenant survives, none gets a 500.
    let lock = if db.dialect() == super::db::Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let Some(t) = find_tenant(db, name, lock)? else {
        return Ok(false);
    };
    for table in [
        "attr_index",
        "members",
        "ended_memberships",
        "changes",
        "resources",
        "tokens",
        "audit_members",
        "audit_states",
        "audit_progress",
        "role_rules",
        "user_roles",
    ] {
        db.exec(
            &format!("DELETE FROM {table} WHERE tenant_id = ?"),
            params![t.id],
        )?;
    }
    db.exec("DELETE FROM tenants WHERE id = ?", params![t.id])?;
    // The last of tenants whose names differed only by case becomes an ordinary tenant,
    // found in any spelling (migration 0008).
    db.exec(
        "UPDATE tenants SET case_twin = NULL
         WHERE lower(name) = lower(?) AND case_twin IS NOT NULL
           AND (SELECT count(*) FROM tenants o WHERE lower(o.name) = lower(?)) = 1",
        params![t.name.as_str(), t.name.as_str()],
    )?;
    Ok(true)
}

pub(crate) const TOKEN_COLUMNS: &str =
    "id, tenant_id, name, created, expires, revoked, scope, last_used";
/// How many columns [`TOKEN_COLUMNS`] has.
const TOKEN_FIELDS: usize = 8;

pub(crate) fn token_from_row(r: &dyn SqlRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.text(0)?,
        tenant_id: r.int(1)?,
        name: r.text(2)?,
        created: r.text(3)?,
        expires: r.opt_text(4)?,
        revoked: r.opt_text(5)?,
        scope: TokenScope::parse(&r.text(6)?).unwrap_or(TokenScope::Read),
        last_used: r.opt_text(7)?,
    })
}

pub(crate) fn create_token(
    db: &mut dyn Db,
    tenant_id: i64,
    name: &str,
    expires: Option<String>,
) -> Result<(TokenInfo, String), StoreError> {
    let spec = TokenSpec {
        name: name.to_string(),
        expires,
        scope: TokenScope::Write,
    };
    super::lifecycle::create_token(db, tenant_id, &spec)
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

/// A token's row with its tenant, as [`authenticate`] reads it in one statement.
type TokenRow = (TokenInfo, Vec<u8>, Tenant);

pub(crate) fn authenticate(
    db: &mut dyn Db,
    presented: &str,
    now: &str,
) -> Result<Option<(Tenant, TokenInfo)>, StoreError> {
    let Some((id, secret)) = token::split(presented) else {
        return Ok(None);
    };
    // One statement whether or not the id exists (the tenant comes with the token).
    let columns = TOKEN_COLUMNS
        .split(", ")
        .map(|c| format!("k.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let tenant_columns = TENANT_COLUMNS
        .split(", ")
        .map(|c| format!("t.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = db.row(
        &format!(
            "SELECT {columns}, k.secret_hash, {tenant_columns}
             FROM tokens k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?"
        ),
        params![id],
        |r| {
            Ok((
                token_from_row(r)?,
                r.blob(TOKEN_FIELDS)?,
                tenant_at(r, TOKEN_FIELDS + 1)?,
            ))
        },
    )?;
    Ok(check_token(secret, row, now, token::verify))
}

/// The SHA-256 an unknown token id's secret is compared with, so that checking a token
/// whose id does not exist costs the same as checking one whose secret is wrong.
const DUMMY_HASH: [u8; 32] = [0x5a; 32];

/// Decides a token check from its row (if the id exists). The secret is hashed and
/// compared exactly once on every path: against the stored hash, or a dummy one.
fn check_token(
    secret: &str,
    row: Option<TokenRow>,
    now: &str,
    verify: impl Fn(&str, &[u8]) -> bool,
) -> Option<(Tenant, TokenInfo)> {
    let Some((info, hash, tenant)) = row else {
        let _ = verify(secret, &DUMMY_HASH);
        return None;
    };
    if !verify(secret, &hash) || info.revoked.is_some() {
        return None;
    }
    if let Some(exp) = &info.expires
        && expired(exp, now)
    {
        return None;
    }
    Some((tenant, info))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use super::*;

    fn row(expires: Option<&str>, revoked: bool) -> TokenRow {
        let new = token::generate();
        let info = TokenInfo {
            id: new.id.clone(),
            tenant_id: 1,
            name: "okta".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
            expires: expires.map(str::to_string),
            revoked: revoked.then(|| "2026-01-02T00:00:00.000Z".to_string()),
            scope: TokenScope::Write,
            last_used: None,
        };
        let tenant = Tenant {
            id: 1,
            name: "acme".into(),
            uid: "0011223344556677".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
            delete_mode: DeleteMode::Hard,
            retention_days: 30,
        };
        (info, token::hash("right"), tenant)
    }

    /// Defect 8: a check of an existing token id took measurably longer than one of an
    /// unknown id (the secret was hashed and the tenant read only for existing ids). Every
    /// path now hashes and compares exactly once, after one statement.
    #[test]
    fn every_path_hashes_and_compares_once() {
        let now = "2026-06-01T00:00:00Z";
        let cases: Vec<(Option<TokenRow>, &str, bool)> = vec![
            (None, "right", false),
            (Some(row(None, false)), "wrong", false),
            (Some(row(None, false)), "right", true),
            (Some(row(None, true)), "right", false),
            (
                Some(row(Some("2026-02-01T00:00:00Z"), false)),
                "right",
                false,
            ),
        ];
        for (r, secret, valid) in cases {
            let calls = Cell::new(0);
            let verify = |s: &str, h: &[u8]| {
                calls.set(calls.get() + 1);
                token::verify(s, h)
            };
            assert_eq!(check_token(secret, r, now, verify).is_some(), valid);
            assert_eq!(calls.get(), 1);
        }
    }
}
