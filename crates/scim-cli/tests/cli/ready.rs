//! `/ready` against `/health`: with the database cut, the instance is alive but not ready
//! (503), and ready again when the database comes back, without a restart.

use crate::support::{Proxy, Server, eventually, tenant_and_token, test_database};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_database_while_health_stays_up() {
    let Some(db) = test_database("ready_follows_the_database_while_health_stays_up").await else {
        return;
    };
    let Some(target) = db.tcp_address() else {
        eprintln!("SKIPPED: the test database is not reached over TCP");
        return;
    };
    tenant_and_token(&db.url);
    let proxy = Proxy::start(target).await;
    let via_proxy = db.url_via(&proxy.addr.to_string());
    let server = Server::start(&[
        "--database-url",
        &via_proxy,
        "--database-connect-timeout",
        "1",
        "--database-acquire-timeout",
        "1",
    ]);
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let (http, url) = (http.clone(), server.url.clone());
        async move {
            let r = http.get(format!("{url}{path}")).send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body)
        }
    };
    let (status, body) = get("/ready").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    proxy.cut().await;
    let (status, body) = get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(get("/health").await.0, 200, "alive all the same");
    proxy.restore().await;
    eventually(
        "ready again",
        std::time::Duration::from_secs(20),
        || async { get("/ready").await.0 == 200 },
    )
    .await;
}
