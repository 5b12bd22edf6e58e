//! A short-lived cache of successful token checks, so that a busy tenant's requests (and a
//! management client's long polls of the event feed) do not each read the tokens tables.
//!
//! Only successes are cached (a flood of bad tokens cannot fill it). An entry lives
//! [`TTL`]; expiry times are still checked on every hit; revoking a token or deleting a
//! tenant through this store clears the cache at once. A revocation made by another process
//! (the admin CLI, another instance) takes effect within [`TTL`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::StoreError;
use crate::admin::AdminTokenInfo;
use crate::model::{Tenant, TokenInfo};

/// How long a successful check is reused.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; the cache is emptied when it is full.
const CAPACITY: usize = 10_000;

/// What a successful check found: a tenant's token with its tenant, or an admin token.
pub(crate) trait Checked: Clone {
    /// When the token stops working (RFC 3339), if ever.
    fn expires(&self) -> Option<&str>;
    /// The tenant the token belongs to, if any.
    fn tenant_id(&self) -> Option<i64>;
}

impl Checked for (Tenant, TokenInfo) {
    fn expires(&self) -> Option<&str> {
        self.1.expires.as_deref()
    }

    fn tenant_id(&self) -> Option<i64> {
        Some(self.0.id)
    }
}

impl Checked for AdminTokenInfo {
    fn expires(&self) -> Option<&str> {
        self.expires.as_deref()
    }

    fn tenant_id(&self) -> Option<i64> {
        None
    }
}

/// Checks remembered, by presented token: when each was made and what it found.
type Entries<V> = HashMap<String, (Instant, V)>;

pub(crate) struct AuthCache<V> {
    /// The entries, and a count of the clearings (see [`AuthCache::generation`]).
    entries: Mutex<(Entries<V>, u64)>,
}

impl<V> Default for AuthCache<V> {
    fn default() -> Self {
        AuthCache {
            entries: Mutex::default(),
        }
    }
}

impl<V: Checked> AuthCache<V> {
    /// What the check of this presented token found, if fresh and not expired at `now`.
    pub fn get(&self, token: &str, now: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (at, found) = entries.0.get(token)?;
        if at.elapsed() > TTL {
            return None;
        }
        if let Some(exp) = found.expires()
            && super::tenants::expired(exp, now)
        {
            return None;
        }
        Some(found.clone())
    }

    /// How many times entries were dropped ([`AuthCache::clear`],
    /// [`AuthCache::forget_tenant`]): taken before a check reads the database and given to
    /// [`AuthCache::put`], so that a check that read before a revocation committed is not
    /// remembered after the revocation cleared the cache.
    pub fn generation(&self) -> u64 {
        self.entries.lock().map_or(u64::MAX, |entries| entries.1)
    }

    /// Remembers a successful check that began at `generation`, unless entries were dropped
    /// since.
    pub fn put(&self, token: &str, found: &V, generation: u64) {
        if let Ok(mut guard) = self.entries.lock() {
            let (entries, dropped) = &mut *guard;
            if *dropped != generation {
                return;
            }
            if entries.len() >= CAPACITY {
                entries.clear();
            } else if entries.len() >= 64 && entries.len().is_power_of_two() {
                // Stale entries (and the secrets they are keyed by) go before the map grows.
                entries.retain(|_, (at, _)| at.elapsed() <= TTL);
            }
            entries.insert(token.to_string(), (Instant::now(), found.clone()));
        }
    }

    /// The remembered check of `token` at `now`, or else what `check` finds (read from the
    /// database; not called on a hit), remembered when it is a success.
    pub async fn get_or_check<C, F>(
        &self,
        token: &str,
        now: &str,
        check: C,
    ) -> Result<Option<V>, StoreError>
    where
        C: FnOnce() -> F,
        F: Future<Output = Result<Option<V>, StoreError>>,
    {
        if let Some(hit) = self.get(token, now) {
            return Ok(Some(hit));
        }
        // Taken before the read: a clearing while it runs leaves its answer unremembered.
        let generation = self.generation();
        let found = check().await?;
        if let Some(found) = &found {
            self.put(token, found, generation);
        }
        Ok(found)
    }

    /// Drops the entries of one tenant (found deleted by a write).
    pub fn forget_tenant(&self, tenant_id: i64) {
        if let Ok(mut guard) = self.entries.lock() {
            guard.1 += 1;
            guard
                .0
                .retain(|_, (_, found)| found.tenant_id() != Some(tenant_id));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut guard) = self.entries.lock() {
            guard.1 += 1;
            guard.0.clear();
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
        let found = pair(None);
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());
        cache.put("x", &found, cache.generation());
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_some());
        cache.clear();
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());

        cache.put("y", &pair(Some("2026-03-01T00:00:00Z")), cache.generation());
        assert!(cache.get("y", "2026-02-01T00:00:00Z").is_some());
        assert!(
            cache.get("y", "2026-04-01T00:00:00Z").is_none(),
            "expired tokens never hit"
        );
        cache.forget_tenant(2);
        assert!(cache.get("y", "2026-02-01T00:00:00Z").is_some());
        cache.forget_tenant(1);
        assert!(cache.get("y", "2026-02-01T00:00:00Z").is_none());
    }

    #[test]
    fn admin_tokens_are_cached_with_their_expiry() {
        let cache: AuthCache<AdminTokenInfo> = AuthCache::default();
        let token = AdminTokenInfo {
            id: "a".into(),
            name: "ops".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
            expires: Some("2026-03-01T00:00:00Z".into()),
            revoked: None,
            last_used: None,
        };
        cache.put("scimadm_a_s", &token, cache.generation());
        assert_eq!(
            cache
                .get("scimadm_a_s", "2026-02-01T00:00:00Z")
                .map(|t| t.name),
            Some("ops".to_string())
        );
        assert!(cache.get("scimadm_a_s", "2026-04-01T00:00:00Z").is_none());
        // Tenants' deletions leave admin tokens alone.
        cache.forget_tenant(1);
        assert!(cache.get("scimadm_a_s", "2026-02-01T00:00:00Z").is_some());
        cache.clear();
        assert!(cache.get("scimadm_a_s", "2026-02-01T00:00:00Z").is_none());
    }

    #[tokio::test]
    async fn get_or_check_reads_on_a_miss_and_remembers_successes() {
        const NOW: &str = "2026-06-01T00:00:00Z";
        let cache = AuthCache::default();
        let found = cache
            .get_or_check("x", NOW, || async { Ok(Some(pair(None))) })
            .await
            .unwrap();
        assert!(found.is_some());
        // A hit does not read.
        let hit = cache
            .get_or_check("x", NOW, || async {
                Err(StoreError::Database("read on a hit".into()))
            })
            .await;
        assert!(hit.unwrap().is_some());
        // A failed check is not remembered; neither is one the cache was cleared during.
        assert!(
            cache
                .get_or_check("y", NOW, || async { Ok(None) })
                .await
                .unwrap()
                .is_none()
        );
        let during = cache
            .get_or_check("z", NOW, || async {
                cache.clear();
                Ok(Some(pair(None)))
            })
            .await;
        assert!(during.unwrap().is_some());
        assert!(cache.get("z", NOW).is_none());
        assert!(cache.get("x", NOW).is_none(), "cleared");
    }

    #[test]
    fn a_check_that_began_before_a_clearing_is_not_remembered() {
        let cache = AuthCache::default();
        let began = cache.generation();
        // A revocation commits and clears the cache while the check is reading.
        cache.clear();
        cache.put("x", &pair(None), began);
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());
        // The same for a tenant forgotten meanwhile.
        let began = cache.generation();
        cache.forget_tenant(9);
        cache.put("x", &pair(None), began);
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_none());
        cache.put("x", &pair(None), cache.generation());
        assert!(cache.get("x", "2026-06-01T00:00:00Z").is_some());
    }
}
