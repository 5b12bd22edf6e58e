//! `scim-admin`: the management API, served under `{public_url}/admin/v1`.
//!
//! A SaaS product drives `scim` from its own admin pages through this API: tenants, their
//! tokens, and the tenant's events. It is authenticated with administration tokens
//! (`scimadm_…`, [`auth::AdminAuth`]); a tenant's SCIM token is never accepted here, and an
//! admin token never on a SCIM URL. Errors are JSON objects with a stable `code`
//! ([`error::AdminError`]).
//!
//! The router is separate from the SCIM router (`scim-server`): an application mounts
//! either or both.

pub mod auth;
pub mod error;
mod query;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use scim_delivery::Feed;
use scim_delivery::push::Destinations;
use scim_store::Store;

pub use error::AdminError;

/// What the management API's handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
    pub feed: Feed,
    /// Webhook endpoints and NATS publishers (`routes/webhooks.rs`).
    pub destinations: Destinations,
}

impl AdminState {
    pub fn new(store: Arc<dyn Store>, feed: Feed) -> AdminState {
        let destinations = Destinations::new(store.clone(), false);
        AdminState {
            store,
            feed,
            destinations,
        }
    }

    /// Whether webhook URLs may point at private, loopback or link-local addresses
    /// (`scim serve --allow-private-webhooks`; refused by default).
    pub fn allow_private_webhooks(mut self, allow: bool) -> AdminState {
        self.destinations = Destinations::new(self.store.clone(), allow);
        self
    }
}

/// The management API, with its routes under `/admin/v1`.
pub fn router(state: AdminState) -> Router {
    let v1 = Router::new()
        .route("/tenants/{tenant}/events", get(routes::events::list))
        .merge(routes::webhooks::routes())
        .merge(routes::audit::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state);
    Router::new().nest("/admin/v1", v1)
}
