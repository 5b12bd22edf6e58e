//! Every management write is recorded (who, what, when, request id) in the same
//! transaction, and readable; refused writes and replays are not recorded.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::App;

backend_tests!(
    every_management_write_is_recorded_and_readable,
    webhook_and_nats_writes_are_recorded
);

async fn post_with_request_id(app: &App, path: &str, request_id: &str, body: Value) -> Value {
    let resp = app
        .client
        .post(format!("{}/admin/v1{path}", app.url))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", request_id)
        .header("idempotency-key", request_id)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.json().await.unwrap()
}

async fn every_management_write_is_recorded_and_readable(app: App) {
    let empty = app.admin_get("/audit").await.expect(200).body;
    assert_eq!(empty["records"], json!([]));
    assert_eq!(empty["next"], 0);
    post_with_request_id(
        &app,
        "/tenants",
        "req-1",
        json!({"name": "audited", "rate_burst": 9}),
    )
    .await;
    // A replay and a refused write leave no record.
    post_with_request_id(
        &app,
        "/tenants",
        "req-1",
        json!({"name": "audited", "rate_burst": 9}),
    )
    .await;
    app.call(
        &app.admin_token,
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "audited"})),
    )
    .await
    .expect_error(409, "tenant_exists");
    let made = post_with_request_id(
        &app,
        "/tenants/audited/tokens",
        "req-2",
        json!({"name": "okta"}),
    )
    .await;
    let token_id = made["token"]["id"].as_str().unwrap();
    let secret = made["secret"].as_str().unwrap();
    app.call(
        &app.admin_token,
        Method::PATCH,
        "/admin/v1/tenants/audited",
        Some(json!({"retention_days": 5})),
    )
    .await
    .expect(200);
    app.call(
        &app.admin_token,
        Method::POST,
        &format!("/admin/v1/tenants/audited/tokens/{token_id}/rotate"),
        None,
    )
    .await
    .expect(201);
    app.call(
        &app.admin_token,
        Method::DELETE,
        &format!("/admin/v1/tenants/audited/tokens/{token_id}"),
        None,
    )
    .await
    .expect(200);
    app.call(
        &app.admin_token,
        Method::DELETE,
        "/admin/v1/tenants/audited",
        None,
    )
    .await
    .expect(200);

    let all = app
        .admin_get("/audit?tenant=audited")
        .await
        .expect(200)
        .body;
    let records = all["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "token.create",
            "tenant.update",
            "token.rotate",
            "token.revoke",
            "tenant.delete"
        ]
    );
    for r in records {
        assert_eq!(r["actor"], "tests");
        assert!(r["actor_id"].is_string());
        assert_eq!(r["tenant"], "audited");
        assert!(r["at"].as_str().unwrap().ends_with('Z'));
        assert!(r["request_id"].is_string(), "{r}");
    }
    assert_eq!(records[0]["request_id"], "req-1");
    assert_eq!(records[0]["detail"]["rate_burst"], 9);
    assert_eq!(records[1]["request_id"], "req-2");
    assert_eq!(records[1]["target"], token_id);
    assert_eq!(records[1]["detail"]["name"], "okta");
    assert_eq!(records[2]["detail"], json!({"retention_days": 5}));
    assert_eq!(records[5]["detail"]["tokens"], 2);
    let text = all.to_string();
    assert!(
        !text.contains(secret) && !text.contains("scim_"),
        "no secret is recorded"
    );
    // Cursors and bad parameters.
    let first = records[0]["seq"].as_i64().unwrap();
    let rest = app
        .admin_get(&format!("/audit?after={first}&limit=2"))
        .await
        .expect(200)
        .body;
    assert_eq!(rest["records"].as_array().unwrap().len(), 2);
    assert_eq!(rest["records"][0]["action"], "token.create");
    assert_eq!(rest["next"], rest["records"][1]["seq"]);
    for (q, field) in [
        ("limit=0", "limit"),
        ("after=-1", "after"),
        ("who=me", "who"),
    ] {
        let r = app
            .admin_get(&format!("/audit?{q}"))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field);
    }
    app.call(&app.scim_token, Method::GET, "/admin/v1/audit", None)
        .await
        .expect_error(401, "unauthorized");
}

/// A write with the admin token, its `X-Request-Id` and the status expected.
async fn write(app: &App, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
    let mut req = app
        .client
        .request(method, format!("{}/admin/v1{path}", app.url))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "req-dest");
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), status, "{path}");
    resp.json().await.unwrap_or(Value::Null)
}

async fn webhook_and_nats_writes_are_recorded(app: App) {
    let made = write(
        &app,
        Method::POST,
        "/tenants/acme/webhooks",
        Some(json!({"url": "https://hooks.example.com/scim?key=s3cret", "eventTypes": "user.*"})),
        201,
    )
    .await;
    let first_secret = made["secret"].as_str().unwrap().to_string();
    let id = made["webhook"]["id"].as_str().unwrap().to_string();
    let hook = format!("/tenants/acme/webhooks/{id}");
    write(
        &app,
        Method::PATCH,
        &hook,
        Some(json!({"batchMax": 5})),
        200,
    )
    .await;
    write(&app, Method::POST, &format!("{hook}/pause"), None, 200).await;
    write(&app, Method::POST, &format!("{hook}/resume"), None, 200).await;
    write(
        &app,
        Method::POST,
        &format!("{hook}/replay"),
        Some(json!({"from": 0})),
        200,
    )
    .await;
    let rotated = write(
        &app,
        Method::POST,
        &format!("{hook}/rotate-secret"),
        Some(json!({"overlapSeconds": 60})),
        200,
    )
    .await;
    let second_secret = rotated["secret"].as_str().unwrap().to_string();
    write(&app, Method::DELETE, &hook, None, 204).await;
    // A refused write leaves no record.
    write(&app, Method::POST, &format!("{hook}/pause"), None, 404).await;

    let made = write(
        &app,
        Method::POST,
        "/tenants/acme/nats",
        Some(json!({"url": "nats://app:pw@127.0.0.1:4222"})),
        201,
    )
    .await;
    let nats_id = made["nats"]["id"].as_str().unwrap().to_string();
    let nats = format!("/tenants/acme/nats/{nats_id}");
    write(
        &app,
        Method::PATCH,
        &nats,
        Some(json!({"eventTypes": "group.*"})),
        200,
    )
    .await;
    write(&app, Method::POST, &format!("{nats}/pause"), None, 200).await;
    write(&app, Method::POST, &format!("{nats}/resume"), None, 200).await;
    write(
        &app,
        Method::POST,
        &format!("{nats}/replay"),
        Some(json!({"from": 0})),
        200,
    )
    .await;
    write(&app, Method::DELETE, &nats, None, 204).await;

    let log = app.admin_get("/audit?tenant=acme").await.expect(200).body;
    let records = log["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.create",
            "webhook.update",
            "webhook.pause",
            "webhook.resume",
            "webhook.replay",
            "webhook.rotate_secret",
            "webhook.delete",
            "nats.create",
            "nats.update",
            "nats.pause",
            "nats.resume",
            "nats.replay",
            "nats.delete",
        ],
        "{log}"
    );
    for r in records {
        assert_eq!(r["actor"], "tests", "the admin token's name: {r}");
        assert!(r["actor_id"].is_string(), "{r}");
        assert_eq!(r["tenant"], "acme");
        assert_eq!(r["request_id"], "req-dest", "{r}");
    }
    for r in &records[..7] {
        assert_eq!(r["target"], id.as_str(), "{r}");
    }
    for r in &records[7..] {
        assert_eq!(r["target"], nats_id.as_str(), "{r}");
    }
    assert_eq!(
        records[0]["detail"]["url"],
        "https://hooks.example.com/scim?…"
    );
    assert_eq!(records[0]["detail"]["event_types"], "user.*");
    assert_eq!(records[1]["detail"], json!({"batch_max": 5}));
    assert_eq!(records[4]["detail"], json!({"from": 0}));
    assert_eq!(records[5]["detail"]["overlap_seconds"], 60);
    assert_eq!(records[7]["detail"]["url"], "nats://…@127.0.0.1:4222");
    let text = log.to_string();
    for secret in [
        first_secret.as_str(),
        second_secret.as_str(),
        "s3cret",
        "pw@",
        "whsec_",
    ] {
        assert!(!text.contains(secret), "{secret} is not recorded: {text}");
    }
}
