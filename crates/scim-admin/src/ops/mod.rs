//! The management operations, in one place for every front end: the HTTP handlers of
//! `/admin/v1` and the `scim` CLI both call a [`Manager`].
//!
//! A [`Manager`] validates its input (a 4xx [`AdminError`] naming the field, and nothing
//! changed), runs each write in one store transaction together with its audit record
//! ([`scim_store::Management::admin_write`]), and answers with the views that the HTTP API
//! serialises as JSON ([`views`]). Errors carry the HTTP status and the stable `code` the
//! API answers with; a CLI prints their `message`.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn scim_store::Store>) -> Result<(), scim_admin::AdminError> {
//! use scim_admin::ops::{Caller, Manager, TenantCreate, TokenCreate};
//! let manager = Manager::new(store, "https://scim.example.com");
//! let caller = Caller::cli("alice");
//! let tenant = manager
//!     .create_tenant(&caller, TenantCreate::named("acme"), None)
//!     .await?;
//! let token = manager
//!     .create_token(&caller, "acme", TokenCreate::named("okta"), None)
//!     .await?;
//! # Ok(()) }
//! ```

mod audit;
mod directory;
mod roles;
mod tenants;
mod tokens;
pub mod views;

use std::sync::Arc;

use axum::http::StatusCode;
use scim_core::schema::SchemaRegistry;
use scim_store::Store;
use scim_store::manage::{AdminOp, AdminOutcome, AdminWritten, AuditActor, IdempotencyClaim};
use serde_json::Value;

use crate::AdminError;

pub use views::*;

/// Runs management operations on a store.
#[derive(Clone)]
pub struct Manager {
    store: Arc<dyn Store>,
    public_url: Arc<str>,
    /// The tenants' path below the public URL (`/scim/v2`).
    scim_path: Arc<str>,
    /// The schemas filters are read with and resources rendered with (`None`: the
    /// built-in ones could not be loaded, which only a broken build does).
    registry: Option<Arc<SchemaRegistry>>,
}

/// Who asks for an operation: recorded with every write in the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The admin token's name, or `cli:<user>` for a local command.
    pub name: String,
    /// The admin token's id (none for a local command).
    pub token_id: Option<String>,
    /// The request's id (`X-Request-Id`), when there is one.
    pub request_id: Option<String>,
}

impl Caller {
    /// A local command run by this operating-system user.
    pub fn cli(user: &str) -> Caller {
        Caller {
            name: format!("cli:{user}"),
            token_id: None,
            request_id: None,
        }
    }

    /// The caller as the management audit log records it.
    pub fn audit(&self) -> AuditActor {
        AuditActor {
            name: self.name.clone(),
            id: self.token_id.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// Whose idempotency keys these are.
    fn key_scope(&self) -> String {
        match &self.token_id {
            Some(id) => format!("admin:{id}"),
            None => self.name.clone(),
        }
    }
}

/// An `Idempotency-Key` sent with a create, and a digest of the request it came with
/// (method, path and body: [`Idempotency::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The key, as the client sent it.
    pub key: String,
    /// A SHA-256 of the request's method, path and body (hex).
    pub fingerprint: String,
}

impl Idempotency {
    /// Longest key accepted.
    pub const MAX_KEY: usize = 255;

    /// A key and the digest of the request it was sent with; 400 when the key is empty,
    /// too long or not printable ASCII.
    pub fn new(key: &str, method: &str, path: &str, body: &[u8]) -> Result<Self, AdminError> {
        if key.is_empty()
            || key.len() > Self::MAX_KEY
            || !key.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(AdminError::invalid(
                "Idempotency-Key",
                format!(
                    "an Idempotency-Key must be 1 to {} printable ASCII characters without spaces",
                    Self::MAX_KEY
                ),
            ));
        }
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
            h.update(part);
        }
        Ok(Idempotency {
            key: key.to_string(),
            fingerprint: hex::encode(h.finalize()),
        })
    }
}

/// The answer to a create: made now, or replayed from an earlier request with the same
/// `Idempotency-Key` (then it is the earlier answer's JSON, without any secret).
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// Made now.
    New(T),
    /// Replayed: the earlier answer's JSON.
    Replayed(Value),
}

impl<T> Created<T> {
    /// The value made now (`None` for a replay).
    pub fn new_value(self) -> Option<T> {
        match self {
            Created::New(v) => Some(v),
            Created::Replayed(_) => None,
        }
    }
}

impl Manager {
    /// A manager over `store`; `public_url` is the server's public URL, from which the
    /// tenants' SCIM base URLs are made (`{public_url}/scim/v2/{tenant}`).
    /// Filters and resources use the built-in schemas; see [`Manager::with_registry`].
    pub fn new(store: Arc<dyn Store>, public_url: &str) -> Manager {
        Manager {
            store,
            public_url: public_url.trim_end_matches('/').into(),
            scim_path: "/scim/v2".into(),
            registry: SchemaRegistry::builtin().ok().map(Arc::new),
        }
    }

    /// The same manager for a server whose tenants' base URLs are
    /// `{public_url}{scim_path}/{tenant}` (`/scim/v2` unless set).
    pub fn with_scim_path(mut self, scim_path: &str) -> Manager {
        self.scim_path = scim_path.trim_end_matches('/').into();
        self
    }

    /// The same manager with the server's schemas (custom schemas and resource types).
    pub fn with_registry(mut self, registry: Arc<SchemaRegistry>) -> Manager {
        self.registry = Some(registry);
        self
    }

    /// The store it runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn base_url(&self, tenant: &str) -> String {
        format!("{}{}/{tenant}", self.public_url, self.scim_path)
    }

    /// Runs a write with its audit record; `replay` renders what a later request with the
    /// same key gets.
    async fn write(
        &self,
        caller: &Caller,
        op: AdminOp,
        idempotency: Option<Idempotency>,
        replay: scim_store::manage::ReplayRender,
    ) -> Result<Result<AdminOutcome, Value>, AdminError> {
        let claim = idempotency.map(|i| IdempotencyClaim {
            scope: caller.key_scope(),
            key: i.key,
            fingerprint: i.fingerprint,
        });
        match self
            .store
            .admin_write(op, caller.audit(), claim, replay)
            .await?
        {
            AdminWritten::Done { outcome, .. } => Ok(Ok(*outcome)),
            AdminWritten::Replayed(body) => Ok(Err(body)),
            AdminWritten::KeyReused => Err(AdminError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used before with a different request; use a new key",
            )
            .with("field", "Idempotency-Key")),
        }
    }

    /// A tenant by name, or 404 `tenant_not_found`.
    pub(crate) async fn find_tenant(&self, name: &str) -> Result<scim_store::Tenant, AdminError> {
        self.store
            .tenant(name)
            .await?
            .ok_or_else(|| AdminError::tenant_not_found(name))
    }
}

/// An unexpected outcome for an operation (a bug, never an input error).
fn mismatch() -> AdminError {
    tracing::error!("management write returned the outcome of another operation");
    AdminError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error in the management layer",
    )
}
