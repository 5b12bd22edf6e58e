//! An application embedding `scim` (the `embed` example itself), over real HTTP, on a real
//! SQLite file and on a real PostgreSQL database: an identity provider provisions through
//! the mounted SCIM router, the application's event handler keeps its table, and the
//! management API answers only what the application's hook lets in.

// A test binary: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../../examples/embed.rs"]
mod example;

use std::time::Duration;

use example::{ADMIN_SESSION, Running, SESSION_HEADER};
use scim_store::postgres::testing::TestDatabase;
use serde_json::{Value, json};

/// Runs each listed test once per storage backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let url = format!("sqlite://{}", dir.path().join("app/scim.db").display());
                    let app = crate::example::start(&url, "127.0.0.1:0").await.expect("start");
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    // SKIPPED without a PostgreSQL server; in CI it fails.
                    let Some(db) = super::TestDatabase::create(stringify!($name))
                        .await
                        .unwrap_or_else(|e| panic!("{e}"))
                    else {
                        return;
                    };
                    let app = crate::example::start(&db.url, "127.0.0.1:0").await.expect("start");
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

backend_tests!(
    provisioning_reaches_the_applications_handler,
    management_api_answers_only_the_applications_hook,
    tenants_are_served_under_the_applications_mount_path,
);

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Waits (up to 10 s) until the application's table satisfies `done`.
async fn until(app: &Running, what: &str, done: impl Fn(&example::Directory) -> bool) {
    for _ in 0..200 {
        if done(&app.directory.lock().expect("table")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the application's table never showed {what}: {}",
        app.directory.lock().expect("table").to_json()
    );
}

async fn scim(app: &Running, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, format!("{}{path}", app.scim_base_url))
        .bearer_auth(&app.token)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn provisioning_reaches_the_applications_handler(app: &Running) {
    // The example's own round trip: a user and a group with it as member, seen in the
    // application's /app/users; the management API refuses a SCIM token.
    let alice = example::self_test(app).await.expect("self-test");
    {
        let table = app.directory.lock().expect("table");
        assert_eq!(table.users[&alice].user_name, "alice@example.com");
        assert_eq!(table.groups_of(&alice), vec!["Engineering".to_string()]);
    }

    // Deactivation and leaving the group reach the handler as events too, in order.
    let (status, groups) = scim(
        app,
        reqwest::Method::GET,
        "/Groups?filter=displayName%20eq%20%22Engineering%22",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{groups}");
    let group = groups["Resources"][0]["id"].as_str().expect("group id");
    let (status, body) = scim(
        app,
        reqwest::Method::PATCH,
        &format!("/Groups/{group}"),
        json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{alice}\"]")}
        ]}),
    )
    .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, body) = scim(
        app,
        reqwest::Method::PATCH,
        &format!("/Users/{alice}"),
        json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": false}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    until(app, "alice out of the group and inactive", |t| {
        t.groups_of(&alice).is_empty() && t.users.get(&alice).is_some_and(|u| !u.active)
    })
    .await;
    // user.created, group.created, group.members_added, group.members_removed,
    // user.deactivated: one event each, none repeated.
    let applied = app.directory.lock().expect("table").applied;
    assert_eq!(applied, 5, "events applied by the handler");

    // The application's own route answers beside the mounted routers.
    let health = reqwest::get(format!("{}/health", app.url))
        .await
        .expect("health");
    assert_eq!(health.text().await.expect("body"), "ok");
}

async fn management_api_answers_only_the_applications_hook(app: &Running) {
    let http = reqwest::Client::new();
    let tenants = format!("{}/manage/admin/v1/tenants", app.url);
    // Nothing, a wrong session, the tenant's SCIM token: 401 with the API's JSON error.
    for request in [
        http.get(&tenants),
        http.get(&tenants).header(SESSION_HEADER, "someone-else"),
        http.get(&tenants).bearer_auth(&app.token),
    ] {
        let r = request.send().await.expect("request");
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    // The hook replaces administration tokens: a valid one is refused too.
    let (_, admin_token) = app
        .scim
        .store()
        .create_admin_token("ops", None)
        .await
        .expect("admin token");
    let r = http
        .get(&tenants)
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    // Nothing was written by the refused requests; with the session, a write goes through
    // and the audit log names the hook's caller.
    let r = http
        .post(&tenants)
        .header(SESSION_HEADER, "someone-else")
        .json(&json!({"name": "globex"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    assert!(
        app.scim
            .store()
            .tenant("globex")
            .await
            .expect("read")
            .is_none(),
        "a refused create changed nothing"
    );
    let r = http
        .post(&tenants)
        .header(SESSION_HEADER, ADMIN_SESSION)
        .json(&json!({"name": "globex"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    assert_eq!(
        created["scim_base_url"],
        format!("{}/scim/globex", app.url),
        "{created}"
    );
    let audit: Value = http
        .get(format!("{}/manage/admin/v1/audit", app.url))
        .header(SESSION_HEADER, ADMIN_SESSION)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let text = audit.to_string();
    assert!(text.contains("app-admin"), "audit names the caller: {text}");
    assert!(text.contains("globex"), "audit names the tenant: {text}");
}

async fn tenants_are_served_under_the_applications_mount_path(app: &Running) {
    assert_eq!(app.scim_base_url, format!("{}/scim/acme", app.url));
    assert_eq!(app.scim.base_url("acme"), app.scim_base_url);
    let (status, user) = scim(
        app,
        reqwest::Method::POST,
        "/Users",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob"}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    // meta.location is under the application's mount path, and resolves.
    let id = user["id"].as_str().expect("id");
    let location = user["meta"]["location"].as_str().expect("location");
    assert_eq!(location, format!("{}/scim/acme/Users/{id}", app.url));
    let r = reqwest::Client::new()
        .get(location)
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    // The event carries the same location.
    until(app, "bob", |t| {
        t.users.values().any(|u| u.user_name == "bob")
    })
    .await;
    let mut events = app.scim.subscribe("acme", 0).await.expect("subscribe");
    let first = futures_util::StreamExt::next(&mut events)
        .await
        .expect("an event")
        .expect("read");
    assert_eq!(
        first.data.resource.as_ref().expect("resource")["meta"]["location"],
        location
    );
    // Unknown paths under the mount are SCIM errors; discovery works per tenant.
    let r = reqwest::Client::new()
        .get(format!("{}/scim/acme/Nothing/x/y", app.url))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let (status, spc) = scim(
        app,
        reqwest::Method::GET,
        "/ServiceProviderConfig",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{spc}");
    // Tenants named like the router's own routes are served too.
    for name in ["health", "ready"] {
        app.scim.create_tenant(name).await.expect("tenant");
        let token = app.scim.create_token(name, "idp").await.expect("token");
        assert_eq!(token.scim_base_url, format!("{}/scim/{name}", app.url));
        let r = reqwest::Client::new()
            .get(format!("{}/Users", token.scim_base_url))
            .bearer_auth(token.secret.expect("secret"))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{name}");
    }
    let health = reqwest::get(format!("{}/scim/health", app.url))
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    // A tenant unknown to the store gets the same 401 as on `scim serve`.
    let r = reqwest::Client::new()
        .get(format!("{}/scim/nobody/Users", app.url))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
}
