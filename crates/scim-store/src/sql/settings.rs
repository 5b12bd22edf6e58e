//! Per-tenant settings: rate limits and JWT mode (`tenant_settings`), and changes to a
//! tenant's delete mode and retention.

use scim_core::ScimError;

use super::db::{Db, DbExt, SqlValue, params};
use super::tenants::{TENANT_COLUMNS, tenant_from_row};
use crate::model::Tenant;
use crate::{JwtSettings, StoreError, TenantSettings, TenantUpdate};

pub(crate) fn tenant_settings(
    db: &mut dyn Db,
    tenant_id: i64,
) -> Result<TenantSettings, StoreError> {
    let row = db.row(
        "SELECT CAST(rate_per_minute AS TEXT), CAST(rate_burst AS TEXT), jwt
         FROM tenant_settings WHERE tenant_id = ?",
        params![tenant_id],
        |r| {
            let int = |i: usize| -> Result<Option<u32>, StoreError> {
                Ok(r.opt_text(i)?.and_then(|t| t.parse().ok()))
            };
            Ok((int(0)?, int(1)?, r.opt_text(2)?))
        },
    )?;
    let Some((rate_per_minute, rate_burst, jwt)) = row else {
        return Ok(TenantSettings::default());
    };
    let jwt = match jwt {
        Some(text) => Some(serde_json::from_str::<JwtSettings>(&text)?),
        None => None,
    };
    Ok(TenantSettings {
        rate_per_minute,
        rate_burst,
        jwt,
    })
}

pub(crate) fn update_tenant(
    db: &mut dyn Db,
    name: &str,
    update: &TenantUpdate,
) -> Result<Option<(Tenant, TenantSettings)>, StoreError> {
    let Some(tenant) = super::tenants::find_tenant(db, name, "")? else {
        return Ok(None);
    };
    if let Some(days) = update.retention_days
        && !(0..=36_500).contains(&days)
    {
        return Err(ScimError::invalid_value("the retention must be 0 to 36500 days").into());
    }
    for v in [update.rate_per_minute, update.rate_burst]
        .into_iter()
        .flatten()
        .flatten()
    {
        if v == 0 {
            return Err(ScimError::invalid_value(
                "a rate limit and a burst must be at least 1 (leave them unset for the default)",
            )
            .into());
        }
    }
    if let Some(Some(jwt)) = &update.jwt {
        jwt.validate().map_err(ScimError::invalid_value)?;
    }
    if let Some(mode) = update.delete_mode {
        db.exec(
            "UPDATE tenants SET delete_mode = ? WHERE id = ?",
            params![mode.as_str(), tenant.id],
        )?;
    }
    if let Some(days) = update.retention_days {
        db.exec(
            "UPDATE tenants SET retention_days = ? WHERE id = ?",
            params![days, tenant.id],
        )?;
    }
    let mut settings = tenant_settings(db, tenant.id)?;
    if let Some(rate) = update.rate_per_minute {
        settings.rate_per_minute = rate;
    }
    if let Some(burst) = update.rate_burst {
        settings.rate_burst = burst;
    }
    if let Some(jwt) = &update.jwt {
        settings.jwt = jwt.clone();
    }
    let int = |v: Option<u32>| v.map_or(SqlValue::Null, |v| SqlValue::Int(i64::from(v)));
    let jwt = match &settings.jwt {
        Some(j) => SqlValue::Text(serde_json::to_string(j)?),
        None => SqlValue::Null,
    };
    db.exec(
        "INSERT INTO tenant_settings (tenant_id, rate_per_minute, rate_burst, jwt)
         VALUES (?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?)
         ON CONFLICT (tenant_id) DO UPDATE SET rate_per_minute = excluded.rate_per_minute,
             rate_burst = excluded.rate_burst, jwt = excluded.jwt",
        &[
            SqlValue::Int(tenant.id),
            int(settings.rate_per_minute),
            int(settings.rate_burst),
            jwt,
        ],
    )?;
    let tenant = db.one(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?"),
        params![tenant.id],
        tenant_from_row,
    )?;
    Ok(Some((tenant, settings)))
}
