//! The event feed: a tenant's events after a cursor, with long polling.
//!
//! A cursor is a position: the feed answers the events strictly after it, in the tenant's
//! order, and the position to ask from next. Because the change log commits a tenant's
//! records in position order (ARCHITECTURE.md, "Change log"), a reader that always asks
//! from the last position it was given never skips an event, on any instance.

use std::sync::Arc;
use std::time::Duration;

use scim_core::schema::SchemaRegistry;
use scim_store::{Store, Tenant};
use tokio::time::Instant;

use crate::DeliveryError;
use crate::event::{self, EventFilter, RenderContext};
use crate::shared::SharedEvent;
use crate::tail::{Seen, Tail};

/// Most events one read returns.
pub const MAX_LIMIT: u32 = 1000;
/// Longest a read may wait for a first event.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The longest batching window ([`Feed::with_batch_window`]).
pub const MAX_BATCH_WINDOW: Duration = Duration::from_secs(1);
/// Longest a reader at a tenant's head waits for its turn (`Tail::turn`) before reading
/// the log for itself.
const TURN_WAIT: Duration = Duration::from_millis(50);
/// Most change records one read examines when a filter leaves most of them out; the
/// reader is then given a cursor past them and asks again.
const SCAN_LIMIT: usize = 10_000;

/// What a reader asks for.
#[derive(Debug, Clone)]
pub struct FeedRequest {
    /// The cursor: events strictly after this position (0: from the beginning).
    pub after: i64,
    /// Most events to return (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// How long to wait for a first event when there is none yet (0: answer at once).
    pub wait: Duration,
    /// Which event types to return (events of other types are skipped, their positions passed).
    pub filter: EventFilter,
}

/// One read's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// The events, in position order (shared with the feed's other readers: see
    /// [`SharedEvent`]).
    pub events: Vec<SharedEvent>,
    /// The cursor to ask from next: the position of the last event, or further when
    /// events the filter left out came after it.
    pub next: i64,
    /// The tenant's latest position when the read ended (`head - next` is the reader's lag).
    pub head: i64,
}

impl FeedPage {
    fn new(events: Vec<SharedEvent>, next: i64, head: i64) -> FeedPage {
        FeedPage { events, next, head }
    }
}

/// Reads tenants' events from the change log.
#[derive(Clone)]
pub struct Feed {
    store: Arc<dyn Store>,
    registry: Arc<SchemaRegistry>,
    public_url: Arc<str>,
    /// The tenants' path below the public URL (`/scim/v2`).
    scim_path: Arc<str>,
    /// Ends every wait when it turns true (the server is shutting down).
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// The events derived last, shared by the feed's clones (every consumer of a server).
    tail: Arc<Tail>,
    /// Reads of the change log made by the feed's clones ([`Feed::log_reads`]).
    log_reads: Arc<std::sync::atomic::AtomicU64>,
    /// Where reads run ([`Feed::on_runtime`]); `None`: where they are awaited.
    runtime: Option<tokio::runtime::Handle>,
    /// The shortest time between two reads of a tenant's log at its head
    /// ([`Feed::with_batch_window`]).
    batch_window: Duration,
}

impl Feed {
    /// A feed over `store`; `public_url` is the server's public URL, for the
    /// `meta.location` of the resources in events.
    pub fn new(store: Arc<dyn Store>, registry: Arc<SchemaRegistry>, public_url: &str) -> Feed {
        Feed {
            store,
            registry,
            public_url: public_url.trim_end_matches('/').into(),
            scim_path: "/scim/v2".into(),
            shutdown: None,
            tail: Arc::default(),
            log_reads: Arc::default(),
            runtime: None,
            batch_window: Duration::ZERO,
        }
    }

    /// The same feed, reading a tenant's log at its head at most once per `window` (at
    /// most [`MAX_BATCH_WINDOW`]). Under a steady stream of commits, the events of the
    /// commits in between then go out together: one read of the log, one webhook request,
    /// one feed answer for all of them instead of one per commit, at the price of up to
    /// `window` more latency for an event while the stream lasts. A tenant's first
    /// change after a quiet moment is read at once, and readers behind the head are never
    /// held back; a read at the head may take up to `window`, even one that does not wait
    /// for events (`wait` zero). Where each read is a network round trip to the database
    /// (PostgreSQL), this is most of what delivery costs the writes (BENCHMARKS.md).
    /// Default: zero, a read after every commit.
    pub fn with_batch_window(mut self, window: Duration) -> Feed {
        self.batch_window = window.min(MAX_BATCH_WINDOW);
        self
    }

    /// The batching window ([`Feed::with_batch_window`]).
    pub fn batch_window(&self) -> Duration {
        self.batch_window
    }

    /// The same feed, whose reads run on `runtime` wherever they are awaited (delivery's
    /// own threads at a lower priority: see [`crate::runtime`]); the events of a page are
    /// serialised there too. The delivery engine runs its deliverers there as well.
    pub fn on_runtime(mut self, runtime: tokio::runtime::Handle) -> Feed {
        self.runtime = Some(runtime);
        self
    }

    /// The runtime the feed's reads run on, when it was given one.
    pub fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref()
    }

    /// The same feed for a server whose tenants' base URLs are `{public_url}{scim_path}/{tenant}`
    /// (`scim_server::ServerConfig::scim_path`; `/scim/v2` unless set).
    pub fn with_scim_path(mut self, scim_path: &str) -> Feed {
        self.scim_path = scim_path.trim_end_matches('/').into();
        self
    }

    /// The tenants' path below the public URL (no trailing `/`).
    pub fn scim_path(&self) -> &str {
        &self.scim_path
    }

    /// The same feed, whose waits end (with what they have) once `shutdown` is true, so
    /// that long polls do not hold up a graceful shutdown.
    pub fn with_shutdown(mut self, shutdown: tokio::sync::watch::Receiver<bool>) -> Feed {
        self.shutdown = Some(shutdown);
        self
    }

    /// Resolves once the server is shutting down (never, without a shutdown signal).
    async fn closing(&self) {
        match self.shutdown.clone() {
            Some(mut rx) => {
                // A dropped sender is not a shutdown.
                if rx.wait_for(|closing| *closing).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// The server's public URL the feed was made with (no trailing `/`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The schemas the feed renders resources with.
    pub fn registry(&self) -> &Arc<SchemaRegistry> {
        &self.registry
    }

    /// The store the feed reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How many times this feed and its clones read the change log (readers woken by one
    /// commit share one read when they can: see `tail.rs`).
    pub fn log_reads(&self) -> u64 {
        self.log_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fails with [`DeliveryError::CursorExpired`] when events after `after` are no longer
    /// all kept.
    pub async fn check_cursor(&self, tenant: &Tenant, after: i64) -> Result<(), DeliveryError> {
        if after < 0 {
            return Err(DeliveryError::Invalid(format!(
                "the cursor must be a position (0 or more), not {after}"
            )));
        }
        let first_kept = self.store.first_kept(tenant.id).await?;
        if after < first_kept - 1 {
            return Err(DeliveryError::CursorExpired {
                after,
                oldest: first_kept - 1,
            });
        }
        Ok(())
    }

    /// The events after `request.after`, waiting up to `request.wait` for a first one.
    ///
    /// Each look at the log is one read ([`scim_store::EventLog::log_slice`]): whether the
    /// cursor is still served, the records and the head in one snapshot, and the roles the
    /// users carried. Events another reader of this feed derived a moment ago are taken from the
    /// feed's tail (`tail.rs`) instead of being derived again; the read then starts after
    /// them, or is not made at all when the tail's own read is as recent as this reader's
    /// wait (see below) — consumers woken by one commit share one trip to the database.
    ///
    /// With a runtime ([`Feed::on_runtime`]) the read runs there, and dropping the returned
    /// future cancels it.
    pub async fn read(
        &self,
        tenant: &Tenant,
        request: &FeedRequest,
    ) -> Result<FeedPage, DeliveryError> {
        let Some(runtime) = self.runtime.as_ref() else {
            return self.read_here(tenant, request).await;
        };
        let (feed, tenant, request) = (self.clone(), tenant.clone(), request.clone());
        let work = async move {
            let page = feed.read_here(&tenant, &request).await;
            if let Ok(p) = &page {
                // Written here, not on the thread that sends them.
                for e in &p.events {
                    e.json();
                }
            }
            page
        };
        crate::runtime::run_on(Some(runtime), work)
            .await
            .unwrap_or_else(|e| {
                let e = if e.is_panic() {
                    // A bug: logged where it happened, not retried as if it could pass.
                    scim_store::StoreError::Database("the event read failed unexpectedly".into())
                } else {
                    // Delivery's runtime shut down: the server is stopping.
                    scim_store::StoreError::Unavailable("the event feed stopped".into())
                };
                Err(e.into())
            })
    }

    async fn read_here(
        &self,
        tenant: &Tenant,
        request: &FeedRequest,
    ) -> Result<FeedPage, DeliveryError> {
        if request.after < 0 {
            return Err(DeliveryError::Invalid(format!(
                "the cursor must be a position (0 or more), not {}",
                request.after
            )));
        }
        let limit = request.limit.clamp(1, MAX_LIMIT);
        let deadline = Instant::now() + request.wait.min(MAX_WAIT);
        let signal = self.store.commit_signal().watch(tenant.id);
        let base_url = format!("{}{}/{}", self.public_url, self.scim_path, tenant.name);
        let ctx = RenderContext {
            base_url: &base_url,
            registry: &self.registry,
        };
        let mut cursor = request.after;
        let mut scanned = 0usize;
        loop {
            // Armed before the read, so that a commit between the read and the wait is not
            // missed.
            let committed = signal.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            let armed = self.store.commit_signal().commits(tenant.id);
            let mut kept = self
                .tail
                .after(tenant.id, &base_url, cursor, limit as usize);
            // At the head, readers take turns: a reader woken by the same commit as another
            // waits for it and takes the events it derived.
            // The wait for the turn is bounded: a reader holding it whose future is not
            // being polled (a subscription an embedder stopped polling) must not stall
            // the tenant's other consumers; past the bound a reader reads for itself.
            let turn = if kept.events.is_empty() && self.tail.at_end(tenant.id, &base_url, cursor) {
                // (The holder may be waiting out the batching window.)
                let turn_wait = TURN_WAIT + self.batch_window;
                let turn = tokio::time::timeout(turn_wait, self.tail.turn(tenant.id))
                    .await
                    .ok();
                kept = self
                    .tail
                    .after(tenant.id, &base_url, cursor, limit as usize);
                turn
            } else {
                None
            };
            // Events from the tail are the whole answer, without reading the log again,
            // when they fill the page or reach the head that the tail's read saw, and no
            // wake-up of the tenant was counted between the start of that read and this
            // reader's arming (`CommitSignal::commits`): every commit the read missed is
            // counted later and wakes this reader, so the read's head is this reader's too
            // (a deliverer told it is caught up waits for the next commit). The cursor is
            // checked against the first position that read kept, as a read would; pruning
            // in this process wakes readers, so the read is at least that recent.
            let through = kept.events.last().map_or(0, |e| e.position);
            if !kept.events.is_empty()
                && kept.seen.commits >= armed
                && (kept.events.len() == limit as usize || through >= kept.seen.head)
            {
                drop(turn);
                if cursor < kept.seen.first_kept - 1 {
                    return Err(DeliveryError::CursorExpired {
                        after: cursor,
                        oldest: kept.seen.first_kept - 1,
                    });
                }
                scanned += kept.events.len();
                let mut events = Vec::new();
                for e in kept.events {
                    cursor = e.position;
                    if request.filter.accepts(e.event_type) {
                        events.push(e);
                    }
                }
                if !events.is_empty() || scanned >= SCAN_LIMIT {
                    return Ok(FeedPage::new(events, cursor, kept.seen.head.max(cursor)));
                }
                continue;
            }
            let from = kept.events.last().map_or(cursor, |e| e.position);
            let want = limit - u32::try_from(kept.events.len()).unwrap_or(limit);
            if turn.is_some()
                && kept.events.is_empty()
                && self.tail.at_head(tenant.id, &base_url, cursor)
            {
                // At the head: at most one read per batching window, so that the commits
                // of the window go out together (the other readers wait for this turn and
                // take the events it derives). A reader catching up on a backlog is not
                // held back.
                if let Some(due) = self.tail.next_head_read(tenant.id, self.batch_window) {
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = self.closing() => {
                            let head = kept.seen.head.max(cursor);
                            return Ok(FeedPage::new(Vec::new(), cursor, head));
                        }
                    }
                }
                self.tail.head_read(tenant.id);
            }
            let seen_commits = self.store.commit_signal().commits(tenant.id);
            self.log_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut slice = self.store.log_slice(tenant.id, from, want).await?;
            if cursor < slice.first_kept - 1 {
                return Err(DeliveryError::CursorExpired {
                    after: cursor,
                    oldest: slice.first_kept - 1,
                });
            }
            let mut derived = Vec::with_capacity(slice.records.len());
            for record in std::mem::take(&mut slice.records) {
                // A create's document is passed on as stored, not parsed (`Resource`).
                let stored = slice.stored_after.remove(&record.seq);
                // Each user an event carries, with its effective roles as of the event
                // (right after the event's write, with the recompute that write made).
                let roles = (record.resource_type == "User")
                    .then(|| {
                        slice
                            .roles
                            .remove(&(record.resource_id.clone(), record.seq))
                    })
                    .flatten();
                let e = event::derive_stored(record, stored, roles, tenant, &ctx);
                derived.push(SharedEvent::new(e));
            }
            let seen = Seen {
                head: slice.head,
                commits: seen_commits,
                first_kept: slice.first_kept,
            };
            self.tail.keep(tenant.id, &base_url, from, &derived, seen);
            // Not held while waiting for the next commit.
            drop(turn);
            let kept = kept.events;
            let looked = kept.len() + derived.len();
            let full = looked == limit as usize;
            let mut events = Vec::new();
            for e in kept.into_iter().chain(derived) {
                cursor = e.position;
                if request.filter.accepts(e.event_type) {
                    events.push(e);
                }
            }
            scanned += looked;
            let head = slice.head.max(cursor);
            if !events.is_empty() || (full && scanned >= SCAN_LIMIT) {
                return Ok(FeedPage::new(events, cursor, head));
            }
            if full {
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(FeedPage::new(events, cursor, head));
            }
            tokio::select! {
                () = &mut committed => {}
                () = tokio::time::sleep_until(deadline) => {}
                () = self.closing() => return Ok(FeedPage::new(events, cursor, head)),
            }
        }
    }
}
