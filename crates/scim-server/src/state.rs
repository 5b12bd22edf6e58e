//! What every request handler shares.

use std::sync::Arc;

use scim_core::schema::SchemaRegistry;
use scim_store::Store;

use crate::config::ServerConfig;
use crate::jwt::JwksCache;
use crate::throttle::Throttle;

/// Shared state of a running server.
#[derive(Clone)]
pub struct AppState {
    /// The store every tenant's data lives in.
    pub store: Arc<dyn Store>,
    /// The schemas and resource types served.
    pub registry: Arc<SchemaRegistry>,
    /// The server's settings.
    pub config: Arc<ServerConfig>,
    /// Rate limits and authentication throttling.
    pub throttle: Arc<Throttle>,
    /// JWT mode: signing keys fetched from tenants' JWKS URLs, cached.
    pub jwks: Arc<JwksCache>,
    /// The request log's queue (`None`: not kept, see [`ServerConfig::request_log`]).
    pub request_log: Option<Arc<crate::request_log::RequestLogger>>,
}

impl AppState {
    /// The state of a server on `store`, serving `registry`'s resource types with `config`.
    /// The request log's writer is started on the current runtime, if there is one.
    pub fn new(store: Arc<dyn Store>, registry: Arc<SchemaRegistry>, config: ServerConfig) -> Self {
        let request_log = (config.request_log && tokio::runtime::Handle::try_current().is_ok())
            .then(|| crate::request_log::RequestLogger::spawn(store.clone()));
        AppState {
            request_log,
            store,
            registry,
            throttle: Arc::new(Throttle::new(config.throttle.clone())),
            jwks: Arc::new(JwksCache::default()),
            config: Arc::new(config),
        }
    }
}
