//! Okta provisioning: every request shape of IDP-COMPAT.md § Okta.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    GROUP_SCHEMA, SEARCH_REQUEST, TestServer, USER_SCHEMA, assert_absent, sorted,
};

backend_tests!(
    okta_application_json_content_type_is_accepted,
    okta_existence_check_with_start_index_and_count,
    okta_user_name_is_case_insensitive_for_filter_and_uniqueness,
    okta_user_name_case_change_of_the_same_user_is_allowed,
    okta_password_is_never_returned,
    okta_import_pages_are_stable_with_integer_counters,
    okta_put_with_whole_user_including_id_meta_and_groups,
    okta_deactivate_and_reactivate_with_pathless_replace,
    okta_group_push_and_rename_with_same_id,
    okta_remove_by_filter_and_add_in_one_patch,
    okta_replace_members_sets_the_whole_list,
    okta_bad_credentials_get_a_scim_401,
    okta_full_provisioning_cycle,
    okta_membership_patches_of_a_large_group_are_answered_204,
);

fn user_path(id: &str) -> String {
    format!("/Users/{id}")
}

fn group_path(id: &str) -> String {
    format!("/Groups/{id}")
}

/// The body Okta sends to create a user (from Okta's SCIM 2.0 reference).
fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true,
    })
}

/// Asserts that no part of a body mentions the password.
#[track_caller]
fn assert_no_password(body: &Value) {
    assert_absent(body, "password");
    assert!(
        !body.to_string().contains("1mz050nq"),
        "the password leaked: {body}"
    );
}

/// `Content-Type: application/json` is accepted on POST, PUT and PATCH.
async fn okta_application_json_content_type_is_accepted(s: TestServer) {
    let auth = s.auth_header();
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = |v: Value| Some(v.to_string().into_bytes());

    let created = s
        .raw(
            Method::POST,
            "/Users",
            &headers,
            body(okta_user("json@example.com")),
        )
        .await
        .expect(201);
    let id = created.id();
    let mut full = created.body.clone();
    full["displayName"] = json!("Put Via Json");
    let r = s
        .raw(Method::PUT, &user_path(&id), &headers, body(full))
        .await
        .expect(200);
    assert_eq!(r.body["displayName"], "Put Via Json");
    let r = s
        .raw(
            Method::PATCH,
            &user_path(&id),
            &headers,
            body(crate::support::patch_body(
                json!([{"op": "replace", "path": "title", "value": "T"}]),
            )),
        )
        .await
        .expect(200)
        .expect_scim_json();
    assert_eq!(r.body["title"], "T");
    let r = s
        .raw(
            Method::POST,
            "/Users/.search",
            &headers,
            body(
                json!({"schemas": [SEARCH_REQUEST], "filter": "userName eq \"json@example.com\""}),
            ),
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![id]);
}

/// `filter=userName eq "x"&startIndex=1&count=100` answers 200 with a list, empty or not.
async fn okta_existence_check_with_start_index_and_count(s: TestServer) {
    let r = s
        .filter(
            "Users",
            "userName eq \"isaac.brock@example.com\"",
            "&startIndex=1&count=100",
        )
        .await
        .expect_list(0, 0);
    assert_eq!(r.body["startIndex"], 1);
    let id = s
        .create_user_from(okta_user("isaac.brock@example.com"))
        .await
        .id();
    let r = s
        .filter(
            "Users",
            "userName eq \"isaac.brock@example.com\"",
            "&startIndex=1&count=100",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.resources()[0]["id"], json!(id));
    assert_eq!(r.resources()[0]["userName"], "isaac.brock@example.com");
    assert_no_password(&r.body);
}

/// userName is not case-exact: the filter matches in any case, a create differing only in
/// case is a 409 `uniqueness` that changes nothing, and the stored value keeps its case.
async fn okta_user_name_is_case_insensitive_for_filter_and_uniqueness(s: TestServer) {
    let id = s
        .create_user_from(okta_user("alice@example.com"))
        .await
        .id();
    let r = s
        .filter(
            "Users",
            "userName eq \"ALICE@EXAMPLE.COM\"",
            "&startIndex=1&count=100",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![id.clone()]);
    assert_eq!(
        r.resources()[0]["userName"],
        "alice@example.com",
        "values are stored as sent"
    );

    let changes = s.change_count().await;
    s.post("/Users", okta_user("Alice@Example.COM"))
        .await
        .expect_error(409, Some("uniqueness"));
    assert_eq!(s.change_count().await, changes);
    s.get("/Users").await.expect_list(1, 1);

    // Renaming another user onto it differing only in case is refused too.
    let bob = s.create_user("bob@example.com").await;
    s.patch_ops(
        &user_path(&bob),
        json!([{"op": "replace", "path": "userName", "value": "ALICE@example.com"}]),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    assert_eq!(
        s.get(&user_path(&bob)).await.body["userName"],
        "bob@example.com"
    );
}

/// Changing only the letter case of a user's own userName (PUT or PATCH) is not a
/// conflict with itself.
async fn okta_user_name_case_change_of_the_same_user_is_allowed(s: TestServer) {
    let id = s.create_user_from(okta_user("Case@Example.com")).await.id();
    let mut full = okta_user("case@example.com");
    full["id"] = json!(id);
    let r = s.put(&user_path(&id), full).await.expect(200);
    assert_eq!(r.body["userName"], "case@example.com");
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "path": "userName", "value": "CASE@example.com"}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["userName"], "CASE@example.com");
    s.filter("Users", "userName eq \"case@EXAMPLE.com\"", "")
        .await
        .expect_list(1, 1);
}

/// A create with `password`, `groups: []`, `locale` and `externalId`: the password is never
/// returned (POST, GET, list, PUT, PATCH, or when asked for by name).
async fn okta_password_is_never_returned(s: TestServer) {
    let created = s.create_user_from(okta_user("pw@example.com")).await;
    let id = created.id();
    assert_no_password(&created.body);
    assert_eq!(created.body["locale"], "en-US");
    assert_eq!(created.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_absent(&created.body, "groups");

    assert_no_password(&s.get(&user_path(&id)).await.expect(200).body);
    assert_no_password(
        &s.get(&format!("/Users/{id}?attributes=password,userName"))
            .await
            .expect(200)
            .body,
    );
    assert_no_password(
        &s.get("/Users?startIndex=1&count=100")
            .await
            .expect_list(1, 1)
            .body,
    );
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "value": {"password": "1mz050nq"}}]),
        )
        .await
        .expect(200);
    assert_no_password(&r.body);
    let mut full = okta_user("pw@example.com");
    full["id"] = json!(id);
    assert_no_password(&s.put(&user_path(&id), full).await.expect(200).body);
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH_REQUEST], "attributes": ["password", "userName"]}),
        )
        .await
        .expect_list(1, 1);
    assert_no_password(&r.body);
}

/// Import: `startIndex=1&count=100`, then 101, 201: every user exactly once, the same order
/// when a page is read again, and integer `totalResults`, `startIndex`, `itemsPerPage`.
async fn okta_import_pages_are_stable_with_integer_counters(s: TestServer) {
    let ids: HashSet<String> = s.seed_users("import", 205).await.into_iter().collect();
    let mut seen = Vec::new();
    for (start, len) in [(1u64, 100usize), (101, 100), (201, 5)] {
        let r = s
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await
            .expect_list(205, len);
        for counter in ["totalResults", "startIndex", "itemsPerPage"] {
            assert!(
                r.body[counter].is_u64(),
                "{counter} must be an integer: {}",
                r.body[counter]
            );
        }
        assert_eq!(r.body["startIndex"].as_u64(), Some(start));
        let again = s
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await
            .expect(200);
        assert_eq!(
            again.resource_ids(),
            r.resource_ids(),
            "page {start} reads the same twice"
        );
        seen.extend(r.resource_ids());
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 205, "no user twice");
    assert_eq!(unique, ids, "every user once");
}

/// Okta's PUT carries the whole user with `id`, `meta` and `groups: []`: accepted, the
/// attributes replaced, `id`/`created` kept, memberships untouched by the read-only `groups`.
async fn okta_put_with_whole_user_including_id_meta_and_groups(s: TestServer) {
    let created = s.create_user_from(okta_user("put@example.com")).await;
    let id = created.id();
    let g = s.create_group_with("Engineering", &[&id]).await;
    let mut full = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(full["groups"][0]["value"], json!(g));
    full["groups"] = json!([]);
    full["name"] = json!({"givenName": "Changed", "familyName": "User"});
    full["password"] = json!("1mz050nq");
    full.as_object_mut().unwrap().remove("locale");
    let r = s.put(&user_path(&id), full).await.expect(200);
    assert_no_password(&r.body);
    assert_eq!(r.body["id"], json!(id));
    assert_eq!(r.body["name"]["givenName"], "Changed");
    assert_absent(&r.body, "locale");
    assert_eq!(r.body["meta"]["created"], created.body["meta"]["created"]);
    assert_ne!(r.body["meta"]["version"], created.body["meta"]["version"]);
    assert_eq!(
        s.member_ids(&g).await,
        vec![id.clone()],
        "membership is not changed by groups: []"
    );
    assert_eq!(
        s.get(&user_path(&id)).await.body["groups"][0]["value"],
        json!(g)
    );
}

/// `{"op":"replace","value":{"active":false}}` deactivates and `true` reactivates.
async fn okta_deactivate_and_reactivate_with_pathless_replace(s: TestServer) {
    let id = s
        .create_user_from(okta_user("active@example.com"))
        .await
        .id();
    let v0 = s.get(&user_path(&id)).await.body["meta"]["version"].clone();
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(s.get(&user_path(&id)).await.body["active"], false);
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], true);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(b["active"], true);
    assert_ne!(b["meta"]["version"], v0);
    assert_eq!(b["userName"], "active@example.com");
}

/// Group push creates with `members: []`; rename sends the unchanged read-only `id` inside
/// the path-less value, which must not be an error.
async fn okta_group_push_and_rename_with_same_id(s: TestServer) {
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []}),
        )
        .await
        .expect(201);
    let g = r.id();
    assert_eq!(r.body["displayName"], "Test SCIMv2");
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([{"op": "replace", "value": {"id": g, "displayName": "Renamed SCIMv2"}}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["id"], json!(g));
    assert_eq!(r.body["displayName"], "Renamed SCIMv2");
    assert_eq!(
        s.get(&group_path(&g)).await.body["displayName"],
        "Renamed SCIMv2"
    );
    s.filter("Groups", "displayName eq \"Renamed SCIMv2\"", "")
        .await
        .expect_list(1, 1);
    s.filter("Groups", "displayName eq \"Test SCIMv2\"", "")
        .await
        .expect_list(0, 0);
}

/// One PATCH with `remove members[value eq "a"]` and `add members [{value:"b",display}]`.
async fn okta_remove_by_filter_and_add_in_one_patch(s: TestServer) {
    let a = s.create_user("a@example.com").await;
    let b = s.create_user("b@example.com").await;
    let c = s.create_user("c@example.com").await;
    let g = s.create_group_with("Push", &[&a, &c]).await;
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "add", "path": "members", "value": [{"value": b, "display": "b@example.com"}]},
            ]),
        )
        .await
        .expect(200);
    assert_eq!(
        crate::support::values_of(&r.body, "members"),
        sorted(&[&b, &c])
    );
    assert_eq!(s.member_ids(&g).await, sorted(&[&b, &c]));
}

/// `replace members [...]` sets the whole list.
async fn okta_replace_members_sets_the_whole_list(s: TestServer) {
    let a = s.create_user("a@example.com").await;
    let b = s.create_user("b@example.com").await;
    let c = s.create_user("c@example.com").await;
    let g = s.create_group_with("Push", &[&a, &b]).await;
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "replace", "path": "members", "value": [{"value": c, "display": "c"}, {"value": a, "display": "a"}]}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, sorted(&[&a, &c]));
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await
    .expect(200);
    assert!(
        s.member_ids(&g).await.is_empty(),
        "replace with [] empties the group"
    );
}

/// `Authorization: non-token`, a wrong token and no header at all: 401 SCIM errors with
/// `status` "401", a detail and a `WWW-Authenticate` challenge (RFC 6750 §3).
async fn okta_bad_credentials_get_a_scim_401(s: TestServer) {
    for auth in [
        Some("non-token"),
        Some("Bearer not-a-real-token"),
        Some("Basic dXNlcjpwYXNz"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = s
            .raw(
                Method::GET,
                "/Users?filter=userName%20eq%20%22x%22",
                &headers,
                None,
            )
            .await;
        let r = r.expect_error(401, None);
        assert_eq!(r.body["status"], "401");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "challenge for {auth:?}"
        );
    }
}

/// Okta's whole cycle: existence check, create, import, profile PUT, group push with
/// members, membership changes, deactivate and reactivate (Okta never deletes users).
async fn okta_full_provisioning_cycle(s: TestServer) {
    let name = "isaac.brock@example.com";
    s.filter(
        "Users",
        &format!("userName eq \"{name}\""),
        "&startIndex=1&count=100",
    )
    .await
    .expect_list(0, 0);
    let created = s.create_user_from(okta_user(name)).await;
    let id = created.id();
    assert_no_password(&created.body);
    let other = s
        .create_user_from(okta_user("other@example.com"))
        .await
        .id();

    // Import.
    let page = s
        .get("/Users?startIndex=1&count=100")
        .await
        .expect_list(2, 2);
    assert_eq!(
        sorted(
            &page
                .resource_ids()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        ),
        sorted(&[&id, &other])
    );

    // Profile update by PUT with the whole user.
    let mut full = s.get(&user_path(&id)).await.expect(200).body;
    full["groups"] = json!([]);
    full["name"]["familyName"] = json!("Brock");
    full["password"] = json!("1mz050nq");
    let r = s.put(&user_path(&id), full).await.expect(200);
    assert_eq!(r.body["name"]["familyName"], "Brock");
    assert_no_password(&r.body);

    // Group push, then memberships.
    let g = s
        .post("/Groups", json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "members": [{"value": id, "display": name}]}))
        .await
        .expect(201)
        .id();
    assert_eq!(s.member_ids(&g).await, vec![id.clone()]);
    s.patch_ops(
        &group_path(&g),
        json!([
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
            {"op": "add", "path": "members", "value": [{"value": other, "display": "other@example.com"}]},
        ]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, vec![other.clone()]);
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "replace", "path": "members", "value": [{"value": id}, {"value": other}]}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, sorted(&[&id, &other]));
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "replace", "value": {"id": g, "displayName": "Engineering 2"}}]),
    )
    .await
    .expect(200);

    // Deactivate, then reactivate.
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "replace", "value": {"active": false}}]),
    )
    .await
    .expect(200);
    let r = s
        .filter(
            "Users",
            &format!("userName eq \"{name}\""),
            "&startIndex=1&count=100",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resources()[0]["active"], false);
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "replace", "value": {"active": true}}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(b["active"], true);
    assert_eq!(b["groups"][0]["value"], json!(g));
    assert_eq!(b["groups"][0]["display"], "Engineering 2");
}

/// Okta pushes group memberships without `attributes`/`excludedAttributes` and documents
/// `204 No Content` as the answer: a group over the server's limit (default 100 members)
/// gets it, for the remove-and-add PATCH and for `replace members`; each change is applied.
async fn okta_membership_patches_of_a_large_group_are_answered_204(s: TestServer) {
    let g = s.seed_group("Everyone", "okta", 150).await;
    let a = s.create_user("a@example.com").await;
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([
                {"op": "remove", "path": "members[value eq \"okta-0000000\"]"},
                {"op": "add", "path": "members", "value": [{"value": a, "display": "a@example.com"}]},
            ]),
        )
        .await
        .expect(204);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let members = s.member_ids(&g).await;
    assert_eq!(members.len(), 150);
    assert!(members.contains(&a) && !members.contains(&"okta-0000000".to_string()));

    // The whole list replaced by 120 members: still over the limit, still 204.
    let mut list: Vec<Value> = (0..119)
        .map(|i| json!({"value": format!("okta-{i:07}")}))
        .collect();
    list.push(json!({"value": a, "display": "a@example.com"}));
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "replace", "path": "members", "value": list}]),
    )
    .await
    .expect(204);
    let members = s.member_ids(&g).await;
    assert_eq!(members.len(), 120);
    assert!(members.contains(&a) && members.contains(&"okta-0000000".to_string()));
    // Down to a handful: the whole group comes back with 200 again.
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([{"op": "replace", "path": "members", "value": [{"value": a, "display": "a@example.com"}]}]),
        )
        .await
        .expect(200);
    assert_eq!(crate::support::values_of(&r.body, "members"), vec![a]);
}
