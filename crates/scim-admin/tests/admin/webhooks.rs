//! `/admin/v1/tenants/{tenant}/webhooks` and `/nats`: the secret shown once, status with
//! position and lag, updates, pause/resume, replay, attempts, deletion; bad input refused
//! with a stable code and the field named, changing nothing.

use reqwest::Method;
use serde_json::json;

use crate::support::App;

backend_tests!(
    webhooks_are_managed_and_their_secret_is_shown_once,
    bad_webhook_input_is_refused_naming_the_field,
    nats_publishers_are_managed
);

const HOOK: &str = "https://hooks.example.com/scim";

async fn webhooks_are_managed_and_their_secret_is_shown_once(app: App) {
    app.create_user("before@example.com").await;
    let created = app
        .admin(
            Method::POST,
            "/tenants/acme/webhooks",
            Some(json!({"url": HOOK, "eventTypes": "user.*", "description": "billing"})),
        )
        .await
        .expect(201)
        .body;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let hook = &created["webhook"];
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["url"], HOOK);
    assert_eq!(hook["eventTypes"], "user.*");
    assert_eq!(hook["state"], "active");
    assert_eq!(hook["position"], 1, "starts after what exists");
    assert_eq!(hook["lag"], 0);

    app.create_user("after@example.com").await;
    let shown = app
        .admin(Method::GET, &format!("/tenants/acme/webhooks/{id}"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (shown["head"].as_i64(), shown["lag"].as_i64()),
        (Some(2), Some(1))
    );
    let listed = app
        .admin(Method::GET, "/tenants/acme/webhooks", None)
        .await
        .expect(200)
        .body;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    for body in [&shown, &listed] {
        assert!(
            !body.to_string().contains(secret),
            "the secret is never shown again"
        );
    }
    // Another tenant does not see it.
    app.admin(Method::GET, &format!("/tenants/globex/webhooks/{id}"), None)
        .await
        .expect_error(404, "destination_not_found");
    assert!(
        app.admin(Method::GET, "/tenants/globex/webhooks", None)
            .await
            .body["webhooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let updated = app
        .admin(
            Method::PATCH,
            &format!("/tenants/acme/webhooks/{id}"),
            Some(json!({"eventTypes": "user.created,group.*", "batchMax": 50})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["eventTypes"], "user.created,group.*");
    assert_eq!(updated["batchMax"], 50);
    assert_eq!(updated["url"], HOOK);

    let paused = app
        .admin(
            Method::POST,
            &format!("/tenants/acme/webhooks/{id}/pause"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (paused["state"].as_str(), paused["pausedReason"].as_str()),
        (Some("paused"), Some("operator"))
    );
    let resumed = app
        .admin(
            Method::POST,
            &format!("/tenants/acme/webhooks/{id}/resume"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(resumed["state"], "active");
    let replayed = app
        .admin(
            Method::POST,
            &format!("/tenants/acme/webhooks/{id}/replay"),
            Some(json!({"from": 0})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (replayed["position"].as_i64(), replayed["lag"].as_i64()),
        (Some(0), Some(2))
    );

    let rotated = app
        .admin(
            Method::POST,
            &format!("/tenants/acme/webhooks/{id}/rotate-secret"),
            Some(json!({"overlapSeconds": 3600})),
        )
        .await
        .expect(200)
        .body;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated["webhook"]["previousSecretExpires"].is_string());

    let attempts = app
        .admin(
            Method::GET,
            &format!("/tenants/acme/webhooks/{id}/attempts?limit=10"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        attempts["attempts"],
        json!([]),
        "no engine runs here: nothing attempted"
    );

    // Only with an admin token.
    let r = app
        .call(
            &app.scim_token,
            Method::GET,
            "/admin/v1/tenants/acme/webhooks",
            None,
        )
        .await;
    r.expect_error(401, "unauthorized");

    app.admin(
        Method::DELETE,
        &format!("/tenants/acme/webhooks/{id}"),
        None,
    )
    .await
    .expect(204);
    app.admin(
        Method::DELETE,
        &format!("/tenants/acme/webhooks/{id}"),
        None,
    )
    .await
    .expect_error(404, "destination_not_found");
}

async fn bad_webhook_input_is_refused_naming_the_field(app: App) {
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "ftp://example.com/x"}), "url"),
        (json!({"url": "http://127.0.0.1:9000/hook"}), "url"),
        (json!({"url": "http://169.254.169.254/latest"}), "url"),
        (
            json!({"url": HOOK, "eventTypes": "user.nope"}),
            "eventTypes",
        ),
        (json!({"url": HOOK, "batchMax": 0}), "batchMax"),
        (json!({"url": HOOK, "start": "yesterday"}), "start"),
        (json!({"url": HOOK, "color": "red"}), "color"),
        (json!({"url": HOOK, "batchMax": "ten"}), "batchMax"),
        (json!({"url": 7}), "url"),
        (json!([HOOK]), "body"),
    ] {
        let r = app
            .admin(Method::POST, "/tenants/acme/webhooks", Some(body.clone()))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let r = app
        .call(
            &app.admin_token,
            Method::POST,
            "/admin/v1/tenants/acme/webhooks",
            None,
        )
        .await;
    r.expect_error(400, "invalid_request");
    app.admin(
        Method::POST,
        "/tenants/nobody/webhooks",
        Some(json!({"url": HOOK})),
    )
    .await
    .expect_error(404, "tenant_not_found");
    assert!(
        app.store
            .list_destinations(None, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );

    let id = app
        .admin(
            Method::POST,
            "/tenants/acme/webhooks",
            Some(json!({"url": HOOK})),
        )
        .await
        .expect(201)
        .body["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/tenants/acme/webhooks/{id}");
    for (body, field) in [
        (json!({"url": "http://10.0.0.1/"}), "url"),
        (json!({"start": "now"}), "start"),
        (json!({"batchMax": 5000}), "batchMax"),
    ] {
        let r = app
            .admin(Method::PATCH, &path, Some(body.clone()))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let r = app
        .admin(
            Method::POST,
            &format!("{path}/replay"),
            Some(json!({"from": 99})),
        )
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(r.body["error"]["field"], "from");
    app.admin(Method::POST, &format!("{path}/replay"), None)
        .await
        .expect_error(400, "invalid_request");
    app.admin(Method::GET, &format!("{path}/attempts?limit=0"), None)
        .await
        .expect_error(400, "invalid_request");
    let unchanged = app.admin(Method::GET, &path, None).await.expect(200).body;
    assert_eq!(unchanged["url"], HOOK);
    assert_eq!(unchanged["batchMax"], 1);
}

async fn nats_publishers_are_managed(app: App) {
    let created = app
        .admin(
            Method::POST,
            "/tenants/acme/nats",
            Some(json!({"url": "nats://127.0.0.1:4222", "start": "beginning"})),
        )
        .await
        .expect(201)
        .body;
    let nats = &created["nats"];
    assert!(created.get("secret").is_none());
    let id = nats["id"].as_str().unwrap();
    assert!(id.starts_with("nats_"));
    assert_eq!(nats["kind"], "nats");
    app.admin(Method::GET, &format!("/tenants/acme/webhooks/{id}"), None)
        .await
        .expect_error(404, "destination_not_found");
    app.admin(
        Method::POST,
        "/tenants/acme/nats",
        Some(json!({"url": "https://example.com"})),
    )
    .await
    .expect_error(400, "invalid_request");
    let listed = app
        .admin(Method::GET, "/tenants/acme/nats", None)
        .await
        .expect(200)
        .body;
    assert_eq!(listed["nats"].as_array().unwrap().len(), 1);
    app.admin(
        Method::POST,
        &format!("/tenants/acme/nats/{id}/pause"),
        None,
    )
    .await
    .expect(200);
    app.admin(Method::DELETE, &format!("/tenants/acme/nats/{id}"), None)
        .await
        .expect(204);
}
