//! A short-lived cache of successful token checks, so that a busy tenant's requests do not
//! each read the tokens and tenants tables.
//!
//! Only successes are cached (a flood of bad tokens cannot fill it). An entry lives
//! [`TTL`]; expiry times are still checked on every hit; revoking a token or deleting a
//! tenant through this store clears the cache at once. A revocation made by another process
//! (the admin CLI, another instance) takes effect within [`TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::{Tenant, TokenInfo};

/// How long a successful check is reused.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; the cache is emptied when it is full.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<String, (Instant, Tenant, TokenInfo)>>,
}

impl AuthCache {
    /// The cached tenant and token for this presented token, if fresh and not expired at `now`.
    pub fn get(&self, token: &str, now: &str) -> Option<(Tenant, TokenInfo)> {
        let entries = self.entries.lock().ok()?;
        let (at, tenant, info) = entries.get(token)?;
        if at.elapsed() > TTL {
            return None;
        }
        if let Some(exp) = &info.expires
            && super::tenants::expired(exp, now)
        {
            return None;
        }
        Some((tenant.clone(), info.clone()))
    }

    pub fn put(&self, token: &str, tenant: &Tenant, info: &TokenInfo) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                token.to_string(),
                (Instant::now(), tenant.clone(), info.clone()),
            );
        }
    }

    /// Drops the entries of one tenant (found deleted by a write).
    pub fn forget_tenant(&self, tenant_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, tenant, _)| tenant.id != tenant_id);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeleteMode;

    fn pair(expires: Option<&str>) -> (Tenant, TokenInfo) {
        (
            Tenant {
                id: 1,
                name: "acme".into(),
                uid: "00112233aabbccdd".into(),
                created: "2026-01-01T00:00:00.000Z".into(),
                delete_mode: DeleteMode::Hard,
                retention_days: 30,
            },
            TokenInfo {
                id: "t".into(),
                tenant_id: 1,
                name: "okta".into(),
                created: "2026-01-01T00:00:00.000Z".into(),
                expires: expires.map(str::to_string),
                revoked: None,
                scope: crate::TokenScope::Write,
                last_used: None,
            },
        )
    }

    #[test]
    fn hits_until_cleared_and_respects_expiry() {
        let cache = AuthCache::default();
        let (t, i) = pair(None);
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());
        cache.put("x", &t, &i);
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_some());
        cache.clear();
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());

        let (t, i) = pair(Some("2026-03-01T00:00:00Z"));
        cache.put("y", &t, &i);
        assert!(cache.get("y", "2026-02-01T00:00:00Z").is_some());
        assert!(
            cache.get("y", "2026-04-01T00:00:00Z").is_none(),
            "expired tokens never hit"
        );
    }
}
