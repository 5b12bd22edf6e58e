//! Updates of one resource that raced (both computed from the same version) queue here,
//! in this process, for their next attempt: the loser of a race computes again only after
//! the winner has written, so concurrent updates of one resource through one instance
//! retry at most once each instead of colliding again. Only races across instances
//! retry more than once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (i64, String);

/// Per-resource queues, created on first collision and removed when no one holds them.
#[derive(Default)]
pub(crate) struct UpdateLocks {
    queues: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

/// A place at the head of a resource's queue; the next in line goes when it is dropped.
pub(crate) struct Turn<'a> {
    locks: &'a UpdateLocks,
    key: Key,
    queue: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl UpdateLocks {
    /// Waits for this resource's turn.
    pub(crate) async fn turn(&self, tenant_id: i64, id: &str) -> Turn<'_> {
        let key = (tenant_id, id.to_string());
        let queue = match self.queues.lock() {
            Ok(mut q) => q.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let guard = queue.clone().lock_owned().await;
        Turn {
            locks: self,
            key,
            queue,
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Ok(mut q) = self.locks.queues.lock() {
            // The map's reference and ours: no one else waits.
            if Arc::strong_count(&self.queue) == 2 {
                q.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queues_are_removed_when_unused() {
        let locks = UpdateLocks::default();
        {
            let _a = locks.turn(1, "x").await;
            assert_eq!(locks.queues.lock().map(|q| q.len()).unwrap_or(0), 1);
        }
        assert_eq!(locks.queues.lock().map(|q| q.len()).unwrap_or(9), 0);
    }
}
