//! `/metrics` of the real binary after real traffic, parsed by a Prometheus text parser
//! (`prometheus-parse`), on SQLite and PostgreSQL: requests by tenant, endpoint kind,
//! method and status class, latency histograms, 429s per tenant, refused tokens, store
//! writes and commits, SQLite's writer queue or PostgreSQL's pool, webhook delivery to a
//! real receiver; the tenant label budget; who may read it (admin token on the main
//! listener, none on `--metrics-listen`).

use std::time::Duration;

use prometheus_parse::{Scrape, Value as Prom};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{Server, USER_SCHEMA, eventually, run, tenant_and_token, test_database};

fn admin_token(database_url: &str) -> String {
    run(&[
        "admin-token",
        "create",
        "--name",
        "prometheus",
        "--database-url",
        database_url,
    ])
    .split_whitespace()
    .find(|w| w.starts_with("scimadm_"))
    .expect("admin token printed")
    .to_string()
}

fn second_tenant(database_url: &str) -> String {
    run(&["tenant", "create", "beta", "--database-url", database_url]);
    let out = run(&[
        "token",
        "create",
        "--tenant",
        "beta",
        "--name",
        "idp",
        "--database-url",
        database_url,
    ]);
    crate::support::token_in(&out).expect("token printed")
}

/// A webhook receiver answering 204 to every POST (plain HTTP/1.1 over TCP, keep-alive).
async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/hook")
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

/// The sum of the samples named `name` whose labels include `labels` (a histogram counts
/// its observations).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Prom::Counter(v) | Prom::Gauge(v) | Prom::Untyped(v) => *v,
            Prom::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Prom::Summary(_) => panic!("{name} is a summary, not a histogram"),
        })
        .sum()
}

fn present(scrape: &Scrape, name: &str) -> bool {
    scrape.samples.iter().any(|s| s.metric == name)
}

async fn scrape(url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().get(format!("{url}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn run_traffic_and_check(database_url: &str, backend: &str, extra: &[&str]) {
    let acme = tenant_and_token(database_url);
    let beta = second_tenant(database_url);
    let admin = admin_token(database_url);
    let hook = receiver().await;
    run(&[
        "webhook",
        "add",
        "--tenant",
        "acme",
        "--url",
        &hook,
        "--allow-private",
        "--database-url",
        database_url,
    ]);
    let mut args = vec![
        "--database-url",
        database_url,
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-tenant-labels",
        "1",
        "--allow-private-webhooks",
        "--rate-limit",
        "1/m",
        "--rate-burst",
        "12",
    ];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let metrics_url = {
        let out = server.output.lock().unwrap().clone();
        let line = out
            .lines()
            .find(|l| l.contains("metrics_listen"))
            .expect("the metrics listener is logged");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        format!("http://{}", v["fields"]["metrics_listen"].as_str().unwrap())
    };
    let http = reqwest::Client::new();
    let users = |tenant: &str| format!("{}/scim/v2/{tenant}/Users", server.url);

    // acme: 3 creates, 1 list, 1 GET of an unknown id (404).
    for i in 0..3 {
        let r = http
            .post(users("acme"))
            .bearer_auth(&acme)
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": [USER_SCHEMA], "userName": format!("u{i}")}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = http
        .get(users("acme"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/nope", users("acme")))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // beta: over the budget of one tenant label.
    let r = http
        .get(users("beta"))
        .bearer_auth(&beta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two refused tokens, and a request without one.
    for _ in 0..2 {
        let r = http
            .get(users("acme"))
            .bearer_auth("scim_0000000000000000_nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = http.get(users("acme")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // acme past its burst of 12 (5 used): GETs until two are refused.
    let (mut ok, mut limited) = (0, 0);
    while limited < 2 {
        let r = http
            .get(users("acme"))
            .bearer_auth(&acme)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("unexpected {s}"),
        }
        assert!(ok < 100, "the rate limit never applied");
    }

    // Who may read it.
    assert_eq!(scrape(&server.url, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&server.url, Some(&acme)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, text) = scrape(&server.url, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let with_token = parse(&text);
    assert!(
        value(
            &with_token,
            "scim_http_requests_total",
            &[("tenant", "acme")]
        ) >= 8.0
    );

    // The webhook receiver acknowledged the three creations.
    eventually("the events delivered", Duration::from_secs(60), || {
        let url = metrics_url.clone();
        async move {
            let s = parse(&scrape(&url, None).await.1);
            value(&s, "scim_delivery_events_total", &[("kind", "webhook")]) >= 3.0
        }
    })
    .await;

    let (status, text) = scrape(&metrics_url, None).await;
    assert_eq!(status, StatusCode::OK);
    let s = parse(&text);
    let req = |tenant: &str, method: &str, status: &str| {
        value(
            &s,
            "scim_http_requests_total",
            &[
                ("tenant", tenant),
                ("endpoint", "Users"),
                ("method", method),
                ("status", status),
            ],
        )
    };
    assert_eq!(req("acme", "POST", "2xx"), 3.0, "{text}");
    assert_eq!(req("acme", "GET", "2xx"), f64::from(1 + ok), "{text}");
    assert_eq!(req("acme", "GET", "4xx"), f64::from(1 + limited), "{text}");
    assert_eq!(
        req("_other", "GET", "2xx"),
        1.0,
        "beta is over the budget: {text}"
    );
    assert_eq!(
        value(&s, "scim_http_requests_total", &[("tenant", "beta")]),
        0.0
    );
    assert_eq!(
        req("-", "GET", "4xx"),
        3.0,
        "refused tokens have no tenant: {text}"
    );
    assert_eq!(
        value(
            &s,
            "scim_http_request_duration_seconds_count",
            &[("endpoint", "Users"), ("method", "POST")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "scim_http_request_duration_seconds",
            &[("endpoint", "Users"), ("method", "POST")]
        ),
        3.0,
        "the histogram's +Inf bucket"
    );
    assert_eq!(
        value(&s, "scim_rate_limited_total", &[("tenant", "acme")]),
        f64::from(limited)
    );
    assert_eq!(
        value(&s, "scim_auth_failures_total", &[("reason", "invalid")]),
        2.0
    );
    assert_eq!(
        value(&s, "scim_auth_failures_total", &[("reason", "missing")]),
        1.0
    );
    let b = [("backend", backend)];
    assert!(
        value(&s, "scim_store_write_seconds_count", &b) >= 3.0,
        "{text}"
    );
    assert!(
        value(&s, "scim_store_commit_seconds_count", &b) >= 1.0,
        "{text}"
    );
    assert!(
        value(&s, "scim_store_commit_batch_size_sum", &b) >= 3.0,
        "{text}"
    );
    assert_eq!(
        value(&s, "scim_delivery_events_total", &[("kind", "webhook")]),
        3.0
    );
    assert_eq!(value(&s, "scim_delivery_failures_total", &[]), 0.0);
    assert!(present(&s, "scim_delivery_lag_seconds"), "{text}");
    dashboard_names_metrics_that_exist(&s, backend);
    if backend == "sqlite" {
        assert_eq!(
            value(&s, "scim_store_writer_queue_depth", &[]),
            0.0,
            "{text}"
        );
    } else {
        assert_eq!(
            value(&s, "scim_store_pool_max_connections", &[]),
            16.0,
            "{text}"
        );
        let open = value(&s, "scim_store_pool_connections", &[("state", "in_use")])
            + value(&s, "scim_store_pool_connections", &[("state", "idle")]);
        assert!(open >= 1.0, "{text}");
    }
}

/// Every metric a query of the Grafana dashboard (docs/grafana/scim.json) names is in the
/// scrape, except those of the other backend and of connector targets (none here).
fn dashboard_names_metrics_that_exist(s: &Scrape, backend: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana/scim.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 10, "the dashboard has its panels");
    let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
    for sample in &s.samples {
        known.insert(sample.metric.clone());
        if matches!(sample.value, Prom::Histogram(_)) {
            known.insert(format!("{}_bucket", sample.metric));
        }
    }
    let elsewhere: &[&str] = match backend {
        "sqlite" => &[
            "scim_store_pool_connections",
            "scim_store_pool_max_connections",
        ],
        _ => &["scim_store_writer_queue_depth"],
    };
    let mut named = 0;
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("scim_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            named += 1;
            if name == "scim_target_lag_seconds" || elsewhere.contains(&name.as_str()) {
                continue;
            }
            assert!(
                known.contains(&name),
                "the dashboard's `{expr}` names {name}, which /metrics does not have"
            );
        }
    }
    assert!(named >= exprs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_real_traffic_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/scim.db", dir.path().display());
    run_traffic_and_check(&url, "sqlite", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_real_traffic_postgres() {
    let Some(db) = test_database("metrics_after_real_traffic_postgres").await else {
        return;
    };
    run_traffic_and_check(&db.url, "postgres", &[]).await;
}
