//! The audit routes over real HTTP: an Okta-style sequence through the SCIM API, then the
//! auditor's questions at instants taken between its steps; bad input.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{App, GROUP_SCHEMA, USER_SCHEMA};

backend_tests!(
    an_auditor_asks_who_was_in_a_group_and_who_could_sign_in,
    audit_routes_refuse_bad_input_naming_the_parameter
);

async fn instant() -> String {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    at
}

fn values(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

async fn an_auditor_asks_who_was_in_a_group_and_who_could_sign_in(app: App) {
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let admins = app
        .scim(
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": [GROUP_SCHEMA], "displayName": "Payroll-Admins",
                "members": [{"value": alice}]}),
            ),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let outer = app
        .scim(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Finance",
                "members": [{"value": admins}]})),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t1 = instant().await;
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "add", "path": "members", "value": [{"value": bob}]},
               {"op": "remove", "path": format!("members[value eq \"{alice}\"]")}]),
    )
    .await;
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await
    .expect(200);
    let t2 = instant().await;

    let m1 = app
        .admin_get(&format!(
            "/tenants/acme/audit/groups/{admins}/members?at={}",
            urlencode(&t1)
        ))
        .await
        .expect(200);
    assert_eq!(values(&m1.body["members"]), vec![alice.clone()]);
    assert_eq!(m1.body["members"][0]["type"], "User");
    assert_eq!(m1.body["members"][0]["direct"], true);
    let m2 = app
        .admin_get(&format!(
            "/tenants/acme/audit/groups/{admins}/members?at={}",
            urlencode(&t2)
        ))
        .await
        .expect(200);
    assert_eq!(values(&m2.body["members"]), vec![bob.clone()]);
    // Nested: Finance contains Payroll-Admins, and through it alice (at t1).
    let n1 = app
        .admin_get(&format!(
            "/tenants/acme/audit/groups/{outer}/members?at={}",
            urlencode(&t1)
        ))
        .await
        .expect(200);
    let mut want = vec![admins.clone(), alice.clone()];
    want.sort();
    assert_eq!(values(&n1.body["members"]), want);
    let via_alice = n1.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == alice.as_str())
        .unwrap();
    assert_eq!(via_alice["direct"], false);
    assert_eq!(via_alice["via"], json!([admins]));
    let direct_only = app
        .admin_get(&format!(
            "/tenants/acme/audit/groups/{outer}/members?at={}&nested=false",
            urlencode(&t1)
        ))
        .await
        .expect(200);
    assert_eq!(values(&direct_only.body["members"]), vec![admins.clone()]);

    // Who could sign in.
    let users = |r: &Value| -> Vec<String> {
        let mut v: Vec<String> = r["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let a1 = app
        .admin_get(&format!(
            "/tenants/acme/audit/users/active?at={}",
            urlencode(&t1)
        ))
        .await
        .expect(200);
    assert_eq!(users(&a1.body), ["alice@example.com", "bob@example.com"]);
    let a2 = app
        .admin_get(&format!(
            "/tenants/acme/audit/users/active?at={}",
            urlencode(&t2)
        ))
        .await
        .expect(200);
    assert_eq!(users(&a2.body), ["bob@example.com"]);
    let changes = app
        .admin_get(&format!(
            "/tenants/acme/audit/users/active-changes?from={}&to={}",
            urlencode(&t1),
            urlencode(&t2)
        ))
        .await
        .expect(200);
    assert_eq!(changes.body["changes"][0]["id"], alice.as_str());
    assert_eq!(changes.body["changes"][0]["new"], false);
    assert_eq!(changes.body["changes"][0]["token"], "okta");

    // A resource then and now; its history.
    let then = app
        .admin_get(&format!(
            "/tenants/acme/audit/resources/{alice}?at={}",
            urlencode(&t1)
        ))
        .await
        .expect(200);
    assert_eq!(then.body["resource"]["userName"], "alice@example.com");
    assert!(then.body["resource"].get("active").is_none());
    assert_eq!(then.body["resource"]["schemas"], json!([USER_SCHEMA]));
    let now = app
        .admin_get(&format!("/tenants/acme/audit/resources/{alice}"))
        .await
        .expect(200);
    assert_eq!(now.body["resource"]["active"], false);
    let h = app
        .admin_get(&format!("/tenants/acme/audit/resources/{alice}/history"))
        .await
        .expect(200);
    let ops: Vec<&str> = h.body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "patch"]);
    assert_eq!(h.body["changes"][1]["changes"][0]["attribute"], "active");
    assert_eq!(h.body["changes"][1]["actor"]["token"], "okta");
    assert!(h.body["changes"][1]["actor"]["requestId"].is_string());

    // Changes in the period, filtered; the diff between the two instants.
    let c = app
        .admin_get(&format!(
            "/tenants/acme/audit/changes?from={}&to={}&resourceType=Group&operation=patch",
            urlencode(&t1),
            urlencode(&t2)
        ))
        .await
        .expect(200);
    let records = c.body["changes"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{}", c.body);
    assert!(records.iter().all(|r| r["id"] == admins.as_str()));
    let d = app
        .admin_get(&format!(
            "/tenants/acme/audit/diff?from={}&to={}",
            urlencode(&t1),
            urlencode(&t2)
        ))
        .await
        .expect(200);
    let diff = &d.body["diff"];
    assert_eq!(diff["updated"][0]["id"], alice.as_str());
    assert_eq!(diff["updated"][0]["changes"][0]["attribute"], "active");
    assert_eq!(
        diff["membersAdded"],
        json!([{"group": admins, "value": bob, "type": "User"}])
    );
    assert_eq!(
        diff["membersRemoved"],
        json!([{"group": admins, "value": alice, "type": "User"}])
    );
}

async fn audit_routes_refuse_bad_input_naming_the_parameter(app: App) {
    let alice = app.create_user("alice@example.com").await;
    for (path, field) in [
        (
            format!("/tenants/acme/audit/resources/{alice}?at=yesterday"),
            "at",
        ),
        (
            format!("/tenants/acme/audit/resources/{alice}?at=2001-01-01T00:00:00Z"),
            "at",
        ),
        (
            "/tenants/acme/audit/users/active?at=14%2F03%2F2026".into(),
            "at",
        ),
        ("/tenants/acme/audit/diff?from=nope".into(), "from"),
        (
            "/tenants/acme/audit/changes?operation=upsert".into(),
            "operation",
        ),
        ("/tenants/acme/audit/changes?limit=0".into(), "limit"),
        ("/tenants/acme/audit/changes?color=red".into(), "color"),
        (
            "/tenants/acme/audit/groups/x/members?nested=maybe".into(),
            "nested",
        ),
    ] {
        let r = app
            .admin_get(&path)
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{path}: {}", r.body);
    }
    app.admin_get("/tenants/nope/audit/users/active")
        .await
        .expect_error(404, "tenant_not_found");
    app.admin_get("/tenants/acme/audit/groups/no-such-group/members")
        .await
        .expect_error(404, "not_found");
    app.admin_get("/tenants/acme/audit/resources/no-such-id")
        .await
        .expect_error(404, "not_found");
    // A SCIM token is not an administration token.
    let r = app
        .call(
            &app.scim_token,
            Method::GET,
            "/admin/v1/tenants/acme/audit/users/active",
            None,
        )
        .await;
    assert_eq!(r.status, 401);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
