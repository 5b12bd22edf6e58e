//! WAL checkpoints on a thread of their own, off the writer.
//!
//! The writer connection runs with `wal_autocheckpoint=0`, so no COMMIT copies the WAL back
//! into the database file. After each batch the writer reports the WAL's length (in frames,
//! from SQLite's WAL hook) and a checkpointer thread, with its own connection, runs a
//! PASSIVE checkpoint once enough frames wait. A PASSIVE checkpoint blocks neither the
//! writer nor readers; durability is untouched (a commit is fsync'd to the WAL either way).
//!
//! The WAL starts over from its beginning only when a write transaction begins while every
//! frame is checkpointed and no reader uses the WAL, which a steady stream of writes may
//! never allow. So once the WAL passes [`Limits::restart_at`] frames, the checkpointer asks
//! the writer to pause before its next batch and runs a RESTART checkpoint, which waits at
//! most [`READER_WAIT`] for readers of older snapshots; the next write then starts the WAL
//! over, and `journal_size_limit` shrinks the file if it grew past that.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::StoreError;

/// How long a RESTART checkpoint waits for readers still using the WAL (the writer is paused
/// meanwhile).
const READER_WAIT: Duration = Duration::from_millis(100);
/// How long the checkpointer waits for the writer to finish its batch before a RESTART.
const BATCH_WAIT: Duration = Duration::from_secs(2);
/// The longest the writer pauses for a RESTART before going on regardless.
const WRITER_PAUSE: Duration = Duration::from_millis(500);

/// When to checkpoint, in WAL frames (one frame is one page, 4 KiB, plus 24 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A PASSIVE checkpoint once this many frames are not yet checkpointed.
    pub passive_at: u32,
    /// A RESTART checkpoint once the WAL is this long.
    pub restart_at: u32,
    /// `journal_size_limit` of the writer: the WAL file is cut to this size (bytes) when it
    /// starts over.
    pub file_limit: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            passive_at: 2_048,
            restart_at: 16_384,
            file_limit: 128 << 20,
        }
    }
}

thread_local! {
    /// The WAL length after the last commit of the connection on this thread (the writer's).
    static WAL_FRAMES: Cell<u32> = const { Cell::new(0) };
}

fn note_frames(_: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(u32::try_from(frames).unwrap_or(0)));
    Ok(())
}

/// Prepares the writer connection: no automatic checkpoints, the WAL length reported to
/// this thread after each commit. Call it on the writer thread's connection only.
pub(crate) fn configure_writer(conn: &Connection, limits: Limits) -> Result<(), StoreError> {
    // The pragma installs (or removes) SQLite's own WAL hook, so it comes before ours.
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
        limits.file_limit
    ))?;
    conn.wal_hook(Some(note_frames));
    Ok(())
}

#[derive(Default)]
struct State {
    /// WAL length (frames) after the writer's last commit.
    frames: u32,
    /// Frames of the current WAL known to be checkpointed.
    done: u32,
    /// Times the writer saw the WAL start over.
    restarts: u64,
    /// The writer is inside a batch transaction.
    in_batch: bool,
    /// The checkpointer asks the writer not to begin a batch.
    hold: bool,
    /// The writer is gone.
    stop: bool,
    /// The checkpointer thread has ended.
    ended: bool,
    /// Checkpoints asked for regardless of the limits, and those run (tests).
    forced: u64,
    served: u64,
    last: Option<Pass>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the checkpointer.
    to_checkpointer: Condvar,
    /// Wakes the writer (end of a hold) and anyone waiting for a checkpoint.
    to_others: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What one round of the checkpointer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pass {
    /// WAL length and frames checkpointed, after the PASSIVE checkpoint.
    pub log: u32,
    pub done: u32,
    /// Whether a RESTART was tried, and whether it succeeded.
    pub restart: Option<bool>,
}

/// The writer's side: it reports commits and pauses when asked. Dropping it stops the
/// checkpointer thread.
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    passive_at: u32,
}

/// Starts the checkpointer thread on its own connection to `path`.
pub(crate) fn start(path: &Path, limits: Limits) -> Result<Checkpoints, StoreError> {
    let conn = super::conn::open(path, false)?;
    conn.busy_timeout(READER_WAIT)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        to_checkpointer: Condvar::new(),
        to_others: Condvar::new(),
    });
    let theirs = shared.clone();
    std::thread::Builder::new()
        .name("scim-sqlite-checkpoint".into())
        .spawn(move || {
            run(&conn, &theirs, limits);
            theirs.lock().ended = true;
            theirs.to_others.notify_all();
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Checkpoints {
        shared,
        passive_at: limits.passive_at,
    })
}

impl Checkpoints {
    /// Before a batch: waits while the checkpointer runs a RESTART (at most
    /// [`WRITER_PAUSE`]).
    pub(crate) fn begin_batch(&self) {
        let mut st = self.shared.lock();
        if st.hold {
            let paused = Instant::now();
            let deadline = paused + WRITER_PAUSE;
            while st.hold {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                st = match self.shared.to_others.wait_timeout(st, left) {
                    Ok((st, _)) => st,
                    Err(e) => e.into_inner().0,
                };
            }
            tracing::debug!(
                ms = paused.elapsed().as_secs_f64() * 1e3,
                "the SQLite writer waited for a RESTART checkpoint"
            );
        }
        st.in_batch = true;
    }

    /// After a batch's commit, before its jobs are answered: reports the WAL length.
    pub(crate) fn end_batch(&self) {
        let frames = WAL_FRAMES.with(|f| f.replace(0));
        let mut st = self.shared.lock();
        st.in_batch = false;
        if frames > 0 {
            if frames < st.frames {
                st.restarts += 1;
                st.done = 0;
            }
            st.frames = frames;
        }
        if st.hold || st.frames.saturating_sub(st.done) >= self.passive_at {
            self.shared.to_checkpointer.notify_one();
        }
    }

    #[cfg(test)]
    pub(crate) fn probe(&self) -> Probe {
        Probe(self.shared.clone())
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.stop = true;
        st.hold = false;
        drop(st);
        self.shared.to_checkpointer.notify_one();
        self.shared.to_others.notify_all();
    }
}

fn run(conn: &Connection, shared: &Shared, limits: Limits) {
    let mut restart_at = limits.restart_at;
    let mut seen_restarts = 0;
    loop {
        let (restarts, asked) = {
            let mut st = shared.lock();
            loop {
                if st.stop {
                    return;
                }
                if st.forced > st.served || st.frames.saturating_sub(st.done) >= limits.passive_at {
                    break;
                }
                st = match shared.to_checkpointer.wait(st) {
                    Ok(st) => st,
                    Err(e) => e.into_inner(),
                };
            }
            (st.restarts, st.forced)
        };
        if restarts != seen_restarts {
            // The WAL started over since the last round: a RESTART is due at the usual length.
            seen_restarts = restarts;
            restart_at = limits.restart_at;
        }
        let pass = round(conn, shared, &mut restart_at, limits);
        let mut st = shared.lock();
        match pass {
            // Unless the WAL started over meanwhile, `done` frames of it are checkpointed.
            Some(pass) if st.restarts == restarts => st.done = pass.done,
            Some(_) => {}
            // On an error, wait for more frames before trying again.
            None => st.done = st.frames,
        }
        st.served = asked;
        st.last = pass;
        drop(st);
        shared.to_others.notify_all();
    }
}

/// A PASSIVE checkpoint and, if the WAL is long, a RESTART with the writer paused.
fn round(conn: &Connection, shared: &Shared, restart_at: &mut u32, limits: Limits) -> Option<Pass> {
    let (_, log, done) = checkpoint(conn, "PASSIVE")?;
    let mut pass = Pass {
        log,
        done,
        restart: None,
    };
    if log >= *restart_at {
        let restarted = with_writer_paused(shared, || checkpoint(conn, "RESTART"))
            .flatten()
            .is_some_and(|(busy, log, done)| !busy && log == done);
        pass.restart = Some(restarted);
        *restart_at = if restarted {
            limits.restart_at
        } else {
            // Readers kept old snapshots: try again once the WAL has grown by as much again.
            log.saturating_add(limits.restart_at)
        };
    }
    Some(pass)
}

/// `PRAGMA wal_checkpoint(mode)`: (blocked, WAL length, frames checkpointed).
fn checkpoint(conn: &Connection, mode: &str) -> Option<(bool, u32, u32)> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let started = Instant::now();
    let result = conn.query_row(&sql, [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    tracing::debug!(
        mode,
        ms = started.elapsed().as_secs_f64() * 1e3,
        outcome = ?result,
        "WAL checkpoint (busy, frames, checkpointed)"
    );
    match result {
        Ok((busy, log, done)) => Some((
            busy != 0,
            u32::try_from(log).unwrap_or(0),
            u32::try_from(done).unwrap_or(0),
        )),
        Err(e) => {
            tracing::warn!(error = %e, mode, "WAL checkpoint failed");
            None
        }
    }
}

/// Runs `f` while the writer is between batches and will not begin one, or returns `None`
/// if its current batch does not end within [`BATCH_WAIT`].
fn with_writer_paused<T>(shared: &Shared, f: impl FnOnce() -> T) -> Option<T> {
    let mut st = shared.lock();
    st.hold = true;
    let deadline = Instant::now() + BATCH_WAIT;
    while st.in_batch && !st.stop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        st = match shared.to_checkpointer.wait_timeout(st, left) {
            Ok((st, _)) => st,
            Err(e) => e.into_inner().0,
        };
    }
    let result = if st.in_batch || st.stop {
        None
    } else {
        drop(st);
        let result = f();
        st = shared.lock();
        Some(result)
    };
    st.hold = false;
    drop(st);
    shared.to_others.notify_all();
    result
}

/// A test's view of the checkpointer.
#[cfg(test)]
#[derive(Clone)]
pub(crate) struct Probe(Arc<Shared>);

#[cfg(test)]
impl Probe {
    /// Has the checkpointer run a round now (whatever the limits say) and returns what it
    /// did; `None` if it has ended.
    pub(crate) fn checkpoint_now(&self) -> Option<Pass> {
        let mut st = self.0.lock();
        st.forced += 1;
        let ticket = st.forced;
        self.0.to_checkpointer.notify_one();
        while st.served < ticket && !st.ended {
            st = self.0.to_others.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.served >= ticket { st.last } else { None }
    }

    /// The WAL length after the writer's last commit.
    pub(crate) fn frames(&self) -> u32 {
        self.0.lock().frames
    }

    /// Times the writer saw the WAL start over.
    pub(crate) fn restarts(&self) -> u64 {
        self.0.lock().restarts
    }

    /// Waits (at most `limit`) until the checkpointer thread has ended; returns whether it has.
    pub(crate) fn wait_ended(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.0.lock();
        while !st.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = match self.0.to_others.wait_timeout(st, left) {
                Ok((st, _)) => st,
                Err(e) => e.into_inner().0,
            };
        }
        st.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::conn::open;
    use crate::sqlite::writer::Writer;

    const ROWS_PER_WRITE: i64 = 4;

    fn setup(dir: &Path, limits: Limits) -> (Writer, Probe) {
        let path = dir.join("wal.db");
        let conn = open(&path, false).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
            .unwrap();
        let writer = Writer::start_with(conn, &path, limits, Duration::MAX).unwrap();
        let probe = writer.checkpoints.clone();
        (writer, probe)
    }

    /// One commit of a few rows of about one page each.
    async fn write(writer: &Writer) {
        writer
            .write(None, |c| {
                for _ in 0..ROWS_PER_WRITE {
                    c.execute("INSERT INTO t (b) VALUES (randomblob(3000))", [])?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    fn count(path: &Path) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    fn wal_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("wal.db-wal")).unwrap().len()
    }

    #[tokio::test]
    async fn checkpoints_put_the_data_in_the_database_file_and_bound_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            passive_at: 64,
            restart_at: 256,
            file_limit: 1 << 20,
        };
        let (writer, probe) = setup(dir.path(), limits);

        // A reader keeps an old snapshot: nothing written after it can be checkpointed,
        // and the WAL cannot start over.
        let reader = open(&dir.path().join("wal.db"), true).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let before: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(before, 0);
        let writes = 100;
        for _ in 0..writes {
            write(&writer).await;
        }
        let pass = probe.checkpoint_now().unwrap();
        assert!(pass.done < pass.log, "{pass:?}");
        assert!(pass.log >= 400, "{pass:?}");
        assert_eq!(probe.restarts(), 0);
        assert!(wal_len(dir.path()) > limits.file_limit);

        // Once it is gone, one checkpoint copies everything into the database file.
        reader.execute_batch("COMMIT").unwrap();
        let pass = probe.checkpoint_now().unwrap();
        assert_eq!(pass.done, pass.log, "{pass:?}");
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("wal.db"), copy.path().join("wal.db")).unwrap();
        assert_eq!(count(&copy.path().join("wal.db")), writes * ROWS_PER_WRITE);

        // The next write starts the WAL over, and its file is cut back to the limit.
        write(&writer).await;
        assert_eq!(probe.restarts(), 1);
        assert!(probe.frames() < limits.passive_at, "{}", probe.frames());
        assert!(wal_len(dir.path()) <= limits.file_limit);
        assert_eq!(
            count(&dir.path().join("wal.db")),
            (writes + 1) * ROWS_PER_WRITE
        );
    }

    #[tokio::test]
    async fn a_long_wal_is_restarted_with_the_writer_paused() {
        let dir = tempfile::tempdir().unwrap();
        // No PASSIVE checkpoints of their own: only the rounds the test asks for.
        let limits = Limits {
            passive_at: u32::MAX,
            restart_at: 256,
            file_limit: 1 << 20,
        };
        let (writer, probe) = setup(dir.path(), limits);
        for _ in 0..100 {
            write(&writer).await;
        }
        let pass = probe.checkpoint_now().unwrap();
        assert!(pass.log >= 400, "{pass:?}");
        assert_eq!(pass.done, pass.log, "{pass:?}");
        assert_eq!(pass.restart, Some(true), "{pass:?}");
        write(&writer).await;
        assert_eq!(probe.restarts(), 1);
        assert!(probe.frames() < 64, "{}", probe.frames());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_and_checkpoints_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            passive_at: 16,
            restart_at: 64,
            file_limit: 1 << 20,
        };
        let (writer, probe) = setup(dir.path(), limits);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    write(&writer).await;
                }
            }));
        }
        let forcing = std::thread::spawn({
            let probe = probe.clone();
            move || {
                for _ in 0..20 {
                    probe.checkpoint_now();
                }
            }
        });
        for t in tasks {
            t.await.unwrap();
        }
        forcing.join().unwrap();
        assert_eq!(count(&dir.path().join("wal.db")), 8 * 25 * ROWS_PER_WRITE);
    }

    #[tokio::test]
    async fn the_checkpointer_ends_with_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, probe) = setup(dir.path(), Limits::default());
        write(&writer).await;
        drop(writer);
        assert!(probe.wait_ended(Duration::from_secs(60)));
    }
}
