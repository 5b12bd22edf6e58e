//! Commit signals: a way to wait, without polling the database, until a tenant's change log
//! may have grown.
//!
//! Every write through a store signals its tenant once it is durable. Writes made by
//! another process (another instance on the same PostgreSQL database, an admin command) are
//! not seen here; a waiter that must see those too combines the signal with a slow poll of
//! [`crate::EventLog::change_heads`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// Per-tenant wake-ups for readers of the change log.
#[derive(Debug, Default)]
pub struct CommitSignal {
    tenants: Mutex<HashMap<i64, Weak<Notify>>>,
    destinations: Notify,
    destinations_version: std::sync::atomic::AtomicU64,
    /// How many tenant wake-ups were sent ([`CommitSignal::commits`]).
    commits: std::sync::atomic::AtomicU64,
}

impl CommitSignal {
    /// The signal of a tenant. To wait without missing a commit, create and `enable` a
    /// [`Notify::notified`] future *before* reading the log, then await it if the read found
    /// nothing new.
    pub fn watch(&self, tenant_id: i64) -> Arc<Notify> {
        let Ok(mut tenants) = self.tenants.lock() else {
            // A poisoned map only loses wake-ups; pollers still see every commit.
            return Arc::new(Notify::new());
        };
        if let Some(n) = tenants.get(&tenant_id).and_then(Weak::upgrade) {
            return n;
        }
        // Forget tenants nobody watches any more before the map grows.
        if tenants.len() >= 64 && tenants.len().is_power_of_two() {
            tenants.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        tenants.insert(tenant_id, Arc::downgrade(&n));
        n
    }

    /// The tenants somebody is watching now (for a poller of other processes' commits).
    pub fn watched(&self) -> Vec<i64> {
        self.tenants
            .lock()
            .map(|t| {
                t.iter()
                    .filter(|(_, w)| w.strong_count() > 0)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wakes whoever waits for delivery destinations to be added or changed through this
    /// store (the delivery engine, so that a new endpoint starts at once rather than at its
    /// next scan).
    pub fn destinations_changed(&self) {
        self.destinations_version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.destinations.notify_waiters();
    }

    /// How many times [`CommitSignal::destinations_changed`] was called: a deliverer woken
    /// by a commit re-reads its destination only when this moved (an operator's change made
    /// through this store), not after every write of its tenant.
    pub fn destinations_version(&self) -> u64 {
        self.destinations_version
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What [`CommitSignal::destinations_changed`] wakes: create and `enable` a
    /// [`Notify::notified`] future before listing the destinations, then await it.
    pub fn destinations(&self) -> &Notify {
        &self.destinations
    }

    /// How many wake-ups [`CommitSignal::notify`] has sent, for any tenant; each is counted
    /// before its waiters are woken.
    ///
    /// A reader uses it to know whether a read made by someone else is as recent as its own
    /// wait: a waiter that enabled its [`Notify::notified`] future and then saw this count
    /// at `n` is woken by every later commit, and a read of the log that began after the
    /// count was seen at `n` or more is missing only commits that were counted after that
    /// — later than `n` — and so wake the waiter.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wakes every current waiter of a tenant (after one of its writes committed).
    pub fn notify(&self, tenant_id: i64) {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let watcher = self
            .tenants
            .lock()
            .ok()
            .and_then(|t| t.get(&tenant_id).and_then(Weak::upgrade));
        if let Some(n) = watcher {
            n.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_enabled_before_the_commit_is_woken() {
        let signal = CommitSignal::default();
        let n = signal.watch(7);
        let waiting = n.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        signal.notify(8); // another tenant: no wake-up
        signal.notify(7);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap();
    }

    #[test]
    fn unwatched_tenants_are_forgotten() {
        let signal = CommitSignal::default();
        for t in 0..1000 {
            drop(signal.watch(t));
        }
        assert!(signal.tenants.lock().unwrap().len() < 200);
        let kept = signal.watch(1);
        assert!(Arc::ptr_eq(&kept, &signal.watch(1)));
    }
}
