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
}

impl AppState {
    /// The state of a server on `store`, serving `registry`'s resource types with `config`.
    pub fn new(store: Arc<dyn Store>, registry: Arc<SchemaRegistry>, config: ServerConfig) -> Self {
        AppState {
            store,
            registry,
            throttle: Arc::new(Throttle::new(config.throttle.clone())),
            jwks: Arc::new(JwksCache::default()),
            config: Arc::new(config),
        }
    }
}
