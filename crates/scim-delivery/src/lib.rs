//! `scim-delivery`: how an application learns what identity providers changed.
//!
//! Every change record of a tenant's change log (`scim-store`) becomes one [`Event`]
//! ([`event::derive`]): a small, stable vocabulary (`user.created`, `user.deactivated`,
//! `group.members_added`, …) in a versioned envelope, documented in `docs/events.md`. There
//! is no second write path: events are read from the log, so they cannot disagree with the
//! data, and they come in the tenant's commit order.
//!
//! Consumers: the pull feed ([`Feed`], served by the management API), in-process
//! subscriptions ([`subscribe`]) for applications that embed `scim`, and the push
//! deliverers built on them.
//!
//! **Architecture invariant:** nothing here is called from a SCIM request handler. Delivery
//! only reads the change log; a slow or failing consumer can never slow down or fail a
//! provisioning write.

#![warn(missing_docs)]

mod error;
pub mod event;
pub mod feed;
pub mod push;
pub mod runtime;
pub mod shared;
mod subscribe;
mod tail;
pub mod watch;

pub use error::DeliveryError;
pub use event::{Event, EventFilter, EventType};
pub use feed::{Feed, FeedPage, FeedRequest};
pub use runtime::BackgroundRuntime;
pub use shared::SharedEvent;
pub use subscribe::subscribe;
