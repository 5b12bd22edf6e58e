//! Event delivery through the real binary: an admin token made with the CLI reads the feed
//! of changes made through SCIM, and a shutdown ends long polls instead of waiting for them.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Server, USER_SCHEMA, run, token_in};

fn admin_token_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("scimadm_"))
        .expect("an admin token is printed")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_tells_changes_and_a_shutdown_ends_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    run(&["migrate", "--data-dir", data]);
    let created = run(&["admin-token", "create", "--name", "app", "--data-dir", data]);
    let admin = admin_token_in(&created);
    let list = run(&["admin-token", "list", "--data-dir", data]);
    assert!(list.contains("app"), "{list}");
    assert!(!list.contains(&admin), "secrets are never listed");
    // A LAST USED column as `token list` has: "never" until the token is used.
    let header = list.lines().next().unwrap();
    assert!(header.contains("LAST USED"), "{list}");
    let row = list.lines().find(|l| l.contains(" app ")).unwrap();
    assert!(row.contains(" never "), "{list}");

    let mut server = Server::start(&["--data-dir", data]);
    let output = server.output.lock().unwrap().clone();
    let token = token_in(&output).expect("bootstrap token");
    let http = reqwest::Client::new();
    let created_user: Value = http
        .post(format!("{}/scim/v2/default/Users", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(
            serde_json::json!({"schemas": [USER_SCHEMA], "userName": "first@example.com"})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created_user["id"].as_str().unwrap().to_string();

    let feed = format!("{}/admin/v1/tenants/default/events", server.url);
    let page: Value = http
        .get(&feed)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"][0]["type"], "user.created");
    assert_eq!(page["events"][0]["data"]["id"], id.as_str());
    assert_eq!(page["events"][0]["actor"]["token"], "bootstrap");
    let next = page["next"].as_i64().unwrap();
    // The bootstrap SCIM token does not open the management API.
    let refused = http.get(&feed).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // The use is recorded off the request's path, to the minute, and listed so
    // (`2026-12-03T12:07Z`, the format of `token list`).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = run(&["admin-token", "list", "--data-dir", data]);
        let row = list
            .lines()
            .find(|l| l.contains(" app "))
            .unwrap()
            .to_string();
        let used: Vec<&str> = row
            .split_whitespace()
            .filter(|w| w.len() == 17 && w.ends_with('Z') && w.as_bytes()[10] == b'T')
            .collect();
        if !row.contains(" never ") {
            assert_eq!(used.len(), 1, "one time to the minute: {row}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "use never listed: {row}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A long poll in flight when the server is asked to stop answers with what it has.
    let waiting = tokio::spawn({
        let (http, admin) = (http.clone(), admin.clone());
        let url = format!("{feed}?after={next}&wait=60");
        async move { http.get(url).bearer_auth(admin).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    // Bounded well below the 60 s wait: a shutdown that waited for it would fail here.
    let answer = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the long poll ended with the shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["events"], serde_json::json!([]));
    assert_eq!(body["next"], next);
    assert!(server.wait_exit().success());

    // Revoked with the CLI, the admin token stops working.
    let id = created
        .lines()
        .find_map(|l| l.strip_prefix("admin token id: "))
        .unwrap()
        .to_string();
    run(&["admin-token", "revoke", &id, "--data-dir", data]);
    let list = run(&["admin-token", "list", "--data-dir", data]);
    let row = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        !row.trim_end().ends_with('-'),
        "revoked shows a time: {row}"
    );
}
