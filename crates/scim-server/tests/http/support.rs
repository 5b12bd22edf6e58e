//! The test harness: a real server per test, on a chosen storage backend.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use scim_core::schema::SchemaRegistry;
use scim_server::{AppState, ServerConfig};
use scim_store::sqlite::SqliteStore;
use scim_store::{DeleteMode, Store};
use serde_json::Value;
use tokio::sync::oneshot;

/// Runs each listed test once per storage backend, on the built-in schemas or (with
/// `registry = path::to::fn;` first) on the schemas that function returns.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        backend_tests!(registry = $crate::support::builtin_registry; $($name),*);
    };
    (registry = $registry:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::TestServer::sqlite_with($registry()).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // Skipped (with a SKIPPED line) without a PostgreSQL server; in CI it fails.
                    let Some(server) =
                        $crate::support::TestServer::postgres_with(stringify!($name), $registry()).await
                    else {
                        return;
                    };
                    super::$name(server).await
                }
            )*
        }
    };
}

/// The server's warnings and errors (why a request got a 503 or a 500) go to the output of
/// the test that caused them, which is shown when it fails.
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .try_init();
    });
}

/// The built-in schemas and resource types.
pub fn builtin_registry() -> SchemaRegistry {
    SchemaRegistry::builtin().expect("schemas")
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// The body exactly as received.
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns self, printing the body on mismatch.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a SCIM error with this status and scimType (or none).
    #[track_caller]
    pub fn expect_error(self, status: u16, scim_type: Option<&str>) -> Reply {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "not a SCIM error: {}",
            self.body
        );
        assert_eq!(
            self.body["status"],
            status.to_string(),
            "status must be a string: {}",
            self.body
        );
        assert_eq!(
            self.body["scimType"].as_str(),
            scim_type,
            "scimType: {}",
            self.body
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "detail must be non-empty: {}",
            self.body
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/scim+json")),
            "errors are application/scim+json"
        );
        self
    }
}

async fn read_reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A running server with two tenants, `acme` and `globex`, and a token for each.
pub struct TestServer {
    pub url: String,
    pub token: String,
    pub other_token: String,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub registry: Arc<SchemaRegistry>,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    /// The test's own PostgreSQL database, dropped with the server.
    _pg: Option<scim_store::postgres::testing::TestDatabase>,
}

impl TestServer {
    /// A server with these schemas on a fresh SQLite database file.
    pub async fn sqlite_with(registry: SchemaRegistry) -> TestServer {
        Self::sqlite_configured(registry, |_| {}).await
    }

    /// A server on SQLite with settings changed from the defaults by `configure`.
    pub async fn sqlite_configured(
        registry: SchemaRegistry,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Arc::new(registry);
        let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).expect("open store");
        Self::start(Arc::new(store), registry, dir, configure).await
    }

    /// A server with these schemas on a fresh PostgreSQL database (`None`, after printing
    /// SKIPPED, when no server is reachable and that is allowed; see
    /// `scim_store::postgres::testing`).
    pub async fn postgres_with(test: &str, registry: SchemaRegistry) -> Option<TestServer> {
        let db = scim_store::postgres::testing::TestDatabase::create(test)
            .await
            .unwrap_or_else(|e| panic!("{e}"))?;
        let registry = Arc::new(registry);
        let store = db.store(&registry).await.expect("open store");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start(Arc::new(store), registry, dir, |_| {}).await;
        server._pg = Some(db);
        Some(server)
    }

    async fn start(
        store: Arc<dyn Store>,
        registry: Arc<SchemaRegistry>,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        capture_logs();
        let acme = store
            .create_tenant("acme", DeleteMode::Hard, 30)
            .await
            .expect("tenant");
        let globex = store
            .create_tenant("globex", DeleteMode::Soft, 30)
            .await
            .expect("tenant");
        let (_, token) = store
            .create_token(acme.id, "okta", None)
            .await
            .expect("token");
        let (_, other_token) = store
            .create_token(globex.id, "entra", None)
            .await
            .expect("token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = ServerConfig {
            public_url: url.clone(),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let state = AppState::new(store.clone(), registry.clone(), config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(scim_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer {
            url,
            token,
            other_token,
            store,
            client: reqwest::Client::new(),
            registry,
            _dir: dir,
            _stop: stop,
            _pg: None,
        }
    }

    /// Another store on the same database, as a second `scim` instance or the admin CLI
    /// would open it: changes made through it are not seen by this server's caches.
    pub async fn other_instance(&self) -> Arc<dyn Store> {
        match &self._pg {
            Some(db) => Arc::new(db.store(&self.registry).await.expect("second store")),
            None => Arc::new(
                SqliteStore::open(&self._dir.path().join("scim.db"), &self.registry)
                    .expect("second store"),
            ),
        }
    }

    /// The base URL of a tenant.
    pub fn base(&self, tenant: &str) -> String {
        format!("{}/scim/v2/{tenant}", self.url)
    }

    /// Sends a request to the `acme` tenant with its token. `path` is relative to the base
    /// URL (`/Users`); a full `http://` URL is used as is.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.token, "acme", method, path, body, &[])
            .await
    }

    /// Sends a request with a chosen token, tenant and extra headers.
    pub async fn call_as(
        &self,
        token: &str,
        tenant: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base(tenant))
        };
        let mut req = self.client.request(method, url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        read_reply(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user with this userName and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                }),
            )
            .await
            .expect(201);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates a group with this displayName and returns its id.
    pub async fn create_group(&self, display_name: &str) -> String {
        let r = self
            .post(
                "/Groups",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                }),
            )
            .await
            .expect(201);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Every change record of the `acme` tenant, as a snapshot of stored state to compare
    /// before and after a rejected request.
    pub async fn change_count(&self) -> usize {
        let t = self
            .store
            .tenant("acme")
            .await
            .expect("tenant")
            .expect("acme");
        self.store
            .changes(t.id, 0, u32::MAX)
            .await
            .expect("changes")
            .len()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the behaviour modules.
// ---------------------------------------------------------------------------------------

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Percent-encodes a query parameter value (`filter=…`).
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A PatchOp request body carrying these operations (a JSON array).
pub fn patch_body(operations: Value) -> Value {
    serde_json::json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// Asserts that a resource body has no value for `key` (unassigned attributes are omitted).
#[track_caller]
pub fn assert_absent(body: &Value, key: &str) {
    assert!(
        body.get(key).is_none(),
        "'{key}' should have no value, got {} in {body}",
        body[key]
    );
}

/// The `value`s of a multi-valued attribute (group `members`, user `groups`), sorted.
pub fn values_of(body: &Value, attr: &str) -> Vec<String> {
    let mut out: Vec<String> = body
        .get(attr)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Sorted copies of ids, for comparing member lists.
pub fn sorted(ids: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

impl Reply {
    /// The `id` of the returned resource.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_string()
    }

    /// The `Resources` of a ListResponse (empty when absent).
    pub fn resources(&self) -> Vec<Value> {
        self.body["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The ids of the `Resources` of a ListResponse, in order.
    pub fn resource_ids(&self) -> Vec<String> {
        self.resources()
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    }

    /// Asserts a ListResponse with this `totalResults` and as many `Resources` as given.
    #[track_caller]
    pub fn expect_list(self, total: u64, items: usize) -> Reply {
        let r = self.expect(200);
        assert_eq!(
            r.body["schemas"],
            serde_json::json!([LIST_RESPONSE]),
            "{}",
            r.body
        );
        assert_eq!(
            r.body["totalResults"].as_u64(),
            Some(total),
            "totalResults: {}",
            r.body
        );
        assert!(
            r.body["Resources"].is_array(),
            "Resources must be a list: {}",
            r.body
        );
        assert_eq!(r.resources().len(), items, "Resources: {}", r.body);
        assert_eq!(
            r.body["itemsPerPage"].as_u64(),
            Some(items as u64),
            "itemsPerPage: {}",
            r.body
        );
        r
    }

    /// Asserts a SCIM error with this status whose scimType is one of `types` (for cases
    /// where the RFCs allow more than one reading).
    #[track_caller]
    pub fn expect_error_in(self, status: u16, types: &[&str]) -> Reply {
        let t = self.body["scimType"].as_str().map(str::to_string);
        assert!(
            t.as_deref().is_some_and(|t| types.contains(&t)),
            "scimType should be one of {types:?}; status {}, body {}",
            self.status,
            self.body
        );
        self.expect_error(status, t.as_deref())
    }

    /// Asserts the SCIM media type.
    #[track_caller]
    pub fn expect_scim_json(self) -> Reply {
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/scim+json")),
            "content-type {:?} should be application/scim+json",
            self.header("content-type")
        );
        self
    }
}

impl TestServer {
    /// Sends a request to `acme` with exactly these headers (no Authorization added) and
    /// an optional raw body: for bodies that are not JSON, other content types and other
    /// credentials.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base("acme"))
        };
        let mut req = self.client.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        read_reply(req.send().await.expect("request")).await
    }

    /// `acme`'s bearer header, for [`TestServer::raw`].
    pub fn auth_header(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET /{endpoint}?filter=…` on `acme`, with extra raw query parameters (`&count=1`).
    pub async fn filter(&self, endpoint: &str, filter: &str, extra: &str) -> Reply {
        self.get(&format!("/{endpoint}?filter={}{extra}", enc(filter)))
            .await
    }

    /// Creates a user from a full body and returns the 201 reply.
    pub async fn create_user_from(&self, body: Value) -> Reply {
        self.post("/Users", body).await.expect(201)
    }

    /// Creates a group with these member ids and returns its id.
    pub async fn create_group_with(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        let r = self
            .post(
                "/Groups",
                serde_json::json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members}),
            )
            .await
            .expect(201);
        r.id()
    }

    /// `PATCH path` with a PatchOp body of these operations.
    pub async fn patch_ops(&self, path: &str, operations: Value) -> Reply {
        self.patch(path, patch_body(operations)).await
    }

    /// The sorted member ids of an `acme` group.
    pub async fn member_ids(&self, group_id: &str) -> Vec<String> {
        values_of(
            &self
                .get(&format!("/Groups/{group_id}"))
                .await
                .expect(200)
                .body,
            "members",
        )
    }

    /// A snapshot of stored state for "a rejected request changes nothing": the number of
    /// change records of `acme` and the exact body (and ETag) of a GET of `path`.
    pub async fn snapshot(&self, path: &str) -> (usize, String, Option<String>) {
        let r = self.get(path).await;
        let etag = r.header("etag").map(str::to_string);
        (self.change_count().await, r.text, etag)
    }

    /// Asserts that `acme`'s state is still `before` (see [`TestServer::snapshot`]).
    #[track_caller]
    pub fn assert_unchanged<'a>(
        &'a self,
        path: &'a str,
        before: &'a (usize, String, Option<String>),
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let after = self.snapshot(path).await;
            assert_eq!(
                &after, before,
                "state of {path} changed (checked at {caller})"
            );
        }
    }

    /// Sends a request to `globex` with its own token.
    pub async fn globex(&self, method: Method, path: String, body: Option<Value>) -> Reply {
        self.call_as(&self.other_token, "globex", method, &path, body, &[])
            .await
    }

    /// The store id of a tenant.
    pub async fn tenant_id(&self, name: &str) -> i64 {
        self.store
            .tenant(name)
            .await
            .expect("tenant")
            .expect("tenant exists")
            .id
    }

    /// Creates `n` users `{prefix}{i:04}` in `acme` straight through the store (for large
    /// data sets; the HTTP path is covered elsewhere) and returns their ids in order.
    pub async fn seed_users(&self, prefix: &str, n: usize) -> Vec<String> {
        let tenant = self.tenant_id("acme").await;
        let actor = scim_store::Actor::default();
        let mut ids = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let writes = chunk.iter().map(|i| {
                let data = serde_json::json!({"schemas": [USER_SCHEMA], "userName": format!("{prefix}{i:04}")});
                let Value::Object(data) = data else { unreachable!() };
                self.store.create(tenant, "User", data, Vec::new(), &actor)
            });
            for r in futures_util::future::join_all(writes).await {
                ids.push(r.expect("seed user").id);
            }
        }
        ids
    }
}

impl TestServer {
    /// Creates an `acme` group `display_name` with `n` members straight through the store,
    /// their ids `{prefix}-{i:07}` (ids that are not resources are kept as sent, as for an
    /// identity provider's failed user push): large groups without creating their users.
    pub async fn seed_group(&self, display_name: &str, prefix: &str, n: usize) -> String {
        let tenant = self.tenant_id("acme").await;
        let members = (0..n)
            .map(|i| scim_store::MemberRef {
                value: format!("{prefix}-{i:07}"),
                kind: Some("User".into()),
                display: None,
            })
            .collect();
        let data = serde_json::json!({"schemas": [GROUP_SCHEMA], "displayName": display_name});
        let Value::Object(data) = data else {
            unreachable!()
        };
        self.store
            .create(
                tenant,
                "Group",
                data,
                members,
                &scim_store::Actor::default(),
            )
            .await
            .expect("seed group")
            .id
    }
}
