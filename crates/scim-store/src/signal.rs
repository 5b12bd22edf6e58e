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
    tenants: Mutex<HashMap<i64, Watched>>,
    destinations: Notify,
    destinations_version: std::sync::atomic::AtomicU64,
    /// How many wake-ups were sent, for all tenants (see [`CommitSignal::commits`]).
    sent: std::sync::atomic::AtomicU64,
}

/// A watched tenant: its wake-up, and the count of wake-ups sent when it was last woken.
#[derive(Debug)]
struct Watched {
    notify: Weak<Notify>,
    /// Only grows: set from `sent`, which only grows, and a new entry starts at `sent`.
    commits: u64,
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
        if let Some(n) = tenants.get(&tenant_id).and_then(|w| w.notify.upgrade()) {
            return n;
        }
        // Forget tenants nobody watches any more before the map grows.
        if tenants.len() >= 64 && tenants.len().is_power_of_two() {
            tenants.retain(|_, w| w.notify.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        let commits = self.sent.load(std::sync::atomic::Ordering::SeqCst);
        tenants.insert(
            tenant_id,
            Watched {
                notify: Arc::downgrade(&n),
                commits,
            },
        );
        n
    }

    /// The tenants somebody is watching now (for a poller of other processes' commits).
    pub fn watched(&self) -> Vec<i64> {
        self.tenants
            .lock()
            .map(|t| {
                t.iter()
                    .filter(|(_, w)| w.notify.strong_count() > 0)
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

    /// A tenant's wake-up count: it grows each time [`CommitSignal::notify`] wakes the
    /// tenant, before its waiters are woken, and never goes back (it is taken from a count
    /// of every wake-up sent, so it also survives the tenant's entry being forgotten).
    ///
    /// A reader uses it to know whether a read of the log made by someone else is as
    /// recent as its own wait. Read the count (`c`) before such a read; a waiter that has
    /// enabled its [`Notify::notified`] future and then reads the count (`armed`) may trust
    /// that read's snapshot as its own when `c >= armed`: no wake-up of the tenant was
    /// counted between the start of that read and the waiter's arming, so every commit the
    /// read missed is counted later and wakes the waiter.
    pub fn commits(&self, tenant_id: i64) -> u64 {
        let sent = || self.sent.load(std::sync::atomic::Ordering::SeqCst);
        match self.tenants.lock() {
            Ok(t) => t.get(&tenant_id).map_or_else(sent, |w| w.commits),
            Err(_) => sent(),
        }
    }

    /// Wakes every current waiter of a tenant (after one of its writes committed).
    pub fn notify(&self, tenant_id: i64) {
        let watcher = self.tenants.lock().ok().and_then(|mut t| {
            // Counted under the lock, so that a tenant's count only grows, and counted for
            // a tenant nobody watches too: an entry made later starts above it.
            let sent = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let w = t.get_mut(&tenant_id)?;
            w.commits = sent;
            w.notify.upgrade()
        });
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
    fn a_tenants_count_grows_with_its_own_wake_ups_only_and_never_goes_back() {
        let signal = CommitSignal::default();
        let watching = signal.watch(1);
        let start = signal.commits(1);
        signal.notify(2);
        signal.notify(2);
        assert_eq!(signal.commits(1), start, "another tenant's commits");
        signal.notify(1);
        let after = signal.commits(1);
        assert!(after > start);
        // Forgotten, woken while nobody watched, and watched again: it starts above every
        // count so far, not from 0 (a read made before must not pass for a later one).
        drop(watching);
        signal.tenants.lock().unwrap().clear();
        signal.notify(1);
        let _again = signal.watch(1);
        assert!(signal.commits(1) > after);
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
