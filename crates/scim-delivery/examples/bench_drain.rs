//! Benchmark: how fast one webhook endpoint drains a backlog to a local receiver that
//! answers at once.
//!
//! Seeds `--events` user creations into a fresh store (SQLite in a temporary directory, or
//! `--database-url postgres://…` — a database of its own, it is filled), adds one endpoint
//! (`--batch` events per POST), starts the delivery engine and times until the receiver —
//! an HTTP server in this process, over loopback — has acknowledged every event, checking
//! order and signatures as it goes. Prints events/s and the process's peak memory.
//!
//!     cargo run --release -p scim-delivery --example bench_drain -- --events 100000 --batch 1
//!     cargo run --release -p scim-delivery --example bench_drain -- --events 1000000 --batch 100
//!
//! Wall-clock figures need a quiet machine (nothing else building); see BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_delivery::push::{
    DeliveryEngine, DestinationSpec, Destinations, EngineOptions, HttpOptions, Start, signing,
};
use scim_store::{Actor, AnyStore, DatabaseUrl, DeleteMode, Store};
use serde_json::{Value, json};

struct Receiver {
    key: std::sync::OnceLock<Vec<u8>>,
    /// The last position acknowledged (in order).
    through: AtomicI64,
    requests: AtomicU64,
    out_of_order: AtomicU64,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.requests.fetch_add(1, Ordering::Relaxed);
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
    let Some(key) = r.key.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    if !signing::verify(key, h("webhook-id"), ts, &body, h("webhook-signature")) {
        return StatusCode::BAD_REQUEST;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let positions: Vec<i64> = match v["type"].as_str() {
        Some("scim.batch") => v["data"]["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["position"].as_i64()).collect())
            .unwrap_or_default(),
        _ => v["position"].as_i64().into_iter().collect(),
    };
    for p in positions {
        let before = r.through.load(Ordering::Relaxed);
        if p == before + 1 {
            r.through.store(p, Ordering::Relaxed);
        } else if p > before + 1 {
            r.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::NO_CONTENT
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let events: i64 = arg("--events").map_or(10_000, |v| v.parse().unwrap());
    let batch: i64 = arg("--batch").map_or(1, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let url = arg("--database-url")
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("scim.db").display()));
    let registry = Arc::new(SchemaRegistry::builtin().unwrap());
    let store = AnyStore::open(
        &DatabaseUrl::parse(&url).unwrap(),
        &registry,
        &Default::default(),
    )
    .await
    .unwrap();
    let store: Arc<dyn Store> = store.shared();
    let tenant = store
        .create_tenant(
            &format!("bench{}", rand::random::<u16>()),
            DeleteMode::Hard,
            30,
        )
        .await
        .unwrap();
    let actor = Actor {
        token_id: None,
        token_name: Some("bench".into()),
        request_id: None,
    };
    let seeding = Instant::now();
    // Many writers at once, so that the store commits them in groups (one at a time, each
    // create would wait for its own fsync: an hour for a million).
    const SEEDERS: i64 = 64;
    let mut seeders = tokio::task::JoinSet::new();
    for w in 0..SEEDERS {
        let (store, actor, tenant_id) = (store.clone(), actor.clone(), tenant.id);
        seeders.spawn(async move {
            let mut i = w;
            while i < events {
                let data = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i}@example.com"), "active": true});
                let Value::Object(data) = data else {
                    unreachable!()
                };
                store
                    .create(tenant_id, "User", data, vec![], &actor)
                    .await
                    .unwrap();
                i += SEEDERS;
            }
        });
    }
    while let Some(done) = seeders.join_next().await {
        done.unwrap();
    }
    eprintln!("seeded {events} events in {:.1?}", seeding.elapsed());

    let receiver = Arc::new(Receiver {
        key: std::sync::OnceLock::new(),
        through: AtomicI64::new(0),
        requests: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let feed = Feed::new(store.clone(), registry, "http://scim.bench");
    let (_, secret) = Destinations::new(store.clone(), true)
        .create_webhook(
            &tenant,
            DestinationSpec {
                url: hook,
                batch_max: Some(batch),
                start: Start::Beginning,
                ..Default::default()
            },
            &scim_store::manage::AuditActor {
                name: "bench".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let _ = receiver.key.set(signing::secret_key(&secret).unwrap());
    let (stop, rx) = tokio::sync::watch::channel(false);
    let engine = DeliveryEngine::new(
        feed,
        EngineOptions {
            rescan: Duration::from_millis(50),
            http: HttpOptions {
                allow_private: true,
                ..HttpOptions::default()
            },
            ..EngineOptions::default()
        },
    )
    .unwrap()
    .spawn(rx);
    let started = Instant::now();
    let head = store.change_head(tenant.id).await.unwrap();
    while receiver.through.load(Ordering::Relaxed) < head {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let _ = stop.send(true);
    let _ = engine.await;
    println!(
        "drained {head} events ({} requests, batch {batch}) in {:.2?}: {:.0} events/s; out of order: {}; peak RSS {} MiB; {}",
        receiver.requests.load(Ordering::Relaxed),
        took,
        head as f64 / took.as_secs_f64(),
        receiver.out_of_order.load(Ordering::Relaxed),
        peak_rss_kib() / 1024,
        store_kind(&url),
    );
}

fn store_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}
