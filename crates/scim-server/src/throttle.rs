//! Per-tenant request rate limits, and throttling of authentication attempts that do not
//! come with a token this server has recently accepted.
//!
//! Rate limits: a token bucket per tenant ([`governor`]'s GCRA), with the tenant's own rate
//! and burst (`scim tenant update --rate-limit N[/s] --burst M`) or the server's defaults.
//! A Bulk request takes one unit per operation. Over the limit, the request is answered
//! 429 with `Retry-After`, before it reaches the store.
//!
//! Some requests are checked twice: on authentication for their announced size, then, once
//! the body is read, for what the size did not pay (a Bulk request's operations beyond it, a
//! body sent without `Content-Length`). A request refused (429) at that second check has
//! paid for the first: those units become the tenant's *credit*, spent first by its next
//! second check ([`Throttle::admit_more`]). Without it, two clients retrying large Bulk
//! requests every second paid more for their bodies than the bucket refilled, and neither
//! was ever admitted. Credit is at most one burst (the current one), so a tenant can take at
//! most twice its burst at once. Over time it pays for every operation it runs; the reading
//! of a refused request's body is counted towards the operations of a later one, so that
//! work is paid at most once, not once per attempt.
//!
//! Authentication throttling: each failed authentication takes a unit from its source
//! address's bucket and from its token id's bucket; when one is empty, the address (or the
//! token id) is blocked until it has a unit again, and while it is blocked a request whose
//! bearer token is not one this server accepted in the last hour is answered 429 *before*
//! the token is looked up (no database work). Valid tokens never take units (a burst of
//! first requests with a new token is not slowed), and a token that was in use keeps
//! working while guesses come from the same address.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use scim_core::ScimError;
use scim_store::TenantSettings;

/// Rate limit settings of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Requests per minute a tenant may send on average, unless its own setting says
    /// otherwise.
    pub default_rate_per_minute: u32,
    /// Requests a tenant may send at once above the average.
    pub default_burst: u32,
    /// Failed authentications per minute, per source address (a tenth of it per token id).
    pub auth_attempts_per_minute: u32,
    /// … and how many may come at once.
    pub auth_attempt_burst: u32,
    /// How long a tenant's settings are reused before they are read again (a change made
    /// with `scim tenant update` reaches running servers within this time).
    pub settings_ttl: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            // 50 requests/s: twice what Microsoft requires a gallery app to sustain per
            // tenant (25/s); see the README's "Limits". The burst is a full Bulk request.
            default_rate_per_minute: 3000,
            default_burst: 1000,
            auth_attempts_per_minute: 60,
            auth_attempt_burst: 30,
            settings_ttl: Duration::from_secs(5),
        }
    }
}

/// A tenant's bucket and the settings it was built from.
struct TenantEntry {
    settings: TenantSettings,
    fetched: Instant,
    quota: (u32, u32),
    limiter: Arc<DefaultDirectRateLimiter>,
    used: Instant,
    /// Units paid by requests refused at their second check (see the module's note).
    credit: u32,
}

/// Tokens accepted recently are remembered (as SHA-256) for this long.
const KNOWN_GOOD_FOR: Duration = Duration::from_secs(3600);
const KNOWN_GOOD_CAPACITY: usize = 100_000;
/// Keyed state and idle tenants are pruned every this many checks.
const PRUNE_EVERY: u64 = 10_000;

/// The server's rate limits and authentication throttling.
pub struct Throttle {
    config: ThrottleConfig,
    tenants: Mutex<HashMap<i64, TenantEntry>>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_token_id: DefaultKeyedRateLimiter<String>,
    /// Tokens accepted recently, by a keyed hash of their text (the secrets are not kept).
    known_good: Mutex<HashMap<u64, Instant>>,
    /// The key of that hash: random per process (SipHash), so that nobody can aim a guess
    /// at an accepted token's entry. A guess that collided anyway would only skip the
    /// check for a block, not the token's verification.
    known_key: RandomState,
    /// Addresses and token ids whose bucket is empty, until when.
    blocked: Mutex<HashMap<Blocked, Instant>>,
    checks: AtomicU64,
}

/// What a run of failed authentications blocks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Blocked {
    Address(IpAddr),
    TokenId(String),
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// A bucket refilled at `per_minute` units a minute holding at most `burst`.
fn quota(per_minute: u32, burst: u32) -> Quota {
    let period = Duration::from_secs_f64(60.0 / f64::from(per_minute.max(1)));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(nonzero(burst))
}

/// 429 with a `Retry-After` of `wait` (at least a second) and a SCIM error body.
pub fn too_many(detail: impl Into<String>, wait: Duration) -> ScimError {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
    ScimError::new(429, None, detail).with_retry_after(secs)
}

impl Throttle {
    /// Rate limiters and authentication throttling with these settings.
    pub fn new(config: ThrottleConfig) -> Throttle {
        let auth = quota(config.auth_attempts_per_minute, config.auth_attempt_burst);
        // A token id can be guessed at from many addresses: a tenth of the address rate.
        let per_id = quota(
            (config.auth_attempts_per_minute / 10).max(1),
            (config.auth_attempt_burst / 3).max(1),
        );
        Throttle {
            by_address: RateLimiter::keyed(auth),
            by_token_id: RateLimiter::keyed(per_id),
            tenants: Mutex::new(HashMap::new()),
            known_good: Mutex::new(HashMap::new()),
            known_key: RandomState::new(),
            blocked: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
            config,
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// A tenant's settings if read within the TTL.
    pub fn cached_settings(&self, tenant_id: i64) -> Option<TenantSettings> {
        let tenants = self.tenants.lock().ok()?;
        let e = tenants.get(&tenant_id)?;
        (e.fetched.elapsed() < self.config.settings_ttl).then(|| e.settings.clone())
    }

    /// Remembers a tenant's settings (read from the store) and rebuilds its bucket if its
    /// rate changed.
    pub fn store_settings(&self, tenant_id: i64, settings: TenantSettings) {
        let q = self.quota_of(&settings);
        if let Ok(mut tenants) = self.tenants.lock() {
            let now = Instant::now();
            match tenants.get_mut(&tenant_id) {
                Some(e) => {
                    if e.quota != q {
                        e.limiter = Arc::new(RateLimiter::direct(quota(q.0, q.1)));
                        e.quota = q;
                        e.credit = e.credit.min(q.1);
                    }
                    e.settings = settings;
                    e.fetched = now;
                }
                None => {
                    tenants.insert(
                        tenant_id,
                        TenantEntry {
                            settings,
                            fetched: now,
                            quota: q,
                            limiter: Arc::new(RateLimiter::direct(quota(q.0, q.1))),
                            used: now,
                            credit: 0,
                        },
                    );
                }
            }
        }
    }

    /// (rate per minute, burst) for a tenant's settings.
    pub fn quota_of(&self, settings: &TenantSettings) -> (u32, u32) {
        (
            settings
                .rate_per_minute
                .unwrap_or(self.config.default_rate_per_minute),
            settings.rate_burst.unwrap_or(self.config.default_burst),
        )
    }

    /// The most units one request may take at once (a Bulk request's operations).
    pub fn burst_of(&self, settings: &TenantSettings) -> u32 {
        self.quota_of(settings).1
    }

    /// Takes `n` units from the tenant's bucket, or says how long to wait.
    pub fn admit(&self, tenant_id: i64, n: u32) -> Result<(), ScimError> {
        self.maybe_prune();
        let limiter = {
            let Ok(mut tenants) = self.tenants.lock() else {
                return Ok(());
            };
            match tenants.get_mut(&tenant_id) {
                Some(e) => {
                    e.used = Instant::now();
                    e.limiter.clone()
                }
                None => return Ok(()),
            }
        };
        match limiter.check_n(nonzero(n)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(too_many(
                "This tenant is sending requests faster than its rate limit; retry after the time in Retry-After",
                // The limiter's own clock: making a clock runs CPUID (~35 µs a 429 under KVM).
                not_until.wait_time_from(limiter.clock().now()),
            )),
            Err(_) => Err(ScimError::payload_too_large(format!(
                "This request needs {n} units of the tenant's rate limit, more than its burst allows; send fewer operations or a smaller body at once"
            ))),
        }
    }

    /// Takes `n` more units for a request that took `paid` already (a Bulk request's
    /// operations beyond its size; a body larger than it announced), spending the tenant's
    /// credit first. Refused, the request's `paid` units become credit, so that the retry
    /// of a large request is not charged again and again for the same attempt.
    pub fn admit_more(&self, tenant_id: i64, paid: u32, n: u32) -> Result<(), ScimError> {
        if n == 0 {
            return Ok(());
        }
        let spent = self.take_credit(tenant_id, n);
        if spent == n {
            return Ok(());
        }
        let admitted = self.admit(tenant_id, n - spent);
        match &admitted {
            // Refused for now: what this request paid waits for the tenant's next check.
            Err(e) if e.status == 429 => self.add_credit(tenant_id, spent.saturating_add(paid)),
            // Never admissible (more than the burst): only the credit taken goes back.
            Err(_) => self.add_credit(tenant_id, spent),
            Ok(()) => {}
        }
        admitted
    }

    /// Takes up to `n` units of a tenant's credit; returns how many.
    fn take_credit(&self, tenant_id: i64, n: u32) -> u32 {
        let Ok(mut tenants) = self.tenants.lock() else {
            return 0;
        };
        let Some(e) = tenants.get_mut(&tenant_id) else {
            return 0;
        };
        let spent = e.credit.min(n);
        e.credit -= spent;
        spent
    }

    /// Gives a tenant `n` units of credit, up to its burst.
    fn add_credit(&self, tenant_id: i64, n: u32) {
        if let Ok(mut tenants) = self.tenants.lock()
            && let Some(e) = tenants.get_mut(&tenant_id)
        {
            e.credit = e.credit.saturating_add(n).min(e.quota.1);
        }
    }

    /// The key of a token in `known_good`: a keyed SipHash, ~100 instructions (SHA-256
    /// took ~7,000, twice on every request).
    fn token_key(&self, token: &str) -> u64 {
        self.known_key.hash_one(token)
    }

    fn keys(peer: Option<IpAddr>, token: &str) -> Vec<Blocked> {
        let mut keys = Vec::with_capacity(2);
        if let Some(ip) = peer {
            keys.push(Blocked::Address(ip));
        }
        if let Some((id, _)) = scim_store::token::split(token) {
            keys.push(Blocked::TokenId(id.to_string()));
        }
        keys
    }

    /// Before a token is looked up: a token accepted recently passes; any other is refused
    /// (429) while its source address or its token id is blocked.
    pub fn before_authentication(
        &self,
        peer: Option<IpAddr>,
        token: &str,
    ) -> Result<(), ScimError> {
        let key = self.token_key(token);
        if let Ok(known) = self.known_good.lock()
            && known
                .get(&key)
                .is_some_and(|at| at.elapsed() < KNOWN_GOOD_FOR)
        {
            return Ok(());
        }
        let Ok(blocked) = self.blocked.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let wait = Self::keys(peer, token)
            .iter()
            .filter_map(|k| blocked.get(k))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max();
        match wait {
            Some(wait) => Err(too_many(
                "Too many failed authentication attempts; retry after the time in Retry-After",
                wait,
            )),
            None => Ok(()),
        }
    }

    /// A token was refused: a unit from its address's and its token id's buckets; an empty
    /// bucket blocks the address or the id until it has a unit again.
    pub fn authentication_failed(&self, peer: Option<IpAddr>, token: &str) {
        self.maybe_prune();
        for key in Self::keys(peer, token) {
            let (checked, now) = match &key {
                Blocked::Address(ip) => {
                    (self.by_address.check_key(ip), self.by_address.clock().now())
                }
                Blocked::TokenId(id) => (
                    self.by_token_id.check_key(id),
                    self.by_token_id.clock().now(),
                ),
            };
            if let Err(not_until) = checked
                && let Ok(mut blocked) = self.blocked.lock()
            {
                blocked.insert(key, Instant::now() + not_until.wait_time_from(now));
            }
        }
    }

    /// A token was accepted: later requests with it skip the attempt buckets.
    pub fn authenticated(&self, token: &str) {
        let key = self.token_key(token);
        if let Ok(mut known) = self.known_good.lock() {
            if known.len() >= KNOWN_GOOD_CAPACITY {
                known.retain(|_, at| at.elapsed() < KNOWN_GOOD_FOR);
                if known.len() >= KNOWN_GOOD_CAPACITY {
                    known.clear();
                }
            }
            known.insert(key, Instant::now());
        }
    }

    /// Forgets buckets that are full again and tenants idle for ten minutes.
    fn maybe_prune(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY != PRUNE_EVERY - 1 {
            return;
        }
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
        self.by_token_id.retain_recent();
        self.by_token_id.shrink_to_fit();
        if let Ok(mut blocked) = self.blocked.lock() {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.retain(|_, e| e.used.elapsed() < Duration::from_secs(600));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_tenant_over_its_burst_waits_and_bulk_counts_operations() {
        let t = Throttle::new(ThrottleConfig::default());
        t.store_settings(
            1,
            TenantSettings {
                rate_per_minute: Some(60),
                rate_burst: Some(3),
                jwt: None,
            },
        );
        assert!(t.admit(1, 2).is_ok());
        assert!(t.admit(1, 1).is_ok());
        let e = t.admit(1, 1).unwrap_err();
        assert_eq!(e.status, 429);
        assert!(e.retry_after.is_some_and(|s| s >= 1));
        assert_eq!(t.admit(1, 4).unwrap_err().status, 413);
        // Another tenant is unaffected; an unknown tenant is not limited here.
        t.store_settings(2, TenantSettings::default());
        assert!(t.admit(2, 100).is_ok());
        assert!(t.admit(3, 1).is_ok());
    }

    /// Two large requests checked twice, interleaved: the one refused at its second check
    /// leaves what it paid as credit, which the other's second check spends, so one of
    /// them is admitted where, without credit, both were refused and both paid.
    #[test]
    fn units_paid_by_a_refused_request_are_credited_to_the_next() {
        let t = Throttle::new(ThrottleConfig::default());
        // One unit a minute: nothing refills during the test.
        t.store_settings(
            1,
            TenantSettings {
                rate_per_minute: Some(1),
                rate_burst: Some(100),
                jwt: None,
            },
        );
        // Each pays 30 for its size, then needs 70 for its operations.
        t.admit(1, 30).unwrap();
        t.admit(1, 30).unwrap();
        assert_eq!(t.admit_more(1, 30, 70).unwrap_err().status, 429);
        t.admit_more(1, 30, 70).unwrap();
        // Bucket and credit are empty now: the refused one's retry waits.
        assert_eq!(t.admit(1, 1).unwrap_err().status, 429);
        assert_eq!(t.take_credit(1, 100), 0);
        // Credit is at most the burst, and spent before the bucket.
        t.add_credit(1, 500);
        assert_eq!(t.take_credit(1, 1000), 100);
        t.add_credit(1, 5);
        t.admit_more(1, 0, 5).unwrap();
        assert_eq!(t.admit_more(1, 0, 1).unwrap_err().status, 429);
        // A request that can never be admitted (413) gets nothing back for what it paid.
        assert_eq!(t.admit_more(1, 7, 101).unwrap_err().status, 413);
        assert_eq!(t.take_credit(1, 1000), 0);
        // A lower burst bounds the credit kept.
        t.add_credit(1, 100);
        t.store_settings(
            1,
            TenantSettings {
                rate_per_minute: Some(1),
                rate_burst: Some(10),
                jwt: None,
            },
        );
        assert_eq!(t.take_credit(1, 1000), 10);
    }

    #[test]
    fn unknown_tokens_from_one_address_are_throttled_known_ones_are_not() {
        let t = Throttle::new(ThrottleConfig {
            auth_attempts_per_minute: 6,
            auth_attempt_burst: 3,
            ..ThrottleConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        t.authenticated("good");
        // Attempts alone take nothing: a burst of first requests with a new token passes.
        for i in 0..10 {
            assert!(
                t.before_authentication(Some(ip), &format!("new{i}"))
                    .is_ok()
            );
        }
        // Failures do: three fill the burst, the fourth blocks the address.
        for i in 0..4 {
            assert!(
                t.before_authentication(Some(ip), &format!("guess{i}"))
                    .is_ok()
            );
            t.authentication_failed(Some(ip), &format!("guess{i}"));
        }
        let e = t.before_authentication(Some(ip), "guess9").unwrap_err();
        assert_eq!(e.status, 429);
        assert!(e.retry_after.is_some());
        assert!(t.before_authentication(Some(ip), "good").is_ok());
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(t.before_authentication(Some(other), "guess").is_ok());
    }
}
