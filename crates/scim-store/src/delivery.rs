//! Delivery destinations (webhook endpoints, NATS JetStream publishers): their settings,
//! their durable positions in a tenant's change order, their leases and their attempts.
//!
//! The store keeps the data; `scim-delivery` decides what to send and when. Each destination
//! has one position (the last event its consumer acknowledged); the deliverer moves it in
//! the same transaction that records the attempt, so a crash resends at most what was not
//! acknowledged. A lease (owner, expiry) lets one instance at a time deliver a destination;
//! every write of a deliverer is fenced by it and by the destination's `generation`, which
//! every operator change bumps.

use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// What a destination delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// Signed HTTP POSTs (Standard Webhooks).
    Webhook,
    /// Messages on a NATS JetStream stream.
    Nats,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Webhook => "webhook",
            DestinationKind::Nats => "nats",
        }
    }

    pub fn parse(s: &str) -> Option<DestinationKind> {
        match s {
            "webhook" => Some(DestinationKind::Webhook),
            "nats" => Some(DestinationKind::Nats),
            _ => None,
        }
    }
}

/// A destination as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub id: String,
    pub tenant_id: i64,
    pub kind: DestinationKind,
    pub url: String,
    /// The event-type filter, as given (`*`, `user.*,group.members_*`).
    pub event_types: String,
    pub description: String,
    /// The signing secret (`whsec_…`), webhooks only.
    pub secret: Option<String>,
    /// The secret before the last rotation, still signing until `previous_expires`.
    pub previous_secret: Option<String>,
    pub previous_expires: Option<String>,
    /// Most events in one delivery (1: one event per request).
    pub batch_max: i64,
    /// Whether it is being delivered (`false`: paused, its position kept).
    pub active: bool,
    /// Why it is paused: `operator`, `failing` (failed for too long) or `gone` (HTTP 410).
    pub paused_reason: Option<String>,
    /// The last position its consumer acknowledged.
    pub position: i64,
    pub generation: i64,
    /// Consecutive failed attempts.
    pub failures: i64,
    pub failing_since: Option<String>,
    /// When the next attempt is due after a failure.
    pub next_attempt: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_success: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires: Option<String>,
    pub created: String,
    pub updated: String,
}

/// A destination to create.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub tenant_id: i64,
    pub kind: DestinationKind,
    pub url: String,
    pub event_types: String,
    pub description: String,
    pub secret: Option<String>,
    pub batch_max: i64,
    /// Where delivery starts: events after this position.
    pub position: i64,
}

/// Changes to a destination's settings (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct DestinationChange {
    pub url: Option<String>,
    pub event_types: Option<String>,
    pub description: Option<String>,
    pub batch_max: Option<i64>,
    /// A new secret; the current one keeps signing for this long beside it.
    pub rotate_secret: Option<(String, Duration)>,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub id: i64,
    pub destination_id: String,
    pub at: String,
    pub first_position: i64,
    pub last_position: i64,
    /// The id sent (`webhook-id`, `Nats-Msg-Id` of the first message).
    pub event_id: String,
    pub events: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// `delivered` or `failed`.
    pub outcome: String,
    pub error: Option<String>,
    /// The instance that made the attempt.
    pub instance: String,
}

/// An attempt to record.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub first_position: i64,
    pub last_position: i64,
    pub event_id: String,
    pub events: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What a deliverer records in one transaction.
#[derive(Debug, Clone)]
pub enum DeliveryRecord {
    /// The consumer acknowledged everything through `through` (the attempt, if any, is
    /// recorded as delivered; without one, events the filter left out are passed over).
    Advanced {
        through: i64,
        attempt: Option<NewAttempt>,
    },
    /// The attempt failed; the next is due after `retry_in`. `pause` pauses the destination
    /// with that reason (its position kept).
    Failed {
        attempt: NewAttempt,
        retry_in: Duration,
        pause: Option<String>,
    },
    /// Nothing happened: the lease is only renewed.
    Renew,
}

/// The result of a deliverer's write.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// Written; the destination as it is now.
    Done(Destination),
    /// An operator changed the destination since the deliverer loaded it (replay, pause,
    /// new settings): nothing of the deliverer's position was written, the attempt was
    /// recorded; continue from the destination as it is now.
    Changed(Destination),
    /// The lease is another instance's, or the destination is gone: stop delivering it.
    Lost,
}

/// Delivery destinations (see the module documentation).
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn create_destination(&self, new: NewDestination) -> Result<Destination, StoreError>;
    async fn destination(&self, id: &str) -> Result<Option<Destination>, StoreError>;
    /// Destinations, of one tenant or all, of one kind or all, oldest first.
    async fn list_destinations(
        &self,
        tenant_id: Option<i64>,
        kind: Option<DestinationKind>,
    ) -> Result<Vec<Destination>, StoreError>;
    /// `None` if there is no such destination.
    async fn change_destination(
        &self,
        id: &str,
        change: DestinationChange,
    ) -> Result<Option<Destination>, StoreError>;
    async fn delete_destination(&self, id: &str) -> Result<bool, StoreError>;
    /// Pauses (`active: false`, with a reason) or resumes a destination. Resuming clears
    /// its failures, so that the next attempt is made at once.
    async fn set_destination_active(
        &self,
        id: &str,
        active: bool,
        reason: Option<String>,
    ) -> Result<Option<Destination>, StoreError>;
    /// Moves a destination's position (delivery resumes after `position`).
    async fn replay_destination(
        &self,
        id: &str,
        position: i64,
    ) -> Result<Option<Destination>, StoreError>;
    /// A destination's attempts, newest first, with ids below `before` when given.
    async fn delivery_attempts(
        &self,
        id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;

    /// Takes (or renews) the lease of a destination for `owner`, for `ttl`: granted when
    /// nobody holds it, `owner` does, or the holder's lease expired. `None` when another
    /// instance holds it or the destination is gone.
    async fn acquire_destination(
        &self,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Destination>, StoreError>;
    /// Records a deliverer's progress, fenced by its lease and the `generation` it loaded;
    /// renews the lease for `ttl`.
    async fn record_delivery(
        &self,
        id: &str,
        owner: &str,
        generation: i64,
        record: DeliveryRecord,
        ttl: Duration,
    ) -> Result<Recorded, StoreError>;
    /// Gives up a lease (at shutdown), so that another instance takes over at once.
    async fn release_destination(&self, id: &str, owner: &str) -> Result<(), StoreError>;
}
