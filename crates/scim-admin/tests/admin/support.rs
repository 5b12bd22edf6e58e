//! The harness: the whole HTTP app per test, on a chosen storage backend, with an admin
//! token and a SCIM token for tenant `acme` (hard deletes) and `globex` (soft deletes).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use scim_admin::AdminState;
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_server::{AppState, ServerConfig};
use scim_store::postgres::testing::TestDatabase;
use scim_store::sqlite::SqliteStore;
use scim_store::{DeleteMode, Store};
use serde_json::Value;
use tokio::sync::oneshot;

/// Runs each listed test once per storage backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::App::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // Skipped (with a SKIPPED line) without a PostgreSQL server; in CI it fails.
                    let Some(app) = $crate::support::App::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(app).await
                }
            )*
        }
    };
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A status and a JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts one of these statuses.
    #[track_caller]
    pub fn expect_status_in(self, statuses: &[u16]) -> Reply {
        assert!(
            statuses.contains(&self.status),
            "unexpected status {}; body: {}",
            self.status,
            self.body
        );
        self
    }

    /// Asserts a management API error with this status and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "an error has a message: {}",
            self.body
        );
        self
    }
}

/// A running server.
pub struct App {
    pub url: String,
    pub admin_token: String,
    pub scim_token: String,
    pub globex_token: String,
    pub store: Arc<dyn Store>,
    pub registry: Arc<SchemaRegistry>,
    pub client: reqwest::Client,
    pub db: Option<TestDatabase>,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl App {
    pub async fn sqlite() -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Arc::new(SchemaRegistry::builtin().expect("schemas"));
        let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).expect("open");
        Self::start(Arc::new(store), registry, dir, None).await
    }

    pub async fn postgres(test: &str) -> Option<App> {
        let db = TestDatabase::create(test)
            .await
            .unwrap_or_else(|e| panic!("{e}"))?;
        let registry = Arc::new(SchemaRegistry::builtin().expect("schemas"));
        let store = db.store(&registry).await.expect("open");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Self::start(Arc::new(store), registry, dir, Some(db)).await)
    }

    async fn start(
        store: Arc<dyn Store>,
        registry: Arc<SchemaRegistry>,
        dir: tempfile::TempDir,
        db: Option<TestDatabase>,
    ) -> App {
        let acme = store
            .create_tenant("acme", DeleteMode::Hard, 30)
            .await
            .unwrap();
        let globex = store
            .create_tenant("globex", DeleteMode::Soft, 30)
            .await
            .unwrap();
        let (_, scim_token) = store.create_token(acme.id, "okta", None).await.unwrap();
        let (_, globex_token) = store.create_token(globex.id, "entra", None).await.unwrap();
        let (_, admin_token) = store.create_admin_token("tests", None).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig {
            public_url: url.clone(),
            ..ServerConfig::default()
        };
        let feed = Feed::new(store.clone(), registry.clone(), &url);
        let admin = scim_admin::router(AdminState::new(store.clone(), feed));
        let app = scim_server::router_with(
            AppState::new(store.clone(), registry.clone(), config),
            admin,
        );
        // Commits of other processes (a second instance) are seen by polling.
        let poller =
            scim_delivery::watch::spawn_head_poller(store.clone(), Duration::from_millis(50));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = scim_server::serve_app(listener, app, Default::default(), async {
                let _ = stopped.await;
            })
            .await;
            poller.abort();
        });
        App {
            url,
            admin_token,
            scim_token,
            globex_token,
            store,
            registry,
            client: reqwest::Client::new(),
            db,
            _dir: dir,
            _stop: stop,
        }
    }

    /// A request with this bearer token (none if empty) and JSON body.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let mut req = self.client.request(method, url);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET /admin/v1{path}` with the admin token.
    pub async fn admin_get(&self, path: &str) -> Reply {
        self.call(
            &self.admin_token,
            Method::GET,
            &format!("/admin/v1{path}"),
            None,
        )
        .await
    }

    /// A SCIM request to `acme` with its token; `path` is relative to its base URL.
    pub async fn scim(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(
            &self.scim_token,
            method,
            &format!("/scim/v2/acme{path}"),
            body,
        )
        .await
    }

    /// A SCIM request to `globex` with its token.
    pub async fn globex(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(
            &self.globex_token,
            method,
            &format!("/scim/v2/globex{path}"),
            body,
        )
        .await
    }

    /// Creates a user in `acme` and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .scim(
                Method::POST,
                "/Users",
                Some(serde_json::json!({"schemas": [USER_SCHEMA], "userName": user_name})),
            )
            .await
            .expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// A PATCH of `acme` with these operations.
    pub async fn patch(&self, path: &str, operations: Value) -> Reply {
        self.scim(
            Method::PATCH,
            path,
            Some(serde_json::json!({"schemas": [PATCH_OP], "Operations": operations})),
        )
        .await
    }

    /// Every event of a tenant, read page by page with the feed.
    pub async fn all_events(&self, tenant: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .admin_get(&format!("/tenants/{tenant}/events?after={after}&limit=7"))
                .await
                .expect(200);
            let events = page.body["events"].as_array().unwrap().clone();
            after = page.body["next"].as_i64().unwrap();
            if events.is_empty() {
                return out;
            }
            out.extend(events);
        }
    }
}

/// The `type`s of events, in order.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}
