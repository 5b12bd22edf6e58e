//! Tenants and tokens through the management API alone: a product's onboarding flow, bad
//! input (a clear 4xx naming the field, nothing changed), idempotent creates.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{App, GROUP_SCHEMA, USER_SCHEMA};

backend_tests!(
    onboarding_through_the_api_alone,
    bad_input_is_refused_naming_the_field_and_changes_nothing,
    creates_are_idempotent_with_an_idempotency_key
);

impl App {
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> crate::support::Reply {
        self.call(&self.admin_token, method, &format!("/admin/v1{path}"), body)
            .await
    }

    pub async fn admin_with_key(
        &self,
        path: &str,
        key: &str,
        body: Value,
    ) -> crate::support::Reply {
        let resp = self
            .client
            .post(format!("{}/admin/v1{path}", self.url))
            .bearer_auth(&self.admin_token)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        crate::support::Reply {
            status,
            headers,
            body,
        }
    }
}

/// A SCIM request to a tenant with a token.
async fn scim(
    app: &App,
    token: &str,
    tenant: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> crate::support::Reply {
    app.call(token, method, &format!("/scim/v2/{tenant}{path}"), body)
        .await
}

async fn onboarding_through_the_api_alone(app: App) {
    // The product turns provisioning on for a customer.
    let t = app
        .admin(
            Method::POST,
            "/tenants",
            Some(
                json!({"name": "shop", "delete_mode": "soft", "retention_days": 7,
                "rate_limit_per_minute": 6000, "rate_burst": 500}),
            ),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(t["name"], "shop");
    assert_eq!(t["delete_mode"], "soft");
    assert_eq!(t["retention_days"], 7);
    assert_eq!(t["rate_limit_per_minute"], 6000);
    assert_eq!(t["rate_burst"], 500);
    assert_eq!(t["jwt"], Value::Null);
    assert_eq!(t["users"], 0);
    let base = format!("{}/scim/v2/shop", app.url);
    assert_eq!(t["scim_base_url"], base.as_str());

    let made = app
        .admin(
            Method::POST,
            "/tenants/shop/tokens",
            Some(json!({"name": "okta"})),
        )
        .await
        .expect(201)
        .body;
    let okta = made["secret"].as_str().unwrap().to_string();
    assert!(okta.starts_with("scim_"));
    assert_eq!(made["token"]["status"], "active");
    assert_eq!(made["token"]["scope"], "write");
    assert_eq!(made["scim_base_url"], base.as_str());
    let okta_id = made["token"]["id"].as_str().unwrap().to_string();

    // The identity provider provisions with it.
    let user = scim(
        &app,
        &okta,
        "shop",
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER_SCHEMA], "userName": "ann@shop.example"})),
    )
    .await
    .expect(201)
    .body;
    scim(
        &app,
        &okta,
        "shop",
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Staff",
            "members": [{"value": user["id"]}]})),
    )
    .await
    .expect(201);
    let read = app
        .admin(Method::GET, "/tenants/shop", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (read["users"].as_u64(), read["groups"].as_u64()),
        (Some(1), Some(1))
    );
    let all = app
        .admin(Method::GET, "/tenants", None)
        .await
        .expect(200)
        .body;
    let names: Vec<&str> = all["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex", "shop"]);
    assert_eq!(all["tenants"][2]["users"], 1);
    // Another tenant's token does not work on it, nor this one on the management API.
    scim(&app, &app.scim_token, "shop", Method::GET, "/Users", None)
        .await
        .expect(401);
    app.call(&okta, Method::GET, "/admin/v1/tenants", None)
        .await
        .expect_error(401, "unauthorized");

    // Settings change; `null` restores a default.
    let updated = app
        .admin(
            Method::PATCH,
            "/tenants/shop",
            Some(json!({"rate_burst": null, "delete_mode": "hard"})),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["rate_burst"], Value::Null);
    assert_eq!(updated["rate_limit_per_minute"], 6000);
    assert_eq!(updated["delete_mode"], "hard");

    // Rotation: the old token keeps working for the overlap, then is refused.
    let rotated = app
        .admin(
            Method::POST,
            &format!("/tenants/shop/tokens/{okta_id}/rotate"),
            Some(json!({"overlap_seconds": 2})),
        )
        .await
        .expect(201)
        .body;
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, okta);
    assert_eq!(rotated["token"]["name"], "okta");
    assert_eq!(rotated["old_token"]["id"], okta_id.as_str());
    assert!(rotated["old_token"]["expires"].is_string());
    scim(&app, &okta, "shop", Method::GET, "/Users", None)
        .await
        .expect(200);
    scim(&app, &new, "shop", Method::GET, "/Users", None)
        .await
        .expect(200);
    let mut refused = false;
    for _ in 0..100 {
        if scim(&app, &okta, "shop", Method::GET, "/Users", None)
            .await
            .status
            == 401
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the old token still works after its grace time");
    scim(&app, &new, "shop", Method::GET, "/Users", None)
        .await
        .expect(200);
    let tokens = app
        .admin(Method::GET, "/tenants/shop/tokens", None)
        .await
        .expect(200)
        .body;
    let statuses: Vec<&str> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["expired", "active"]);
    assert!(
        tokens["tokens"][1]["last_used"].is_string() || tokens["tokens"][1]["last_used"].is_null()
    );
    assert!(
        tokens.to_string().find("scim_").is_none(),
        "a list never shows a secret"
    );

    // Revoking takes effect at once.
    let new_id = rotated["token"]["id"].as_str().unwrap();
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/tenants/shop/tokens/{new_id}"),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(revoked["status"], "revoked");
    scim(&app, &new, "shop", Method::GET, "/Users", None)
        .await
        .expect(401);
    app.admin(
        Method::DELETE,
        &format!("/tenants/shop/tokens/{new_id}"),
        None,
    )
    .await
    .expect_error(404, "token_not_found");

    // Deleting the tenant removes every trace of its data.
    let deleted = app
        .admin(Method::DELETE, "/tenants/shop", None)
        .await
        .expect(200)
        .body;
    assert_eq!(deleted["users"], 1);
    assert_eq!(deleted["groups"], 1);
    // Every token goes, and the answer says how many still worked: the one rotated away
    // has expired, the new one was revoked.
    assert_eq!(deleted["tokens"], 2);
    assert_eq!(deleted["active_tokens"], 0, "{deleted}");
    assert!(deleted["events"].as_u64().unwrap() >= 2, "{deleted}");
    app.admin(Method::GET, "/tenants/shop", None)
        .await
        .expect_error(404, "tenant_not_found");
    app.admin(Method::DELETE, "/tenants/shop", None)
        .await
        .expect_error(404, "tenant_not_found");
    app.admin(Method::GET, "/tenants/shop/events", None)
        .await
        .expect_error(404, "tenant_not_found");
    assert!(app.store.tenant("shop").await.unwrap().is_none());
    // A new tenant of the same name starts empty: nothing of the old one is found.
    app.admin(Method::POST, "/tenants", Some(json!({"name": "shop"})))
        .await
        .expect(201);
    let again = app.store.tenant("shop").await.unwrap().unwrap();
    assert_ne!(again.uid, deleted["uid"].as_str().unwrap());
    assert!(app.store.changes(again.id, 0, 10).await.unwrap().is_empty());
    assert!(app.store.list_tokens(again.id).await.unwrap().is_empty());
    let fresh = app
        .admin(Method::GET, "/tenants/shop", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (fresh["users"].as_u64(), fresh["groups"].as_u64()),
        (Some(0), Some(0))
    );
    // Other tenants were not touched.
    app.scim(Method::GET, "/Users", None).await.expect(200);
}

async fn bad_input_is_refused_naming_the_field_and_changes_nothing(app: App) {
    let before = app
        .admin(Method::GET, "/tenants", None)
        .await
        .expect(200)
        .body;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "new", "colour": "red"}), "colour"),
        (
            json!({"name": "new", "retention_days": "seven"}),
            "retention_days",
        ),
        (
            json!({"name": "new", "retention_days": -1}),
            "retention_days",
        ),
        (
            json!({"name": "new", "rate_limit_per_minute": 0}),
            "rate_limit_per_minute",
        ),
        (json!({"name": "new", "rate_burst": -5}), "rate_burst"),
        (
            json!({"name": "new", "delete_mode": "sometimes"}),
            "delete_mode",
        ),
        (
            json!({"name": "new", "jwt": {"issuer": "i", "audience": "a", "tenant_claim": "tid"}}),
            "jwt",
        ),
        (
            json!({"name": "new", "jwt": {"issuer": "i"}}),
            "jwt.audience",
        ),
        (json!({"name": "has space"}), "name"),
        (json!({"name": "../etc"}), "name"),
        (json!({"name": "ünïcode"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({}), "name"),
        (json!({"name": 7}), "name"),
        (json!(["name"]), "body"),
    ];
    for (body, field) in cases {
        let r = app
            .admin(Method::POST, "/tenants", Some(body.clone()))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    // Duplicates, also by another spelling (tenant names are case-insensitive).
    for name in ["acme", "ACME", "Acme"] {
        app.admin(Method::POST, "/tenants", Some(json!({"name": name})))
            .await
            .expect_error(409, "tenant_exists");
    }
    app.admin(
        Method::POST,
        "/tenants?debug=1",
        Some(json!({"name": "new"})),
    )
    .await
    .expect_error(400, "invalid_request");
    // Updates.
    for (body, field) in [
        (json!({"retention_days": 99999}), "retention_days"),
        (json!({"rate_burst": 0}), "rate_burst"),
        (json!({"name": "renamed"}), "name"),
    ] {
        let r = app
            .admin(Method::PATCH, "/tenants/acme", Some(body.clone()))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    app.admin(
        Method::PATCH,
        "/tenants/nobody",
        Some(json!({"retention_days": 3})),
    )
    .await
    .expect_error(404, "tenant_not_found");
    // Tokens.
    let tokens_before = app
        .admin(Method::GET, "/tenants/acme/tokens", None)
        .await
        .expect(200)
        .body;
    for (body, field) in [
        (
            json!({"name": "x", "expires": "2020-01-01T00:00:00Z"}),
            "expires",
        ),
        (json!({"name": "x", "expires": "next week"}), "expires"),
        (json!({"name": "x", "scope": "admin"}), "scope"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"name": "x", "secret": "mine"}), "secret"),
    ] {
        let r = app
            .admin(Method::POST, "/tenants/acme/tokens", Some(body.clone()))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    app.admin(
        Method::POST,
        "/tenants/nobody/tokens",
        Some(json!({"name": "x"})),
    )
    .await
    .expect_error(404, "tenant_not_found");
    let id = tokens_before["tokens"][0]["id"].as_str().unwrap();
    for (body, field) in [
        (json!({"overlap_seconds": -1}), "overlap_seconds"),
        (
            json!({"overlap_seconds": 1, "old_token_valid_until": "2999-01-01T00:00:00Z"}),
            "old_token_valid_until",
        ),
        (
            json!({"old_token_valid_until": "2001-01-01T00:00:00Z"}),
            "old_token_valid_until",
        ),
    ] {
        let r = app
            .admin(
                Method::POST,
                &format!("/tenants/acme/tokens/{id}/rotate"),
                Some(body.clone()),
            )
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    app.admin(
        Method::POST,
        "/tenants/acme/tokens/0123456789abcdef/rotate",
        None,
    )
    .await
    .expect_error(404, "token_not_found");
    // Nothing changed.
    assert_eq!(
        app.admin(Method::GET, "/tenants", None)
            .await
            .expect(200)
            .body,
        before
    );
    assert_eq!(
        app.admin(Method::GET, "/tenants/acme/tokens", None)
            .await
            .expect(200)
            .body,
        tokens_before
    );
    app.scim(Method::GET, "/Users", None).await.expect(200);
}

async fn creates_are_idempotent_with_an_idempotency_key(app: App) {
    let body = json!({"name": "retry", "retention_days": 3});
    let first = app
        .admin_with_key("/tenants", "k-1", body.clone())
        .await
        .expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = app
        .admin_with_key("/tenants", "k-1", body.clone())
        .await
        .expect(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body, first.body);
    let other = app
        .admin_with_key("/tenants", "k-1", json!({"name": "retry2"}))
        .await;
    other.expect_error(422, "idempotency_key_reused");
    let list = app
        .admin(Method::GET, "/tenants", None)
        .await
        .expect(200)
        .body;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 3, "{list}");
    // A failed create does not use up its key.
    app.admin_with_key("/tenants", "k-2", json!({"name": "acme"}))
        .await
        .expect_error(409, "tenant_exists");
    app.admin_with_key("/tenants", "k-2", json!({"name": "acme"}))
        .await
        .expect_error(409, "tenant_exists");

    // A token create replays without the secret (only its hash is kept).
    let t1 = app
        .admin_with_key("/tenants/retry/tokens", "tok", json!({"name": "okta"}))
        .await
        .expect(201)
        .body;
    assert!(t1["secret"].as_str().unwrap().starts_with("scim_"));
    let t2 = app
        .admin_with_key("/tenants/retry/tokens", "tok", json!({"name": "okta"}))
        .await
        .expect(201);
    assert_eq!(t2.body["token"]["id"], t1["token"]["id"]);
    assert!(t2.body.get("secret").is_none(), "{}", t2.body);
    // The same key on another path is another request.
    app.admin_with_key("/tenants/acme/tokens", "tok", json!({"name": "okta"}))
        .await
        .expect_error(422, "idempotency_key_reused");
    let tokens = app
        .admin(Method::GET, "/tenants/retry/tokens", None)
        .await
        .expect(200)
        .body;
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 1);
    // Concurrent retries with one key make one tenant.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (client, url, token) = (app.client.clone(), app.url.clone(), app.admin_token.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{url}/admin/v1/tenants"))
                .bearer_auth(token)
                .header("idempotency-key", "race")
                .body(r#"{"name":"raced"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let list = app
        .admin(Method::GET, "/tenants", None)
        .await
        .expect(200)
        .body;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 4, "{list}");
    // Bad keys.
    app.admin_with_key("/tenants", "has space", json!({"name": "x1"}))
        .await
        .expect_error(400, "invalid_request");
}
