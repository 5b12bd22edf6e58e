//! The harness: a store with a tenant, the engine running over it, and a scripted HTTP
//! receiver that records every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_delivery::push::{DeliveryEngine, EngineOptions, HttpOptions, RetryPolicy};
use scim_store::postgres::testing::TestDatabase;
use scim_store::sqlite::SqliteStore;
use scim_store::{Actor, DeleteMode, Store, StoredResource, Tenant, Update};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

/// Runs each listed test once per backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Fixture::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = $crate::support::Fixture::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(f).await
                }
            )*
        }
    };
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub feed: Feed,
    pub tenant: Tenant,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
    stop: Option<watch::Sender<bool>>,
    engine: Option<tokio::task::JoinHandle<()>>,
}

fn registry() -> Arc<SchemaRegistry> {
    Arc::new(SchemaRegistry::builtin().unwrap())
}

/// Short waits, so that tests of retries take little time.
pub fn options() -> EngineOptions {
    EngineOptions {
        lease_ttl: Duration::from_secs(3),
        rescan: Duration::from_millis(100),
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
            pause_after: Duration::from_secs(3600),
        },
        http: HttpOptions {
            timeout: Duration::from_secs(5),
            allow_private: true,
        },
        ..EngineOptions::default()
    }
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry();
        let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).unwrap();
        Self::with(Arc::new(store), registry, Some(dir), None).await
    }

    pub async fn postgres(test: &str) -> Option<Fixture> {
        let db = TestDatabase::create(test)
            .await
            .unwrap_or_else(|e| panic!("{e}"))?;
        let registry = registry();
        let store = db.store(&registry).await.unwrap();
        Some(Self::with(Arc::new(store), registry, None, Some(db)).await)
    }

    async fn with(
        store: Arc<dyn Store>,
        registry: Arc<SchemaRegistry>,
        dir: Option<tempfile::TempDir>,
        db: Option<TestDatabase>,
    ) -> Fixture {
        let name = format!("t{:08x}", rand::random::<u32>());
        let tenant = store
            .create_tenant(&name, DeleteMode::Hard, 30)
            .await
            .unwrap();
        let feed = Feed::new(store.clone(), registry, "http://scim.test");
        Fixture {
            store,
            feed,
            tenant,
            _dir: dir,
            _db: db,
            stop: None,
            engine: None,
        }
    }

    /// Starts the engine with these options.
    pub fn start(&mut self, options: EngineOptions) {
        let (stop, rx) = watch::channel(false);
        let engine = DeliveryEngine::new(self.feed.clone(), options).unwrap();
        self.engine = Some(engine.spawn(rx));
        self.stop = Some(stop);
    }

    /// Stops the engine gracefully.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(e) = self.engine.take() {
            tokio::time::timeout(Duration::from_secs(20), e)
                .await
                .expect("the engine stops")
                .unwrap();
        }
    }

    /// A feed read in a task of its own, as a long-polling consumer makes it; its page
    /// with [`answered`].
    pub fn long_poll(
        &self,
        request: scim_delivery::FeedRequest,
    ) -> tokio::task::JoinHandle<Result<scim_delivery::FeedPage, scim_delivery::DeliveryError>>
    {
        let (feed, tenant) = (self.feed.clone(), self.tenant.clone());
        tokio::spawn(async move { feed.read(&tenant, &request).await })
    }

    pub async fn user(&self, user_name: &str) -> StoredResource {
        let data = obj(json!({"schemas": [USER_SCHEMA], "userName": user_name, "active": true}));
        self.store
            .create(self.tenant.id, "User", data, vec![], &actor())
            .await
            .unwrap()
    }

    pub async fn deactivate(&self, id: &str) {
        let update = scim_store::UpdateFn::new(|current: &StoredResource| {
            let mut data = current.data.clone();
            data.insert("active".into(), Value::Bool(false));
            Ok(Update {
                data,
                changed: vec!["active".into()],
                ..Update::default()
            })
        });
        self.store
            .update(
                self.tenant.id,
                "User",
                id,
                None,
                "patch",
                update,
                false,
                &actor(),
            )
            .await
            .unwrap();
    }

    /// Every event of the tenant (id, position, type), in order.
    pub async fn events(&self) -> Vec<(String, i64, String)> {
        let request = scim_delivery::FeedRequest {
            after: 0,
            limit: 1000,
            wait: Duration::ZERO,
            filter: scim_delivery::EventFilter::all(),
        };
        self.feed
            .read(&self.tenant, &request)
            .await
            .unwrap()
            .events
            .into_iter()
            .map(|e| (e.id.clone(), e.position, e.event_type.to_string()))
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            e.abort();
        }
    }
}

/// The operator of destination changes, as the management audit log names it.
pub fn operator() -> scim_store::manage::AuditActor {
    scim_store::manage::AuditActor {
        name: "tests".into(),
        ..Default::default()
    }
}

pub fn actor() -> Actor {
    Actor {
        token_id: Some("t1".into()),
        token_name: Some("okta".into()),
        request_id: Some("req-1".into()),
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Answers to give first (status, Retry-After), then `otherwise`.
    script: VecDeque<(u16, Option<&'static str>)>,
    otherwise: u16,
    received: Vec<Received>,
}

/// A real HTTP receiver on 127.0.0.1 that answers as scripted and records every request.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let (status, retry_after) = s.script.pop_front().unwrap_or((s.otherwise, None));
    s.received.push(Received {
        at: Instant::now(),
        headers,
        body,
        status,
    });
    let mut r = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(ra) = retry_after {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static(ra));
    }
    r
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            otherwise: 204,
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, state }
    }

    /// Answers these first.
    pub fn script(&self, answers: &[(u16, Option<&'static str>)]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().copied());
    }

    /// Answers this once the script is done.
    pub fn otherwise(&self, status: u16) {
        self.state.lock().unwrap().otherwise = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The ids acknowledged (2xx), first acknowledgement of each, in order.
    pub fn acknowledged(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(|r| r.header("webhook-id").to_string())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }
}

/// Polls `f` until it is true or the time is up.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within {within:?}");
}

/// The page of a [`Fixture::long_poll`], within 20 s.
pub async fn answered(
    poll: tokio::task::JoinHandle<Result<scim_delivery::FeedPage, scim_delivery::DeliveryError>>,
) -> scim_delivery::FeedPage {
    tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("the long poll answers")
        .unwrap()
        .unwrap()
}
