//! The database going away under a running server: 503 with Retry-After and a SCIM error,
//! never a 2xx for a write that did not commit, and recovery without a restart.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::support::{Client, Proxy, Server, eventually, tenant_and_token, test_database};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_gives_503_and_the_server_recovers_by_itself() {
    let Some(db) =
        test_database("a_cut_database_gives_503_and_the_server_recovers_by_itself").await
    else {
        return;
    };
    let Some(target) = db.tcp_address() else {
        eprintln!("SKIPPED: the test database is not reached over TCP");
        return;
    };
    let token = tenant_and_token(&db.url);
    let proxy = Proxy::start(target).await;
    let via_proxy = db.url_via(&proxy.addr.to_string());
    let mut server = Server::start(&[
        "--database-url",
        &via_proxy,
        "--database-max-connections",
        "4",
        "--database-connect-timeout",
        "2",
    ]);
    let (pid, url) = (server.pid(), server.url.clone());
    let client = Client::new(&token);
    let id = client
        .create_user(&url, "before.cut")
        .await
        .expect(201)
        .id();
    let path = format!("/Users/{id}");

    // Down: reads, writes and authentication all answer 503 with Retry-After.
    proxy.cut().await;
    for i in 0..5 {
        client.get(&url, &path).await.expect_unavailable();
        client
            .get(&url, "/Users?filter=userName%20eq%20%22before.cut%22")
            .await
            .expect_unavailable();
        client
            .create_user(&url, &format!("during.cut{i}"))
            .await
            .expect_unavailable();
        let ops = json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]);
        client
            .patch(&url, &path, ops, None)
            .await
            .expect_unavailable();
        client
            .call(&url, Method::DELETE, &path, None, &[])
            .await
            .expect_unavailable();
    }

    // Back: the same process answers again, and none of the refused writes happened.
    proxy.restore().await;
    eventually(
        "the server serves again",
        Duration::from_secs(20),
        || async { client.get(&url, &path).await.status == 200 },
    )
    .await;
    assert!(server.alive());
    assert_eq!(server.pid(), pid);
    let user = client.get(&url, &path).await.expect(200);
    assert_eq!(user.body["meta"]["version"], "W/\"1\"");
    assert!(user.body.get("title").is_none());
    assert_eq!(
        client
            .count(&url, "Users", "userName sw \"during.cut\"")
            .await,
        0
    );
    client.create_user(&url, "after.cut").await.expect(201);

    // Cut in the middle of a burst of writes: every write answered 2xx committed; the
    // others are 503 (their outcome unknown to the client, which may retry).
    let burst = (0..40).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            (i, client.create_user(&url, &format!("burst{i:02}")).await)
        }
    });
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.cut().await;
    };
    let (replies, ()) = tokio::join!(join_all(burst), cutter);
    proxy.restore().await;
    eventually(
        "the server serves again",
        Duration::from_secs(20),
        || async { client.get(&url, &path).await.status == 200 },
    )
    .await;
    let mut acknowledged = 0;
    for (i, r) in &replies {
        let name = format!("burst{i:02}");
        let stored = client
            .count(&url, "Users", &format!("userName eq \"{name}\""))
            .await;
        match r.status.as_u16() {
            201 => {
                acknowledged += 1;
                assert_eq!(stored, 1, "{name} was acknowledged but is not stored");
            }
            _ => {
                r.clone().expect_unavailable();
            }
        }
    }
    assert!(
        acknowledged > 0,
        "some writes should have happened before the cut"
    );
    assert!(
        acknowledged < 40,
        "some writes should have met the cut: {:?}",
        replies
            .iter()
            .map(|(_, r)| r.status.as_u16())
            .collect::<Vec<_>>()
    );
    assert!(server.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_shutdown_of_sessions_is_survived() {
    let Some(db) = test_database("an_administrator_shutdown_of_sessions_is_survived").await else {
        return;
    };
    let token = tenant_and_token(&db.url);
    let server = Server::start(&["--database-url", &db.url, "--database-max-connections", "4"]);
    let client = Client::new(&token);
    for round in 0..3 {
        // Fill the pool with connections, then end every session (SQLSTATE 57P01).
        let warm = (0..8).map(|i| {
            let (client, url) = (client.clone(), server.url.clone());
            async move { client.create_user(&url, &format!("r{round}u{i}")).await }
        });
        for r in join_all(warm).await {
            r.expect(201);
        }
        let ended = db.terminate_connections().await.unwrap();
        assert!(ended > 0, "the server had sessions to end");
        // Requests on ended sessions answer 503 (never 2xx for a lost write) until the
        // pool has reconnected, which it does by itself.
        let mut ok = 0;
        for i in 0..20 {
            let r = client
                .create_user(&server.url, &format!("r{round}after{i}"))
                .await;
            if r.status == 201 {
                ok += 1;
            } else {
                r.expect_unavailable();
            }
        }
        assert!(
            ok >= 15,
            "round {round}: only {ok} of 20 writes succeeded after the sessions ended"
        );
    }
    let total = client
        .count(&server.url, "Users", "userName sw \"r\"")
        .await;
    assert!(total >= 3 * (8 + 15));
}
