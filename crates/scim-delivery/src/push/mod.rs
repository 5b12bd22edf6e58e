//! Push delivery: webhook endpoints (Standard Webhooks) and NATS JetStream publishers,
//! each a *destination* with its own durable position in its tenant's change order.
//!
//! - [`engine`]: the deliverer (leases, ordering, retries, attempts), run by `scim serve`
//!   or embedded with [`DeliveryEngine::run`].
//! - [`manage`]: creating, pausing, replaying… destinations (the management API and CLI).
//! - [`signing`]: Standard Webhooks signatures; [`retry`]: backoff; [`address`]: which
//!   receivers may be reached.

pub mod address;
pub mod engine;
pub mod manage;
pub mod nats;
pub mod retry;
pub mod signing;
pub mod webhook;

pub use engine::{DeliveryEngine, EngineOptions, Sent, Sink};
pub use manage::{AttemptView, DestinationSpec, DestinationView, Destinations, Start};
pub use retry::RetryPolicy;
pub use webhook::HttpOptions;
