//! `scim-admin`: the management API, served under `{public_url}/admin/v1`.
//!
//! A SaaS product drives `scim` from its own admin pages through this API: tenants, their
//! tokens, and the tenant's events. It is authenticated with administration tokens
//! (`scimadm_…`, [`auth::AdminAuth`]); a tenant's SCIM token is never accepted here, and an
//! admin token never on a SCIM URL. Errors are JSON objects with a stable `code`
//! ([`error::AdminError`]).
//!
//! The operations themselves live in [`ops`] (a [`ops::Manager`]), which the CLI calls too;
//! the handlers in `routes/` only read requests and write answers.
//!
//! **OpenAPI.** Every route is registered with `utoipa-axum` ([`api_routes`]), so it is
//! both routed and described in the OpenAPI 3.1 document ([`openapi`], served at
//! `/admin/v1/openapi.json`). To add an endpoint: annotate the handler with
//! `#[utoipa::path(method, path = "/relative/to/admin/v1", …)]`, derive `utoipa::ToSchema`
//! on its bodies, and add one `.routes(routes!(handler))` line to [`api_routes`]; plain
//! axum routes are not used anywhere in this crate. Tests check that every operation of
//! the document is routed, that nothing else is (the methods and neighbouring paths not
//! documented get the router's 405 and 404; no `.route(`/`.merge(` in the source), and
//! validate the document with a third-party validator.
//!
//! The router is separate from the SCIM router (`scim-server`): an application mounts
//! either or both.

#![warn(missing_docs)]

pub mod auth;
mod body;
pub mod error;
pub mod ops;
mod query;
mod routes;

use std::sync::Arc;

use axum::Router;
use scim_delivery::Feed;
use scim_delivery::push::Destinations;
use scim_store::Store;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::AdminError;
pub use ops::Manager;

/// What the management API's handlers share.
#[derive(Clone)]
pub struct AdminState {
    /// The store the operations run on.
    pub store: Arc<dyn Store>,
    /// The event feed (`/tenants/{t}/events`).
    pub feed: Feed,
    /// Webhook endpoints and NATS publishers (`routes/webhooks.rs`).
    pub destinations: Destinations,
    /// The management operations (shared with the CLI).
    pub manager: Manager,
    /// An application's own authentication, in place of administration tokens
    /// ([`AdminState::with_auth_hook`]).
    pub auth_hook: Option<auth::SharedAuthHook>,
}

impl AdminState {
    /// The state of a management API over `store`, reading events through `feed` (whose
    /// public URL and tenants' path make the tenants' base URLs), authenticated with
    /// administration tokens.
    pub fn new(store: Arc<dyn Store>, feed: Feed) -> AdminState {
        let manager = Manager::new(store.clone(), feed.public_url())
            .with_scim_path(feed.scim_path())
            .with_registry(feed.registry().clone());
        let destinations = Destinations::new(store.clone(), false);
        AdminState {
            store,
            feed,
            destinations,
            manager,
            auth_hook: None,
        }
    }

    /// The same state, whose requests are authenticated by the application's `hook`
    /// instead of administration tokens (when `scim` is embedded in an application that
    /// has its own users and sessions). The hook alone decides: administration tokens are
    /// then not accepted, and a tenant's SCIM token only if the hook accepts it.
    pub fn with_auth_hook(mut self, hook: impl auth::AuthHook) -> AdminState {
        self.auth_hook = Some(Arc::new(hook));
        self
    }

    /// Whether webhook URLs may point at private, loopback or link-local addresses
    /// (`scim serve --allow-private-webhooks`; refused by default).
    pub fn allow_private_webhooks(mut self, allow: bool) -> AdminState {
        self.destinations = Destinations::new(self.store.clone(), allow);
        self
    }
}

/// The document's frame: title, version, the admin token's security scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "scim management API",
        description = "Tenants, their SCIM tokens and their events, for a product's own admin pages. \
            Authenticated with administration tokens (Authorization: Bearer scimadm_…). \
            Errors: {\"error\": {\"code\": …, \"message\": …}} with a stable code."
    ),
    modifiers(&Security),
    tags(
        (name = "tenants", description = "Customer connections: one SCIM base URL each"),
        (name = "tokens", description = "A tenant's SCIM bearer tokens"),
        (name = "events", description = "A tenant's event feed"),
        (name = "directory", description = "A tenant's users and groups, in the event feed's JSON"),
        (name = "roles", description = "Group-to-role mapping: role rules and users' effective roles"),
        (name = "requests", description = "A tenant's request log and retention policy, for troubleshooting"),
        (name = "audit", description = "The record of every management write, and point-in-time audit of a tenant's directory (`/tenants/{tenant}/audit/…`)"),
        (name = "webhooks", description = "A tenant's webhook endpoints: signed POSTs of its events"),
        (name = "nats", description = "A tenant's NATS JetStream publishers"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An administration token, scimadm_…"))
                    .build(),
            ),
        );
        doc.security = Some(vec![SecurityRequirement::new(
            "admin_token",
            Vec::<String>::new(),
        )]);
    }
}

/// Every route of the management API, relative to `/admin/v1`, with its documentation.
pub fn api_routes() -> OpenApiRouter<AdminState> {
    use routes::{
        admin_log, audit, directory, events, openapi, requests, roles, tenants, tokens, webhooks,
    };
    OpenApiRouter::new()
        .routes(routes!(openapi::get))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::read, tenants::update, tenants::delete))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::rotate))
        .routes(routes!(events::list))
        .routes(routes!(directory::list_users))
        .routes(routes!(directory::read_user))
        .routes(routes!(directory::list_groups))
        .routes(routes!(directory::read_group))
        .routes(routes!(admin_log::list))
        .routes(routes!(roles::add, roles::list))
        .routes(routes!(roles::remove))
        .routes(routes!(roles::of_user))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::pause_webhook))
        .routes(routes!(webhooks::resume_webhook))
        .routes(routes!(webhooks::replay_webhook))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::webhook_attempts))
        .routes(routes!(webhooks::create_nats, webhooks::list_nats))
        .routes(routes!(
            webhooks::get_nats,
            webhooks::update_nats,
            webhooks::delete_nats
        ))
        .routes(routes!(webhooks::pause_nats))
        .routes(routes!(webhooks::resume_nats))
        .routes(routes!(webhooks::replay_nats))
        .routes(routes!(webhooks::nats_attempts))
        .routes(routes!(audit::resource))
        .routes(routes!(audit::history))
        .routes(routes!(audit::members))
        .routes(routes!(audit::active_users))
        .routes(routes!(audit::active_changes))
        .routes(routes!(audit::changes))
        .routes(routes!(audit::diff))
        .routes(routes!(requests::requests))
        .routes(routes!(requests::retention))
}

/// The management API's OpenAPI 3.1 document (paths under `/admin/v1`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/admin/v1", api_routes())
        .into_openapi()
}

/// The management API, with its routes under `/admin/v1`.
pub fn router(state: AdminState) -> Router {
    let (v1, _) = api_routes().split_for_parts();
    // Every route comes from `api_routes`, so every route is in the document (the
    // OpenAPI test checks that nothing is routed beside it).
    let v1 = v1
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state);
    Router::new().nest("/admin/v1", v1)
}
