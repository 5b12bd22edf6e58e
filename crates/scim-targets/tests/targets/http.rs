//! The HTTP target against a real HTTP server started by the test (an application API
//! that fails some requests): transient failures are retried at the same event, a
//! permanent failure parks the event and its resource's later events while other
//! resources go on, a retry after the fix applies them in order, and an endpoint that
//! keeps failing pauses the target with its place kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_store::sqlite::SqliteStore;
use scim_store::{Actor, DeleteMode, Store, TargetStates};
use scim_targets::{Applier, RetryPolicy, RunMode, Stopped, load_target, retry_parked};
use serde_json::{Map, Value, json};

#[derive(Default)]
struct Api {
    /// Successful requests, in order: "POST alice", "DELETE <id>".
    log: Vec<String>,
    /// Attempts per login.
    attempts: HashMap<String, u32>,
    /// Logins refused with 422 (a validation error of the application).
    refuse: Vec<String>,
    /// Answer every request 503.
    down: bool,
    headers: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Api>>;

async fn create(
    State(api): State<Shared>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> StatusCode {
    let mut api = api.lock().unwrap();
    let login = body["login"].as_str().unwrap_or_default().to_string();
    let n = {
        let n = api.attempts.entry(login.clone()).or_default();
        *n += 1;
        *n
    };
    if api.down {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    // alice's first two attempts meet an overloaded API.
    if login.starts_with("alice") && n <= 2 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if api.refuse.contains(&login) {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    api.headers.push((auth, key));
    assert_eq!(body["active"], json!(true), "{}", *body);
    api.log.push(format!("POST {login}"));
    StatusCode::CREATED
}

async fn remove(State(api): State<Shared>, Path(id): Path<String>) -> StatusCode {
    let mut api = api.lock().unwrap();
    if api.down {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    api.log.push(format!("DELETE {id}"));
    StatusCode::NO_CONTENT
}

async fn start_api() -> (String, Shared) {
    let api: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/api/accounts", post(create))
        .route("/api/accounts/{id}", delete(remove))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), api)
}

fn target_file(base: &str, secret: &std::path::Path) -> String {
    let secret = secret.display();
    format!(
        r#"name = "accounts-api"
kind = "http"
tenant = "acme"
base_url = "{base}"
timeout_seconds = 5

[secrets]
token = {{ file = "{secret}" }}

[headers]
Authorization = "Bearer {{secret.token}}"
Idempotency-Key = "{{event.id}}"

[events."user.created"]
method = "POST"
url = "/api/accounts"
body = {{ login = "{{userName}}", active = "{{active | default(true)}}", scim_id = "{{id}}", tags = ["scim", "{{tenant}}"] }}

[events."user.deleted"]
method = "DELETE"
url = "/api/accounts/{{id}}"
"#
    )
}

fn user(name: &str) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
    }) else {
        unreachable!()
    };
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_target_retries_parks_and_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(SchemaRegistry::builtin().unwrap());
    let sqlite = SqliteStore::open(&dir.path().join("scim.db"), &registry).unwrap();
    let states: Arc<dyn TargetStates> = Arc::new(sqlite.clone());
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let tenant = store
        .create_tenant("acme", DeleteMode::Hard, 30)
        .await
        .unwrap();
    let actor = Actor::default();

    let (base, api) = start_api().await;
    let file = dir.path().join("accounts.toml");
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::write(&file, target_file(&base, &secret)).unwrap();
    let configured = load_target(&file, &registry).await.unwrap();
    let target = configured.target.clone();
    let policy = RetryPolicy {
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
        pause_after: 5,
    };
    let feed = Feed::new(store.clone(), registry.clone(), "http://scim.test");
    let applier = Applier::new(target.clone(), states.clone(), feed, tenant.clone(), policy);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);

    api.lock().unwrap().refuse.push("reject@example.com".into());
    let alice = store
        .create(tenant.id, "User", user("alice@example.com"), vec![], &actor)
        .await
        .unwrap();
    let reject = store
        .create(
            tenant.id,
            "User",
            user("reject@example.com"),
            vec![],
            &actor,
        )
        .await
        .unwrap();
    let bob = store
        .create(tenant.id, "User", user("bob@example.com"), vec![], &actor)
        .await
        .unwrap();
    store
        .delete(tenant.id, "User", &reject.id, None, &actor)
        .await
        .unwrap();
    store
        .delete(tenant.id, "User", &bob.id, None, &actor)
        .await
        .unwrap();

    let (stopped, progress) = applier
        .run(RunMode::UntilCaughtUp, stop_rx.clone())
        .await
        .unwrap();
    assert_eq!(stopped, Stopped::CaughtUp);
    assert_eq!((progress.applied, progress.parked), (3, 2), "{progress:?}");
    {
        let api = api.lock().unwrap();
        assert_eq!(
            api.log,
            vec![
                "POST alice@example.com".to_string(),
                "POST bob@example.com".into(),
                format!("DELETE {}", bob.id),
            ]
        );
        assert_eq!(
            api.attempts["alice@example.com"], 3,
            "two 503s, then a success"
        );
        assert_eq!(
            api.attempts["reject@example.com"], 1,
            "a 422 is not retried"
        );
        for (auth, key) in &api.headers {
            assert_eq!(auth, "Bearer s3cret");
            assert!(key.starts_with("evt_"), "{key}");
        }
    }
    let parked = states
        .parked_events("accounts-api", tenant.id)
        .await
        .unwrap();
    assert_eq!(parked.len(), 2);
    assert!(parked.iter().all(|p| p.resource_id == reject.id));
    assert!(parked[0].error.contains("422"), "{}", parked[0].error);
    assert!(
        parked[1].error.contains("waits behind"),
        "{}",
        parked[1].error
    );
    let status = states
        .target_status("accounts-api", tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.position, store.change_head(tenant.id).await.unwrap());
    assert_eq!(status.failures, 0);
    assert!(status.paused.is_none());

    // The application is fixed; a retry applies the parked create, then the delete.
    api.lock().unwrap().refuse.clear();
    let report = retry_parked(target.as_ref(), states.as_ref(), &tenant, None)
        .await
        .unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert!(report.still_parked.is_empty());
    assert!(
        states
            .parked_events("accounts-api", tenant.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        api.lock().unwrap().log[3..],
        [
            "POST reject@example.com".to_string(),
            format!("DELETE {}", reject.id)
        ]
    );

    // An API that keeps failing pauses the target with its place kept.
    api.lock().unwrap().down = true;
    let before = states
        .target_status("accounts-api", tenant.id)
        .await
        .unwrap()
        .unwrap()
        .position;
    store
        .create(tenant.id, "User", user("carol@example.com"), vec![], &actor)
        .await
        .unwrap();
    let (stopped, _) = applier
        .run(RunMode::UntilCaughtUp, stop_rx.clone())
        .await
        .unwrap();
    assert_eq!(stopped, Stopped::Paused);
    let mut status = states
        .target_status("accounts-api", tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.position, before, "the place is kept");
    assert_eq!(status.failures, 5);
    assert!(status.paused.is_some());
    assert!(
        status.last_error.as_deref().unwrap_or("").contains("503"),
        "{status:?}"
    );
    // Still paused: nothing is tried.
    let (stopped, _) = applier
        .run(RunMode::UntilCaughtUp, stop_rx.clone())
        .await
        .unwrap();
    assert_eq!(stopped, Stopped::Paused);
    assert_eq!(api.lock().unwrap().attempts["carol@example.com"], 5);

    // Resumed after the fix: it goes on from its place.
    api.lock().unwrap().down = false;
    status.paused = None;
    status.failures = 0;
    states.save_target_status(&status).await.unwrap();
    let (stopped, progress) = applier.run(RunMode::UntilCaughtUp, stop_rx).await.unwrap();
    assert_eq!(stopped, Stopped::CaughtUp);
    assert_eq!(progress.applied, 1);
    assert_eq!(
        api.lock().unwrap().log.last().unwrap(),
        "POST carol@example.com"
    );
    let _ = alice;
}

#[tokio::test]
async fn http_target_files_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let registry = SchemaRegistry::builtin().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "x").unwrap();
    let good = target_file("http://127.0.0.1:9", &secret);
    let cases = [
        (
            "\"{userName}\"",
            "\"{userNme}\"",
            "'userNme' is neither an attribute",
        ),
        (
            "Bearer {secret.token}",
            "Bearer {secret.tokn}",
            "no secret 'tokn'",
        ),
        (
            "url = \"/api/accounts/{id}\"",
            "url = \"/api/accounts/{secret.token}\"",
            "secrets may only be used in headers",
        ),
        (
            "[events.\"user.deleted\"]",
            "[events.\"user.removed\"]",
            "no such event type",
        ),
        (
            "file = ",
            "env = \"NO_SUCH_VARIABLE_HERE\", unused = ",
            "unknown field `unused`",
        ),
        (
            "url = \"/api/accounts\"",
            "url = \"/api/{accounts\"",
            "unclosed",
        ),
    ];
    for (from, to, reason) in cases {
        let text = good.replace(from, to);
        assert_ne!(text, good, "{from}");
        let line = text.lines().position(|l| l.contains(to)).unwrap() + 1;
        let file = dir.path().join("t.toml");
        std::fs::write(&file, &text).unwrap();
        match load_target(&file, &registry).await {
            Ok(_) => panic!("accepted: {to}"),
            Err(e) => {
                assert_eq!(e.file, file.display().to_string());
                assert_eq!(e.line, line, "{to}: {e}");
                assert!(e.reason.contains(reason), "{to}: {e}");
            }
        }
    }
}
