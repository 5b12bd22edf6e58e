//! The event feed: what a provisioning sequence produces, in order; long polling; cursors
//! and filters; bad parameters; the in-process subscription.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use scim_delivery::{EventFilter, Feed};
use serde_json::{Value, json};

use crate::support::{App, GROUP_SCHEMA, USER_SCHEMA, types};

backend_tests!(
    a_provisioning_sequence_is_told_in_order,
    a_long_poll_returns_as_soon_as_a_change_commits,
    changes_made_by_another_instance_reach_the_reader,
    cursors_page_filter_and_expire,
    bad_parameters_are_refused_naming_the_parameter,
    a_subscription_yields_the_feeds_events
);

/// An Okta/Entra-style sequence: create, update, deactivate, reactivate, a group with
/// members, membership moves, deletes (hard in acme, soft in globex).
async fn a_provisioning_sequence_is_told_in_order(app: App) {
    let alice = app
        .scim(
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": [USER_SCHEMA], "userName": "alice@example.com",
                "name": {"givenName": "Alice"}, "active": true}),
            ),
        )
        .await
        .expect(201)
        .body;
    let alice_id = alice["id"].as_str().unwrap().to_string();
    let bob = app.create_user("bob@example.com").await;
    app.patch(
        &format!("/Users/{alice_id}"),
        json!([{"op": "replace", "path": "name.givenName", "value": "Alicia"}]),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/Users/{alice_id}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/Users/{alice_id}"),
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await
    .expect(200);
    let group = app
        .scim(
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering",
                "members": [{"value": alice_id}]}),
            ),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(
        &format!("/Groups/{group}"),
        json!([
            {"op": "remove", "path": format!("members[value eq \"{alice_id}\"]")},
            {"op": "add", "path": "members", "value": [{"value": bob}]}
        ]),
    )
    .await
    .expect(200);
    app.scim(Method::DELETE, &format!("/Users/{bob}"), None)
        .await
        .expect(204);
    app.scim(Method::DELETE, &format!("/Groups/{group}"), None)
        .await
        .expect(204);

    let events = app.all_events("acme").await;
    assert_eq!(
        types(&events),
        [
            "user.created",
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "group.created",
            "group.members_added",
            "group.members_added",
            "group.members_removed",
            // Deleting bob takes him out of the group first.
            "group.members_removed",
            "user.deleted",
            "group.deleted",
        ]
    );
    // Positions are the tenant's order; ids are unique and stable on every read.
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let again = app.all_events("acme").await;
    assert_eq!(events, again);
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len());

    let e = &events[0];
    assert_eq!(e["version"], 1);
    assert_eq!(e["tenant"], "acme");
    assert_eq!(e["actor"]["token"], "okta");
    assert!(e["actor"]["requestId"].is_string());
    assert_eq!(e["data"]["resourceType"], "User");
    assert_eq!(e["data"]["id"], alice_id.as_str());
    // The resource as the SCIM API shows it (same id, same version, same location).
    assert_eq!(e["data"]["resource"]["userName"], "alice@example.com");
    assert_eq!(
        e["data"]["resource"]["meta"]["location"],
        alice["meta"]["location"]
    );
    assert_eq!(
        e["data"]["resource"]["meta"]["version"],
        alice["meta"]["version"]
    );
    assert_eq!(
        events[2]["data"]["changes"],
        json!([{"attribute": "name.givenName", "old": "Alice", "new": "Alicia"}])
    );
    assert_eq!(
        events[3]["data"]["changes"],
        json!([{"attribute": "active", "old": true, "new": false}])
    );
    assert_eq!(events[3]["data"]["resource"]["active"], false);
    assert_eq!(events[4]["data"]["resource"]["active"], true);
    assert_eq!(events[5]["data"]["resource"]["displayName"], "Engineering");
    assert!(events[5]["data"]["resource"].get("members").is_none());
    assert_eq!(
        events[6]["data"]["members"],
        json!([{"value": alice_id, "type": "User"}])
    );
    assert_eq!(
        events[7]["data"]["members"],
        json!([{"value": bob, "type": "User"}])
    );
    assert_eq!(
        events[8]["data"]["members"],
        json!([{"value": alice_id, "type": "User"}])
    );
    assert_eq!(
        events[9]["data"]["members"],
        json!([{"value": bob, "type": "User"}])
    );
    assert_eq!(events[10]["data"]["deleteMode"], "hard");
    assert!(events[10]["data"].get("resource").is_none());

    // A soft delete says so, and a restore follows as user.restored.
    let carol = app
        .globex(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": "carol"})),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.globex(Method::DELETE, &format!("/Users/{carol}"), None)
        .await
        .expect(204);
    let globex = app.store.tenant("globex").await.unwrap().unwrap();
    app.store
        .restore(globex.id, &carol, &scim_store::Actor::default())
        .await
        .unwrap();
    let events = app.all_events("globex").await;
    assert_eq!(
        types(&events),
        ["user.created", "user.deleted", "user.restored"]
    );
    assert_eq!(events[1]["data"]["deleteMode"], "soft");
    assert_eq!(events[2]["data"]["resource"]["userName"], "carol");
    assert_eq!(events[0]["actor"]["token"], "entra");
    // Another tenant's events are not acme's: separate numbering.
    assert_eq!(events[0]["position"], 1);
}

async fn a_long_poll_returns_as_soon_as_a_change_commits(app: App) {
    let head = app.admin_get("/tenants/acme/events").await.expect(200).body["head"]
        .as_i64()
        .unwrap();
    // Without a change, a short wait ends empty, with the cursor unchanged.
    let r = app
        .admin_get(&format!("/tenants/acme/events?after={head}&wait=1"))
        .await
        .expect(200);
    assert_eq!(r.body["events"], json!([]));
    assert_eq!(r.body["next"], head);
    // A long wait ends with the change (it would end empty after 30 s otherwise).
    let app = std::sync::Arc::new(app);
    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            app.admin_get(&format!("/tenants/acme/events?after={head}&wait=30"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = app.create_user("late@example.com").await;
    let r = reader.await.unwrap().expect(200);
    assert_eq!(
        types(r.body["events"].as_array().unwrap()),
        ["user.created"]
    );
    assert_eq!(r.body["events"][0]["data"]["id"], id.as_str());
    assert_eq!(r.body["next"], r.body["events"][0]["position"]);
}

/// On PostgreSQL, a write through a second instance (another store on the same database)
/// reaches a reader waiting on the first; on SQLite the "second instance" is the same store.
async fn changes_made_by_another_instance_reach_the_reader(app: App) {
    let other: std::sync::Arc<dyn scim_store::Store> = match &app.db {
        Some(db) => std::sync::Arc::new(db.store(&app.registry).await.unwrap()),
        None => app.store.clone(),
    };
    let app = std::sync::Arc::new(app);
    let reader = {
        let app = app.clone();
        tokio::spawn(async move { app.admin_get("/tenants/acme/events?after=0&wait=30").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let acme = other.tenant("acme").await.unwrap().unwrap();
    let data = json!({"schemas": [USER_SCHEMA], "userName": "elsewhere"});
    let Value::Object(data) = data else {
        unreachable!()
    };
    other
        .create(
            acme.id,
            "User",
            data,
            Vec::new(),
            &scim_store::Actor::default(),
        )
        .await
        .unwrap();
    let r = reader.await.unwrap().expect(200);
    assert_eq!(
        r.body["events"][0]["data"]["resource"]["userName"],
        "elsewhere"
    );
}

async fn cursors_page_filter_and_expire(app: App) {
    let u1 = app.create_user("u1").await;
    let g = app
        .scim(
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": u1}]}),
            ),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.create_user("u2").await;
    app.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "replace", "path": "displayName", "value": "G2"}]),
    )
    .await
    .expect(200);
    // Pages of two reach every event once.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let r = app
            .admin_get(&format!("/tenants/acme/events?after={after}&limit=2"))
            .await
            .expect(200);
        let events = r.body["events"].as_array().unwrap().clone();
        assert!(events.len() <= 2);
        assert_eq!(r.body["head"], 5);
        after = r.body["next"].as_i64().unwrap();
        if events.is_empty() {
            break;
        }
        seen.extend(events);
    }
    assert_eq!(
        types(&seen),
        [
            "user.created",
            "group.created",
            "group.members_added",
            "user.created",
            "group.updated"
        ]
    );
    // A filter leaves the other types out, and the cursor moves past them.
    let r = app
        .admin_get("/tenants/acme/events?types=group.*")
        .await
        .expect(200);
    assert_eq!(
        types(r.body["events"].as_array().unwrap()),
        ["group.created", "group.members_added", "group.updated"]
    );
    assert_eq!(r.body["next"], 5);
    let r = app
        .admin_get("/tenants/acme/events?after=3&types=user.*")
        .await
        .expect(200);
    assert_eq!(
        types(r.body["events"].as_array().unwrap()),
        ["user.created"]
    );
    let r = app
        .admin_get("/tenants/acme/events?after=4&types=user.*")
        .await
        .expect(200);
    assert_eq!(r.body["events"], json!([]));
    assert_eq!(r.body["next"], 5, "past the filtered-out event");

    // Events pruned by retention: an older cursor is told where to start again.
    let acme = app.store.tenant("acme").await.unwrap().unwrap();
    app.store.prune_changes(acme.id, 2).await.unwrap();
    let r = app
        .admin_get("/tenants/acme/events?after=1")
        .await
        .expect_error(410, "cursor_expired");
    assert_eq!(r.body["error"]["oldest"], 2);
    let r = app
        .admin_get("/tenants/acme/events?after=2")
        .await
        .expect(200);
    assert_eq!(r.body["events"][0]["position"], 3);
}

async fn bad_parameters_are_refused_naming_the_parameter(app: App) {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=-1", "after"),
        ("after=1.5", "after"),
        ("wait=61", "wait"),
        ("types=users.*", "types"),
        ("cursor=3", "cursor"),
        ("after=1&after=2", "after"),
    ] {
        let r = app
            .admin_get(&format!("/tenants/acme/events?{query}"))
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{query}: {}", r.body);
    }
}

/// An application embedding scim reads the same events in-process.
async fn a_subscription_yields_the_feeds_events(app: App) {
    for i in 0..3 {
        app.create_user(&format!("s{i}")).await;
    }
    let feed = Feed::new(app.store.clone(), app.registry.clone(), &app.url);
    let acme = app.store.tenant("acme").await.unwrap().unwrap();
    let mut stream = Box::pin(scim_delivery::subscribe(feed, acme, 1, EventFilter::all()));
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(stream.next().await.unwrap().unwrap());
    }
    // And it waits for what comes next.
    let next = tokio::spawn(async move {
        let e = stream.next().await.unwrap().unwrap();
        (e, stream)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.create_user("s3").await;
    let (last, _stream) = next.await.unwrap();
    got.push(last);
    let fed = app.all_events("acme").await;
    let as_json: Vec<Value> = got
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(as_json, fed[1..]);
    assert_eq!(got[2].data.resource.as_ref().unwrap()["userName"], "s3");
}
