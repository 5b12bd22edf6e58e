//! `scim check` over real HTTP: against the real `scim` server on SQLite and PostgreSQL
//! (every check passes, nothing it did not create is touched, nothing is left behind), and
//! against the peers in /work/shared/peers (scim2-server, and the Node server on scimmy)
//! when they are installed (`/work/shared/peers/setup.sh`), where it reports their real
//! deviations. A peer that is not installed is SKIPPED with a message, except with
//! SCIM_CHECK_PEERS=1, where it is a failure.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use scim_check::{Focus, Status};
use scim_core::schema::SchemaRegistry;
use scim_server::{AppState, ServerConfig};
use scim_store::sqlite::SqliteStore;
use scim_store::{DeleteMode, Store};
use serde_json::json;

async fn serve(
    store: Arc<dyn Store>,
    registry: Arc<SchemaRegistry>,
) -> (String, String, tokio::sync::oneshot::Sender<()>) {
    let t = store
        .create_tenant("acme", DeleteMode::Hard, 30)
        .await
        .unwrap();
    let (_, token) = store.create_token(t.id, "check", None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(
        store,
        registry,
        ServerConfig {
            public_url: url.clone(),
            ..ServerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(scim_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (format!("{url}/scim/v2/acme"), token, stop)
}

async fn all_pass_against_scim(store: Arc<dyn Store>, registry: Arc<SchemaRegistry>) {
    let (base, token, _stop) = serve(store, registry).await;
    let http = reqwest::Client::new();
    // Somebody else's user and group: the checker must leave them alone.
    let theirs = http
        .post(format!("{base}/Users"))
        .bearer_auth(&token)
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "someone@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    let report = scim_check::run(&base, &token).await.unwrap();
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| format!("{} {:?}: {}", r.id, r.status, r.reason))
        .collect();
    assert!(failed.is_empty(), "{}", report.table());
    assert!(
        report.results.len() >= 35,
        "{} checks",
        report.results.len()
    );
    assert!(!report.failed_for(Focus::All));
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);
    let users: serde_json::Value = http
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["totalResults"], 1,
        "only the pre-existing user remains: {users}"
    );
    assert_eq!(users["Resources"][0]["userName"], "someone@example.com");
    let groups: serde_json::Value = http
        .get(format!("{base}/Groups"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups["totalResults"], 0, "{groups}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_sqlite_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(SchemaRegistry::builtin().unwrap());
    let store = SqliteStore::open(&dir.path().join("scim.db"), &registry).unwrap();
    all_pass_against_scim(Arc::new(store), registry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_postgres_passes_every_check() {
    let Some(db) = scim_store::postgres::testing::TestDatabase::create("check_all_pass")
        .await
        .unwrap()
    else {
        return;
    };
    let registry = Arc::new(SchemaRegistry::builtin().unwrap());
    let store = db.store(&registry).await.unwrap();
    all_pass_against_scim(Arc::new(store), registry).await;
}

/// Starts a peer with start.sh of `SCIM_PEERS_DIR` (default /work/shared/peers); `None` (SKIPPED) when not installed.
fn start_peer(peer: &str, port: u16, token: &str) -> Option<u32> {
    let home = std::env::var("PEERS_HOME").unwrap_or_else(|_| "/tmp/scim-peers".into());
    let installed = match peer {
        "scim2-server" => std::path::Path::new(&home)
            .join("venv/bin/scim2-server")
            .exists(),
        _ => std::path::Path::new(&home)
            .join("node/node_modules/scimmy-routers")
            .exists(),
    };
    let script = std::path::PathBuf::from(
        std::env::var("SCIM_PEERS_DIR").unwrap_or_else(|_| "/work/shared/peers".into()),
    )
    .join("start.sh");
    if !installed || !script.exists() {
        if std::env::var("SCIM_CHECK_PEERS").as_deref() == Ok("1") {
            panic!("{peer} is not installed under {home} (run /work/shared/peers/setup.sh)");
        }
        eprintln!(
            "SKIPPED: {peer} is not installed under {home} (run /work/shared/peers/setup.sh)"
        );
        return None;
    }
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(peer)
        .arg(port.to_string())
        .arg(token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{peer} did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

struct Kill(u32);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.0.to_string())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the checker finds in a peer: some checks pass, the real deviations fail with a
/// reason, and the verdicts are printed for the record.
async fn check_peer(peer: &str, base_path: &str) -> Option<scim_check::Report> {
    let port = free_port();
    let token = "scimcheck-peer-token";
    let pid = start_peer(peer, port, token)?;
    let _kill = Kill(pid);
    let report = scim_check::run(&format!("http://127.0.0.1:{port}{base_path}"), token)
        .await
        .unwrap();
    eprintln!("{}", report.table());
    assert!(report.count(Status::Pass) >= 5, "{}", report.table());
    for r in &report.results {
        if r.status != Status::Pass {
            assert!(!r.reason.is_empty(), "{} has no reason", r.id);
        }
    }
    Some(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_server_peer_findings() {
    let Some(report) = check_peer("scim2-server", "/v2").await else {
        return;
    };
    assert!(
        report.failed_for(Focus::All),
        "a peer with no deviations at all? {}",
        report.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scimmy_peer_findings() {
    let Some(report) = check_peer("scimmy", "/scim/v2").await else {
        return;
    };
    assert!(
        report.failed_for(Focus::All),
        "a peer with no deviations at all? {}",
        report.table()
    );
}
