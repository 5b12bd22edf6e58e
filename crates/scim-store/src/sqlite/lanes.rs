//! The writer's queue: one lane per tenant, served in turn.
//!
//! A single FIFO queue lets a tenant that keeps many writes queued (up to its
//! `max_writes`) put all of them ahead of another tenant's one write, and the writer runs
//! them all before it: with large writes that is hundreds of milliseconds. Here each tenant
//! (and the store's own writes, lane `None`) has a lane, and the writer takes one job from
//! each lane with work in turn (round robin). A lane that was empty is served before the
//! lanes that stayed busy (as fq_codel serves sparse flows first): a tenant sending one
//! write at a time waits for the job running now, not for one job of every busy tenant;
//! a tenant that keeps writes queued gets its turn in the round after that.
//!
//! The queue is bounded (pushers wait for room) and closes when its last sender is
//! dropped; the consumer then drains what is left and stops.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Which lane a job queues in: a tenant's id, or `None` for the store's own writes.
pub(crate) type Lane = Option<i64>;

struct State<T> {
    lanes: HashMap<Lane, VecDeque<T>>,
    /// Lanes that were empty when their waiting job arrived, served first, in order.
    fresh: VecDeque<Lane>,
    /// Lanes served at least once since they last were empty, in the order they are
    /// served next. A lane holding jobs is in exactly one of `fresh` and `turns`.
    turns: VecDeque<Lane>,
    len: usize,
    closed: bool,
}

/// A bounded multi-lane queue with round-robin service (see the module documentation).
pub(crate) struct Lanes<T> {
    state: Mutex<State<T>>,
    /// Signalled when a job arrives or the queue closes.
    filled: Condvar,
    /// Signalled when a job leaves.
    drained: Condvar,
    capacity: usize,
}

/// Why a push did not queue the job.
pub(crate) enum PushError<T> {
    /// The queue holds `capacity` jobs; the job is given back.
    Full(T),
    /// The queue is closed; the job is given back.
    Closed(T),
}

impl<T> Lanes<T> {
    pub(crate) fn new(capacity: usize) -> Lanes<T> {
        Lanes {
            state: Mutex::new(State {
                lanes: HashMap::new(),
                fresh: VecDeque::new(),
                turns: VecDeque::new(),
                len: 0,
                closed: false,
            }),
            filled: Condvar::new(),
            drained: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock is held cannot leave the state half-changed (every
        // change below completes without calling out), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push_locked(&self, state: &mut State<T>, lane: Lane, job: T) {
        let queue = state.lanes.entry(lane).or_default();
        if queue.is_empty() {
            state.fresh.push_back(lane);
        }
        queue.push_back(job);
        state.len += 1;
        self.filled.notify_one();
    }

    /// Queues `job` in `lane` unless the queue is full or closed.
    pub(crate) fn try_push(&self, lane: Lane, job: T) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed(job));
        }
        if state.len >= self.capacity {
            return Err(PushError::Full(job));
        }
        self.push_locked(&mut state, lane, job);
        Ok(())
    }

    /// Queues `job` in `lane`, waiting (blocking the thread) for room; gives the job back
    /// if the queue is closed.
    pub(crate) fn push_blocking(&self, lane: Lane, job: T) -> Result<(), T> {
        let mut state = self.lock();
        while state.len >= self.capacity && !state.closed {
            state = self.drained.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if state.closed {
            return Err(job);
        }
        self.push_locked(&mut state, lane, job);
        Ok(())
    }

    fn pop_locked(&self, state: &mut State<T>) -> Option<(Lane, T)> {
        let lane = match state.fresh.pop_front() {
            Some(lane) => lane,
            None => state.turns.pop_front()?,
        };
        let queue = state.lanes.get_mut(&lane)?;
        let job = queue.pop_front();
        if queue.is_empty() {
            state.lanes.remove(&lane);
        } else {
            // Served once: to the back of the line.
            state.turns.push_back(lane);
        }
        if job.is_some() {
            state.len -= 1;
            self.drained.notify_one();
        }
        job.map(|job| (lane, job))
    }

    /// The next job in turn, with its lane, if one is waiting.
    pub(crate) fn try_pop(&self) -> Option<(Lane, T)> {
        let mut state = self.lock();
        self.pop_locked(&mut state)
    }

    /// The next job in turn, with its lane, waiting (blocking the thread) for one; `None`
    /// once the queue is closed and empty.
    pub(crate) fn pop_blocking(&self) -> Option<(Lane, T)> {
        let mut state = self.lock();
        loop {
            if let Some(job) = self.pop_locked(&mut state) {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.filled.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Jobs waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len
    }

    /// Refuses new jobs; the consumer still gets the ones waiting.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.filled.notify_all();
        self.drained.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn drain(q: &Lanes<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| q.try_pop().map(|(_, job)| job)).collect()
    }

    #[test]
    fn busy_lanes_take_turns() {
        let q = Lanes::new(100);
        for job in ["a1", "a2", "a3", "a4"] {
            assert!(q.try_push(Some(1), job).is_ok());
        }
        assert!(q.try_push(Some(2), "b1").is_ok());
        assert!(q.try_push(None, "s1").is_ok());
        assert!(q.try_push(Some(2), "b2").is_ok());
        assert_eq!(drain(&q), ["a1", "b1", "s1", "a2", "b2", "a3", "a4"]);
    }

    #[test]
    fn a_lane_that_was_empty_goes_before_the_busy_ones() {
        let q = Lanes::new(100);
        for job in ["a1", "a2", "a3"] {
            assert!(q.try_push(Some(1), job).is_ok());
        }
        for job in ["c1", "c2"] {
            assert!(q.try_push(Some(3), job).is_ok());
        }
        assert_eq!(q.try_pop(), Some((Some(1), "a1")));
        assert_eq!(q.try_pop(), Some((Some(3), "c1")));
        // Tenant 2 sends one write while 1 and 3 keep theirs queued: it is next.
        assert!(q.try_push(Some(2), "b1").is_ok());
        assert_eq!(q.try_pop(), Some((Some(2), "b1")));
        assert_eq!(drain(&q), ["a2", "c2", "a3"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_lane_that_empties_rejoins_at_the_back() {
        let q = Lanes::new(100);
        assert!(q.try_push(Some(1), "a1").is_ok());
        assert!(q.try_push(Some(1), "a2").is_ok());
        assert_eq!(q.try_pop(), Some((Some(1), "a1")));
        assert_eq!(q.try_pop(), Some((Some(1), "a2")));
        assert!(q.try_push(Some(2), "b1").is_ok());
        assert!(q.try_push(Some(2), "b2").is_ok());
        assert!(q.try_push(Some(1), "a3").is_ok());
        assert_eq!(q.try_pop(), Some((Some(2), "b1")));
        assert!(q.try_push(Some(1), "a4").is_ok());
        // Both lanes were fresh in the order they filled; b then a, each once, then turns.
        assert_eq!(drain(&q), ["a3", "b2", "a4"]);
    }

    #[test]
    fn bounded_and_closable() {
        let q = Arc::new(Lanes::new(2));
        assert!(q.try_push(Some(1), "a").is_ok());
        assert!(q.try_push(Some(2), "b").is_ok());
        assert!(matches!(
            q.try_push(Some(3), "c"),
            Err(PushError::Full("c"))
        ));
        // A blocked pusher gets in once the consumer takes a job.
        let pusher = {
            let q = q.clone();
            std::thread::spawn(move || q.push_blocking(Some(3), "c").is_ok())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(q.pop_blocking(), Some((Some(1), "a")));
        assert!(pusher.join().unwrap_or(false));
        q.close();
        assert!(matches!(
            q.try_push(Some(4), "d"),
            Err(PushError::Closed("d"))
        ));
        // Closed: what was queued is still handed out, then the end.
        assert_eq!(q.pop_blocking(), Some((Some(2), "b")));
        assert_eq!(q.pop_blocking(), Some((Some(3), "c")));
        assert_eq!(q.pop_blocking(), None);
    }
}
