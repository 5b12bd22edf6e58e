//! The delivery engine: one task per active destination, each holding the destination's
//! lease, reading its tenant's events after the destination's position and handing them to
//! a [`Sink`] (webhook or NATS) in order, recording every attempt and the new position in
//! one transaction.
//!
//! Ordering: the next events are read only once the previous ones were acknowledged, so a
//! consumer never sees event n+1 before event n was acknowledged. At least once: the
//! position moves only after an acknowledgement, in the transaction that records it, so a
//! crash resends at most what was not recorded (the same `webhook-id` / `Nats-Msg-Id`).
//! One instance at a time: every write is fenced by the lease; a dead instance's lease
//! expires after `lease_ttl` and another instance takes over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scim_store::Store;
use scim_store::delivery::{
    DeliveryRecord, Destination, DestinationKind, NewAttempt, NewDestination, Recorded,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::nats::NatsSink;
use super::retry::RetryPolicy;
use super::webhook::{self, HttpOptions, WebhookSink};
use crate::event::EventFilter;
use crate::feed::{Feed, FeedRequest};
use crate::{DeliveryError, SharedEvent};

/// Events read ahead from the change log per destination.
const READ_AHEAD: u32 = 500;
/// Pause after a store error before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The outcome of one send.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The id sent (`webhook-id`, or the first `Nats-Msg-Id`).
    pub id: String,
    /// The receiver's HTTP status, when it answered (webhooks).
    pub status: Option<u16>,
    /// Why it failed (`None`: acknowledged).
    pub error: Option<String>,
    /// How long the receiver asked to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The receiver answered 410 Gone: it wants no more deliveries.
    pub gone: bool,
    /// How long the send took.
    pub latency: Duration,
}

/// Where events go: a webhook endpoint, a NATS server.
#[async_trait]
pub trait Sink: Send {
    /// Most events per send.
    fn chunk(&self, d: &Destination) -> usize;
    /// Sends events, in order; acknowledged as a whole or not at all.
    async fn send(&mut self, d: &Destination, events: &[SharedEvent]) -> Sent;
}

/// How the engine behaves.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// This instance's name in leases and attempt records (unique per process).
    pub instance: String,
    /// How long a lease lasts without renewal: after a crash, another instance (or the
    /// restarted one) takes over a destination this long after the last renewal.
    pub lease_ttl: Duration,
    /// How often the engine looks for destinations created, resumed or released by other
    /// processes (those changed through this engine's store wake it at once).
    pub rescan: Duration,
    /// When to retry a failed send (backoff, `Retry-After`, the give-up point).
    pub retry: RetryPolicy,
    /// The webhook HTTP client's settings (timeouts, private addresses).
    pub http: HttpOptions,
    /// Publish every tenant's events to this NATS server (`scim serve --nats-url`): each
    /// tenant without a NATS publisher to it gets one, starting with its oldest event kept.
    pub nats_url: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            instance: format!("scim-{}", uuid::Uuid::new_v4().simple()),
            lease_ttl: Duration::from_secs(30),
            rescan: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            http: HttpOptions::default(),
            nats_url: None,
        }
    }
}

struct Inner {
    feed: Feed,
    options: EngineOptions,
    http: reqwest::Client,
}

/// Delivers every active destination of a store (see the module documentation). Runs
/// inside `scim serve`; an application embedding `scim` runs it with [`DeliveryEngine::run`].
#[derive(Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

impl DeliveryEngine {
    /// An engine reading events through `feed`; fails when the HTTP client cannot be built.
    pub fn new(feed: Feed, options: EngineOptions) -> Result<DeliveryEngine, DeliveryError> {
        let http = webhook::client(&options.http).map_err(|e| {
            DeliveryError::Invalid(format!("cannot build the webhook HTTP client: {e}"))
        })?;
        Ok(DeliveryEngine {
            inner: Arc::new(Inner {
                feed,
                options,
                http,
            }),
        })
    }

    /// This instance's name in leases and attempts.
    pub fn instance(&self) -> &str {
        &self.inner.options.instance
    }

    /// Delivers until `shutdown` turns true; then lets deliveries in flight finish (each
    /// within the HTTP timeout), gives the leases up and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let store = self.inner.feed.store().clone();
        let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        tracing::info!(instance = %self.inner.options.instance, "event delivery started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            workers.retain(|_, h| !h.is_finished());
            // Enabled before the list is read, so that a destination added meanwhile
            // (through this store) wakes the loop at once.
            let changed = store.commit_signal().destinations().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(url) = &self.inner.options.nats_url
                && let Err(e) = ensure_nats(store.as_ref(), url).await
            {
                tracing::warn!(error = %e, "cannot set up NATS publishing for every tenant");
            }
            match store.list_destinations(None, None).await {
                Ok(list) => {
                    let now = now_text();
                    for d in list {
                        let leased_elsewhere = d.lease_owner.as_deref().is_some_and(|o| {
                            o != self.inner.options.instance
                                && d.lease_expires.as_deref().is_some_and(|e| e > now.as_str())
                        });
                        if !d.active || leased_elsewhere || workers.contains_key(&d.id) {
                            continue;
                        }
                        let inner = self.inner.clone();
                        let rx = shutdown.clone();
                        let id = d.id.clone();
                        workers.insert(
                            d.id,
                            tokio::spawn(async move {
                                if let Err(e) = deliver(inner, &id, rx).await {
                                    tracing::warn!(destination = %id, error = %e, "delivery stopped; will resume");
                                }
                            }),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list delivery destinations"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.inner.options.rescan) => {}
                () = &mut changed => {}
                _ = shutdown.changed() => {}
            }
        }
        let grace = self.inner.options.http.timeout + Duration::from_secs(2);
        for (_, h) in workers {
            let _ = tokio::time::timeout(grace, h).await;
        }
        tracing::info!("event delivery stopped");
    }

    /// Runs the engine on a task of its own: on its feed's runtime when it has one
    /// ([`Feed::on_runtime`]; the deliverers it starts then run there too), otherwise on
    /// the current one.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        match self.inner.feed.runtime().cloned() {
            Some(runtime) => runtime.spawn(self.run(shutdown)),
            None => tokio::spawn(self.run(shutdown)),
        }
    }
}

/// Gives every tenant without one a NATS publisher to `url`.
async fn ensure_nats(store: &dyn Store, url: &str) -> Result<(), DeliveryError> {
    let existing = store
        .list_destinations(None, Some(DestinationKind::Nats))
        .await?;
    for tenant in store.list_tenants().await? {
        if existing
            .iter()
            .any(|d| d.tenant_id == tenant.id && d.url == url)
        {
            continue;
        }
        let position = store.first_kept(tenant.id).await? - 1;
        let d = store
            .create_destination(NewDestination {
                tenant_id: tenant.id,
                kind: DestinationKind::Nats,
                url: url.to_string(),
                event_types: "*".into(),
                description: "scim serve --nats-url".into(),
                secret: None,
                batch_max: 1,
                position,
            })
            .await?;
        tracing::info!(tenant = %tenant.name, destination = %d.id, "publishing the tenant's events to NATS");
    }
    Ok(())
}

/// Age of a destination's oldest undelivered event, seconds, as of its last read (0 when
/// it is caught up): `destination` (its id), `kind` (`webhook`, `nats`).
pub const LAG_SECONDS: &str = "scim_delivery_lag_seconds";
/// Events a destination acknowledged: `destination`, `kind`.
pub const DELIVERED: &str = "scim_delivery_events_total";
/// Failed delivery attempts: `destination`, `kind`.
pub const FAILURES: &str = "scim_delivery_failures_total";

/// Now as the store writes times, so that stored times compare as text.
fn now_text() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

/// How long until a stored time (zero when it passed or does not parse).
fn until(stored: &str) -> Duration {
    scim_core::value::parse_datetime(stored)
        .map(|t| t - time::OffsetDateTime::now_utc())
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::ZERO)
}

/// How long ago a stored time was.
fn since(stored: &str) -> Duration {
    scim_core::value::parse_datetime(stored)
        .map(|t| time::OffsetDateTime::now_utc() - t)
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::ZERO)
}

async fn deliver(
    inner: Arc<Inner>,
    id: &str,
    shutdown: watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    let store = inner.feed.store().clone();
    let owner = inner.options.instance.as_str();
    let Some(d) = store
        .acquire_destination(id, owner, inner.options.lease_ttl)
        .await?
    else {
        return Ok(());
    };
    tracing::debug!(destination = %id, position = d.position, "delivering");
    let result = Worker {
        inner: &inner,
        store: &store,
        shutdown,
    }
    .run(d)
    .await;
    // Another instance (or this one after a restart) may take over at once.
    if let Err(e) = store.release_destination(id, owner).await {
        tracing::debug!(destination = %id, error = %e, "cannot release the lease; it will expire");
    }
    result
}

struct Worker<'a> {
    inner: &'a Inner,
    store: &'a Arc<dyn Store>,
    shutdown: watch::Receiver<bool>,
}

impl Worker<'_> {
    fn closing(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn record(
        &self,
        d: &Destination,
        record: DeliveryRecord,
    ) -> Result<Option<Destination>, DeliveryError> {
        let r = self
            .store
            .record_delivery(
                &d.id,
                &self.inner.options.instance,
                d.generation,
                record,
                self.inner.options.lease_ttl,
            )
            .await?;
        Ok(match r {
            Recorded::Done(d) | Recorded::Changed(d) => Some(d),
            Recorded::Lost => None,
        })
    }

    async fn run(mut self, mut d: Destination) -> Result<(), DeliveryError> {
        let Some(tenant) = self.store.tenant_by_id(d.tenant_id).await? else {
            return Ok(());
        };
        let mut sink: Box<dyn Sink> = match d.kind {
            DestinationKind::Webhook => Box::new(WebhookSink {
                client: self.inner.http.clone(),
                allow_private: self.inner.options.http.allow_private,
            }),
            DestinationKind::Nats => Box::new(NatsSink::default()),
        };
        // Both series exist from the start (a failure count of 0 is not a missing one).
        let labels = [
            ("destination", d.id.clone()),
            ("kind", d.kind.as_str().to_string()),
        ];
        metrics::counter!(DELIVERED, &labels).increment(0);
        metrics::counter!(FAILURES, &labels).increment(0);
        let signal = self.store.commit_signal().watch(d.tenant_id);
        // Operator changes made through this store move this version before they wake the
        // tenant's signal; changes made elsewhere are seen at the next lease renewal.
        let mut operator_version = self.store.commit_signal().destinations_version();
        let renew_every = self.inner.options.lease_ttl / 3;
        let mut renewed = Instant::now();
        loop {
            if self.closing() || !d.active {
                return Ok(());
            }
            let committed = signal.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();

            // Waiting out a backoff: woken by commits only to see whether an operator
            // changed the destination (a read, not a write).
            let due = d.next_attempt.as_deref().map(until).unwrap_or_default();
            if !due.is_zero() {
                let wait = due.min(renew_every.saturating_sub(renewed.elapsed()));
                tokio::select! {
                    () = &mut committed => {
                        let version = self.store.commit_signal().destinations_version();
                        if version == operator_version {
                            continue;
                        }
                        operator_version = version;
                        match self.store.destination(&d.id).await? {
                            Some(now) if now.generation == d.generation => continue,
                            _ => {}
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.changed() => return Ok(()),
                }
                match self.record(&d, DeliveryRecord::Renew).await? {
                    Some(n) => d = n,
                    None => return Ok(()),
                }
                renewed = Instant::now();
                continue;
            }

            let filter = EventFilter::parse(&d.event_types).unwrap_or_default();
            let request = FeedRequest {
                after: d.position,
                limit: READ_AHEAD,
                wait: Duration::ZERO,
                filter,
            };
            let page = match self.inner.feed.read(&tenant, &request).await {
                Ok(p) => p,
                Err(DeliveryError::CursorExpired { oldest, .. }) => {
                    // The events after the position were pruned: they cannot be delivered.
                    // Pause, so that the operator decides (replay from `oldest`).
                    let error = format!(
                        "events after position {} are no longer kept (the oldest cursor is \
                         {oldest}); replay from {oldest} to carry on",
                        d.position
                    );
                    tracing::warn!(destination = %d.id, %error, "delivery paused");
                    let attempt = NewAttempt {
                        first_position: d.position + 1,
                        last_position: d.position + 1,
                        event_id: String::new(),
                        events: 0,
                        status: None,
                        latency_ms: 0,
                        error: Some(error),
                    };
                    let record = DeliveryRecord::Failed {
                        attempt,
                        retry_in: self.inner.options.retry.max,
                        pause: Some("expired".into()),
                    };
                    match self.record(&d, record).await? {
                        Some(n) => d = n,
                        None => return Ok(()),
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(destination = %d.id, error = %e, "reading events failed; retrying");
                    tokio::time::sleep(STORE_RETRY).await;
                    continue;
                }
            };

            // How far behind the destination is: the age of its oldest undelivered event.
            let lag = page
                .events
                .first()
                .map(|e| since(&e.timestamp))
                .unwrap_or_default();
            metrics::gauge!(LAG_SECONDS, "destination" => d.id.clone(), "kind" => d.kind.as_str())
                .set(lag.as_secs_f64());
            if page.events.is_empty() {
                if page.next > d.position || renewed.elapsed() >= renew_every {
                    // Pass over the events the filter left out, and renew the lease.
                    let record = if page.next > d.position {
                        DeliveryRecord::Advanced {
                            through: page.next,
                            attempt: None,
                        }
                    } else {
                        DeliveryRecord::Renew
                    };
                    match self.record(&d, record).await? {
                        Some(n) => d = n,
                        None => return Ok(()),
                    }
                    renewed = Instant::now();
                    continue;
                }
                let wait = renew_every.saturating_sub(renewed.elapsed());
                tokio::select! {
                    () = &mut committed => {
                        if !self.follow_operator(&mut d, &mut operator_version, &mut renewed).await? {
                            return Ok(());
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.changed() => return Ok(()),
                }
                continue;
            }

            let chunk = sink.chunk(&d).max(1);
            let chunks: Vec<&[SharedEvent]> = page.events.chunks(chunk).collect();
            let count = chunks.len();
            let mut caught_up = true;
            for (i, events) in chunks.into_iter().enumerate() {
                let (Some(first), Some(last)) = (events.first(), events.last()) else {
                    break;
                };
                let sent = sink.send(&d, events).await;
                let attempt = NewAttempt {
                    first_position: first.position,
                    last_position: last.position,
                    event_id: sent.id.clone(),
                    events: events.len() as i64,
                    status: sent.status.map(i64::from),
                    latency_ms: i64::try_from(sent.latency.as_millis()).unwrap_or(i64::MAX),
                    error: sent.error.clone(),
                };
                let failed = sent.error.is_some();
                let labels = [
                    ("destination", d.id.clone()),
                    ("kind", d.kind.as_str().to_string()),
                ];
                if failed {
                    metrics::counter!(FAILURES, &labels).increment(1);
                } else {
                    metrics::counter!(DELIVERED, &labels).increment(events.len() as u64);
                }
                let record = if !failed {
                    let through = if i + 1 == count {
                        page.next
                    } else {
                        last.position
                    };
                    DeliveryRecord::Advanced {
                        through,
                        attempt: Some(attempt),
                    }
                } else {
                    let failing_for = d.failing_since.as_deref().map(since).unwrap_or_default();
                    let pause = if sent.gone {
                        Some("gone".to_string())
                    } else if failing_for >= self.inner.options.retry.pause_after {
                        Some("failing".to_string())
                    } else {
                        None
                    };
                    if let Some(reason) = &pause {
                        tracing::warn!(destination = %d.id, reason, error = ?sent.error, "destination paused");
                    }
                    DeliveryRecord::Failed {
                        retry_in: self
                            .inner
                            .options
                            .retry
                            .delay(d.failures + 1, sent.retry_after),
                        attempt,
                        pause,
                    }
                };
                let generation = d.generation;
                match self.record(&d, record).await? {
                    Some(n) => d = n,
                    None => return Ok(()),
                }
                renewed = Instant::now();
                if failed || d.generation != generation || self.closing() || !d.active {
                    caught_up = false;
                    break;
                }
            }
            // Everything the read saw is delivered and nothing was committed after it in
            // its snapshot: wait for the next commit (the wake-up armed before the read
            // also covers commits since) instead of reading an empty page first.
            if caught_up && d.position >= page.head {
                let wait = renew_every.saturating_sub(renewed.elapsed());
                tokio::select! {
                    () = &mut committed => {
                        if !self.follow_operator(&mut d, &mut operator_version, &mut renewed).await? {
                            return Ok(());
                        }
                    }
                    () = tokio::time::sleep(wait) => {}
                    _ = self.shutdown.changed() => return Ok(()),
                }
            }
        }
    }

    /// After a wake-up by a commit: an operator's change (pause, replay, new secret or URL)
    /// applies from the next delivery on — a key read, not a write, and only when an
    /// operator changed a destination since the last look. `false` when this worker no
    /// longer holds the destination (deleted, or its lease lost).
    async fn follow_operator(
        &self,
        d: &mut Destination,
        operator_version: &mut u64,
        renewed: &mut Instant,
    ) -> Result<bool, DeliveryError> {
        let version = self.store.commit_signal().destinations_version();
        if version == *operator_version {
            return Ok(true);
        }
        *operator_version = version;
        match self.store.destination(&d.id).await? {
            Some(now) if now.generation != d.generation => {
                match self.record(d, DeliveryRecord::Renew).await? {
                    Some(n) => *d = n,
                    None => return Ok(false),
                }
                *renewed = Instant::now();
                Ok(true)
            }
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }
}
