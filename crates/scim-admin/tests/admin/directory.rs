//! A tenant's users and groups read through the management API: the event feed's JSON,
//! paged by cursor, filtered with the SCIM filter syntax.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{App, GROUP_SCHEMA, USER_SCHEMA};

backend_tests!(
    users_and_groups_read_as_the_feed_shows_them,
    pages_and_filters
);

async fn users_and_groups_read_as_the_feed_shows_them(app: App) {
    let alice = app.create_user("alice@example.com").await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "displayName", "value": "Alice"}]),
    )
    .await
    .expect(200);
    let group = app
        .scim(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng",
                "members": [{"value": alice}]})),
        )
        .await
        .expect(201)
        .body;
    let gid = group["id"].as_str().unwrap();
    let events = app.all_events("acme").await;
    let last_of = |id: &str| -> Value {
        events
            .iter()
            .rev()
            .find(|e| e["data"]["id"] == id && e["data"]["resource"].is_object())
            .unwrap()["data"]["resource"]
            .clone()
    };
    let user = app
        .admin_get(&format!("/tenants/acme/users/{alice}"))
        .await
        .expect(200)
        .body;
    // The feed's JSON, and the user's effective roles from the role rules (none here).
    assert_eq!(user["effectiveRoles"], json!([]));
    let mut expected = last_of(&alice);
    expected["effectiveRoles"] = json!([]);
    assert_eq!(user, expected);
    assert_eq!(user["displayName"], "Alice");
    assert!(user.get("groups").is_none());
    let g = app
        .admin_get(&format!("/tenants/acme/groups/{gid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(g, last_of(gid));
    assert!(g.get("members").is_none());
    let page = app.admin_get("/tenants/acme/users").await.expect(200).body;
    assert_eq!(page["total_results"], 1);
    assert_eq!(page["resources"][0], user);
    assert!(page.get("next_cursor").is_none());
    app.admin_get("/tenants/acme/users/0123")
        .await
        .expect_error(404, "resource_not_found");
    app.admin_get(&format!("/tenants/acme/groups/{alice}"))
        .await
        .expect_error(404, "resource_not_found");
    app.admin_get(&format!("/tenants/globex/users/{alice}"))
        .await
        .expect_error(404, "resource_not_found");
    app.admin_get("/tenants/nobody/users")
        .await
        .expect_error(404, "tenant_not_found");
    // A tenant's SCIM token cannot read it here.
    app.call(
        &app.scim_token,
        Method::GET,
        "/admin/v1/tenants/acme/users",
        None,
    )
    .await
    .expect_error(401, "unauthorized");
}

async fn pages_and_filters(app: App) {
    for name in ["ann", "abe", "bob", "cat", "amy"] {
        app.scim(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": name, "active": name != "abe"})),
        )
        .await
        .expect(201);
    }
    // Every user once, page by page.
    let mut seen = Vec::new();
    let mut path = "/tenants/acme/users?count=2".to_string();
    loop {
        let page = app.admin_get(&path).await.expect(200).body;
        assert_eq!(page["total_results"], 5);
        let rs = page["resources"].as_array().unwrap();
        assert!(rs.len() <= 2);
        seen.extend(
            rs.iter()
                .map(|r| r["userName"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/tenants/acme/users?count=2&cursor={}", urlencode(c)),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["abe", "amy", "ann", "bob", "cat"]);
    let names = |page: &Value| -> Vec<String> {
        let mut v: Vec<String> = page["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let page = app
        .admin_get(&format!(
            "/tenants/acme/users?filter={}",
            urlencode(r#"userName sw "a""#)
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(names(&page), ["abe", "amy", "ann"]);
    assert_eq!(page["total_results"], 3);
    let page = app
        .admin_get(&format!(
            "/tenants/acme/users?filter={}",
            urlencode("active eq false")
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(names(&page), ["abe"]);
    let page = app
        .admin_get(&format!(
            "/tenants/acme/users?filter={}",
            urlencode(r#"userName eq "BOB""#)
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(names(&page), ["bob"]);
    // Bad parameters name themselves.
    for (query, field) in [
        (
            format!("filter={}", urlencode("userName zz \"a\"")),
            "filter",
        ),
        (format!("filter={}", urlencode("nosuch eq 1")), "filter"),
        ("count=0".to_string(), "count"),
        ("count=5000".to_string(), "count"),
        ("cursor=garbage".to_string(), "cursor"),
        ("sortBy=userName".to_string(), "sortBy"),
        ("count=1&count=2".to_string(), "count"),
    ] {
        let r = app
            .admin_get(&format!("/tenants/acme/users?{query}"))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.body);
    }
    let groups = app.admin_get("/tenants/acme/groups").await.expect(200).body;
    assert_eq!(groups["total_results"], 0);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
