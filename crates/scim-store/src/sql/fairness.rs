//! Fairness between tenants on the shared writer (SQLite's writer thread, PostgreSQL's
//! pool): per tenant, a limit on writes in progress and a budget of writer time.
//!
//! - **Writes in progress**: a tenant has at most [`Fairness::max_writes`] writes queued or
//!   running; more wait their turn (in order). Another tenant's write therefore never
//!   queues behind more than that many of one tenant's writes.
//! - **Writer time**: each write's time inside the writer (its statements, measured) is
//!   charged to the tenant's bucket, which refills at [`Fairness::writer_share`] seconds
//!   per second up to [`Fairness::writer_burst`]. A tenant in debt waits, before its next
//!   write enters the queue, until the debt is repaid: a tenant sending huge writes gets at
//!   most its share of the writer, whatever its request rate.
//!
//! A write that would wait longer than [`Fairness::max_wait`] is answered 429 with
//! `Retry-After`: the tenant is over its own limits, nobody else is affected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use scim_core::ScimError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::StoreError;

/// Per-tenant write limits of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Fairness {
    /// Writes one tenant may have queued or running at once.
    pub max_writes: usize,
    /// Share of the writer's time one tenant may use over time (0 to 1).
    pub writer_share: f64,
    /// Writer time a tenant may use at once above its share.
    pub writer_burst: Duration,
    /// Longest a write waits for its turn before it is answered 429.
    pub max_wait: Duration,
}

impl Default for Fairness {
    fn default() -> Self {
        Fairness {
            max_writes: 16,
            writer_share: 0.5,
            writer_burst: Duration::from_secs(2),
            max_wait: Duration::from_secs(20),
        }
    }
}

struct TenantGate {
    permits: Arc<Semaphore>,
    /// Writer time left, in seconds (negative: debt), as of `at`.
    bucket: Mutex<(f64, Instant)>,
    used: Mutex<Instant>,
}

impl TenantGate {
    fn new(f: &Fairness) -> TenantGate {
        TenantGate {
            permits: Arc::new(Semaphore::new(f.max_writes.max(1))),
            bucket: Mutex::new((f.writer_burst.as_secs_f64(), Instant::now())),
            used: Mutex::new(Instant::now()),
        }
    }

    /// The bucket's level now.
    fn level(&self, f: &Fairness) -> f64 {
        let Ok(mut b) = self.bucket.lock() else {
            return 0.0;
        };
        let refill = b.1.elapsed().as_secs_f64() * f.writer_share;
        b.0 = (b.0 + refill).min(f.writer_burst.as_secs_f64());
        b.1 = Instant::now();
        b.0
    }

    fn charge(&self, f: &Fairness, spent: Duration) {
        let _ = self.level(f);
        if let Ok(mut b) = self.bucket.lock() {
            b.0 -= spent.as_secs_f64();
        }
    }
}

/// The write gates of every tenant of a store.
#[derive(Default)]
pub(crate) struct WriteGates {
    config: RwLock<Fairness>,
    tenants: Mutex<HashMap<i64, Arc<TenantGate>>>,
}

/// A tenant's turn at the writer; charge its writer time with [`Turn::done`].
pub(crate) struct Turn {
    gate: Arc<TenantGate>,
    config: Fairness,
    _permit: OwnedSemaphorePermit,
}

impl Turn {
    pub(crate) fn done(self, spent: Duration) {
        self.gate.charge(&self.config, spent);
    }
}

fn over_limit(detail: &str, wait: Duration) -> StoreError {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
    StoreError::Scim(ScimError::new(429, None, detail).with_retry_after(secs))
}

impl WriteGates {
    pub(crate) fn configure(&self, f: Fairness) {
        if let Ok(mut c) = self.config.write() {
            *c = f;
        }
        if let Ok(mut t) = self.tenants.lock() {
            t.clear();
        }
    }

    fn config(&self) -> Fairness {
        self.config.read().map(|c| c.clone()).unwrap_or_default()
    }

    fn gate(&self, tenant_id: i64, f: &Fairness) -> Arc<TenantGate> {
        let Ok(mut tenants) = self.tenants.lock() else {
            return Arc::new(TenantGate::new(f));
        };
        if tenants.len() > 10_000 {
            // Forget idle tenants (their buckets are full again after a while anyway).
            tenants.retain(|_, g| {
                Arc::strong_count(g) > 1
                    || g.used
                        .lock()
                        .map(|u| u.elapsed() < Duration::from_secs(600))
                        .unwrap_or(false)
            });
        }
        tenants
            .entry(tenant_id)
            .or_insert_with(|| Arc::new(TenantGate::new(f)))
            .clone()
    }

    /// Waits for the tenant's turn: until its writer-time debt is repaid and one of its
    /// write slots is free.
    pub(crate) async fn enter(&self, tenant_id: i64) -> Result<Turn, StoreError> {
        let config = self.config();
        let gate = self.gate(tenant_id, &config);
        if let Ok(mut u) = gate.used.lock() {
            *u = Instant::now();
        }
        let started = Instant::now();
        let level = gate.level(&config);
        if level < 0.0 {
            let wait = Duration::from_secs_f64(-level / config.writer_share.max(0.01));
            if wait > config.max_wait {
                return Err(over_limit(
                    "This tenant has used more than its share of the database writer; retry after the time in Retry-After",
                    wait,
                ));
            }
            tokio::time::sleep(wait).await;
        }
        let left = config.max_wait.saturating_sub(started.elapsed());
        let permit = tokio::time::timeout(left, gate.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                over_limit(
                    "This tenant has too many writes in progress; retry after the time in Retry-After",
                    Duration::from_secs(1),
                )
            })?
            .map_err(|_| StoreError::Unavailable("the write gate closed".into()))?;
        Ok(Turn {
            gate,
            config,
            _permit: permit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tenant_in_debt_waits_and_others_do_not() {
        let gates = WriteGates::default();
        gates.configure(Fairness {
            max_writes: 2,
            writer_share: 0.5,
            writer_burst: Duration::from_millis(100),
            max_wait: Duration::from_secs(5),
        });
        let turn = gates.enter(1).await.ok();
        // 300 ms of writer time: 200 ms of debt, repaid in 400 ms at a share of 0.5.
        if let Some(t) = turn {
            t.done(Duration::from_millis(300));
        }
        let t0 = Instant::now();
        assert!(gates.enter(2).await.is_ok());
        assert!(
            t0.elapsed() < Duration::from_millis(100),
            "another tenant waits for nothing"
        );
        let t0 = Instant::now();
        assert!(gates.enter(1).await.is_ok());
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );
    }

    #[tokio::test]
    async fn writes_in_progress_are_bounded_per_tenant() {
        let gates = WriteGates::default();
        gates.configure(Fairness {
            max_writes: 2,
            max_wait: Duration::from_millis(200),
            ..Fairness::default()
        });
        let a = gates.enter(1).await.ok();
        let b = gates.enter(1).await.ok();
        assert!(a.is_some() && b.is_some());
        let refused = gates.enter(1).await.err().map(|e| e.to_scim());
        assert_eq!(refused.as_ref().map(|e| e.status), Some(429));
        assert!(gates.enter(2).await.is_ok());
        drop(a);
        assert!(gates.enter(1).await.is_ok());
    }
}
