//! The applier: one target, one tenant, the tenant's events in order.
//!
//! * **Order.** Events are applied one after another in the tenant's order; event n+1 is
//!   not applied before event n is applied or parked.
//! * **Retries.** A transient failure is retried with exponential backoff and jitter, at
//!   the same event; after [`RetryPolicy::pause_after`] failures in a row the target is
//!   paused for the tenant with its place kept, until `scim target resume`.
//! * **Parking.** An event the target rejects permanently is parked (kept with its error,
//!   visible in `scim target parked`, retryable with `scim target retry` after a fix).
//!   Later events of other resources go on; later events of the same resource are parked
//!   behind it, so a resource's changes are never applied out of order.
//! * **Position.** A target that keeps its position stores it with each event's effect
//!   (exactly once in effect); otherwise the applier stores it in `scim`'s database after
//!   each event (at least once: a restart may repeat one event, which idempotent targets
//!   absorb).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scim_delivery::{DeliveryError, Event, EventFilter, Feed, FeedRequest};
use scim_store::{ParkedEvent, TargetStates, TargetStatus, Tenant};
use tokio::sync::watch;

use crate::target::{Applied, Target};
use crate::{RunError, TargetError};

/// How failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait after a failure; doubled after each further failure.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// Failures in a row of one event after which the target is paused for the tenant.
    pub pause_after: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            pause_after: 12,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failures + 1`: `base · 2^(failures-1)`, at most `max`,
    /// with up to a quarter of it added at random so that many targets do not retry in
    /// step.
    pub fn backoff(&self, failures: i64) -> Duration {
        let exp = failures.clamp(1, 30) - 1;
        let wait = self
            .base
            .saturating_mul(1u32 << exp.min(20) as u32)
            .min(self.max);
        let jitter = rand::random_range(0.0..0.25);
        wait.mul_f64(1.0 + jitter)
    }
}

/// How long [`Applier::run`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Until every event committed so far is applied or parked (or the target pauses).
    UntilCaughtUp,
    /// Forever, waiting for new events (until shutdown).
    Forever,
}

/// Why [`Applier::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every event committed when the run started was applied or parked.
    CaughtUp,
    /// The target is paused (by an operator, or after failing too long).
    Paused,
    /// The server is shutting down.
    Shutdown,
}

/// What the applier did, for `scim target run` and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events applied by this run.
    pub applied: u64,
    /// Events the target said it had applied already (its kept position was past them).
    pub already_applied: u64,
    /// Events parked (a permanent failure, or behind one of the same resource).
    pub parked: u64,
    /// The position reached.
    pub position: i64,
}

/// Events read per page.
const PAGE: u32 = 500;
/// Events read per page by a target that applies batches: one transaction each.
const BATCH: u32 = 100;
/// How long a paused applier waits before it looks whether it was resumed.
const PAUSED_POLL: Duration = Duration::from_secs(2);

/// Applies one tenant's events to one target.
pub struct Applier {
    target: Arc<dyn Target>,
    states: Arc<dyn TargetStates>,
    feed: Feed,
    tenant: Tenant,
    policy: RetryPolicy,
}

/// Resolves once `shutdown` is true (never when its sender is gone without saying so).
pub async fn closed(shutdown: &mut watch::Receiver<bool>) {
    let closing = shutdown.wait_for(|s| *s).await.is_ok();
    if !closing {
        std::future::pending::<()>().await;
    }
}

/// Age of a target's oldest event not yet applied, seconds, as of its last read of the
/// change log (0 when caught up): `target`, `tenant` (as many series as target files).
pub const LAG_SECONDS: &str = "scim_target_lag_seconds";

fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Applier {
    /// An applier of `tenant`'s events (read through `feed`) to `target`, keeping its state in
    /// `states` and retrying transient failures by `policy`.
    pub fn new(
        target: Arc<dyn Target>,
        states: Arc<dyn TargetStates>,
        feed: Feed,
        tenant: Tenant,
        policy: RetryPolicy,
    ) -> Applier {
        Applier {
            target,
            states,
            feed,
            tenant,
            policy,
        }
    }

    async fn load_status(&self) -> Result<TargetStatus, RunError> {
        Ok(self
            .states
            .target_status(self.target.name(), self.tenant.id)
            .await?
            .unwrap_or_else(|| TargetStatus::new(self.target.name(), self.tenant.id)))
    }

    /// Applies events until `mode` says to stop or `shutdown` turns true.
    pub async fn run(
        &self,
        mode: RunMode,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(Stopped, Progress), RunError> {
        let mut progress = Progress::default();
        loop {
            let mut status = self.load_status().await?;
            if status.paused.is_some() {
                if mode == RunMode::UntilCaughtUp {
                    return Ok((Stopped::Paused, progress));
                }
                tokio::select! {
                    () = tokio::time::sleep(PAUSED_POLL) => continue,
                    () = closed(&mut shutdown) => return Ok((Stopped::Shutdown, progress)),
                }
            }
            if self.target.keeps_position() {
                match self.target.position(&self.tenant.name).await {
                    Ok(p) => status.position = p.unwrap_or(0),
                    Err(e) => match self.failed(&mut status, &e, mode, &mut shutdown).await? {
                        Some(stop) => return Ok((stop, progress)),
                        None => continue,
                    },
                }
            }
            progress.position = progress.position.max(status.position);
            match self
                .drain(&mut status, &mut progress, mode, &mut shutdown)
                .await?
            {
                Some(stop) => return Ok((stop, progress)),
                None => continue,
            }
        }
    }

    /// Records a transient failure and waits before the next attempt. `Some` when the
    /// run must stop (paused in [`RunMode::UntilCaughtUp`], shutdown).
    async fn failed(
        &self,
        status: &mut TargetStatus,
        error: &TargetError,
        mode: RunMode,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Stopped>, RunError> {
        status.failures += 1;
        status.last_error = Some(error.message.clone());
        status.last_error_at = Some(now());
        tracing::warn!(
            target_name = self.target.name(),
            tenant = %self.tenant.name,
            failures = status.failures,
            error = %error.message,
            "target failed; retrying"
        );
        if status.failures >= self.policy.pause_after {
            status.paused = Some(now());
            self.states.save_target_status(status).await?;
            tracing::error!(
                target_name = self.target.name(),
                tenant = %self.tenant.name,
                "target paused after {} failures in a row; `scim target resume` after a fix",
                status.failures
            );
            return Ok((mode == RunMode::UntilCaughtUp).then_some(Stopped::Paused));
        }
        self.states.save_target_status(status).await?;
        let wait = self.policy.backoff(status.failures);
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(None),
            () = closed(shutdown) => Ok(Some(Stopped::Shutdown)),
        }
    }

    /// Reads and applies pages from `status.position`. `None`: start over (after a pause
    /// or a failure that needs the position read again).
    async fn drain(
        &self,
        status: &mut TargetStatus,
        progress: &mut Progress,
        mode: RunMode,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Stopped>, RunError> {
        let keeps = self.target.keeps_position();
        loop {
            let closing = *shutdown.borrow();
            if closing {
                self.states.save_target_status(status).await?;
                return Ok(Some(Stopped::Shutdown));
            }
            let request = FeedRequest {
                after: status.position,
                limit: if self.target.batches() { BATCH } else { PAGE },
                wait: match mode {
                    RunMode::UntilCaughtUp => Duration::ZERO,
                    RunMode::Forever => Duration::from_secs(30),
                },
                filter: EventFilter::default(),
            };
            let page = tokio::select! {
                page = self.feed.read(&self.tenant, &request) => page,
                () = closed(shutdown) => {
                    self.states.save_target_status(status).await?;
                    return Ok(Some(Stopped::Shutdown));
                }
            };
            let page = match page {
                Ok(p) => p,
                Err(e @ DeliveryError::CursorExpired { .. }) => return Err(e.into()),
                Err(e) => {
                    let e = TargetError::retry(format!("reading the change log: {e}"));
                    return match self.failed(status, &e, mode, shutdown).await? {
                        Some(stop) => Ok(Some(stop)),
                        None => Ok(None),
                    };
                }
            };
            // How far behind the target is: the age of its oldest event not yet applied.
            let lag = page
                .events
                .first()
                .and_then(|e| scim_core::value::parse_datetime(&e.timestamp))
                .map(|t| {
                    (time::OffsetDateTime::now_utc() - t)
                        .as_seconds_f64()
                        .max(0.0)
                })
                .unwrap_or(0.0);
            metrics::gauge!(
                LAG_SECONDS,
                "target" => self.target.name().to_string(),
                "tenant" => self.tenant.name.clone()
            )
            .set(lag);
            if page.events.is_empty() {
                status.position = status.position.max(page.next);
                progress.position = status.position;
                self.states.save_target_status(status).await?;
                if mode == RunMode::UntilCaughtUp {
                    return Ok(Some(Stopped::CaughtUp));
                }
                continue;
            }
            // Resources with a parked event: their later events wait behind it. Read for
            // every page, so that a `scim target retry` elsewhere is seen.
            let mut blocked: HashMap<String, i64> = HashMap::new();
            for p in self
                .states
                .parked_events(self.target.name(), self.tenant.id)
                .await?
            {
                blocked.entry(p.resource_id).or_insert(p.position);
            }
            // A target that applies batches gets the page's leading run of events of
            // unblocked resources at once; any failure falls back to one at a time.
            let mut start = 0;
            if self.target.batches() && status.failures == 0 {
                let run = page
                    .events
                    .iter()
                    .take_while(|e| !blocked.contains_key(&e.data.id))
                    .count();
                let batch: Vec<Event> = if run > 1 {
                    page.events[..run].iter().map(|e| Event::clone(e)).collect()
                } else {
                    Vec::new()
                };
                if run > 1
                    && let Ok(Applied::Done) = self.target.apply_batch(&batch).await
                {
                    progress.applied += run as u64;
                    status.position = page.events[run - 1].position;
                    progress.position = status.position;
                    start = run;
                }
            }
            for event in &page.events[start..] {
                loop {
                    if let Some(first) = blocked.get(&event.data.id) {
                        let why = format!(
                            "waits behind the parked event at position {first} of the same resource"
                        );
                        match self.park(status, event, &why).await {
                            Ok(()) => {
                                progress.parked += 1;
                                break;
                            }
                            Err(e) => match self.failed(status, &e, mode, shutdown).await? {
                                Some(stop) => return Ok(Some(stop)),
                                None => return Ok(None),
                            },
                        }
                    }
                    match self.target.apply(event).await {
                        Ok(applied) => {
                            match applied {
                                Applied::Done => progress.applied += 1,
                                Applied::AlreadyApplied => progress.already_applied += 1,
                            }
                            status.position = event.position;
                            progress.position = event.position;
                            if status.failures > 0 {
                                status.failures = 0;
                                self.states.save_target_status(status).await?;
                            } else if !keeps {
                                self.states.save_target_status(status).await?;
                            }
                            break;
                        }
                        Err(e) if e.is_permanent() => {
                            tracing::warn!(
                                target_name = self.target.name(),
                                tenant = %self.tenant.name,
                                position = event.position,
                                error = %e.message,
                                "target rejected an event; parked"
                            );
                            match self.park(status, event, &e.message).await {
                                Ok(()) => {
                                    progress.parked += 1;
                                    blocked.insert(event.data.id.clone(), event.position);
                                    break;
                                }
                                Err(e) => match self.failed(status, &e, mode, shutdown).await? {
                                    Some(stop) => return Ok(Some(stop)),
                                    None => return Ok(None),
                                },
                            }
                        }
                        Err(e) => match self.failed(status, &e, mode, shutdown).await? {
                            Some(stop) => return Ok(Some(stop)),
                            // The same event again (a target that keeps its position is
                            // asked for it again: the failed attempt may have committed).
                            None if keeps => return Ok(None),
                            None => {
                                if status.paused.is_some() {
                                    return Ok(None);
                                }
                            }
                        },
                    }
                }
            }
            status.position = status.position.max(page.next);
            progress.position = status.position;
            self.states.save_target_status(status).await?;
        }
    }

    /// Parks an event: kept in `scim`'s database with its error, and the position moved
    /// past it.
    async fn park(
        &self,
        status: &mut TargetStatus,
        event: &Event,
        error: &str,
    ) -> Result<(), TargetError> {
        let parked = ParkedEvent {
            target: self.target.name().to_string(),
            tenant_id: self.tenant.id,
            position: event.position,
            resource_id: event.data.id.clone(),
            event: serde_json::to_string(event).unwrap_or_default(),
            error: error.to_string(),
            parked_at: now(),
        };
        self.states
            .park_event(&parked, true)
            .await
            .map_err(|e| TargetError::retry(format!("parking an event: {e}")))?;
        if self.target.keeps_position() {
            self.target.skip(&self.tenant.name, event.position).await?;
        }
        status.position = event.position;
        status.failures = 0;
        Ok(())
    }
}

/// What [`retry_parked`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// The positions of the parked events that were applied this time.
    pub applied: Vec<i64>,
    /// Events still parked, with their (new) errors.
    pub still_parked: Vec<(i64, String)>,
}

/// Applies a tenant's parked events again, each resource's in order, stopping at a
/// resource's first failure (its later events stay parked behind it). With `only`, just
/// the resource of the parked event at that position.
pub async fn retry_parked(
    target: &dyn Target,
    states: &dyn TargetStates,
    tenant: &Tenant,
    only: Option<i64>,
) -> Result<RetryReport, RunError> {
    let parked = states.parked_events(target.name(), tenant.id).await?;
    let only_resource = match only {
        Some(p) => match parked.iter().find(|e| e.position == p) {
            Some(e) => Some(e.resource_id.clone()),
            None => {
                return Err(RunError::Invalid(format!(
                    "there is no parked event at position {p} (see `scim target parked`)"
                )));
            }
        },
        None => None,
    };
    let mut report = RetryReport::default();
    let mut failed_resources: Vec<String> = Vec::new();
    for p in parked {
        if only_resource.as_ref().is_some_and(|r| *r != p.resource_id) {
            continue;
        }
        if failed_resources.contains(&p.resource_id) {
            report.still_parked.push((p.position, p.error.clone()));
            continue;
        }
        let mut event: Event = serde_json::from_str(&p.event)
            .map_err(|e| RunError::Invalid(format!("parked event {}: {e}", p.position)))?;
        // Position 0: applied as a repair, without moving the target's position (which is
        // already past it).
        event.position = 0;
        match target.apply(&event).await {
            Ok(_) => {
                states
                    .unpark_event(target.name(), tenant.id, p.position)
                    .await?;
                report.applied.push(p.position);
            }
            Err(e) => {
                let mut again = p.clone();
                again.error = e.message.clone();
                states.park_event(&again, false).await?;
                report.still_parked.push((p.position, e.message));
                failed_resources.push(p.resource_id);
            }
        }
    }
    Ok(report)
}
