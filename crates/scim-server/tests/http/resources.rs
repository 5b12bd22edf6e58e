//! Resource semantics of RFC 7644 §3: ETags and conditional requests, Location, media type,
//! attribute projection, sorting, index and cursor pagination, `/.search`, group
//! memberships (direct, nested, on delete) and soft delete.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    ENTERPRISE, GROUP_SCHEMA, LIST_RESPONSE, Reply, SEARCH_REQUEST, TestServer, USER_SCHEMA,
    assert_absent, enc, patch_body, sorted, values_of,
};

backend_tests!(
    resources_root_search_pages_across_resource_types,
    resources_if_match_accepts_every_spelling_of_the_tag,
    resources_etag_header_equals_meta_version_and_changes_on_every_write,
    resources_if_none_match_current_is_304,
    resources_if_match_current_succeeds_and_stale_fails,
    resources_patch_answers_200_with_the_resource,
    resources_put_replaces_the_whole_resource,
    resources_put_on_a_group_replaces_its_members,
    resources_location_of_201_is_meta_location,
    resources_content_type_is_scim_json_everywhere,
    resources_attributes_projection,
    resources_excluded_attributes_projection,
    resources_projection_on_write_responses,
    resources_sort_by_user_name_case_insensitive_both_orders,
    resources_sort_by_meta_created,
    resources_sort_puts_absent_values_last_ascending_first_descending,
    resources_index_pagination_edges,
    resources_count_above_maximum_is_lowered,
    resources_cursor_pagination_sees_every_survivor_once,
    resources_invalid_cursor_is_invalid_cursor,
    resources_filter_operators,
    resources_filter_on_user_groups,
    resources_filter_boolean_with_string_value_is_not_silently_empty,
    resources_datetime_filters_compare_instants,
    resources_search_per_resource_type,
    resources_search_at_root,
    resources_user_groups_direct_and_indirect,
    resources_nested_group_cycle_does_not_hang,
    resources_deleting_a_user_removes_it_from_every_group,
    resources_deleting_a_group_removes_it_from_parent_groups,
    resources_soft_delete_and_restore,
    resources_groups_containing_groups,
    resources_patch_replace_on_complex_keeps_other_sub_attributes,
    resources_patch_on_multi_valued_attributes,
    resources_only_one_primary_value,
    resources_remove_members_without_value_empties_the_group,
    resources_attribute_names_are_case_insensitive,
    resources_client_supplied_id_and_meta_are_ignored,
    resources_meta_timestamps,
    resources_concurrent_member_adds_are_all_kept,
    resources_concurrent_patches_are_not_lost,
    resources_concurrent_duplicate_creates_yield_one_user,
    resources_soft_deleted_user_name_can_be_reused,
);

fn user_path(id: &str) -> String {
    format!("/Users/{id}")
}

fn group_path(id: &str) -> String {
    format!("/Groups/{id}")
}

/// A user with most kinds of attributes.
fn full_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
        "emails": [{"value": user_name, "type": "work", "primary": true}, {"value": "home@example.com", "type": "home"}],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "active": true,
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations", "costCenter": "4130"},
    })
}

/// Asserts that the ETag header is the body's `meta.version`, and returns it.
#[track_caller]
fn etag_of(r: &Reply) -> String {
    let tag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag header: {}", r.body))
        .to_string();
    assert_eq!(
        r.body["meta"]["version"].as_str(),
        Some(tag.as_str()),
        "ETag header vs meta.version"
    );
    tag
}

/// The top-level keys of a resource, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Creates users with these userNames one after the other (distinct `meta.created`).
async fn users_in_order(s: &TestServer, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for n in names {
        ids.push(s.create_user(n).await);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    ids
}

/// A request to `path` with `If-Match: tag`.
async fn if_match(
    s: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
    tag: &str,
) -> Reply {
    s.call_as(&s.token, "acme", method, path, body, &[("if-match", tag)])
        .await
}

/// The userNames of a list page, in order.
fn user_names(r: &Reply) -> Vec<String> {
    r.resources()
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or("<none>").to_string())
        .collect()
}

/// `ETag` equals `meta.version` on POST, GET, PUT and PATCH of users and groups, and the
/// version changes on every write (a membership change included).
async fn resources_etag_header_equals_meta_version_and_changes_on_every_write(s: TestServer) {
    let mut seen = Vec::new();
    let created = s
        .post("/Users", full_user("etag@example.com"))
        .await
        .expect(201);
    let id = created.id();
    seen.push(etag_of(&created));
    assert_eq!(etag_of(&s.get(&user_path(&id)).await.expect(200)), seen[0]);
    let mut body = full_user("etag@example.com");
    body["title"] = json!("Changed");
    seen.push(etag_of(&s.put(&user_path(&id), body).await.expect(200)));
    assert_eq!(etag_of(&s.get(&user_path(&id)).await), seen[1]);
    seen.push(etag_of(
        &s.patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "path": "title", "value": "Again"}]),
        )
        .await
        .expect(200),
    ));
    assert_eq!(etag_of(&s.get(&user_path(&id)).await), seen[2]);

    let g = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "E"}),
        )
        .await
        .expect(201);
    let gid = g.id();
    let mut gseen = vec![etag_of(&g)];
    gseen.push(etag_of(
        &s.patch_ops(
            &group_path(&gid),
            json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
        )
        .await
        .expect(200),
    ));
    gseen.push(etag_of(
        &s.put(
            &group_path(&gid),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "E2"}),
        )
        .await
        .expect(200),
    ));
    assert_eq!(etag_of(&s.get(&group_path(&gid)).await), gseen[2]);
    for tags in [&seen, &gseen] {
        let unique: HashSet<&String> = tags.iter().collect();
        assert_eq!(
            unique.len(),
            tags.len(),
            "every write gives a new version: {tags:?}"
        );
    }
}

/// `If-None-Match` with the current tag (or `*`) answers 304 with the ETag and no body; a
/// stale tag answers 200. On a write, a matching `If-None-Match` is a 412.
async fn resources_if_none_match_current_is_304(s: TestServer) {
    let id = s.create_user("inm@example.com").await;
    let tag = s
        .get(&user_path(&id))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    for h in [tag.as_str(), "*", &format!("W/\"nope\", {tag}")] {
        let r = s
            .call_as(
                &s.token,
                "acme",
                Method::GET,
                &user_path(&id),
                None,
                &[("if-none-match", h)],
            )
            .await;
        assert_eq!(r.status.as_u16(), 304, "If-None-Match {h}");
        assert!(r.text.is_empty(), "304 has no body");
        assert_eq!(r.header("etag"), Some(tag.as_str()));
    }
    let r = s
        .call_as(
            &s.token,
            "acme",
            Method::GET,
            &user_path(&id),
            None,
            &[("if-none-match", "W/\"999\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.body["id"], json!(id));
    let before = s.snapshot(&user_path(&id)).await;
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "x"}]));
    s.call_as(
        &s.token,
        "acme",
        Method::PATCH,
        &user_path(&id),
        Some(patch),
        &[("if-none-match", &tag)],
    )
    .await
    .expect_error(412, None);
    s.assert_unchanged(&user_path(&id), &before).await;
}

/// `If-Match` with the current tag lets GET, PUT, PATCH and DELETE through; a stale one is a
/// 412 (lost-update protection).
async fn resources_if_match_current_succeeds_and_stale_fails(s: TestServer) {
    let id = s.create_user("im@example.com").await;
    let path = user_path(&id);
    let t0 = s.get(&path).await.header("etag").unwrap().to_string();
    if_match(&s, Method::GET, &path, None, &t0)
        .await
        .expect(200);
    let put = json!({"schemas": [USER_SCHEMA], "userName": "im@example.com", "title": "One"});
    let t1 = etag_of(
        &if_match(&s, Method::PUT, &path, Some(put.clone()), &t0)
            .await
            .expect(200),
    );
    if_match(&s, Method::PUT, &path, Some(put), &t0)
        .await
        .expect_error(412, None);
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "Two"}]));
    let t2 = etag_of(
        &if_match(&s, Method::PATCH, &path, Some(patch.clone()), &t1)
            .await
            .expect(200),
    );
    if_match(&s, Method::PATCH, &path, Some(patch), &t1)
        .await
        .expect_error(412, None);
    if_match(&s, Method::GET, &path, None, &t1)
        .await
        .expect_error(412, None);
    if_match(&s, Method::DELETE, &path, None, &t1)
        .await
        .expect_error(412, None);
    assert_eq!(s.get(&path).await.body["title"], "Two");
    if_match(&s, Method::DELETE, &path, None, &t2)
        .await
        .expect(204);
    s.get(&path).await.expect_error(404, None);
}

/// PATCH answers 200 with the whole updated resource (not 204), for users and groups.
async fn resources_patch_answers_200_with_the_resource(s: TestServer) {
    let id = s.create_user_from(full_user("p@example.com")).await.id();
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "path": "nickName", "value": "Babs"}]),
        )
        .await
        .expect(200)
        .expect_scim_json();
    assert_eq!(r.body["nickName"], "Babs");
    assert_eq!(r.body["userName"], "p@example.com");
    assert_eq!(
        r.body["meta"]["location"],
        format!("{}/Users/{id}", s.base("acme"))
    );
    assert_eq!(r.body, s.get(&user_path(&id)).await.body);
    let g = s.create_group_with("P", &[&id]).await;
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([{"op": "replace", "path": "displayName", "value": "Q"}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["displayName"], "Q");
    assert_eq!(values_of(&r.body, "members"), vec![id.clone()]);
    assert_eq!(r.body, s.get(&group_path(&g)).await.body);
}

/// PUT replaces: attributes left out are gone, `id` and `meta.created` stay.
async fn resources_put_replaces_the_whole_resource(s: TestServer) {
    let created = s.create_user_from(full_user("put@example.com")).await;
    let id = created.id();
    let r = s
        .put(
            &user_path(&id),
            json!({"schemas": [USER_SCHEMA], "userName": "put@example.com", "nickName": "only"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["nickName"], "only");
    for key in [
        "title",
        "emails",
        "name",
        "phoneNumbers",
        "displayName",
        ENTERPRISE,
    ] {
        assert_absent(&r.body, key);
    }
    assert_eq!(r.body["schemas"], json!([USER_SCHEMA]));
    assert_eq!(r.body["id"], json!(id));
    assert_eq!(r.body["meta"]["created"], created.body["meta"]["created"]);
    assert_eq!(r.body, s.get(&user_path(&id)).await.body);
}

/// PUT on a group sets exactly the members it lists; without `members` the group is emptied.
async fn resources_put_on_a_group_replaces_its_members(s: TestServer) {
    let a = s.create_user("a").await;
    let b = s.create_user("b").await;
    let c = s.create_user("c").await;
    let g = s.create_group_with("G", &[&a, &b]).await;
    let r = s
        .put(
            &group_path(&g),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": c}, {"value": a}]}),
        )
        .await
        .expect(200);
    assert_eq!(values_of(&r.body, "members"), sorted(&[&a, &c]));
    assert_eq!(s.member_ids(&g).await, sorted(&[&a, &c]));
    assert_absent(&s.get(&user_path(&b)).await.body, "groups");
    let r = s
        .put(
            &group_path(&g),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "G2"}),
        )
        .await
        .expect(200);
    assert_absent(&r.body, "members");
    assert!(s.member_ids(&g).await.is_empty());
    assert_eq!(s.get(&group_path(&g)).await.body["displayName"], "G2");
}

/// A 201 carries `Location` equal to `meta.location`, the resource's URL in its tenant.
async fn resources_location_of_201_is_meta_location(s: TestServer) {
    let u = s
        .post("/Users", full_user("loc@example.com"))
        .await
        .expect(201);
    let g = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Loc"}),
        )
        .await
        .expect(201);
    for (r, endpoint) in [(&u, "Users"), (&g, "Groups")] {
        let expected = format!("{}/{endpoint}/{}", s.base("acme"), r.id());
        assert_eq!(r.header("location"), Some(expected.as_str()));
        assert_eq!(r.body["meta"]["location"], json!(expected));
        let read = s.get(&format!("/{endpoint}/{}", r.id())).await.expect(200);
        assert_eq!(read.body["meta"]["location"], json!(expected));
        // And the URL works.
        s.get(&expected).await.expect(200);
    }
}

/// Every response with a body is `application/scim+json`: resources, lists, searches,
/// discovery, bulk and errors of every status.
async fn resources_content_type_is_scim_json_everywhere(s: TestServer) {
    let u = s
        .post("/Users", full_user("ct@example.com"))
        .await
        .expect(201)
        .expect_scim_json();
    let id = u.id();
    let dup = s.post("/Users", full_user("ct@example.com")).await;
    let mut replies = vec![
        s.get(&user_path(&id)).await,
        s.get("/Users").await,
        s.filter("Users", "userName eq \"ct@example.com\"", "")
            .await,
        s.put(&user_path(&id), full_user("ct@example.com")).await,
        s.patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )
        .await,
        s.post("/Users/.search", json!({"schemas": [SEARCH_REQUEST]}))
            .await,
        s.post("/.search", json!({"schemas": [SEARCH_REQUEST]}))
            .await,
        s.get("/ServiceProviderConfig").await,
        s.get("/ResourceTypes").await,
        s.get("/ResourceTypes/User").await,
        s.get("/Schemas").await,
        s.get(&format!("/Schemas/{USER_SCHEMA}")).await,
        s.post(
            "/Bulk",
            json!({"schemas": [crate::support::BULK_REQUEST], "Operations": []}),
        )
        .await,
        dup,
        s.get("/Users/nope").await,
        s.filter("Users", "userName eq", "").await,
        s.call_as("bad", "acme", Method::GET, "/Users", None, &[])
            .await,
        s.call(Method::DELETE, "/Schemas", None).await,
        s.call_as(
            &s.token,
            "acme",
            Method::DELETE,
            &user_path(&id),
            None,
            &[("if-match", "W/\"0\"")],
        )
        .await,
        s.get("/Me").await,
    ];
    for r in replies.drain(..) {
        assert!(!r.text.is_empty(), "status {} has a body", r.status);
        let status = r.status;
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/scim+json")),
            "status {status}: content-type {:?}",
            r.header("content-type")
        );
    }
}

/// `attributes` returns only the named attributes (sub-attributes and URN paths too, names in
/// any case), plus `id` and `schemas`, which are always returned.
async fn resources_attributes_projection(s: TestServer) {
    let id = s.create_user_from(full_user("proj@example.com")).await.id();
    let allowed_extra = ["meta".to_string()];
    let check = |b: &Value, expected: &[&str]| {
        let mut want: Vec<String> = expected.iter().map(|k| k.to_string()).collect();
        want.extend(["id".to_string(), "schemas".to_string()]);
        want.sort();
        let got: Vec<String> = keys(b)
            .into_iter()
            .filter(|k| !allowed_extra.contains(k))
            .collect();
        assert_eq!(got, want, "projected keys of {b}");
    };
    let b = s
        .get(&format!("/Users/{id}?attributes=userName"))
        .await
        .expect(200)
        .body;
    check(&b, &["userName"]);
    assert_eq!(b["id"], json!(id));
    let b = s
        .get(&format!("/Users/{id}?attributes=USERNAME,Title"))
        .await
        .expect(200)
        .body;
    check(&b, &["title", "userName"]);
    let b = s
        .get(&format!(
            "/Users/{id}?attributes=name.givenName,emails.value"
        ))
        .await
        .expect(200)
        .body;
    check(&b, &["emails", "name"]);
    assert_eq!(b["name"], json!({"givenName": "Barbara"}));
    assert_eq!(
        b["emails"],
        json!([{"value": "proj@example.com"}, {"value": "home@example.com"}])
    );
    let b = s
        .get(&format!(
            "/Users/{id}?attributes={}",
            enc(&format!("{ENTERPRISE}:department"))
        ))
        .await
        .expect(200)
        .body;
    check(&b, &[ENTERPRISE]);
    assert_eq!(b[ENTERPRISE], json!({"department": "Tour Operations"}));
    // On lists and on groups.
    let list = s.get("/Users?attributes=userName").await.expect_list(1, 1);
    check(&list.resources()[0], &["userName"]);
    let g = s.create_group_with("Proj", &[&id]).await;
    let b = s
        .get(&format!("/Groups/{g}?attributes=displayName"))
        .await
        .expect(200)
        .body;
    check(&b, &["displayName"]);
}

/// `excludedAttributes` leaves out the named attributes (and sub-attributes), never `id`
/// or `schemas`.
async fn resources_excluded_attributes_projection(s: TestServer) {
    let id = s.create_user_from(full_user("excl@example.com")).await.id();
    let full = s.get(&user_path(&id)).await.body;
    let b = s
        .get(&format!("/Users/{id}?excludedAttributes=emails,name"))
        .await
        .expect(200)
        .body;
    assert_absent(&b, "emails");
    assert_absent(&b, "name");
    let mut expected = full.clone();
    expected.as_object_mut().unwrap().remove("emails");
    expected.as_object_mut().unwrap().remove("name");
    assert_eq!(b, expected);
    let b = s
        .get(&format!("/Users/{id}?excludedAttributes=id,schemas"))
        .await
        .expect(200)
        .body;
    assert_eq!(b, full, "id and schemas are always returned");
    let b = s
        .get(&format!(
            "/Users/{id}?excludedAttributes={}",
            enc(&format!("name.givenName,{ENTERPRISE}:costCenter"))
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(
        b["name"],
        json!({"familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"})
    );
    assert_eq!(
        b[ENTERPRISE],
        json!({"employeeNumber": "701984", "department": "Tour Operations"})
    );
    let list = s
        .get("/Users?excludedAttributes=emails")
        .await
        .expect_list(1, 1);
    assert_absent(&list.resources()[0], "emails");
    assert_eq!(list.resources()[0]["userName"], "excl@example.com");
}

/// `attributes` also shapes the answers of POST, PUT and PATCH (RFC 7644 §3.9).
async fn resources_projection_on_write_responses(s: TestServer) {
    let r = s
        .post("/Users?attributes=userName", full_user("w@example.com"))
        .await
        .expect(201);
    let id = r.id();
    assert_eq!(
        keys(&r.body)
            .into_iter()
            .filter(|k| k != "meta")
            .collect::<Vec<_>>(),
        ["id", "schemas", "userName"]
    );
    let r = s
        .call(
            Method::PUT,
            &format!("/Users/{id}?excludedAttributes=emails"),
            Some(full_user("w@example.com")),
        )
        .await
        .expect(200);
    assert_absent(&r.body, "emails");
    assert_eq!(r.body["title"], "Tour Guide");
    let r = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}?attributes=title"),
            Some(patch_body(
                json!([{"op": "replace", "path": "title", "value": "T"}]),
            )),
        )
        .await
        .expect(200);
    assert_eq!(
        keys(&r.body)
            .into_iter()
            .filter(|k| k != "meta")
            .collect::<Vec<_>>(),
        ["id", "schemas", "title"]
    );
    // The stored resource is whole.
    assert_eq!(
        s.get(&user_path(&id)).await.body["emails"][0]["value"],
        "w@example.com"
    );
}

/// `sortBy=userName` orders case-insensitively (userName is not case-exact), ascending by
/// default, descending on request, and combines with paging.
async fn resources_sort_by_user_name_case_insensitive_both_orders(s: TestServer) {
    users_in_order(&s, &["carol", "Alice", "dave", "bob"]).await;
    let asc = ["Alice", "bob", "carol", "dave"];
    assert_eq!(
        user_names(&s.get("/Users?sortBy=userName").await.expect_list(4, 4)),
        asc
    );
    assert_eq!(
        user_names(
            &s.get("/Users?sortBy=userName&sortOrder=ascending")
                .await
                .expect(200)
        ),
        asc
    );
    let desc: Vec<&str> = asc.iter().rev().copied().collect();
    assert_eq!(
        user_names(
            &s.get("/Users?sortBy=userName&sortOrder=descending")
                .await
                .expect(200)
        ),
        desc
    );
    assert_eq!(
        user_names(
            &s.get("/Users?sortBy=userName&startIndex=2&count=2")
                .await
                .expect_list(4, 2)
        ),
        ["bob", "carol"]
    );
    let search = s
        .post("/Users/.search", json!({"schemas": [SEARCH_REQUEST], "sortBy": "userName", "sortOrder": "descending", "count": 2}))
        .await
        .expect_list(4, 2);
    assert_eq!(user_names(&search), ["dave", "carol"]);
}

/// `sortBy=meta.created` gives creation order ascending and its reverse descending.
async fn resources_sort_by_meta_created(s: TestServer) {
    let ids = users_in_order(&s, &["m3", "m1", "m4", "m2"]).await;
    let asc = s
        .get("/Users?sortBy=meta.created")
        .await
        .expect_list(4, 4)
        .resource_ids();
    assert_eq!(asc, ids);
    let desc = s
        .get("/Users?sortBy=meta.created&sortOrder=descending")
        .await
        .expect(200)
        .resource_ids();
    assert_eq!(desc, ids.iter().rev().cloned().collect::<Vec<_>>());
}

/// Resources without a value for `sortBy` come last ascending and first descending
/// (RFC 7644 §3.4.2.3); multi-valued attributes sort by their primary value.
async fn resources_sort_puts_absent_values_last_ascending_first_descending(s: TestServer) {
    let with_title = |n: &str, t: Option<&str>| {
        let mut b = json!({"schemas": [USER_SCHEMA], "userName": n});
        if let Some(t) = t {
            b["title"] = json!(t);
        }
        b
    };
    s.create_user_from(with_title("u1", Some("b"))).await;
    s.create_user_from(with_title("u2", None)).await;
    s.create_user_from(with_title("u3", Some("a"))).await;
    s.create_user_from(with_title("u4", None)).await;
    let asc = user_names(&s.get("/Users?sortBy=title").await.expect(200));
    assert_eq!(asc[..2], ["u3", "u1"]);
    assert_eq!(
        sorted(&asc[2..].iter().map(String::as_str).collect::<Vec<_>>()),
        ["u2", "u4"]
    );
    let desc = user_names(
        &s.get("/Users?sortBy=title&sortOrder=descending")
            .await
            .expect(200),
    );
    assert_eq!(
        sorted(&desc[..2].iter().map(String::as_str).collect::<Vec<_>>()),
        ["u2", "u4"]
    );
    assert_eq!(desc[2..], ["u1", "u3"]);

    // emails: by the primary value.
    let mail = |n: &str, primary: &str, other: &str| {
        json!({"schemas": [USER_SCHEMA], "userName": n,
            "emails": [{"value": other, "type": "home"}, {"value": primary, "type": "work", "primary": true}]})
    };
    s.create_user_from(mail("e1", "c@x.org", "a@x.org")).await;
    s.create_user_from(mail("e2", "b@x.org", "z@x.org")).await;
    let r = s
        .filter("Users", "userName sw \"e\"", "&sortBy=emails")
        .await
        .expect(200);
    assert_eq!(user_names(&r), ["e2", "e1"]);
}

/// Index paging edges: `count=0` gives only `totalResults`, `startIndex` below 1 is 1,
/// negative `count` is 0, past the end is an empty page, and the default page size is
/// the advertised one.
async fn resources_index_pagination_edges(s: TestServer) {
    s.seed_users("p", 120).await;
    let r = s.get("/Users?count=0").await.expect(200);
    assert_eq!(r.body["totalResults"], 120);
    assert_eq!(r.body["itemsPerPage"], 0);
    assert!(
        r.resources().is_empty(),
        "count=0 returns no resources: {}",
        r.body
    );
    let r = s.get("/Users?count=-3").await.expect(200);
    assert_eq!(r.body["totalResults"], 120);
    assert!(r.resources().is_empty());
    let first = s
        .get("/Users?startIndex=1&count=5")
        .await
        .expect_list(120, 5)
        .resource_ids();
    for start in ["0", "-5"] {
        let r = s
            .get(&format!("/Users?startIndex={start}&count=5"))
            .await
            .expect_list(120, 5);
        assert_eq!(
            r.body["startIndex"], 1,
            "startIndex {start} is treated as 1"
        );
        assert_eq!(r.resource_ids(), first);
    }
    let r = s
        .get("/Users?startIndex=500&count=5")
        .await
        .expect_list(120, 0);
    assert_eq!(r.body["startIndex"], 500);
    let spc = s.get("/ServiceProviderConfig").await.body;
    let default = spc["pagination"]["defaultPageSize"].as_u64().unwrap();
    s.get("/Users")
        .await
        .expect_list(120, default.min(120) as usize);
    // The order is stable: pages of 50 cover everyone once.
    let mut seen = Vec::new();
    for start in [1, 51, 101] {
        seen.extend(
            s.get(&format!("/Users?startIndex={start}&count=50"))
                .await
                .expect(200)
                .resource_ids(),
        );
    }
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 120);
    assert_eq!(seen.len(), 120);
}

/// A `count` above the maximum is lowered to it (1000), not refused.
async fn resources_count_above_maximum_is_lowered(s: TestServer) {
    s.seed_users("big", 1003).await;
    let r = s.get("/Users?count=5000").await.expect_list(1003, 1000);
    assert_eq!(r.body["startIndex"], 1);
    let rest = s
        .get("/Users?count=5000&startIndex=1001")
        .await
        .expect_list(1003, 3);
    let all: HashSet<String> = r
        .resource_ids()
        .into_iter()
        .chain(rest.resource_ids())
        .collect();
    assert_eq!(all.len(), 1003);
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH_REQUEST], "count": 100000}),
        )
        .await
        .expect(200);
    assert_eq!(r.resources().len(), 1000);
}

/// Cursor paging (RFC 9865): `cursor=` then `nextCursor` until it is absent. Users created
/// and deleted during the walk may or may not appear, but no user appears twice and every
/// user that existed throughout is seen.
async fn resources_cursor_pagination_sees_every_survivor_once(s: TestServer) {
    let initial = s.seed_users("c", 40).await;
    let mut seen: Vec<String> = Vec::new();
    let mut deleted: HashSet<String> = HashSet::new();
    let mut next: Option<String> = Some(String::new());
    let mut pages = 0;
    while let Some(cursor) = next.take() {
        let r = s
            .get(&format!("/Users?count=7&cursor={}", enc(&cursor)))
            .await
            .expect(200);
        assert_eq!(r.body["schemas"], json!([LIST_RESPONSE]));
        let ids = r.resource_ids();
        assert!(ids.len() <= 7, "page larger than count");
        assert_eq!(r.body["itemsPerPage"].as_u64(), Some(ids.len() as u64));
        seen.extend(ids);
        next = r.body["nextCursor"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages < 30, "the walk does not end");
        if pages == 2 {
            // Others write during the walk: new users, and deletions of seen and unseen ones.
            for i in 0..5 {
                s.create_user(&format!("during{i}")).await;
            }
            for victim in [&seen[0], &initial[25], &initial[39]] {
                if !deleted.contains(victim.as_str()) {
                    s.delete(&user_path(victim)).await.expect(204);
                    deleted.insert(victim.clone());
                }
            }
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user was returned twice");
    for id in &initial {
        if !deleted.contains(id) {
            assert!(
                unique.contains(id),
                "user {id} existed throughout but was never returned"
            );
        }
    }
    assert!(
        pages >= 6,
        "40 users in pages of 7 need at least 6 pages, got {pages}"
    );
}

/// A cursor the server never issued is a 400 `invalidCursor` (RFC 9865).
async fn resources_invalid_cursor_is_invalid_cursor(s: TestServer) {
    s.seed_users("ic", 3).await;
    s.get("/Users?cursor=not-a-cursor&count=2")
        .await
        .expect_error(400, Some("invalidCursor"));
}

/// The filter operators beyond `eq`: `ne co sw ew pr gt ge lt le`, `not`, `or`, grouping and
/// value paths.
async fn resources_filter_operators(s: TestServer) {
    let mk = |n: &str, title: Option<&str>, active: bool| {
        let mut b = json!({"schemas": [USER_SCHEMA], "userName": n, "active": active,
            "emails": [{"value": format!("{n}@example.org"), "type": "work"}]});
        if let Some(t) = title {
            b["title"] = json!(t);
        }
        b
    };
    s.create_user_from(mk("alice", Some("Engineer"), true))
        .await;
    s.create_user_from(mk("bob", Some("Manager"), false)).await;
    s.create_user_from(mk("carol", None, true)).await;
    let cases: [(&str, &[&str]); 12] = [
        ("userName ne \"alice\"", &["bob", "carol"]),
        ("userName co \"LI\"", &["alice"]),
        ("userName sw \"b\"", &["bob"]),
        ("userName ew \"ol\"", &["carol"]),
        ("title pr", &["alice", "bob"]),
        ("not (title pr)", &["carol"]),
        ("userName gt \"bob\"", &["carol"]),
        ("userName le \"bob\"", &["alice", "bob"]),
        (
            "active eq false or title eq \"Engineer\"",
            &["alice", "bob"],
        ),
        (
            "(active eq true and title pr) or userName eq \"bob\"",
            &["alice", "bob"],
        ),
        (
            "emails[value ew \"example.org\" and type eq \"work\"]",
            &["alice", "bob", "carol"],
        ),
        ("emails.value sw \"car\"", &["carol"]),
    ];
    for (f, want) in cases {
        let r = s.filter("Users", f, "&sortBy=userName").await.expect(200);
        assert_eq!(user_names(&r), want, "filter {f}");
        assert_eq!(
            r.body["totalResults"].as_u64(),
            Some(want.len() as u64),
            "filter {f}"
        );
    }
    // `and` binds tighter than `or` (bob is a Manager, so only carol matches).
    let r = s
        .filter(
            "Users",
            "userName eq \"carol\" or userName eq \"bob\" and title eq \"Engineer\"",
            "",
        )
        .await
        .expect(200);
    assert_eq!(user_names(&r), ["carol"], "a or (b and c)");
    // Names and operators in any case; an escaped quote inside a value; extension URNs.
    s.create_user_from(json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "quote\"d", ENTERPRISE: {"department": "Sales"}}))
        .await;
    let r = s
        .filter("Users", "USERNAME EQ \"quote\\\"d\"", "")
        .await
        .expect_list(1, 1);
    assert_eq!(user_names(&r), ["quote\"d"]);
    let r = s
        .filter(
            "Users",
            &format!("{ENTERPRISE}:department eq \"sales\""),
            "",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(user_names(&r), ["quote\"d"]);
    let created = s.get("/Users?sortBy=meta.created").await.resources()[1]["meta"]["created"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .filter("Users", &format!("meta.created ge \"{created}\""), "")
        .await
        .expect(200);
    assert!(r.body["totalResults"].as_u64().unwrap() >= 2);
}

/// `POST /Users/.search` and `/Groups/.search` answer like the equivalent GET.
async fn resources_search_per_resource_type(s: TestServer) {
    for n in ["s1", "s2", "s3", "x1"] {
        s.create_user_from(full_user(n)).await;
    }
    let get = s
        .get(&format!(
            "/Users?filter={}&attributes=userName&sortBy=userName&startIndex=2&count=1",
            enc("userName sw \"s\"")
        ))
        .await
        .expect_list(3, 1);
    let post = s
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH_REQUEST], "filter": "userName sw \"s\"", "attributes": ["userName"],
                   "sortBy": "userName", "startIndex": 2, "count": 1}),
        )
        .await
        .expect_list(3, 1)
        .expect_scim_json();
    assert_eq!(post.body, get.body);
    assert_eq!(user_names(&post), ["s2"]);
    assert_absent(&post.resources()[0], "emails");

    s.create_group("Alpha").await;
    s.create_group("Beta").await;
    let r = s
        .post("/Groups/.search", json!({"schemas": [SEARCH_REQUEST], "filter": "displayName eq \"Beta\"", "excludedAttributes": ["members"]}))
        .await
        .expect_list(1, 1);
    assert_eq!(r.resources()[0]["displayName"], "Beta");
    assert_absent(&r.resources()[0], "members");
}

/// `POST /.search` at the root searches users and groups together.
async fn resources_search_at_root(s: TestServer) {
    let u = s
        .create_user_from(
            json!({"schemas": [USER_SCHEMA], "userName": "shared-user", "displayName": "Shared"}),
        )
        .await
        .id();
    let g = s.create_group("Shared").await;
    s.create_user("other").await;
    s.create_group("Other").await;
    let r = s
        .post(
            "/.search",
            json!({"schemas": [SEARCH_REQUEST], "filter": "displayName eq \"Shared\""}),
        )
        .await
        .expect_list(2, 2);
    let mut types: Vec<(String, String)> = r
        .resources()
        .iter()
        .map(|x| {
            (
                x["meta"]["resourceType"].as_str().unwrap().to_string(),
                x["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        vec![("Group".to_string(), g), ("User".to_string(), u.clone())]
    );
    s.post("/.search", json!({"schemas": [SEARCH_REQUEST]}))
        .await
        .expect_list(4, 4);
    let page = s
        .post(
            "/.search",
            json!({"schemas": [SEARCH_REQUEST], "startIndex": 2, "count": 2}),
        )
        .await
        .expect_list(4, 2);
    assert_eq!(page.body["startIndex"], 2);
    let r = s
        .post(
            "/.search",
            json!({"schemas": [SEARCH_REQUEST], "filter": "userName eq \"shared-user\""}),
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![u]);
}

/// `User.groups` lists direct memberships and those through nested groups, with `type`
/// direct/indirect, `$ref` and `display`; it follows renames and removals.
async fn resources_user_groups_direct_and_indirect(s: TestServer) {
    let u = s.create_user("nested@example.com").await;
    let v = s.create_user("outer@example.com").await;
    let inner = s.create_group_with("Inner", &[&u]).await;
    let outer = s.create_group_with("Outer", &[&inner, &v]).await;
    let top = s.create_group_with("Top", &[&outer]).await;

    let groups = |b: &Value| -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = b["groups"]
            .as_array()
            .map(|gs| {
                gs.iter()
                    .map(|g| {
                        (
                            g["value"].as_str().unwrap().to_string(),
                            g["type"].as_str().unwrap_or("").to_string(),
                            g["display"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    };
    let t = |id: &str, ty: &str, d: &str| (id.to_string(), ty.to_string(), d.to_string());
    let mut want = vec![
        t(&inner, "direct", "Inner"),
        t(&outer, "indirect", "Outer"),
        t(&top, "indirect", "Top"),
    ];
    want.sort();
    let b = s.get(&user_path(&u)).await.expect(200).body;
    assert_eq!(groups(&b), want);
    for g in b["groups"].as_array().unwrap() {
        assert_eq!(
            g["$ref"],
            format!("{}/Groups/{}", s.base("acme"), g["value"].as_str().unwrap())
        );
    }
    let mut want_v = vec![t(&outer, "direct", "Outer"), t(&top, "indirect", "Top")];
    want_v.sort();
    assert_eq!(groups(&s.get(&user_path(&v)).await.body), want_v);
    // In lists too, and not when excluded.
    let r = s
        .filter("Users", "userName eq \"nested@example.com\"", "")
        .await
        .expect_list(1, 1);
    assert_eq!(groups(&r.resources()[0]), want);
    assert_absent(
        &s.get(&format!("/Users/{u}?excludedAttributes=groups"))
            .await
            .body,
        "groups",
    );

    // Rename follows; removing the nesting removes the indirect memberships.
    s.patch_ops(
        &group_path(&outer),
        json!([{"op": "replace", "path": "displayName", "value": "Outer2"}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&u)).await.body;
    assert!(groups(&b).contains(&t(&outer, "indirect", "Outer2")), "{b}");
    s.patch_ops(
        &group_path(&outer),
        json!([{"op": "remove", "path": format!("members[value eq \"{inner}\"]")}]),
    )
    .await
    .expect(200);
    assert_eq!(
        groups(&s.get(&user_path(&u)).await.body),
        vec![t(&inner, "direct", "Inner")]
    );
}

/// Groups nested in a cycle (A in B, B in A) are refused or served; either way reads end
/// and list each group once.
async fn resources_nested_group_cycle_does_not_hang(s: TestServer) {
    let u = s.create_user("cyc@example.com").await;
    let a = s.create_group_with("A", &[&u]).await;
    let b = s.create_group_with("B", &[&a]).await;
    let r = s
        .patch_ops(
            &group_path(&a),
            json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
        )
        .await;
    assert!(
        matches!(r.status.as_u16(), 200 | 400 | 409),
        "cycle: {} {}",
        r.status,
        r.body
    );
    let read = tokio::time::timeout(Duration::from_secs(10), s.get(&user_path(&u)))
        .await
        .expect("GET ends")
        .expect(200);
    let ids: Vec<String> = read.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sorted(&ids.iter().map(String::as_str).collect::<Vec<_>>()),
        sorted(&[&a, &b]),
        "{}",
        read.body
    );
    // A group cannot be its own member.
    s.patch_ops(
        &group_path(&a),
        json!([{"op": "add", "path": "members", "value": [{"value": a}]}]),
    )
    .await
    .expect_error(400, Some("invalidValue"));
}

/// Deleting a user removes it from every group; each group's version changes.
async fn resources_deleting_a_user_removes_it_from_every_group(s: TestServer) {
    let u = s.create_user("gone@example.com").await;
    let v = s.create_user("stays@example.com").await;
    let g1 = s.create_group_with("G1", &[&u, &v]).await;
    let g2 = s.create_group_with("G2", &[&u]).await;
    let tag1 = s
        .get(&group_path(&g1))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let tag2 = s
        .get(&group_path(&g2))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    s.delete(&user_path(&u)).await.expect(204);
    let r1 = s.get(&group_path(&g1)).await.expect(200);
    assert_eq!(values_of(&r1.body, "members"), vec![v.clone()]);
    assert_ne!(etag_of(&r1), tag1, "G1's version changes");
    let r2 = s.get(&group_path(&g2)).await.expect(200);
    assert!(values_of(&r2.body, "members").is_empty(), "{}", r2.body);
    assert_ne!(etag_of(&r2), tag2, "G2's version changes");
    s.filter("Groups", &format!("members.value eq \"{u}\""), "")
        .await
        .expect_list(0, 0);
}

/// Deleting a nested group removes it from its parents and from users' indirect groups.
async fn resources_deleting_a_group_removes_it_from_parent_groups(s: TestServer) {
    let u = s.create_user("u@example.com").await;
    let inner = s.create_group_with("Inner", &[&u]).await;
    let outer = s.create_group_with("Outer", &[&inner]).await;
    let tag = s
        .get(&group_path(&outer))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    s.delete(&group_path(&inner)).await.expect(204);
    let r = s.get(&group_path(&outer)).await.expect(200);
    assert!(values_of(&r.body, "members").is_empty(), "{}", r.body);
    assert_ne!(etag_of(&r), tag);
    assert_absent(&s.get(&user_path(&u)).await.expect(200).body, "groups");
}

/// In globex (soft delete) a deleted user is 404 and not listed or found by filter, for
/// every method; `restore` brings it back unchanged.
async fn resources_soft_delete_and_restore(s: TestServer) {
    let created = s
        .globex(
            Method::POST,
            "/Users".into(),
            Some(full_user("soft@globex.example")),
        )
        .await
        .expect(201);
    let id = created.id();
    let keep = s
        .globex(
            Method::POST,
            "/Users".into(),
            Some(json!({"schemas": [USER_SCHEMA], "userName": "keep"})),
        )
        .await
        .expect(201)
        .id();
    let g = s.globex(Method::POST, "/Groups".into(), Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": id}, {"value": keep}]})))
        .await
        .expect(201)
        .id();
    s.globex(Method::DELETE, user_path(&id), None)
        .await
        .expect(204);

    s.globex(Method::GET, user_path(&id), None)
        .await
        .expect_error(404, None);
    s.globex(
        Method::PUT,
        user_path(&id),
        Some(full_user("soft@globex.example")),
    )
    .await
    .expect_error(404, None);
    s.globex(
        Method::PATCH,
        user_path(&id),
        Some(patch_body(
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )),
    )
    .await
    .expect_error(404, None);
    s.globex(Method::DELETE, user_path(&id), None)
        .await
        .expect_error(404, None);
    s.globex(Method::GET, "/Users".into(), None)
        .await
        .expect_list(1, 1);
    s.globex(
        Method::GET,
        format!(
            "/Users?filter={}",
            enc("userName eq \"soft@globex.example\"")
        ),
        None,
    )
    .await
    .expect_list(0, 0);
    s.globex(
        Method::POST,
        "/.search".into(),
        Some(json!({"schemas": [SEARCH_REQUEST], "filter": "userName eq \"soft@globex.example\""})),
    )
    .await
    .expect_list(0, 0);
    let group = s
        .globex(Method::GET, group_path(&g), None)
        .await
        .expect(200);
    assert_eq!(values_of(&group.body, "members"), vec![keep.clone()]);

    let tenant = s.tenant_id("globex").await;
    s.store
        .restore(tenant, &id, &scim_store::Actor::default())
        .await
        .expect("restore");
    let back = s
        .globex(Method::GET, user_path(&id), None)
        .await
        .expect(200);
    for key in ["userName", "name", "emails", ENTERPRISE, "externalId"] {
        assert_eq!(
            back.body[key], created.body[key],
            "{key} survives soft delete"
        );
    }
    assert_eq!(
        back.body["meta"]["created"],
        created.body["meta"]["created"]
    );
    s.globex(
        Method::GET,
        format!(
            "/Users?filter={}",
            enc("userName eq \"soft@globex.example\"")
        ),
        None,
    )
    .await
    .expect_list(1, 1);
    s.globex(Method::GET, "/Users".into(), None)
        .await
        .expect_list(2, 2);

    // Hard delete (acme) cannot be undone.
    let a = s.create_user("hard@acme.example").await;
    s.delete(&user_path(&a)).await.expect(204);
    let acme = s.tenant_id("acme").await;
    assert!(
        s.store
            .restore(acme, &a, &scim_store::Actor::default())
            .await
            .is_err()
    );
}

/// Groups hold groups and users: each member has `value`, `type` and a `$ref` to its own
/// endpoint; `members.value` filters find the parents.
async fn resources_groups_containing_groups(s: TestServer) {
    let u = s.create_user("m@example.com").await;
    let child = s.create_group("Child").await;
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Parent",
                   "members": [{"value": child, "type": "Group"}, {"value": u}]}),
        )
        .await
        .expect(201);
    let parent = r.id();
    let members = s.get(&group_path(&parent)).await.expect(200).body["members"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(members.len(), 2);
    for m in &members {
        let id = m["value"].as_str().unwrap();
        let (ty, endpoint) = if id == child {
            ("Group", "Groups")
        } else {
            ("User", "Users")
        };
        assert_eq!(m["type"], ty, "{m}");
        assert_eq!(
            m["$ref"],
            format!("{}/{endpoint}/{id}", s.base("acme")),
            "{m}"
        );
    }
    let child_member = members.iter().find(|m| m["value"] == json!(child)).unwrap();
    assert_eq!(child_member["display"], "Child");
    let r = s
        .filter("Groups", &format!("members.value eq \"{child}\""), "")
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![parent.clone()]);
    let r = s
        .filter("Groups", &format!("members[value eq \"{u}\"]"), "")
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![parent]);
}

/// PATCH `replace` (and `add`) on a complex attribute sets the given sub-attributes and
/// leaves the others (RFC 7644 §3.5.2.1, §3.5.2.3).
async fn resources_patch_replace_on_complex_keeps_other_sub_attributes(s: TestServer) {
    let id = s.create_user_from(full_user("cx@example.com")).await.id();
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(
        b["name"],
        json!({"givenName": "Babs", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"})
    );
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "add", "path": "name", "value": {"middleName": "Jane"}}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(b["name"]["middleName"], "Jane");
    assert_eq!(b["name"]["familyName"], "Jensen");
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "replace", "value": {"name": {"familyName": "J"}}}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(b["name"]["familyName"], "J");
    assert_eq!(
        b["name"]["givenName"], "Babs",
        "path-less replace of a complex value merges too"
    );
}

/// Multi-valued attributes: `add` appends, `replace` without a filter replaces the whole
/// list, a value filter selects elements for replace and remove, and a path-less `add`
/// appends as well.
async fn resources_patch_on_multi_valued_attributes(s: TestServer) {
    let id = s.create_user_from(full_user("mv@example.com")).await.id();
    let emails = |b: &Value| -> Vec<String> {
        let mut v: Vec<String> = b["emails"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    s.patch_ops(&user_path(&id), json!([{"op": "add", "path": "emails", "value": [{"value": "other@example.com", "type": "other"}]}]))
        .await
        .expect(200);
    assert_eq!(
        emails(&s.get(&user_path(&id)).await.body),
        ["home@example.com", "mv@example.com", "other@example.com"]
    );
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    )
    .await
    .expect(200);
    assert_eq!(
        emails(&s.get(&user_path(&id)).await.body),
        ["mv@example.com", "other@example.com"]
    );
    s.patch_ops(&user_path(&id), json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "changed@example.com"}]))
        .await
        .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(emails(&b), ["changed@example.com", "mv@example.com"]);
    let changed = b["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["value"] == "changed@example.com")
        .unwrap()
        .clone();
    assert_eq!(
        changed["type"], "other",
        "the other sub-attributes of the element stay"
    );
    s.patch_ops(&user_path(&id), json!([{"op": "add", "value": {"emails": [{"value": "added@example.com"}], "nickName": "n"}}]))
        .await
        .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    assert_eq!(
        emails(&b),
        ["added@example.com", "changed@example.com", "mv@example.com"]
    );
    assert_eq!(b["nickName"], "n");
    s.patch_ops(&user_path(&id), json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "work"}]}]))
        .await
        .expect(200);
    assert_eq!(
        emails(&s.get(&user_path(&id)).await.body),
        ["only@example.com"]
    );
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "remove", "path": "emails[value eq \"only@example.com\"]"}]),
    )
    .await
    .expect(200);
    assert_absent(&s.get(&user_path(&id)).await.body, "emails");
}

/// At most one value of a multi-valued attribute is `primary` (RFC 7643 §2.4): adding a new
/// primary value clears the flag on the old one (RFC 7644 §3.5.2).
async fn resources_only_one_primary_value(s: TestServer) {
    let id = s.create_user_from(full_user("prim@example.com")).await.id();
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "add", "path": "emails", "value": [{"value": "new-primary@example.com", "type": "other", "primary": true}]}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.body;
    let primaries: Vec<&str> = b["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["new-primary@example.com"], "{}", b["emails"]);
}

/// `remove` of `members` without a value empties the group.
async fn resources_remove_members_without_value_empties_the_group(s: TestServer) {
    let a = s.create_user("a").await;
    let b = s.create_user("b").await;
    let g = s.create_group_with("G", &[&a, &b]).await;
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([{"op": "remove", "path": "members"}]),
        )
        .await
        .expect(200);
    assert_absent(&r.body, "members");
    assert!(s.member_ids(&g).await.is_empty());
    s.get(&user_path(&a)).await.expect(200);
}

/// Attribute names are case-insensitive (RFC 7643 §2.1) in bodies, PATCH paths, filters,
/// `sortBy` and `attributes`; responses use the schema's spelling.
async fn resources_attribute_names_are_case_insensitive(s: TestServer) {
    let r = s
        .post("/Users", json!({"schemas": [USER_SCHEMA], "USERNAME": "ci@example.com", "Name": {"GIVENNAME": "Ci"}, "DisplayName": "CI"}))
        .await
        .expect(201);
    let id = r.id();
    assert_eq!(r.body["userName"], "ci@example.com");
    assert_eq!(r.body["name"], json!({"givenName": "Ci"}));
    assert_eq!(r.body["displayName"], "CI");
    assert_absent(&r.body, "USERNAME");
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "replace", "path": "NAME.FAMILYNAME", "value": "Case"}]),
    )
    .await
    .expect(200);
    assert_eq!(
        s.get(&user_path(&id)).await.body["name"]["familyName"],
        "Case"
    );
    let r = s
        .filter(
            "Users",
            "USERNAME EQ \"ci@example.com\"",
            "&SORTBY=USERNAME&Attributes=DISPLAYNAME",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resources()[0]["displayName"], "CI");
    assert_absent(&r.resources()[0], "name");
}

/// A client-chosen `id` and `meta` on create are ignored: the server assigns both.
async fn resources_client_supplied_id_and_meta_are_ignored(s: TestServer) {
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": "own-id", "id": "client-chosen",
                   "meta": {"created": "2001-01-01T00:00:00Z", "version": "W/\"42\"", "resourceType": "Group"}}),
        )
        .await
        .expect(201);
    assert_ne!(r.body["id"], "client-chosen");
    assert_ne!(r.body["meta"]["created"], "2001-01-01T00:00:00Z");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    s.get("/Users/client-chosen").await.expect_error(404, None);
}

/// `meta.created` never changes; `meta.lastModified` moves forward on each write.
async fn resources_meta_timestamps(s: TestServer) {
    let created = s
        .post("/Users", full_user("ts@example.com"))
        .await
        .expect(201)
        .body;
    assert_eq!(created["meta"]["created"], created["meta"]["lastModified"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let id = created["id"].as_str().unwrap();
    let after = s
        .patch_ops(
            &user_path(id),
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(after["meta"]["created"], created["meta"]["created"]);
    let (before_t, after_t) = (
        created["meta"]["lastModified"].as_str().unwrap(),
        after["meta"]["lastModified"].as_str().unwrap(),
    );
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(
        parse(after_t) > parse(before_t),
        "lastModified {before_t} -> {after_t}"
    );
    let r = s
        .filter("Users", &format!("meta.lastModified gt \"{before_t}\""), "")
        .await
        .expect(200);
    assert_eq!(r.resource_ids(), vec![id.to_string()]);
}

/// Concurrent PATCHes adding different members to one group all take effect.
async fn resources_concurrent_member_adds_are_all_kept(s: TestServer) {
    let users = s.seed_users("cm", 20).await;
    let g = s.create_group("Busy").await;
    let path = group_path(&g);
    let adds = users.iter().map(|u| {
        s.patch_ops(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
        )
    });
    for r in futures_util::future::join_all(adds).await {
        r.expect(200);
    }
    let mut want = users.clone();
    want.sort();
    assert_eq!(s.member_ids(&g).await, want);
}

/// Concurrent PATCHes to different attributes of one user are all kept (no lost update).
async fn resources_concurrent_patches_are_not_lost(s: TestServer) {
    let id = s.create_user("busy@example.com").await;
    let path = user_path(&id);
    let attrs = [
        "title",
        "nickName",
        "displayName",
        "userType",
        "locale",
        "timezone",
        "preferredLanguage",
        "profileUrl",
    ];
    let writes = attrs.iter().map(|a| {
        let value = if *a == "profileUrl" {
            "https://example.com/p".to_string()
        } else {
            format!("v-{a}")
        };
        s.patch_ops(&path, json!([{"op": "replace", "path": a, "value": value}]))
    });
    let mut tags = HashSet::new();
    for r in futures_util::future::join_all(writes).await {
        tags.insert(etag_of(&r.expect(200)));
    }
    assert_eq!(
        tags.len(),
        attrs.len(),
        "each write made its own version: {tags:?}"
    );
    let b = s.get(&path).await.expect(200);
    for a in attrs {
        assert!(b.body[a].is_string(), "{a} was lost: {}", b.body);
    }
    assert!(
        tags.contains(&etag_of(&b)),
        "the last write's version is current"
    );
}

/// Concurrent creates of the same userName (in any case): exactly one 201, the rest 409.
async fn resources_concurrent_duplicate_creates_yield_one_user(s: TestServer) {
    let creates = (0..10).map(|i| {
        let name = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        s.post(
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": name}),
        )
    });
    let replies = futures_util::future::join_all(creates).await;
    let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1, "exactly one create wins");
    for r in replies.into_iter().filter(|r| r.status.as_u16() != 201) {
        r.expect_error(409, Some("uniqueness"));
    }
    s.get("/Users").await.expect_list(1, 1);
}

/// A soft-deleted user no longer exists for clients, so its userName can be used again
/// (identity providers delete and re-create): anything else would reveal the hidden user.
async fn resources_soft_deleted_user_name_can_be_reused(s: TestServer) {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "again@globex.example"});
    let first = s
        .globex(Method::POST, "/Users".into(), Some(body.clone()))
        .await
        .expect(201)
        .id();
    s.globex(Method::DELETE, user_path(&first), None)
        .await
        .expect(204);
    let second = s
        .globex(Method::POST, "/Users".into(), Some(body))
        .await
        .expect(201)
        .id();
    assert_ne!(first, second);
    s.globex(
        Method::GET,
        format!(
            "/Users?filter={}",
            enc("userName eq \"again@globex.example\"")
        ),
        None,
    )
    .await
    .expect_list(1, 1);
}

/// Users can be filtered on their (computed) `groups`: `groups.value eq "<group id>"` finds
/// the members (RFC 7644 §3.4.2.2 filters apply to any attribute). A server that cannot do
/// it must say so with 400 `invalidFilter`, never answer an empty list.
async fn resources_filter_on_user_groups(s: TestServer) {
    let u = s.create_user("member@example.com").await;
    s.create_user("outsider@example.com").await;
    let g = s.create_group_with("G", &[&u]).await;
    let r = s
        .filter("Users", &format!("groups.value eq \"{g}\""), "")
        .await;
    if r.status.as_u16() == 400 {
        r.expect_error(400, Some("invalidFilter"));
    } else {
        assert_eq!(
            r.expect_list(1, 1).resource_ids(),
            vec![u],
            "groups.value filter"
        );
    }
}

/// `active eq "true"` (a string for a boolean) either matches like `active eq true` (the
/// leniency IDP-COMPAT.md asks for in bodies) or is a 400 `invalidFilter`, as a dateTime
/// compared with a number is; an empty result would silently hide every user.
async fn resources_filter_boolean_with_string_value_is_not_silently_empty(s: TestServer) {
    let id = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "on", "active": true}))
        .await
        .id();
    let r = s.filter("Users", "active eq \"true\"", "").await;
    if r.status.as_u16() == 400 {
        r.expect_error(400, Some("invalidFilter"));
    } else {
        assert_eq!(r.expect_list(1, 1).resource_ids(), vec![id]);
    }
}

/// dateTime comparisons are between instants, not strings: other offsets and whole seconds
/// compare chronologically with the stored millisecond UTC times.
async fn resources_datetime_filters_compare_instants(s: TestServer) {
    let body = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "t"}))
        .await
        .body;
    let id = body["id"].as_str().unwrap().to_string();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let created =
        time::OffsetDateTime::parse(body["meta"]["created"].as_str().unwrap(), rfc3339).unwrap();
    let fmt = |t: time::OffsetDateTime| t.format(rfc3339).unwrap();
    let west = time::UtcOffset::from_hms(-12, 0, 0).unwrap();
    let east = time::UtcOffset::from_hms(2, 0, 0).unwrap();
    let second_before = created.replace_nanosecond(0).unwrap() - time::Duration::milliseconds(1);
    let cases = [
        (format!("meta.created gt \"{}\"", fmt(second_before)), true),
        (
            format!(
                "meta.created lt \"{}\"",
                fmt((created + time::Duration::hours(1)).to_offset(west))
            ),
            true,
        ),
        (
            format!(
                "meta.created gt \"{}\"",
                fmt((created + time::Duration::hours(1)).to_offset(west))
            ),
            false,
        ),
        (
            format!("meta.created eq \"{}\"", fmt(created.to_offset(east))),
            true,
        ),
        (format!("meta.created ge \"{}\"", fmt(created)), true),
        (format!("meta.created lt \"{}\"", fmt(created)), false),
    ];
    for (f, hit) in cases {
        let want = if hit { vec![id.clone()] } else { vec![] };
        assert_eq!(
            s.filter("Users", &f, "").await.expect(200).resource_ids(),
            want,
            "{f}"
        );
    }
}

/// `POST /.search` at the root pages over Users then Groups: a window that starts inside
/// the users and ends inside the groups returns exactly that slice.
async fn resources_root_search_pages_across_resource_types(s: TestServer) {
    s.seed_users("root", 3).await;
    let group = s.create_group("root-group").await;
    // The users in the server's own order (seeding may create them concurrently).
    let listed = s.get("/Users").await.expect(200);
    let users: Vec<String> = listed.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let page = |start: u64, count: u64| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "startIndex": start, "count": count})
    };
    let r = s.post("/.search", page(3, 2)).await.expect(200);
    assert_eq!(r.body["totalResults"], 4);
    let ids: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [users[2].as_str(), group.as_str()]);
    let r = s.post("/.search", page(4, 10)).await.expect(200);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["Resources"][0]["id"], json!(group));
}

/// `If-Match` compares weakly and accepts `W/"n"`, `"n"` and `n` alike, on reads and writes.
async fn resources_if_match_accepts_every_spelling_of_the_tag(s: TestServer) {
    let id = s.create_user("spelling").await;
    let path = format!("/Users/{id}");
    for tag in ["W/\"1\"", "\"1\"", "1"] {
        s.call_as(
            &s.token,
            "acme",
            Method::GET,
            &path,
            None,
            &[("If-Match", tag)],
        )
        .await
        .expect(200);
    }
    s.call_as(
        &s.token,
        "acme",
        Method::GET,
        &path,
        None,
        &[("If-Match", "2")],
    )
    .await
    .expect_error(412, None);
    s.call_as(
        &s.token,
        "acme",
        Method::PATCH,
        &path,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
        ),
        &[("If-Match", "1")],
    )
    .await
    .expect(200);
}
