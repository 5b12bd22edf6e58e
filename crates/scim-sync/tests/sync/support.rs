//! A real `scim` server per test (in-process, real HTTP on 127.0.0.1:0), on SQLite or on
//! PostgreSQL, with two tenants: `acme` and `globex`.

use std::sync::Arc;

use scim_client::{Client, ClientConfig};
use scim_core::schema::SchemaRegistry;
use scim_server::{AppState, ServerConfig};
use scim_store::sqlite::SqliteStore;
use scim_store::{DeleteMode, Store};
use tokio::sync::oneshot;

/// Runs each listed test once per storage backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Server::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // SKIPPED (said on stderr) without a PostgreSQL server; in CI a failure.
                    let Some(server) = $crate::support::Server::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(server).await
                }
            )*
        }
    };
}

pub struct Server {
    pub url: String,
    pub store: Arc<dyn Store>,
    pub acme_token: String,
    pub globex_token: String,
    pub dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    _pg: Option<scim_store::postgres::testing::TestDatabase>,
}

impl Server {
    pub async fn sqlite() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Arc::new(SchemaRegistry::builtin().expect("schemas"));
        let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).expect("store");
        Self::start(Arc::new(store), registry, dir, None).await
    }

    pub async fn postgres(test: &str) -> Option<Server> {
        let db = scim_store::postgres::testing::TestDatabase::create(&format!("sync_{test}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))?;
        let registry = Arc::new(SchemaRegistry::builtin().expect("schemas"));
        let store = db.store(&registry).await.expect("store");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Self::start(Arc::new(store), registry, dir, Some(db)).await)
    }

    async fn start(
        store: Arc<dyn Store>,
        registry: Arc<SchemaRegistry>,
        dir: tempfile::TempDir,
        pg: Option<scim_store::postgres::testing::TestDatabase>,
    ) -> Server {
        let acme = store
            .create_tenant("acme", DeleteMode::Hard, 30)
            .await
            .expect("tenant");
        let globex = store
            .create_tenant("globex", DeleteMode::Hard, 30)
            .await
            .expect("tenant");
        let (_, acme_token) = store
            .create_token(acme.id, "sync", None)
            .await
            .expect("token");
        let (_, globex_token) = store
            .create_token(globex.id, "sync", None)
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
        // Tenants without a limit of their own are not paced here: the cases about rate
        // limits set globex's (`limit_globex`). At the server's default (3,000/min, a burst
        // of 1,000) a 2,000-user source is paced for tens of seconds (it once spent up to
        // 12 minutes: refused Bulk attempts lost the units their size took, since kept as
        // the tenant's credit; `limits_large_bulk_requests_retried_together_are_all_admitted`).
        config.throttle.default_rate_per_minute = 6_000_000;
        config.throttle.default_burst = 100_000;
        let state = AppState::new(store.clone(), registry, config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(scim_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            url,
            store,
            acme_token,
            globex_token,
            dir,
            _stop: stop,
            _pg: pg,
        }
    }

    pub fn client(&self, tenant: &str) -> Client {
        let token = if tenant == "acme" {
            &self.acme_token
        } else {
            &self.globex_token
        };
        Client::new(ClientConfig::new(
            format!("{}/scim/v2/{tenant}", self.url),
            Some(token.clone()),
        ))
        .expect("client")
    }

    pub fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}
