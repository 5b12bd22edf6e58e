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
    pub store: Arc<dyn Store>,
    pub registry: Arc<SchemaRegistry>,
    pub config: Arc<ServerConfig>,
    /// Rate limits and authentication throttling.
    pub throttle: Arc<Throttle>,
    /// JWT mode: signing keys fetched from tenants' JWKS URLs, cached.
    pub jwks: Arc<JwksCache>,
}

impl AppState {
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
