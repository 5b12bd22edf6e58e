//! What every request handler shares.

use std::sync::Arc;

use scim_core::schema::SchemaRegistry;
use scim_store::Store;

use crate::config::ServerConfig;

/// Shared, read-only state of a running server.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub registry: Arc<SchemaRegistry>,
    pub config: Arc<ServerConfig>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, registry: Arc<SchemaRegistry>, config: ServerConfig) -> Self {
        AppState {
            store,
            registry,
            config: Arc::new(config),
        }
    }
}
