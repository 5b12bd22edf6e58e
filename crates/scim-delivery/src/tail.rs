//! The events a feed derived last, per tenant, shared by every reader of that feed.
//!
//! Consumers that keep up (a webhook deliverer, a long-polling feed reader, a NATS
//! publisher) all read the same few events right after each commit. An event is the same
//! on every read (its position, id, content and the roles it carries are fixed by the
//! change record), so the first reader derives it and the others take it from here: they
//! ask the log only for what comes after the events kept (and whether their cursor is still
//! served), or not at all when the read that made the window is as recent as their own wait
//! ([`Seen`], `Feed::read`); they do not parse, look up roles for and derive the same
//! records again, and they share the events themselves, with the JSON written for the first
//! consumer that sent them ([`SharedEvent`]).
//!
//! Readers at a tenant's head take turns ([`Tail::turn`]): woken by the same commit, a
//! webhook deliverer and a feed reader would otherwise both find the window without the
//! new events and both derive them; the second now waits for the first and takes its
//! events from here.
//!
//! What is kept is a window of consecutive positions per tenant (a tenant's positions have
//! no gaps), the newest [`KEEP_PER_TENANT`] events, for the [`KEEP_TENANTS`] tenants read
//! most recently. A reader behind the window reads the log as before and leaves the window
//! alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::feed::MAX_BATCH_WINDOW;
use crate::shared::SharedEvent;

/// Events kept per tenant.
const KEEP_PER_TENANT: usize = 256;
/// Tenants whose events are kept.
const KEEP_TENANTS: usize = 32;

/// One tenant's window: events at consecutive positions, oldest first.
struct Window {
    /// The base URL the events were rendered with (`meta.location`); a different one (a
    /// tenant renamed) starts a new window.
    base_url: String,
    events: VecDeque<SharedEvent>,
    /// What the read that last extended the window saw.
    seen: Seen,
    /// When the window was last read, to find the tenant read least recently.
    used: u64,
}

/// What a read of the log saw besides its records: the tenant's head and first position
/// kept in its snapshot, and the tenant's count of wake-ups
/// ([`scim_store::CommitSignal::commits`]) taken before it began. A reader served from the
/// window may report that head as its own only when no wake-up was counted between that
/// count and its own arming (see `Feed::read`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Seen {
    pub(crate) head: i64,
    pub(crate) commits: u64,
    pub(crate) first_kept: i64,
}

/// Events taken from a window, with what the read that made it saw.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) events: Vec<SharedEvent>,
    pub(crate) seen: Seen,
}

impl Window {
    fn empty(base_url: String, used: u64) -> Window {
        Window {
            base_url,
            events: VecDeque::new(),
            seen: Seen::default(),
            used,
        }
    }

    /// The position just before the first event kept, and the last one.
    fn span(&self) -> Option<(i64, i64)> {
        let first = self.events.front()?.position;
        let last = self.events.back()?.position;
        Some((first - 1, last))
    }
}

/// Recently derived events of a feed's tenants (see the module documentation).
#[derive(Default)]
pub(crate) struct Tail {
    windows: Mutex<(HashMap<i64, Window>, u64)>,
    /// Per tenant, the lock readers at the head take turns on ([`Tail::turn`]); kept apart
    /// from the windows so that taking a turn neither creates nor evicts one, and dropped
    /// once nobody holds or waits for it.
    turns: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Per tenant, when a reader at the head last began reading the log (for
    /// `Feed::with_batch_window`).
    head_reads: Mutex<HashMap<i64, Instant>>,
}

impl Tail {
    /// The events kept right after `after`, at most `limit`, in order, with what the read
    /// that last extended the window saw: no events when the window does not start at or
    /// before `after + 1`.
    pub(crate) fn after(&self, tenant_id: i64, base_url: &str, after: i64, limit: usize) -> Kept {
        let Ok(mut guard) = self.windows.lock() else {
            return Kept::default();
        };
        let (windows, clock) = &mut *guard;
        *clock += 1;
        let Some(w) = windows.get_mut(&tenant_id) else {
            return Kept::default();
        };
        if w.base_url != base_url {
            return Kept::default();
        }
        let Some((before_first, last)) = w.span() else {
            return Kept::default();
        };
        if after < before_first || after >= last {
            return Kept::default();
        }
        w.used = *clock;
        let skip = usize::try_from(after - before_first).unwrap_or(usize::MAX);
        Kept {
            events: w.events.iter().skip(skip).take(limit).cloned().collect(),
            seen: w.seen,
        }
    }

    /// Whether a reader at `after` reads the log at the end of the tenant's window (or
    /// there is none yet): such readers take turns, so that one derives what the others
    /// then take. A reader behind the window reads alone.
    pub(crate) fn at_end(&self, tenant_id: i64, base_url: &str, after: i64) -> bool {
        let Ok(guard) = self.windows.lock() else {
            return false;
        };
        match guard.0.get(&tenant_id) {
            Some(w) if w.base_url == base_url => w.span().is_none_or(|(_, last)| after >= last),
            _ => true,
        }
    }

    /// Whether a reader at `after` has everything the window's last read saw (the tenant's
    /// head then), or there is no window: it waits for new commits, not for a backlog.
    pub(crate) fn at_head(&self, tenant_id: i64, base_url: &str, after: i64) -> bool {
        let Ok(guard) = self.windows.lock() else {
            return false;
        };
        match guard.0.get(&tenant_id) {
            Some(w) if w.base_url == base_url => after >= w.seen.head,
            _ => true,
        }
    }

    /// Waits for the tenant's turn to read the log at its head: one reader at a time, the
    /// others take what it derived (see the module documentation).
    pub(crate) async fn turn(&self, tenant_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = match self.turns.lock() {
            Ok(mut turns) => {
                // Locks nobody holds or waits for (only the map refers to them) go.
                turns.retain(|_, lock| Arc::strong_count(lock) > 1);
                turns.entry(tenant_id).or_default().clone()
            }
            // A poisoned map: no turns, every reader reads for itself.
            Err(_) => Arc::default(),
        };
        lock.lock_owned().await
    }

    /// When a reader at the tenant's head may read the log next, for reads at most one
    /// per `window`: `None` when it may read now.
    pub(crate) fn next_head_read(&self, tenant_id: i64, window: Duration) -> Option<Instant> {
        let last = *self.head_reads.lock().ok()?.get(&tenant_id)?;
        let due = last.checked_add(window)?;
        (Instant::now() < due).then_some(due)
    }

    /// Notes that a reader at the tenant's head begins reading the log now.
    pub(crate) fn head_read(&self, tenant_id: i64) {
        let Ok(mut reads) = self.head_reads.lock() else {
            return;
        };
        let now = Instant::now();
        // Reads older than any window are forgotten before the map grows.
        if reads.len() >= KEEP_TENANTS && reads.len().is_power_of_two() {
            reads.retain(|_, at| now.duration_since(*at) < MAX_BATCH_WINDOW);
        }
        reads.insert(tenant_id, now);
    }

    /// Makes room for `tenant_id`'s window: the window read least recently goes when the
    /// tenant has none and [`KEEP_TENANTS`] are kept.
    fn evict_for(windows: &mut HashMap<i64, Window>, tenant_id: i64) {
        if !windows.contains_key(&tenant_id) && windows.len() >= KEEP_TENANTS {
            let oldest = windows.iter().min_by_key(|(_, w)| w.used).map(|(t, _)| *t);
            if let Some(t) = oldest {
                windows.remove(&t);
            }
        }
    }

    /// Keeps `events`, derived from the log right after position `after` (consecutive, in
    /// order, unfiltered) by a read that saw `seen`. They extend the tenant's window when
    /// they follow it; otherwise they replace it if they are newer, and are dropped if they
    /// are older.
    pub(crate) fn keep(
        &self,
        tenant_id: i64,
        base_url: &str,
        after: i64,
        events: &[SharedEvent],
        seen: Seen,
    ) {
        let Some(last) = events.last().map(|e| e.position) else {
            return;
        };
        let Ok(mut guard) = self.windows.lock() else {
            return;
        };
        let (windows, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        Self::evict_for(windows, tenant_id);
        let w = windows
            .entry(tenant_id)
            .or_insert_with(|| Window::empty(base_url.to_string(), now));
        w.used = now;
        let follows = w.base_url == base_url && w.span().is_some_and(|(_, end)| end == after);
        if !follows {
            let newer = w.base_url != base_url || w.span().is_none_or(|(_, end)| last > end);
            if !newer {
                return;
            }
            w.base_url = base_url.to_string();
            w.events.clear();
        }
        // Reads finish out of order: keep the latest of what they saw.
        w.seen = Seen {
            head: w.seen.head.max(seen.head),
            commits: w.seen.commits.max(seen.commits),
            first_kept: w.seen.first_kept.max(seen.first_kept),
        };
        let start = events.len().saturating_sub(KEEP_PER_TENANT);
        w.events.extend(events[start..].iter().cloned());
        while w.events.len() > KEEP_PER_TENANT {
            w.events.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: i64) -> SharedEvent {
        SharedEvent::new(crate::shared::sample_event(position))
    }

    fn events(from: i64, to: i64) -> Vec<SharedEvent> {
        (from..=to).map(event).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn reads_at_the_head_are_spaced_by_the_window_per_tenant() {
        let tail = Tail::default();
        let window = Duration::from_millis(20);
        // No read yet: read now.
        assert_eq!(tail.next_head_read(1, window), None);
        tail.head_read(1);
        let due = tail.next_head_read(1, window).expect("a read just began");
        assert_eq!(due.duration_since(Instant::now()), window);
        // Another tenant is not held back, nor is anyone without a window.
        assert_eq!(tail.next_head_read(2, window), None);
        assert_eq!(tail.next_head_read(1, Duration::ZERO), None);
        tokio::time::advance(Duration::from_millis(15)).await;
        assert_eq!(tail.next_head_read(1, window), Some(due));
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(tail.next_head_read(1, window), None);
    }

    #[tokio::test(start_paused = true)]
    async fn old_head_reads_are_forgotten() {
        let tail = Tail::default();
        for tenant in 0..KEEP_TENANTS as i64 {
            tail.head_read(tenant);
        }
        tokio::time::advance(MAX_BATCH_WINDOW).await;
        tail.head_read(1000);
        let reads = tail.head_reads.lock().unwrap();
        assert_eq!(reads.keys().copied().collect::<Vec<_>>(), vec![1000]);
    }

    fn positions(v: &[SharedEvent]) -> Vec<i64> {
        v.iter().map(|e| e.position).collect()
    }

    #[test]
    fn later_readers_take_what_the_first_derived() {
        let tail = Tail::default();
        assert!(tail.after(1, "u", 0, 10).events.is_empty());
        tail.keep(1, "u", 0, &events(1, 5), Seen::default());
        assert_eq!(
            positions(&tail.after(1, "u", 0, 10).events),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(positions(&tail.after(1, "u", 2, 2).events), [3, 4]);
        // At the end of the window, or before it: nothing (the log is read instead).
        assert!(tail.after(1, "u", 5, 10).events.is_empty());
        tail.keep(1, "u", 5, &events(6, 7), Seen::default());
        assert_eq!(positions(&tail.after(1, "u", 4, 10).events), [5, 6, 7]);
        // Another tenant, another base URL: nothing.
        assert!(tail.after(2, "u", 0, 10).events.is_empty());
        assert!(tail.after(1, "other", 0, 10).events.is_empty());
    }

    #[test]
    fn a_reader_behind_the_window_leaves_it_alone_and_a_newer_page_replaces_it() {
        let tail = Tail::default();
        tail.keep(1, "u", 100, &events(101, 110), Seen::default());
        // Older, not following: dropped.
        tail.keep(1, "u", 10, &events(11, 20), Seen::default());
        assert_eq!(
            positions(&tail.after(1, "u", 100, 3).events),
            [101, 102, 103]
        );
        assert!(tail.after(1, "u", 10, 3).events.is_empty());
        // Newer, with a gap: replaces the window.
        tail.keep(1, "u", 200, &events(201, 202), Seen::default());
        assert!(tail.after(1, "u", 100, 3).events.is_empty());
        assert_eq!(positions(&tail.after(1, "u", 200, 3).events), [201, 202]);
    }

    #[tokio::test]
    async fn readers_at_the_end_take_turns_and_readers_behind_do_not() {
        let tail = Arc::new(Tail::default());
        // No window yet: at the end.
        assert!(tail.at_end(1, "u", 0));
        let first = tail.turn(1).await;
        // A second reader of the tenant waits for the first; another tenant does not.
        let waiting = tokio::spawn({
            let tail = tail.clone();
            async move {
                let _turn = tail.turn(1).await;
                tail.after(1, "u", 0, 10).events.len()
            }
        });
        let _other = tail.turn(2).await;
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        tail.keep(1, "u", 0, &events(1, 3), Seen::default());
        drop(first);
        assert_eq!(waiting.await.unwrap(), 3, "took what the first derived");
        assert!(tail.at_end(1, "u", 3));
        assert!(!tail.at_end(1, "u", 1), "inside the window");
        tail.keep(1, "u", 100, &events(101, 102), Seen::default());
        assert!(!tail.at_end(1, "u", 5), "behind the window");
        assert!(
            tail.at_end(1, "other", 5),
            "another base URL: a window of its own"
        );
        // Turns taken for many tenants neither add nor evict windows, and free locks go.
        for t in 100..200 {
            drop(tail.turn(t).await);
        }
        assert_eq!(tail.windows.lock().map(|g| g.0.len()).unwrap_or(0), 1);
        drop(tail.turn(1).await);
        // Tenant 2's turn is still held (`_other`), tenant 1's was just taken; the rest went.
        let mut held: Vec<i64> = tail.turns.lock().unwrap().keys().copied().collect();
        held.sort();
        assert_eq!(held, [1, 2]);
    }

    #[test]
    fn a_window_tells_the_latest_of_what_its_reads_saw() {
        let tail = Tail::default();
        let seen = |head, commits| Seen {
            head,
            commits,
            first_kept: 1,
        };
        tail.keep(1, "u", 0, &events(1, 3), seen(5, 10));
        assert_eq!(tail.after(1, "u", 0, 10).seen, seen(5, 10));
        // A read that began earlier but finished later (a lower count, a later head in its
        // snapshot): each figure is the latest, and the pair still holds (every commit past
        // head 7 was counted after 10).
        tail.keep(1, "u", 3, &events(4, 4), seen(7, 8));
        assert_eq!(tail.after(1, "u", 0, 10).seen, seen(7, 10));
        // No events: nothing kept, nothing told.
        tail.keep(1, "u", 4, &[], seen(9, 20));
        assert_eq!(tail.after(1, "u", 0, 10).seen, seen(7, 10));
        assert_eq!(
            tail.after(1, "u", 4, 10).seen,
            Seen::default(),
            "at the end: nothing"
        );
    }

    #[test]
    fn a_reader_is_at_the_head_once_it_has_what_the_last_read_saw() {
        let tail = Tail::default();
        let seen = Seen {
            head: 500,
            commits: 1,
            first_kept: 1,
        };
        // Nothing read yet: a reader can only wait for commits.
        assert!(tail.at_head(1, "u", 0));
        // A page of a backlog: its reader is at the window's end, not at the head.
        tail.keep(1, "u", 0, &events(1, 100), seen);
        assert!(tail.at_end(1, "u", 100));
        assert!(!tail.at_head(1, "u", 100));
        assert!(tail.at_head(1, "u", 500));
        // Another base URL is another window (none yet).
        assert!(tail.at_head(1, "v", 100));
    }

    #[test]
    fn windows_are_bounded() {
        let tail = Tail::default();
        tail.keep(1, "u", 0, &events(1, 1000), Seen::default());
        let kept = tail
            .after(1, "u", 1000 - KEEP_PER_TENANT as i64, 10_000)
            .events;
        assert_eq!(kept.len(), KEEP_PER_TENANT);
        assert_eq!(kept.last().map(|e| e.position), Some(1000));
        for t in 0..(KEEP_TENANTS as i64 + 5) {
            tail.keep(100 + t, "u", 0, &events(1, 2), Seen::default());
        }
        let held = tail.windows.lock().map(|g| g.0.len()).unwrap_or(0);
        assert_eq!(held, KEEP_TENANTS);
    }
}
