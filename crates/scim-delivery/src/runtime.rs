//! Delivery's own threads, at a lower CPU priority than the server's.
//!
//! Delivery works per event: it reads each committed record back, derives its event,
//! serialises it and sends it. On the same threads as the SCIM requests, that work
//! competes with them for the CPU, and a task deriving a page of events holds its thread
//! while requests queue behind it (tokio does not preempt tasks). On a runtime of its own
//! whose threads have a higher nice value ([`BackgroundRuntime`]), the operating system
//! preempts delivery whenever a request is ready to run: a server at its limit answers its
//! identity providers first, and delivery takes the CPU they leave (it catches up as soon
//! as the load eases). Below the limit nothing changes: there is CPU for both.
//!
//! A [`crate::Feed`] given the runtime's handle ([`crate::Feed::on_runtime`]) runs its
//! reads there, wherever they are asked from (a long poll of the management API, an
//! embedder's subscription), and the delivery engine runs its deliverers there.

use std::cell::Cell;
use std::future::Future;
use std::io;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinError;

/// The nice value of delivery's threads: the scheduler then gives a busy request thread
/// about ten times their share of a contended CPU (CFS weights 1024 against 110).
pub const NICE: i32 = 10;

thread_local! {
    /// Whether this thread is one of a [`BackgroundRuntime`]'s.
    static BACKGROUND: Cell<bool> = const { Cell::new(false) };
}

/// A multi-threaded tokio runtime for delivery, whose threads (workers and blocking
/// threads alike, so its reads of a SQLite store too) run at nice [`NICE`] on Linux and
/// Android, where a nice value is a thread's own; elsewhere (it would lower the whole
/// process) at normal priority, still off the request threads.
/// Dropping it stops it without waiting for its tasks (they are dropped at their next
/// await), from async code too.
pub struct BackgroundRuntime {
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl BackgroundRuntime {
    /// Starts the runtime with `workers` worker threads (at least one).
    pub fn start(workers: usize) -> io::Result<BackgroundRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name("scim-delivery")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(BackgroundRuntime {
            runtime: Some(runtime),
            handle,
        })
    }

    /// The handle to give a [`crate::Feed`] and to spawn on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code may not do; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Marks the calling thread as delivery's and lowers its CPU priority.
fn lower_priority() {
    BACKGROUND.with(|b| b.set(true));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // On Linux the nice value is the calling thread's own (not the process's).
        if let Err(e) = rustix::process::setpriority_process(None, NICE) {
            tracing::debug!(error = %e, "delivery's threads keep the normal priority");
        }
    }
}

/// Whether the calling thread belongs to a [`BackgroundRuntime`].
pub(crate) fn on_background_thread() -> bool {
    BACKGROUND.with(Cell::get)
}

/// Runs `work` on `handle` (unless already on a background thread) and waits for it; the
/// work is cancelled when the returned future is dropped (a long poll whose client went).
/// Fails when the work panicked or its runtime shut down.
pub(crate) async fn run_on<T, F>(handle: Option<&Handle>, work: F) -> Result<T, JoinError>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    match handle {
        Some(h) if !on_background_thread() => {
            let mut task = AbortOnDrop(h.spawn(work));
            (&mut task.0).await
        }
        _ => Ok(work.await),
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_background_threads_at_a_lower_priority() {
        let background = BackgroundRuntime::start(1).unwrap();
        assert!(!on_background_thread());
        let (on_background, nice) = run_on(Some(background.handle()), async {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let nice = rustix::process::getpriority_process(None).ok();
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let nice = None;
            (on_background_thread(), nice)
        })
        .await
        .unwrap();
        assert!(on_background);
        #[cfg(target_os = "linux")]
        assert!(nice.is_some_and(|n| n >= NICE), "nice {nice:?}");
        let _ = nice;
        // Without a handle, the work runs where it is awaited.
        assert_eq!(run_on(None, async { 7 }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn dropping_the_wait_cancels_the_work() {
        let background = BackgroundRuntime::start(1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let waiting = run_on(Some(background.handle()), async move {
            let _tx = tx; // dropped when the task is
            std::future::pending::<()>().await;
        });
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), waiting).await;
        // The task was aborted: its sender is gone.
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[tokio::test]
    async fn dropping_it_from_async_code_does_not_block_or_panic() {
        let background = BackgroundRuntime::start(1).unwrap();
        let handle = background.handle().clone();
        assert_eq!(handle.spawn(async { 1 }).await.unwrap(), 1);
        drop(background);
    }
}
