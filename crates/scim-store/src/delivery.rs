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
    /// `webhook` or `nats`.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Webhook => "webhook",
            DestinationKind::Nats => "nats",
        }
    }

    /// Reads `webhook` or `nats`.
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
    /// The destination's id.
    pub id: String,
    /// The tenant whose events it receives.
    pub tenant_id: i64,
    /// Webhook or NATS.
    pub kind: DestinationKind,
    /// The webhook URL, or the NATS server URL.
    pub url: String,
    /// The event-type filter, as given (`*`, `user.*,group.members_*`).
    pub event_types: String,
    /// What the operator wrote about it.
    pub description: String,
    /// The signing secret (`whsec_…`), webhooks only.
    pub secret: Option<String>,
    /// The secret before the last rotation, still signing until `previous_expires`.
    pub previous_secret: Option<String>,
    /// Until when the previous secret still signs (RFC 3339).
    pub previous_expires: Option<String>,
    /// Most events in one delivery (1: one event per request).
    pub batch_max: i64,
    /// Whether it is being delivered (`false`: paused, its position kept).
    pub active: bool,
    /// Why it is paused: `operator`, `failing` (failed for too long) or `gone` (HTTP 410).
    pub paused_reason: Option<String>,
    /// The last position its consumer acknowledged.
    pub position: i64,
    /// Bumped by every operator change; fences deliverers' writes.
    pub generation: i64,
    /// Consecutive failed attempts.
    pub failures: i64,
    /// When the current run of failures began (RFC 3339).
    pub failing_since: Option<String>,
    /// When the next attempt is due after a failure.
    pub next_attempt: Option<String>,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When an attempt last succeeded (RFC 3339).
    pub last_success: Option<String>,
    /// The instance holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease ends unless renewed (RFC 3339).
    pub lease_expires: Option<String>,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it was last changed (RFC 3339).
    pub updated: String,
}

/// A destination to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDestination {
    /// The tenant whose events it receives.
    pub tenant_id: i64,
    /// Webhook or NATS.
    pub kind: DestinationKind,
    /// The webhook URL, or the NATS server URL.
    pub url: String,
    /// The event-type filter (`*`, `user.*,group.members_*`).
    pub event_types: String,
    /// What the operator wrote about it.
    pub description: String,
    /// The signing secret (`whsec_…`), webhooks only.
    pub secret: Option<String>,
    /// Most events in one delivery.
    pub batch_max: i64,
    /// Where delivery starts: events after this position.
    pub position: i64,
}

/// Changes to a destination's settings (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationChange {
    /// A new URL.
    pub url: Option<String>,
    /// A new event-type filter.
    pub event_types: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new batch size.
    pub batch_max: Option<i64>,
    /// A new secret; the current one keeps signing for this long beside it.
    pub rotate_secret: Option<(String, Duration)>,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The attempt's id (increasing).
    pub id: i64,
    /// The destination.
    pub destination_id: String,
    /// When it was made (RFC 3339).
    pub at: String,
    /// The position of its first event.
    pub first_position: i64,
    /// The position of its last event.
    pub last_position: i64,
    /// The id sent (`webhook-id`, `Nats-Msg-Id` of the first message).
    pub event_id: String,
    /// How many events it carried.
    pub events: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// `delivered` or `failed`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The instance that made the attempt.
    pub instance: String,
}

/// An attempt to record.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// The position of its first event.
    pub first_position: i64,
    /// The position of its last event.
    pub last_position: i64,
    /// The id sent (`webhook-id`, `Nats-Msg-Id` of the first message).
    pub event_id: String,
    /// How many events it carried.
    pub events: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i64>,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// Why it failed (`None`: delivered).
    pub error: Option<String>,
}

/// What a deliverer records in one transaction.
#[derive(Debug, Clone)]
pub enum DeliveryRecord {
    /// The consumer acknowledged everything through `through` (the attempt, if any, is
    /// recorded as delivered; without one, events the filter left out are passed over).
    Advanced {
        /// The last position acknowledged.
        through: i64,
        /// The attempt that delivered them, if any.
        attempt: Option<NewAttempt>,
    },
    /// The attempt failed; the next is due after `retry_in`. `pause` pauses the destination
    /// with that reason (its position kept).
    Failed {
        /// The failed attempt.
        attempt: NewAttempt,
        /// How long to wait before the next attempt.
        retry_in: Duration,
        /// Pause the destination, with this reason.
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
    /// Creates a destination.
    async fn create_destination(&self, new: NewDestination) -> Result<Destination, StoreError>;
    /// The destination with this id (`None`: there is none).
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
    /// Deletes a destination; `false` if there was none.
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
