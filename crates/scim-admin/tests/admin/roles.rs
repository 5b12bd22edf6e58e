//! Group-to-role mapping over real HTTP: rules by displayName, externalId, id and a
//! default; nested groups; roles recomputed in the write that changes memberships (readable
//! as soon as the SCIM write is answered); `user.roles_changed` events; the cost of a
//! recomputation counted in users; concurrent membership changes.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{App, GROUP_SCHEMA, USER_SCHEMA, types};

backend_tests!(
    roles_follow_rules_and_nested_memberships,
    recomputation_costs_the_users_affected_not_the_tenant,
    concurrent_membership_changes_end_with_the_right_roles,
    bad_rules_are_refused_naming_the_field,
    pattern_and_attribute_rules_follow_names_and_attributes,
    feed_users_carry_their_roles_as_of_each_event
);

impl App {
    async fn roles(&self, user: &str) -> Vec<String> {
        let r = self
            .admin_get(&format!("/tenants/acme/users/{user}/roles"))
            .await
            .expect(200);
        assert_eq!(r.body["user_id"], user);
        r.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    async fn rule(&self, role: &str, matches: &str, value: Option<&str>) -> String {
        let mut body = json!({"role": role, "match": matches});
        if let Some(v) = value {
            body["value"] = json!(v);
        }
        let r = self
            .call(
                &self.admin_token,
                Method::POST,
                "/admin/v1/tenants/acme/role-rules",
                Some(body),
            )
            .await
            .expect(201);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn group(&self, name: &str, external_id: Option<&str>, members: &[&str]) -> String {
        let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": name,
            "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>()});
        if let Some(e) = external_id {
            body["externalId"] = json!(e);
        }
        self.scim(Method::POST, "/Groups", Some(body))
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn recomputed(&self) -> u64 {
        let t = self.store.tenant("acme").await.unwrap().unwrap();
        scim_store::roles::recomputations(&t.uid)
    }
}

fn set(roles: &[&str]) -> Vec<String> {
    roles.iter().map(|s| s.to_string()).collect()
}

async fn roles_follow_rules_and_nested_memberships(app: App) {
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;
    let carol = app
        .scim(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER_SCHEMA], "userName": "carol", "active": false})),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admins = app.group("Eng-Admins", None, &[]).await;
    let platform = app.group("Platform", None, &[]).await;
    let staff = app.group("Staff", Some("ext-staff"), &[&bob, &carol]).await;
    assert!(app.roles(&alice).await.is_empty());

    app.rule("admin", "group_display_name", Some("eng-admins"))
        .await;
    app.rule("viewer", "group_id", Some(&platform)).await;
    app.rule("staff", "group_external_id", Some("ext-staff"))
        .await;
    let default = app.rule("member", "default", None).await;
    // Adding rules gave the roles they imply at once.
    assert_eq!(app.roles(&bob).await, set(&["member", "staff"]));
    assert_eq!(
        app.roles(&carol).await,
        set(&["staff"]),
        "no default role while inactive"
    );
    assert_eq!(app.roles(&alice).await, set(&["member"]));

    // Nested: alice in Platform, Platform in Eng-Admins. Readable as soon as answered.
    app.patch(
        &format!("/Groups/{platform}"),
        json!([{"op": "add", "path": "members", "value": [{"value": alice}]}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&alice).await, set(&["member", "viewer"]));
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "add", "path": "members", "value": [{"value": platform}]}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&alice).await, set(&["admin", "member", "viewer"]));
    // Reactivation brings the default role.
    app.patch(
        &format!("/Users/{carol}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&carol).await, set(&["member", "staff"]));
    // Renaming a group that a rule names by externalId changes nothing; changing the
    // externalId does.
    app.patch(
        &format!("/Groups/{staff}"),
        json!([{"op": "replace", "path": "displayName", "value": "All staff"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&bob).await, set(&["member", "staff"]));
    app.patch(
        &format!("/Groups/{staff}"),
        json!([{"op": "replace", "path": "externalId", "value": "ext-other"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&bob).await, set(&["member"]));
    // Renaming a group into a rule's name gives its role.
    app.patch(
        &format!("/Groups/{staff}"),
        json!([{"op": "replace", "path": "displayName", "value": "ENG-ADMINS"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&bob).await, set(&["admin", "member"]));
    // Un-nesting, and deleting a group, take roles away.
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{platform}\"]")}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&alice).await, set(&["member", "viewer"]));
    app.scim(Method::DELETE, &format!("/Groups/{platform}"), None)
        .await
        .expect(204);
    assert_eq!(app.roles(&alice).await, set(&["member"]));
    // Removing the default rule.
    app.call(
        &app.admin_token,
        Method::DELETE,
        &format!("/admin/v1/tenants/acme/role-rules/{default}"),
        None,
    )
    .await
    .expect(200);
    assert!(app.roles(&alice).await.is_empty());
    let rules = app
        .admin_get("/tenants/acme/role-rules")
        .await
        .expect(200)
        .body;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 3);
    // A deleted user has no roles to read.
    app.scim(Method::DELETE, &format!("/Users/{bob}"), None)
        .await
        .expect(204);
    app.admin_get(&format!("/tenants/acme/users/{bob}/roles"))
        .await
        .expect_error(404, "resource_not_found");

    // Each change was an event, in the write's order.
    let events = app.all_events("acme").await;
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user.roles_changed")
        .collect();
    assert!(types(&events).contains(&"user.roles_changed".to_string()));
    let of_alice: Vec<(Value, Value)> = changes
        .iter()
        .filter(|e| e["data"]["id"] == alice.as_str())
        .map(|e| {
            (
                e["data"]["roles"]["added"].clone(),
                e["data"]["roles"]["removed"].clone(),
            )
        })
        .collect();
    assert_eq!(
        of_alice,
        vec![
            (json!(["member"]), json!([])),
            (json!(["viewer"]), json!([])),
            (json!(["admin"]), json!([])),
            (json!([]), json!(["admin"])),
            (json!([]), json!(["viewer"])),
            (json!([]), json!(["member"])),
        ]
    );
    let first = changes[0];
    assert_eq!(first["data"]["resourceType"], "User");
    assert!(
        first["actor"]["token"]
            .as_str()
            .unwrap()
            .starts_with("admin:")
    );
    // The feed's type filter knows it.
    let only = app
        .admin_get("/tenants/acme/events?types=user.roles_changed&limit=1000")
        .await
        .expect(200)
        .body;
    assert_eq!(only["events"].as_array().unwrap().len(), changes.len());
}

async fn recomputation_costs_the_users_affected_not_the_tenant(app: App) {
    const N: usize = 300;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(app.create_user(&format!("user{i:04}")).await);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let big = app.group("Everyone", None, &refs).await;
    // No rules: writes recompute nobody.
    assert_eq!(app.recomputed().await, 0);
    let before = app.recomputed().await;
    app.rule("employee", "group_display_name", Some("Everyone"))
        .await;
    assert_eq!(
        app.recomputed().await - before,
        N as u64,
        "a new rule recomputes its group's users"
    );
    assert_eq!(app.roles(&ids[17]).await, set(&["employee"]));

    // One member added to the large group: one user recomputed.
    let newcomer = app.create_user("newcomer").await;
    let before = app.recomputed().await;
    app.patch(
        &format!("/Groups/{big}"),
        json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}]),
    )
    .await
    .expect_status_in(&[200, 204]);
    assert_eq!(app.recomputed().await - before, 1);
    assert_eq!(app.roles(&newcomer).await, set(&["employee"]));
    // One removed: one user.
    let before = app.recomputed().await;
    app.patch(
        &format!("/Groups/{big}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[5])}]),
    )
    .await
    .expect_status_in(&[200, 204]);
    assert_eq!(app.recomputed().await - before, 1);
    assert!(app.roles(&ids[5]).await.is_empty());
    // A user's own change: that user.
    let before = app.recomputed().await;
    app.patch(
        &format!("/Users/{}", ids[9]),
        json!([{"op": "replace", "path": "displayName", "value": "Nine"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.recomputed().await - before, 1);
    // A change of the group that no rule depends on (its other attributes): nobody.
    let before = app.recomputed().await;
    app.patch(
        &format!("/Groups/{big}"),
        json!([{"op": "add", "path": "externalId", "value": "x"}]),
    )
    .await
    .expect_status_in(&[200, 204]);
    assert_eq!(app.recomputed().await - before, 0);
}

async fn concurrent_membership_changes_end_with_the_right_roles(app: App) {
    let user = app.create_user("busy").await;
    let mut groups = Vec::new();
    for i in 0..8 {
        let g = app.group(&format!("team-{i}"), None, &[]).await;
        app.rule(&format!("role-{i}"), "group_id", Some(&g)).await;
        groups.push(g);
    }
    let patch_all = |op: &'static str, which: Vec<String>| {
        let mut tasks = Vec::new();
        for g in which {
            let (client, url, token, user) = (
                app.client.clone(),
                app.url.clone(),
                app.scim_token.clone(),
                user.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let ops = if op == "add" {
                    json!([{"op": "add", "path": "members", "value": [{"value": user}]}])
                } else {
                    json!([{"op": "remove", "path": format!("members[value eq \"{user}\"]")}])
                };
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
                client.patch(format!("{url}/scim/v2/acme/Groups/{g}")).bearer_auth(token)
                    .header("content-type", "application/scim+json").body(body.to_string())
                    .send().await.unwrap().status().as_u16()
            }));
        }
        tasks
    };
    for t in patch_all("add", groups.clone()) {
        assert!(matches!(t.await.unwrap(), 200 | 204));
    }
    let all: BTreeSet<String> = (0..8).map(|i| format!("role-{i}")).collect();
    assert_eq!(
        app.roles(&user).await.into_iter().collect::<BTreeSet<_>>(),
        all
    );
    let evens: Vec<String> = groups.iter().step_by(2).cloned().collect();
    for t in patch_all("remove", evens) {
        assert!(matches!(t.await.unwrap(), 200 | 204));
    }
    let odd: BTreeSet<String> = (0..8)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("role-{i}"))
        .collect();
    assert_eq!(
        app.roles(&user).await.into_iter().collect::<BTreeSet<_>>(),
        odd
    );
    // The events, replayed in order, give the same roles.
    let mut replayed = BTreeSet::new();
    for e in app
        .all_events("acme")
        .await
        .iter()
        .filter(|e| e["type"] == "user.roles_changed")
    {
        for r in e["data"]["roles"]["added"].as_array().unwrap() {
            replayed.insert(r.as_str().unwrap().to_string());
        }
        for r in e["data"]["roles"]["removed"].as_array().unwrap() {
            replayed.remove(r.as_str().unwrap());
        }
    }
    assert_eq!(replayed, odd);
}

async fn bad_rules_are_refused_naming_the_field(app: App) {
    let user = app.create_user("u").await;
    for (body, field) in [
        (
            json!({"role": "a", "match": "group_colour", "value": "x"}),
            "match",
        ),
        (
            json!({"role": "a", "match": "default", "value": "x"}),
            "value",
        ),
        (json!({"role": "a", "match": "group_id"}), "value"),
        (json!({"role": "", "match": "default"}), "role"),
        (json!({"match": "default"}), "role"),
        (
            json!({"role": "a", "match": "default", "extra": 1}),
            "extra",
        ),
        (
            json!({"role": "a", "match": "default", "pattern": true}),
            "pattern",
        ),
        (
            json!({"role": "a", "match": "group_id", "value": 7}),
            "value",
        ),
        (
            json!({"role": "a", "match": "group_id", "value": "g", "pattern": "yes"}),
            "pattern",
        ),
        // A filter that does not parse, one naming a missing attribute, one of the wrong
        // type, and none at all.
        (
            json!({"role": "a", "match": "user_filter", "value": "department eq"}),
            "value",
        ),
        (
            json!({"role": "a", "match": "user_filter",
                "value": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize eq \"9\""}),
            "value",
        ),
        (
            json!({"role": "a", "match": "user_filter", "value": "active eq \"maybe\""}),
            "value",
        ),
        (json!({"role": "a", "match": "user_filter"}), "value"),
    ] {
        let r = app
            .call(
                &app.admin_token,
                Method::POST,
                "/admin/v1/tenants/acme/role-rules",
                Some(body.clone()),
            )
            .await
            .expect_error(400, "invalid_request");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        if body["value"]
            .as_str()
            .is_some_and(|v| v.contains("shoeSize"))
        {
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(message.contains("shoeSize"), "{message}");
        }
    }
    let rules = app
        .admin_get("/tenants/acme/role-rules")
        .await
        .expect(200)
        .body;
    assert_eq!(rules["rules"], json!([]));
    app.call(
        &app.admin_token,
        Method::DELETE,
        "/admin/v1/tenants/acme/role-rules/rr_nope",
        None,
    )
    .await
    .expect_error(404, "role_rule_not_found");
    app.admin_get("/tenants/acme/users/nope/roles")
        .await
        .expect_error(404, "resource_not_found");
    app.admin_get("/tenants/nobody/role-rules")
        .await
        .expect_error(404, "tenant_not_found");
    assert!(app.roles(&user).await.is_empty());
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn pattern_and_attribute_rules_follow_names_and_attributes(app: App) {
    let ann = app
        .scim(
            Method::POST,
            "/Users",
            Some(
                json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "ann",
                ENTERPRISE: {"department": "Finance"}}),
            ),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ben = app.create_user("ben").await;
    let eng = app.group("Eng-Backend", Some("eng-1"), &[&ben]).await;
    let sales = app.group("Sales", Some("okta-sales"), &[&ann]).await;

    // Patterns: displayName case-insensitively, externalId exactly.
    app.call(
        &app.admin_token,
        Method::POST,
        "/admin/v1/tenants/acme/role-rules",
        Some(json!({"role": "engineer", "match": "group_display_name", "value": "eng-*", "pattern": true})),
    )
    .await
    .expect(201);
    let by_ext = app
        .call(
            &app.admin_token,
            Method::POST,
            "/admin/v1/tenants/acme/role-rules",
            Some(json!({"role": "okta", "match": "group_external_id", "value": "okta-?????", "pattern": true})),
        )
        .await
        .expect(201);
    assert_eq!(by_ext.body["pattern"], true);
    // The department rule, on a filter written with a short name and any case.
    let finance = app
        .call(
            &app.admin_token,
            Method::POST,
            "/admin/v1/tenants/acme/role-rules",
            Some(json!({"role": "finance", "match": "user_filter",
                "value": format!("{ENTERPRISE}:department eq \"finance\"")})),
        )
        .await
        .expect(201);
    assert_eq!(finance.body["match"], "user_filter");
    assert_eq!(app.roles(&ben).await, set(&["engineer"]));
    assert_eq!(
        app.roles(&ann).await,
        set(&["finance", "okta"]),
        "okta-sales: five characters after okta-"
    );

    // Attributes change: the user's own write recomputes its roles, counted as one user.
    let before = app.recomputed().await;
    app.patch(
        &format!("/Users/{ann}"),
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&ann).await, set(&["okta"]));
    assert_eq!(app.recomputed().await - before, 1);
    app.scim(
        Method::PUT,
        &format!("/Users/{ben}"),
        Some(
            json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "ben",
            ENTERPRISE: {"department": "Finance"}}),
        ),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&ben).await, set(&["engineer", "finance"]));

    // Renaming groups in and out of a pattern.
    app.patch(
        &format!("/Groups/{eng}"),
        json!([{"op": "replace", "path": "displayName", "value": "Backend"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&ben).await, set(&["finance"]));
    app.patch(
        &format!("/Groups/{sales}"),
        json!([{"op": "replace", "path": "displayName", "value": "ENG-Sales"},
            {"op": "replace", "path": "externalId", "value": "okta-sales-emea"}]),
    )
    .await
    .expect(200);
    assert_eq!(app.roles(&ann).await, set(&["engineer"]));

    // The rule kept resolved survives being read back and listed.
    let rules = app
        .admin_get("/tenants/acme/role-rules")
        .await
        .expect(200)
        .body;
    let listed: BTreeSet<(String, bool)> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["match"].as_str().unwrap().to_string(),
                r["pattern"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            ("group_display_name".to_string(), true),
            ("group_external_id".to_string(), true),
            ("user_filter".to_string(), false),
        ])
    );
    // The directory's user JSON carries the effective roles (beside SCIM's own `roles`).
    let page = app
        .admin_get("/tenants/acme/users?filter=userName%20eq%20%22ben%22")
        .await
        .expect(200)
        .body;
    assert_eq!(
        page["resources"][0]["effectiveRoles"],
        json!(["finance"]),
        "{page}"
    );
    let one = app
        .admin_get(&format!("/tenants/acme/users/{ann}"))
        .await
        .expect(200)
        .body;
    assert_eq!(one["effectiveRoles"], json!(["engineer"]), "{one}");
    let groups = app.admin_get("/tenants/acme/groups").await.expect(200).body;
    assert!(groups["resources"][0].get("effectiveRoles").is_none());
    // Removing the attribute rule takes its role away.
    let id = finance.body["id"].as_str().unwrap();
    app.call(
        &app.admin_token,
        Method::DELETE,
        &format!("/admin/v1/tenants/acme/role-rules/{id}"),
        None,
    )
    .await
    .expect(200);
    assert!(app.roles(&ben).await.is_empty());
}

/// The user in `user.*` events carries its effective roles as they were right after that
/// event's write (with the recompute it made), in the directory's JSON, not the roles now.
async fn feed_users_carry_their_roles_as_of_each_event(app: App) {
    app.rule("member", "default", None).await;
    app.rule("admin", "group_display_name", Some("Admins"))
        .await;
    let alice = app.create_user("alice").await;
    let admins = app.group("Admins", None, &[]).await;
    // A membership change gives a role; a later change of the user carries it.
    app.patch(
        &format!("/Groups/{admins}"),
        json!([{"op": "add", "path": "members", "value": [{"value": alice}]}]),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "displayName", "value": "Alice"}]),
    )
    .await
    .expect(200);
    // Deactivation takes the default role away in the same write.
    app.patch(
        &format!("/Users/{alice}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await
    .expect(200);

    let events = app.all_events("acme").await;
    let of_alice = |t: &str| -> Value {
        events
            .iter()
            .find(|e| e["type"] == t && e["data"]["id"] == alice.as_str())
            .unwrap_or_else(|| panic!("no {t} of alice"))
            .clone()
    };
    let created = of_alice("user.created");
    assert_eq!(
        created["data"]["resource"]["effectiveRoles"],
        json!(["member"]),
        "{created}"
    );
    let updated = of_alice("user.updated");
    assert_eq!(
        updated["data"]["resource"]["effectiveRoles"],
        json!(["admin", "member"]),
        "{updated}"
    );
    let deactivated = of_alice("user.deactivated");
    assert_eq!(
        deactivated["data"]["resource"]["effectiveRoles"],
        json!(["admin"]),
        "{deactivated}"
    );
    // Re-reading the earlier event, alone on its page, still shows the earlier roles.
    let position = created["position"].as_i64().unwrap();
    let again = app
        .admin_get(&format!(
            "/tenants/acme/events?after={}&limit=1",
            position - 1
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(again["events"][0], created);
    let only_users = app
        .admin_get("/tenants/acme/events?types=user.created,user.updated&limit=1000")
        .await
        .expect(200)
        .body;
    assert_eq!(only_users["events"][0], created);
    assert_eq!(only_users["events"][1], updated);
    // The directory's representation of the same user.
    let user = app
        .admin_get(&format!("/tenants/acme/users/{alice}"))
        .await
        .expect(200)
        .body;
    assert_eq!(user["effectiveRoles"], json!(["admin"]));
    assert_eq!(user, deactivated["data"]["resource"]);
    // Groups and role changes carry no such member.
    for e in &events {
        if e["type"] != "user.created"
            && e["type"] != "user.updated"
            && e["type"] != "user.deactivated"
        {
            assert!(e["data"]["resource"].get("effectiveRoles").is_none(), "{e}");
        }
    }
}
