//! Streamed reads: a group (or a page holding one large group) read in one snapshot whose
//! members are handed over in chunks while the caller sends them on, so that a reader of a
//! 1,000,000-member group holds a few chunks in memory instead of the whole list.
//!
//! The read runs on a task of its own: it reads the resource (or page), hands it over, then
//! reads the members chunk by chunk (a range of the `members` primary key each) into a
//! bounded channel. A reader that stops taking chunks (a slow or vanished client) stops the
//! read: when the channel stays full for [`STALL_LIMIT`], or as soon as the stream is
//! dropped. At most [`MAX_STREAMS`] such reads run at once, so that they never take every
//! read connection from the short reads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::Engine;
use super::db::Db;
use super::members;
use crate::StoreError;
use crate::model::{Member, MemberStream};

/// Members per chunk.
pub(crate) const CHUNK: usize = 1000;
/// Chunks read ahead of the reader.
const DEPTH: usize = 2;
/// Streamed reads at a time (a fraction of the read connections of either backend).
pub(crate) const MAX_STREAMS: usize = 4;
/// How long a chunk may wait for a reader that takes nothing before the read gives up.
pub(crate) const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The permits of [`MAX_STREAMS`].
#[derive(Clone)]
pub(crate) struct StreamSlots(Arc<Semaphore>);

impl Default for StreamSlots {
    fn default() -> Self {
        StreamSlots(Arc::new(Semaphore::new(MAX_STREAMS)))
    }
}

type First<T> = Arc<Mutex<Option<oneshot::Sender<Result<T, StoreError>>>>>;

/// What a streamed read hands over: first its head (the resource or page), then chunks.
pub(crate) struct Sink<T> {
    first: First<T>,
    chunks: mpsc::Sender<Result<Vec<Member>, StoreError>>,
}

impl<T> Sink<T> {
    /// Hands over the head. Its reader may be gone already; the read then stops at its
    /// first chunk.
    pub(crate) fn head(&self, head: T) {
        if let Some(tx) = self.first.lock().ok().and_then(|mut f| f.take()) {
            let _ = tx.send(Ok(head));
        }
    }

    /// Sends a chunk; `false` when the reader is gone or took nothing for [`STALL_LIMIT`].
    fn chunk(&self, chunk: Vec<Member>) -> bool {
        let handle = tokio::runtime::Handle::current();
        handle
            .block_on(self.chunks.send_timeout(Ok(chunk), STALL_LIMIT))
            .is_ok()
    }

    /// Reports a failure: to the caller if the head was not handed over yet, else as the
    /// stream's last item.
    fn fail(&self, e: StoreError) {
        match self.first.lock().ok().and_then(|mut f| f.take()) {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => {
                let _ = self.chunks.try_send(Err(e));
            }
        }
    }

    /// Sends every member of a group whose id follows `after`, chunk by chunk, until the
    /// last or until the reader is gone.
    pub(crate) fn members(
        &self,
        db: &mut dyn Db,
        tenant_id: i64,
        group_id: &str,
    ) -> Result<(), StoreError> {
        let mut after: Option<String> = None;
        loop {
            let chunk =
                members::load_chunk(db, tenant_id, group_id, after.as_deref(), Some(CHUNK))?;
            let (n, last) = (chunk.len(), chunk.last().map(|m| m.value.clone()));
            if n == 0 || !self.chunk(chunk) || n < CHUNK {
                return Ok(());
            }
            after = last;
        }
    }
}

/// Runs `read` in one read snapshot on a task of its own and returns its head and the
/// stream of the chunks it sends after it. `read` must call [`Sink::head`] before any chunk.
pub(crate) async fn spawn<E, T, F>(
    engine: Arc<E>,
    slots: &StreamSlots,
    read: F,
) -> Result<(T, MemberStream), StoreError>
where
    E: Engine,
    T: Send + 'static,
    F: FnOnce(&mut dyn Db, &Sink<T>) -> Result<(), StoreError> + Send + 'static,
{
    let permit: OwnedSemaphorePermit = slots
        .0
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| StoreError::Unavailable("streamed reads are closed".into()))?;
    let (first_tx, first_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(DEPTH);
    let first: First<T> = Arc::new(Mutex::new(Some(first_tx)));
    let sink = Sink {
        first: first.clone(),
        chunks: tx,
    };
    tokio::spawn(async move {
        let _permit = permit;
        let result = engine
            .read(move |db| {
                if let Err(e) = read(db, &sink) {
                    sink.fail(e);
                }
                Ok(())
            })
            .await;
        // The read never ran (no connection, no snapshot): tell the caller.
        if let (Err(e), Some(tx)) = (result, first.lock().ok().and_then(|mut f| f.take())) {
            let _ = tx.send(Err(e));
        }
    });
    let head = first_rx
        .await
        .map_err(|_| StoreError::Database("the streamed read ended without an answer".into()))??;
    Ok((
        head,
        MemberStream {
            chunks: rx,
            buffered: Default::default(),
        },
    ))
}
