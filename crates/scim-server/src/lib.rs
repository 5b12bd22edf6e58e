//! `scim-server`: the HTTP face of `scim`, a multi-tenant SCIM 2.0 service provider.
//!
//! Each tenant is served under its own base URL, `{public_url}/scim/v2/{tenant}`. Handlers
//! parse HTTP, call [`service`] for SCIM semantics and render responses; every error becomes
//! a SCIM Error body in exactly one place ([`error::ApiError`]).

#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod error;
mod error_log;
pub mod http;
pub mod jwt;
pub mod listener;
mod logging;
pub mod metrics;
mod ready;
pub mod request_log;
mod routes;
pub mod service;
pub mod state;
pub mod streaming;
pub mod throttle;

use std::future::Future;

use axum::Router;
use axum::routing::{MethodRouter, any, get, post};
use scim_core::ScimError;

pub use config::ServerConfig;
use error::ApiError;
pub use state::AppState;

async fn method_not_allowed() -> ApiError {
    ApiError(ScimError::method_not_allowed(
        "This method is not allowed on this endpoint",
    ))
}

async fn not_found(axum::extract::State(state): axum::extract::State<AppState>) -> ApiError {
    ApiError(ScimError::not_found(format!(
        "There is no such endpoint; SCIM endpoints live under {}/{{tenant}}/",
        state.config.scim_path.trim_end_matches('/')
    )))
}

fn with_405(r: MethodRouter<AppState>) -> MethodRouter<AppState> {
    r.fallback(method_not_allowed)
}

/// The complete SCIM HTTP API.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The SCIM HTTP API with other routes beside it (the management API, an application's own
/// routes), which share its request log and its answer to unknown paths. `other` must not
/// use `/health`, `/ready`, `/metrics` or the tenants' path ([`ServerConfig::scim_path`],
/// `/scim/v2`).
pub fn router_with(state: AppState, other: Router) -> Router {
    use routes::{bulk, discovery, resources};
    let scim_path = state.config.scim_path.trim_end_matches('/').to_string();
    let logger = state.request_log.clone();
    let scim_prefix: std::sync::Arc<str> = std::sync::Arc::from(format!("{scim_path}/"));
    let tenant = Router::new()
        .route(
            "/ServiceProviderConfig",
            with_405(get(discovery::service_provider_config)),
        )
        .route("/ResourceTypes", with_405(get(discovery::resource_types)))
        .route(
            "/ResourceTypes/{id}",
            with_405(get(discovery::resource_type)),
        )
        .route("/Schemas", with_405(get(discovery::schemas)))
        .route("/Schemas/{id}", with_405(get(discovery::schema)))
        .route("/Bulk", with_405(post(bulk::bulk)))
        .route("/.search", with_405(post(resources::search_root)))
        .route("/Me", any(resources::me))
        .route("/Me/{*rest}", any(resources::me))
        .route(
            "/{endpoint}",
            with_405(get(resources::list).post(resources::create)),
        )
        .route("/{endpoint}/.search", with_405(post(resources::search)))
        .route(
            "/{endpoint}/{id}",
            with_405(
                get(resources::get)
                    .put(resources::replace)
                    .patch(resources::patch)
                    .delete(resources::delete),
            ),
        );
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(metrics::metrics_with_admin_token))
        .nest(&format!("{scim_path}/{{tenant}}"), tenant)
        .fallback(not_found)
        .with_state(state)
        .merge(other)
        .layer(axum::middleware::from_fn(move |req, next| {
            logging::log_request(scim_prefix.clone(), logger.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(metrics::record));
    // `/Users/` is `/Users`: the path is normalised before it is routed.
    Router::new().fallback_service(tower::service_fn(move |mut req: axum::extract::Request| {
        let app = app.clone();
        async move {
            trim_trailing_slash(&mut req);
            tower::ServiceExt::oneshot(app, req).await
        }
    }))
}

/// Removes the trailing slashes of a request's path (`/scim/v2/acme/Users/` →
/// `/scim/v2/acme/Users`), keeping its query.
fn trim_trailing_slash(req: &mut axum::extract::Request) {
    let path = req.uri().path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Serves `app` (from [`router`] or [`router_with`]) on `listener` until `shutdown`
/// completes, then finishes in-flight requests. Connections are kept within `limits`.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: listener::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve_connections(listener, app, limits, shutdown).await
}

/// [`serve_app`] over TLS (HTTP/1.1 and HTTP/2): `tls` decides the certificate of each
/// handshake (a resolver that reloads it applies to new connections).
pub async fn serve_app_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: listener::ConnectionLimits,
    tls: tokio_rustls::TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve_tls(listener, app, limits, tls, shutdown).await
}

/// The TLS crates the listener uses (rustls with the *ring* provider), for callers that
/// build its configuration.
pub use tokio_rustls::{self, rustls};

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight
/// requests. Connections are kept within the state's [`listener::ConnectionLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.connections.clone();
    serve_app(listener, router(state), limits, shutdown).await
}
