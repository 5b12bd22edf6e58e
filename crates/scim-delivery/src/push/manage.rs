//! Managing destinations: what the management API and the `scim webhook` / `scim nats`
//! commands share (validation, secrets shown once, status with lag). Every change is a
//! management write ([`scim_store::Management::admin_write`]): made in one transaction
//! with its record in the management audit log, naming who made it (never a secret).

use std::sync::Arc;
use std::time::Duration;

use scim_store::delivery::{
    DeliveryAttempt, Destination, DestinationChange, DestinationKind, NewDestination,
};
use scim_store::manage::{AdminOp, AdminOutcome, AdminWritten, AuditActor, DestinationOp};
use scim_store::{Store, StoreError, Tenant};
use serde::Serialize;

use super::{address, nats, signing};
use crate::DeliveryError;
use crate::event::EventFilter;

/// Where a new destination starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// With the next change (events already committed are not sent).
    #[default]
    Now,
    /// With the oldest event kept.
    Beginning,
    /// After this position.
    After(i64),
}

/// A destination to create.
#[derive(Debug, Clone, Default)]
pub struct DestinationSpec {
    /// The webhook URL, or the NATS server URL.
    pub url: String,
    /// Event types (`user.*,group.members_*`); all when `None`.
    pub event_types: Option<String>,
    /// What the operator wrote about it.
    pub description: Option<String>,
    /// Events per POST (webhooks; 1 when `None`).
    pub batch_max: Option<i64>,
    /// Where delivery starts (default: with the next change).
    pub start: Start,
}

/// A destination as the management API and the CLI show it (never its secret).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    /// The destination's id.
    pub id: String,
    /// `webhook` or `nats`.
    pub kind: &'static str,
    /// The tenant whose events it receives.
    pub tenant: String,
    /// The webhook URL, or the NATS server URL.
    pub url: String,
    /// The event types it receives (`*` for all).
    pub event_types: String,
    /// What the operator wrote about it.
    pub description: String,
    /// Most events per POST.
    pub batch_max: i64,
    /// `active` or `paused`.
    pub state: &'static str,
    /// Why it was paused (by an operator, or after failing too long).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// The last position acknowledged.
    pub position: i64,
    /// The tenant's latest position.
    pub head: i64,
    /// Events (change records) not delivered yet: `head - position`.
    pub lag: i64,
    /// Failed attempts since the last success.
    pub failures: i64,
    /// When the current run of failures began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// When the next attempt is due (after a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<String>,
    /// The HTTP status of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    /// The error of the last failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When an attempt last succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// Until when the previous secret still signs (after a rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires: Option<String>,
    /// The instance delivering it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_by: Option<String>,
    /// When it was created.
    pub created: String,
    /// When an operator last changed it.
    pub updated: String,
}

/// One attempt as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// The attempt's id.
    pub id: i64,
    /// When it was made.
    pub at: String,
    /// The position of its first event.
    pub first_position: i64,
    /// The position of its last event.
    pub last_position: i64,
    /// The `webhook-id` (or first `Nats-Msg-Id`) sent.
    pub event_id: String,
    /// How many events it carried.
    pub events: i64,
    /// The receiver's HTTP status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// `delivered` or `failed`.
    pub outcome: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The instance that made it.
    pub instance: String,
}

impl From<DeliveryAttempt> for AttemptView {
    fn from(a: DeliveryAttempt) -> Self {
        AttemptView {
            id: a.id,
            at: a.at,
            first_position: a.first_position,
            last_position: a.last_position,
            event_id: a.event_id,
            events: a.events,
            status: a.status,
            latency_ms: a.latency_ms,
            outcome: a.outcome,
            error: a.error,
            instance: a.instance,
        }
    }
}

/// Management of a store's destinations.
#[derive(Clone)]
pub struct Destinations {
    store: Arc<dyn Store>,
    allow_private: bool,
}

impl Destinations {
    /// `allow_private`: whether webhook URLs may point at private, loopback or link-local
    /// addresses (`--allow-private-webhooks`).
    pub fn new(store: Arc<dyn Store>, allow_private: bool) -> Destinations {
        Destinations {
            store,
            allow_private,
        }
    }

    fn check_filter(types: Option<&str>) -> Result<String, DeliveryError> {
        let text = types
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or("*");
        EventFilter::parse(text)?;
        Ok(text.to_string())
    }

    async fn start_position(&self, tenant: &Tenant, start: Start) -> Result<i64, DeliveryError> {
        Ok(match start {
            Start::Now => self.store.change_head(tenant.id).await?,
            Start::Beginning => self.store.first_kept(tenant.id).await? - 1,
            Start::After(p) if p < 0 => {
                return Err(DeliveryError::Invalid(format!(
                    "a position is 0 or more, not {p}"
                )));
            }
            Start::After(p) => p,
        })
    }

    /// Runs an operator's change as a management write, recorded in the audit log as
    /// `actor`'s.
    async fn write(
        &self,
        tenant: &Tenant,
        kind: DestinationKind,
        op: DestinationOp,
        actor: &AuditActor,
    ) -> Result<Destination, DeliveryError> {
        let op = AdminOp::Destination {
            tenant: tenant.name.clone(),
            kind,
            op,
        };
        let written = self
            .store
            .admin_write(
                op,
                actor.clone(),
                None,
                Box::new(|_| serde_json::Value::Null),
            )
            .await?;
        match written {
            AdminWritten::Done { outcome, .. } => match *outcome {
                AdminOutcome::Destination(d) => Ok(d),
                _ => Err(unexpected()),
            },
            // No idempotency key was given.
            AdminWritten::Replayed(_) | AdminWritten::KeyReused => Err(unexpected()),
        }
    }

    /// Creates a webhook endpoint; returns it and its signing secret (`whsec_…`), which is
    /// never shown again. `actor` is who the audit log names.
    pub async fn create_webhook(
        &self,
        tenant: &Tenant,
        spec: DestinationSpec,
        actor: &AuditActor,
    ) -> Result<(DestinationView, String), DeliveryError> {
        let url =
            address::check_url(&spec.url, self.allow_private).map_err(DeliveryError::Invalid)?;
        let event_types = Self::check_filter(spec.event_types.as_deref())?;
        let batch_max = spec.batch_max.unwrap_or(1);
        if !(1..=1000).contains(&batch_max) {
            return Err(DeliveryError::Invalid(format!(
                "batchMax must be 1-1000 events, not {batch_max}"
            )));
        }
        let secret = signing::generate_secret();
        let position = self.start_position(tenant, spec.start).await?;
        let new = NewDestination {
            tenant_id: tenant.id,
            kind: DestinationKind::Webhook,
            url: url.to_string(),
            event_types,
            description: spec.description.unwrap_or_default(),
            secret: Some(secret.clone()),
            batch_max,
            position,
        };
        let d = self
            .write(tenant, new.kind, DestinationOp::Create(new), actor)
            .await?;
        Ok((self.view(tenant, d).await?, secret))
    }

    /// Creates a NATS JetStream publisher for a tenant.
    pub async fn create_nats(
        &self,
        tenant: &Tenant,
        spec: DestinationSpec,
        actor: &AuditActor,
    ) -> Result<DestinationView, DeliveryError> {
        nats::check_url(&spec.url).map_err(DeliveryError::Invalid)?;
        let event_types = Self::check_filter(spec.event_types.as_deref())?;
        let position = self.start_position(tenant, spec.start).await?;
        let new = NewDestination {
            tenant_id: tenant.id,
            kind: DestinationKind::Nats,
            url: spec.url.trim().to_string(),
            event_types,
            description: spec.description.unwrap_or_default(),
            secret: None,
            batch_max: 1,
            position,
        };
        let d = self
            .write(tenant, new.kind, DestinationOp::Create(new), actor)
            .await?;
        self.view(tenant, d).await
    }

    /// A tenant's destination of a kind (`None` if there is none with that id).
    pub async fn get(
        &self,
        tenant: &Tenant,
        kind: DestinationKind,
        id: &str,
    ) -> Result<Option<Destination>, DeliveryError> {
        Ok(self
            .store
            .destination(id)
            .await?
            .filter(|d| d.tenant_id == tenant.id && d.kind == kind))
    }

    /// A tenant's destinations of a kind, with their status.
    pub async fn list(
        &self,
        tenant: &Tenant,
        kind: DestinationKind,
    ) -> Result<Vec<DestinationView>, DeliveryError> {
        let head = self.store.change_head(tenant.id).await?;
        Ok(self
            .store
            .list_destinations(Some(tenant.id), Some(kind))
            .await?
            .into_iter()
            .map(|d| view_at(tenant, d, head))
            .collect())
    }

    /// A destination with its status.
    pub async fn view(
        &self,
        tenant: &Tenant,
        d: Destination,
    ) -> Result<DestinationView, DeliveryError> {
        let head = self.store.change_head(tenant.id).await?;
        Ok(view_at(tenant, d, head))
    }

    /// Changes a destination's settings (URL, types, description, batch size).
    pub async fn update(
        &self,
        tenant: &Tenant,
        d: &Destination,
        spec: DestinationSpec,
        actor: &AuditActor,
    ) -> Result<DestinationView, DeliveryError> {
        let url = if spec.url.is_empty() {
            None
        } else {
            match d.kind {
                DestinationKind::Webhook => Some(
                    address::check_url(&spec.url, self.allow_private)
                        .map_err(DeliveryError::Invalid)?
                        .to_string(),
                ),
                DestinationKind::Nats => {
                    nats::check_url(&spec.url).map_err(DeliveryError::Invalid)?;
                    Some(spec.url.trim().to_string())
                }
            }
        };
        let event_types = match spec.event_types.as_deref() {
            Some(t) => Some(Self::check_filter(Some(t))?),
            None => None,
        };
        if let Some(b) = spec.batch_max
            && (!(1..=1000).contains(&b) || (b > 1 && d.kind == DestinationKind::Nats))
        {
            return Err(DeliveryError::Invalid(format!(
                "batchMax must be 1-1000 events (webhooks only), not {b}"
            )));
        }
        let change = DestinationChange {
            url,
            event_types,
            description: spec.description,
            batch_max: spec.batch_max,
            rotate_secret: None,
        };
        let op = DestinationOp::Change {
            id: d.id.clone(),
            change,
        };
        let d = self.write(tenant, d.kind, op, actor).await?;
        self.view(tenant, d).await
    }

    /// Replaces a webhook's secret; the old one keeps signing beside it for `overlap` (both
    /// signatures are sent), so that receivers can switch without losing a delivery.
    /// Returns the new secret, shown once.
    pub async fn rotate_secret(
        &self,
        tenant: &Tenant,
        d: &Destination,
        overlap: Duration,
        actor: &AuditActor,
    ) -> Result<(DestinationView, String), DeliveryError> {
        if d.kind != DestinationKind::Webhook {
            return Err(DeliveryError::Invalid("only webhooks have secrets".into()));
        }
        let secret = signing::generate_secret();
        let change = DestinationChange {
            rotate_secret: Some((secret.clone(), overlap)),
            ..Default::default()
        };
        let op = DestinationOp::Change {
            id: d.id.clone(),
            change,
        };
        let d = self.write(tenant, d.kind, op, actor).await?;
        Ok((self.view(tenant, d).await?, secret))
    }

    /// Pauses delivery to a destination (an operator's pause: it stays paused until resumed).
    pub async fn pause(
        &self,
        tenant: &Tenant,
        d: &Destination,
        actor: &AuditActor,
    ) -> Result<DestinationView, DeliveryError> {
        let op = DestinationOp::SetActive {
            id: d.id.clone(),
            active: false,
        };
        let d = self.write(tenant, d.kind, op, actor).await?;
        self.view(tenant, d).await
    }

    /// Resumes delivery to a paused destination, from where it stopped.
    pub async fn resume(
        &self,
        tenant: &Tenant,
        d: &Destination,
        actor: &AuditActor,
    ) -> Result<DestinationView, DeliveryError> {
        let op = DestinationOp::SetActive {
            id: d.id.clone(),
            active: true,
        };
        let d = self.write(tenant, d.kind, op, actor).await?;
        self.view(tenant, d).await
    }

    /// Resends every event after `from` (and carries on from there).
    pub async fn replay(
        &self,
        tenant: &Tenant,
        d: &Destination,
        from: i64,
        actor: &AuditActor,
    ) -> Result<DestinationView, DeliveryError> {
        if from < 0 {
            return Err(DeliveryError::Invalid(format!(
                "a position is 0 or more, not {from}"
            )));
        }
        let head = self.store.change_head(tenant.id).await?;
        if from > head {
            return Err(DeliveryError::Invalid(format!(
                "position {from} is after the tenant's latest ({head})"
            )));
        }
        let oldest = self.store.first_kept(tenant.id).await?;
        if from < oldest - 1 {
            return Err(DeliveryError::CursorExpired {
                after: from,
                oldest: oldest - 1,
            });
        }
        let op = DestinationOp::Replay {
            id: d.id.clone(),
            from,
        };
        let d = self.write(tenant, d.kind, op, actor).await?;
        self.view(tenant, d).await
    }

    /// Deletes a destination (404 when it is no longer there).
    pub async fn delete(
        &self,
        tenant: &Tenant,
        d: &Destination,
        actor: &AuditActor,
    ) -> Result<(), DeliveryError> {
        let op = DestinationOp::Delete { id: d.id.clone() };
        self.write(tenant, d.kind, op, actor).await?;
        Ok(())
    }

    /// A destination's attempts, newest first.
    pub async fn attempts(
        &self,
        d: &Destination,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AttemptView>, DeliveryError> {
        Ok(self
            .store
            .delivery_attempts(&d.id, before, limit)
            .await?
            .into_iter()
            .map(AttemptView::from)
            .collect())
    }
}

/// A management write answered with another operation's outcome (a bug, never input).
fn unexpected() -> DeliveryError {
    DeliveryError::Store(StoreError::Database(
        "a destination write returned another operation's outcome".into(),
    ))
}

fn view_at(tenant: &Tenant, d: Destination, head: i64) -> DestinationView {
    DestinationView {
        kind: d.kind.as_str(),
        tenant: tenant.name.clone(),
        state: if d.active { "active" } else { "paused" },
        lag: (head - d.position).max(0),
        head,
        previous_secret_expires: d.previous_secret.as_ref().and(d.previous_expires),
        delivered_by: d.lease_owner,
        id: d.id,
        url: d.url,
        event_types: d.event_types,
        description: d.description,
        batch_max: d.batch_max,
        paused_reason: d.paused_reason,
        position: d.position,
        failures: d.failures,
        failing_since: d.failing_since,
        next_attempt: d.next_attempt,
        last_status: d.last_status,
        last_error: d.last_error,
        last_success: d.last_success,
        created: d.created,
        updated: d.updated,
    }
}
