//! Seeing other processes' commits: a poller of the tenants' change-log heads.
//!
//! A store signals its own writes at once ([`scim_store::CommitSignal`]). Writes made by
//! another instance on the same PostgreSQL database, or by an admin command on the same
//! SQLite file, are seen by this poller, which reads the heads of the tenants somebody is
//! waiting on (one small query per interval, none when nobody waits) and signals those
//! that moved.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scim_store::Store;

/// Polls the heads of watched tenants every `interval` until the returned task is
/// aborted (or the runtime ends).
pub fn spawn_head_poller(store: Arc<dyn Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: HashMap<i64, i64> = HashMap::new();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let watched = store.commit_signal().watched();
            if watched.is_empty() {
                last.clear();
                continue;
            }
            let heads = match store.change_heads(watched).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!(error = %e, "polling change-log heads failed; retrying");
                    continue;
                }
            };
            let mut seen = HashMap::with_capacity(heads.len());
            for (tenant, head) in heads {
                if last.get(&tenant) != Some(&head) {
                    store.commit_signal().notify(tenant);
                }
                seen.insert(tenant, head);
            }
            last = seen;
        }
    })
}
