//! `scim-service`: `scim` as a library inside an existing axum application.
//!
//! A [`ScimService`] owns what a running `scim` needs besides its listener: the store
//! (SQLite file or PostgreSQL database, migrated when opened), the schema registry, the
//! event feed and the poller that notices commits made by other processes. From it an
//! application takes
//!
//! - [`ScimService::scim_router`]: the SCIM endpoints of every tenant, to `nest` under a
//!   path of the application's choice. Mounted at `/scim` with the public URL
//!   `https://app.example.com/scim`, tenant `acme` is served at
//!   `https://app.example.com/scim/acme` (`/Users`, `/Groups`, `/Bulk`, discovery…);
//! - [`ScimService::management_router`]: the management API (`/admin/v1/…`: tenants,
//!   tokens, events, role rules) behind the application's own authentication
//!   ([`AuthHook`]) instead of `scim`'s administration tokens;
//! - [`ScimService::create_tenant`] and [`ScimService::create_token`] (and every other
//!   management operation through [`ScimService::manager`]), for the application's own
//!   onboarding pages;
//! - [`ScimService::subscribe`]: a tenant's events in-process, as a stream.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use scim_service::ScimService;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let scim = ScimService::builder()
//!     .database_url("sqlite://data/scim.db")
//!     .public_url("https://app.example.com/scim")
//!     .open()
//!     .await?;
//! let tenant = scim.create_tenant("acme").await?;
//! let token = scim.create_token("acme", "okta").await?;
//! println!("{} {}", tenant.scim_base_url, token.secret.unwrap_or_default());
//!
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .nest("/scim", scim.scim_router())
//!     .nest("/manage", scim.management_router(|h: &axum::http::HeaderMap| {
//!         // The application's own check (a session, a gateway header, …).
//!         (h.get("x-app-admin")?.to_str().ok()? == "yes").then(|| "app-admin".to_string())
//!     }));
//!
//! let mut events = scim.subscribe("acme", 0).await?;
//! tokio::spawn(async move {
//!     while let Some(Ok(event)) = events.next().await {
//!         println!("{} {}", event.event_type.as_str(), event.data.id);
//!     }
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! `scim serve` is built on the same type (`crates/scim-cli/src/serve.rs`).

#![warn(missing_docs)]

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::{Stream, StreamExt};
use scim_admin::ops::{Caller, TenantCreate, TokenCreate};
use scim_admin::{AdminState, Manager};
use scim_core::schema::{SchemaError, SchemaRegistry};
use scim_delivery::Feed;
use scim_server::{AppState, ServerConfig};
use scim_store::postgres::PgOptions;
use scim_store::{AnyStore, DatabaseUrl, Fairness, Store, StoreError};
use tokio::sync::watch;

pub use scim_admin::AdminError;
pub use scim_admin::auth::AuthHook;
pub use scim_admin::ops::{TenantView, TokenCreated};
pub use scim_delivery::event::{EventData, EventType};
pub use scim_delivery::{DeliveryError, Event, EventFilter};
pub use scim_server::config::DEFAULT_SCIM_PATH;

/// The batching window of event delivery on PostgreSQL when none is given
/// ([`Builder::delivery_batch_window`]).
pub const DEFAULT_PG_BATCH_WINDOW: Duration = Duration::from_millis(20);

/// Why a service could not be opened or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The builder was given no database, or a malformed setting.
    #[error("{0}")]
    Config(String),
    /// The schema registry could not be loaded.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The store failed: it could not be opened or migrated, or a read failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A management operation was refused (its HTTP status and stable `code` say why).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Reading events failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// A tenant's events, in order, as [`ScimService::subscribe`] gives them.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, DeliveryError>> + Send>>;

/// Settings of a [`ScimService`] before it is opened ([`ScimService::builder`]).
pub struct Builder {
    database: Option<String>,
    opened: Option<(AnyStore, Arc<SchemaRegistry>)>,
    registry: Option<Arc<SchemaRegistry>>,
    config: ServerConfig,
    pg: PgOptions,
    fairness: Option<Fairness>,
    head_poll: Option<Duration>,
    batch_window: Option<Duration>,
    allow_private_webhooks: bool,
    caller: String,
    delivery_runtime: Option<tokio::runtime::Handle>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            database: None,
            opened: None,
            registry: None,
            config: ServerConfig {
                // Tenants directly below the path the application mounts the router at.
                scim_path: String::new(),
                ..ServerConfig::default()
            },
            pg: PgOptions::default(),
            fairness: None,
            head_poll: None,
            batch_window: None,
            allow_private_webhooks: false,
            caller: "app".into(),
            delivery_runtime: None,
        }
    }
}

impl Builder {
    /// The database: `sqlite://PATH` (the file and its directory are created if missing)
    /// or `postgres://user[:password]@host[:port]/database` (any number of instances may
    /// share it). Pending migrations are applied by [`Builder::open`].
    pub fn database_url(mut self, url: &str) -> Builder {
        self.database = Some(url.to_string());
        self
    }

    /// The SQLite database file at `path` (created with its directory if missing).
    pub fn sqlite(self, path: &Path) -> Builder {
        let url = format!("sqlite://{}", path.display());
        self.database_url(&url)
    }

    /// A store the caller has opened already, with the schemas it was opened with
    /// (`scim serve` opens its own from its flags and config file).
    pub fn store(mut self, store: AnyStore, registry: Arc<SchemaRegistry>) -> Builder {
        self.opened = Some((store, registry));
        self
    }

    /// The schemas served (default: the built-in User, Group and Enterprise User schemas;
    /// see [`SchemaRegistry::add_json_documents`] for custom ones).
    pub fn schemas(mut self, registry: SchemaRegistry) -> Builder {
        self.registry = Some(Arc::new(registry));
        self
    }

    /// The URL at which the application mounts [`ScimService::scim_router`], as identity
    /// providers reach it (`https://app.example.com/scim`): tenant `acme`'s base URL is
    /// `{public_url}/acme`, and `meta.location`, `$ref`s and event resources use it.
    pub fn public_url(mut self, url: &str) -> Builder {
        self.config.public_url = url.trim_end_matches('/').to_string();
        self
    }

    /// Every setting of the SCIM server at once (page sizes, rate limits, the public URL,
    /// the tenants' path…), replacing what was set before. The embedding default for
    /// [`ServerConfig::scim_path`] is empty (tenants directly under the mount path);
    /// `scim serve` uses `/scim/v2`.
    pub fn server_config(mut self, config: ServerConfig) -> Builder {
        self.config = config;
        self
    }

    /// Changes some settings of the SCIM server (`|c| c.max_page_size = 200`).
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Builder {
        f(&mut self.config);
        self
    }

    /// The PostgreSQL connection pool's settings (ignored for SQLite).
    pub fn postgres_options(mut self, options: PgOptions) -> Builder {
        self.pg = options;
        self
    }

    /// Per-tenant write limits (writes in progress, share of the writer's time).
    pub fn fairness(mut self, fairness: Fairness) -> Builder {
        self.fairness = Some(fairness);
        self
    }

    /// How often the change-log heads are polled, so that event readers see commits made
    /// by other processes (another instance, an administration command) [default: 100 ms
    /// on PostgreSQL, 1 s on SQLite]. This process's own commits wake readers at once.
    pub fn head_poll(mut self, every: Duration) -> Builder {
        self.head_poll = Some(every);
        self
    }

    /// The shortest time between two reads of a tenant's change log at its head by the
    /// event feed and the deliverers ([`Feed::with_batch_window`]): under a steady stream
    /// of changes, their events go out in fewer, larger batches [default: 20 ms on
    /// PostgreSQL, where each read is a round trip to the database; 0 on SQLite, where a
    /// read costs little and batching measured no gain].
    pub fn delivery_batch_window(mut self, window: Duration) -> Builder {
        self.batch_window = Some(window);
        self
    }

    /// Runs the event feed's reads and the delivery engine on `runtime` (see
    /// [`scim_delivery::runtime`]: a [`scim_delivery::BackgroundRuntime`] keeps delivery's
    /// work from competing with SCIM requests on a busy server, as `scim serve` does).
    /// Default: the runtime they are called from.
    pub fn delivery_runtime(mut self, runtime: tokio::runtime::Handle) -> Builder {
        self.delivery_runtime = Some(runtime);
        self
    }

    /// Whether webhook URLs created through the management API may point at private,
    /// loopback or link-local addresses (refused by default).
    pub fn allow_private_webhooks(mut self, allow: bool) -> Builder {
        self.allow_private_webhooks = allow;
        self
    }

    /// The name recorded in the management audit log for writes made through
    /// [`ScimService::create_tenant`] and [`ScimService::create_token`] [default: `app`].
    pub fn audit_name(mut self, name: &str) -> Builder {
        self.caller = name.to_string();
        self
    }

    /// Opens the store (applying pending migrations) and starts the head poller. Must be
    /// called inside a tokio runtime.
    pub async fn open(self) -> Result<ScimService, ServiceError> {
        let (store, registry) = match self.opened {
            Some(opened) => opened,
            None => {
                let url = self.database.as_deref().ok_or_else(|| {
                    ServiceError::Config(
                        "no database: call database_url(\"sqlite://PATH\" or \"postgres://…\")"
                            .into(),
                    )
                })?;
                let url = DatabaseUrl::parse(url)?;
                let registry = match self.registry {
                    Some(r) => r,
                    None => Arc::new(SchemaRegistry::builtin()?),
                };
                let store = AnyStore::open(&url, &registry, &self.pg).await?;
                (store, registry)
            }
        };
        if let Some(f) = self.fairness {
            store.set_fairness(f);
        }
        let head_poll = self.head_poll.unwrap_or(match store {
            AnyStore::Postgres(_) => Duration::from_millis(100),
            AnyStore::Sqlite(_) => Duration::from_secs(1),
        });
        let batch_window = self.batch_window.unwrap_or(match store {
            AnyStore::Postgres(_) => DEFAULT_PG_BATCH_WINDOW,
            AnyStore::Sqlite(_) => Duration::ZERO,
        });
        let shared = store.shared();
        let (closing, closing_rx) = watch::channel(false);
        let mut feed = Feed::new(shared.clone(), registry.clone(), &self.config.public_url)
            .with_scim_path(&self.config.scim_path)
            .with_shutdown(closing_rx)
            .with_batch_window(batch_window);
        if let Some(runtime) = self.delivery_runtime {
            feed = feed.on_runtime(runtime);
        }
        let admin = AdminState::new(shared.clone(), feed.clone())
            .allow_private_webhooks(self.allow_private_webhooks);
        let poller = scim_delivery::watch::spawn_head_poller(shared.clone(), head_poll);
        let app = AppState::new(shared.clone(), registry.clone(), self.config);
        Ok(ScimService {
            inner: Arc::new(Inner {
                store,
                shared,
                registry,
                app,
                feed,
                admin,
                closing,
                poller,
                caller: Caller {
                    name: self.caller,
                    ..Caller::default()
                },
            }),
        })
    }
}

struct Inner {
    store: AnyStore,
    shared: Arc<dyn Store>,
    registry: Arc<SchemaRegistry>,
    app: AppState,
    feed: Feed,
    admin: AdminState,
    closing: watch::Sender<bool>,
    poller: tokio::task::JoinHandle<()>,
    caller: Caller,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// `scim` running inside an application: cheap to clone, shared by every router and task
/// taken from it. The head poller stops when the last clone is dropped.
#[derive(Clone)]
pub struct ScimService {
    inner: Arc<Inner>,
}

impl ScimService {
    /// Settings to open a service with.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The SCIM endpoints of every tenant (`/{tenant}/Users`, … below
    /// [`ServerConfig::scim_path`]), with `/health` and `/ready`, to `nest` at the path the
    /// public URL names. Unknown paths below it get SCIM 404s; every request is logged
    /// through `tracing`.
    pub fn scim_router(&self) -> Router {
        scim_server::router(self.inner.app.clone())
    }

    /// The SCIM endpoints with `other` beside them, sharing their request log and their
    /// answer to unknown paths (`scim serve` puts the management API there).
    pub fn router_with(&self, other: Router) -> Router {
        scim_server::router_with(self.inner.app.clone(), other)
    }

    /// The management API (routes under `/admin/v1`, OpenAPI document at
    /// `/admin/v1/openapi.json`), authenticated by the application's `hook` alone:
    /// `scim`'s administration tokens are not accepted. `nest` it under a path of the
    /// application's choice, or `merge` it.
    pub fn management_router(&self, hook: impl AuthHook) -> Router {
        scim_admin::router(self.inner.admin.clone().with_auth_hook(hook))
    }

    /// The management API authenticated with administration tokens (`scimadm_…`), as
    /// `scim serve` mounts it.
    pub fn admin_token_router(&self) -> Router {
        scim_admin::router(self.inner.admin.clone())
    }

    /// The management operations (tenants, tokens, role rules, directory reads, the audit
    /// log), as the management API and the CLI run them.
    pub fn manager(&self) -> &Manager {
        &self.inner.admin.manager
    }

    /// Creates a tenant with the default settings (hard deletes, 30 days of retention, the
    /// server's rate limits); [`ScimService::manager`] creates one with others. 409
    /// `tenant_exists` when the name is taken.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantView, ServiceError> {
        self.manager()
            .create_tenant(&self.inner.caller, TenantCreate::named(name), None)
            .await?
            .new_value()
            .ok_or_else(|| ServiceError::Config("the tenant was not created".into()))
    }

    /// Creates a write token named `name` for a tenant (an identity provider's, e.g.
    /// `okta`): the answer holds its secret (shown this once) and the tenant's base URL.
    pub async fn create_token(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<TokenCreated, ServiceError> {
        self.manager()
            .create_token(&self.inner.caller, tenant, TokenCreate::named(name), None)
            .await?
            .new_value()
            .ok_or_else(|| ServiceError::Config("the token was not created".into()))
    }

    /// Tenant `tenant`'s events strictly after position `after` (0: from the first kept),
    /// in order, forever: the stream waits for new ones, and ends at
    /// [`ScimService::shutdown`]. A consumer that must survive a restart stores the
    /// `position` of the last event it handled and subscribes from there; a position older
    /// than the events kept yields [`DeliveryError::CursorExpired`] and ends the stream.
    pub async fn subscribe(&self, tenant: &str, after: i64) -> Result<EventStream, ServiceError> {
        self.subscribe_filtered(tenant, after, EventFilter::all())
            .await
    }

    /// Like [`ScimService::subscribe`], with only the events `filter` accepts
    /// (`EventFilter::parse("user.*,group.members_*")`).
    pub async fn subscribe_filtered(
        &self,
        tenant: &str,
        after: i64,
        filter: EventFilter,
    ) -> Result<EventStream, ServiceError> {
        let found = self
            .inner
            .shared
            .tenant(tenant)
            .await?
            .ok_or_else(|| AdminError::tenant_not_found(tenant))?;
        self.inner.feed.check_cursor(&found, after).await?;
        let mut closing = self.inner.closing.subscribe();
        let closed = async move {
            // A dropped sender (the service is gone) ends the stream too.
            let _ = closing.wait_for(|c| *c).await;
        };
        let events = scim_delivery::subscribe(self.inner.feed.clone(), found, after, filter)
            .take_until(closed);
        Ok(Box::pin(events))
    }

    /// A tenant's SCIM base URL, the one to give its identity provider.
    pub fn base_url(&self, tenant: &str) -> String {
        self.inner.app.config.base_url(tenant)
    }

    /// The SCIM server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.app.config
    }

    /// The event feed (long-polled reads after a cursor), shared with the management API.
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    /// The store, behind the [`Store`] interface.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.shared
    }

    /// The store with its backend (connector target state, backups…).
    pub fn any_store(&self) -> &AnyStore {
        &self.inner.store
    }

    /// The schemas served.
    pub fn registry(&self) -> &Arc<SchemaRegistry> {
        &self.inner.registry
    }

    /// Turns true at [`ScimService::shutdown`]: for the application's own tasks that
    /// read events (webhook deliverers, connector targets) to finish.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Writes what the request log still holds and stops its writer (waiting at most
    /// `within`): call it once the server has stopped answering, before the runtime ends.
    pub async fn close_request_log(&self, within: std::time::Duration) {
        if let Some(log) = &self.inner.app.request_log {
            log.close(within).await;
        }
    }

    /// Starts a graceful shutdown: long polls of the event feed answer with what they
    /// have, and subscriptions end. Call it when the application's server stops accepting
    /// requests.
    pub fn shutdown(&self) {
        let _ = self.inner.closing.send(true);
    }
}
