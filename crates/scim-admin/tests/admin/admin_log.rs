//! Every management write is recorded (who, what, when, request id) in the same
//! transaction, and readable; refused writes and replays are not recorded.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::App;

backend_tests!(every_management_write_is_recorded_and_readable);

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
