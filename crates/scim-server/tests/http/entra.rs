//! Microsoft Entra ID (Azure AD) provisioning: every request shape of IDP-COMPAT.md § Entra.

use serde_json::{Value, json};

use crate::support::{
    ENTERPRISE, GROUP_SCHEMA, LIST_RESPONSE, TestServer, USER_SCHEMA, assert_absent, sorted,
};

backend_tests!(
    entra_test_connection_with_random_guid_is_an_empty_list,
    entra_create_user_with_enterprise_meta_roles_and_nulls,
    entra_patch_op_names_are_case_insensitive,
    entra_active_as_string_on_post_and_patch,
    entra_pathless_patch_with_dotted_and_urn_keys,
    entra_enterprise_attributes_by_urn_path,
    entra_add_with_value_filter_path_creates_the_element,
    entra_manager_in_every_shape,
    entra_manager_replace_with_empty_removes_it,
    entra_group_with_adscim_schema_urn,
    entra_excluded_members_on_get_and_filtered_list,
    entra_add_member_with_null_ref,
    entra_remove_members_by_value_list_removes_only_those,
    entra_remove_member_by_value_filter_path,
    entra_membership_replays_are_idempotent,
    entra_many_membership_operations_in_one_patch,
    entra_matching_filters,
    entra_external_id_filter_is_case_exact,
    entra_pagination_echoes_start_index,
    entra_clear_optional_attributes_with_empty_and_null,
    entra_deactivated_user_is_still_found,
    entra_full_provisioning_cycle,
    entra_membership_patches_of_a_large_group_are_answered_204,
);

const ADSCIM_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

fn user_path(id: &str) -> String {
    format!("/Users/{id}")
}

fn group_path(id: &str) -> String {
    format!("/Groups/{id}")
}

fn urn(attr: &str) -> String {
    format!("{ENTERPRISE}:{attr}")
}

/// The body Entra sends to create a user (from Microsoft's SCIM reference).
fn entra_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "title": null,
        "addresses": null,
        "preferredLanguage": "en-US",
        ENTERPRISE: {"department": "Sales", "employeeNumber": "42", "manager": null},
    })
}

/// A user with a name and enterprise data to change in place.
async fn make_user(s: &TestServer, user_name: &str) -> String {
    s.create_user_from(entra_user(user_name, &format!("ext-{user_name}")))
        .await
        .id()
}

/// The manager id of a user, read back with GET.
async fn manager_of(s: &TestServer, id: &str) -> Value {
    s.get(&user_path(id)).await.expect(200).body[ENTERPRISE]["manager"].clone()
}

/// Test Connection: a filter for a random GUID finds nothing and says so with 200, for
/// users and groups alike (never 404).
async fn entra_test_connection_with_random_guid_is_an_empty_list(s: TestServer) {
    let guid = uuid::Uuid::new_v4().to_string();
    for (endpoint, attr) in [("Users", "userName"), ("Groups", "displayName")] {
        let r = s
            .filter(endpoint, &format!("{attr} eq \"{guid}\""), "")
            .await
            .expect_list(0, 0)
            .expect_scim_json();
        assert_eq!(
            r.body["Resources"],
            json!([]),
            "Resources must be present and empty: {}",
            r.body
        );
        assert_eq!(r.body["startIndex"], 1);
        assert_eq!(r.body["schemas"], json!([LIST_RESPONSE]));
    }
    // Entra form-encodes spaces as '+'.
    let r = s
        .get(&format!("/Users?filter=userName+eq+%22{guid}%22"))
        .await
        .expect_list(0, 0);
    assert_eq!(r.body["Resources"], json!([]));
    let id = s.create_user("plus@contoso.com").await;
    let r = s
        .get("/Users?filter=userName+eq+%22plus%40contoso.com%22")
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![id]);
    s.get(&format!(
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22{guid}%22"
    ))
    .await
    .expect_list(0, 0);
}

/// Create with core + enterprise URNs, read-only `meta`, `roles: []` and explicit nulls:
/// 201, null/empty means "no value", everything else stored as sent.
async fn entra_create_user_with_enterprise_meta_roles_and_nulls(s: TestServer) {
    let before = s.change_count().await;
    let created = s
        .post(
            "/Users",
            entra_user(
                "Test_User_ab6490ee@contoso.com",
                "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            ),
        )
        .await
        .expect(201)
        .expect_scim_json();
    let b = &created.body;
    assert_eq!(b["userName"], "Test_User_ab6490ee@contoso.com");
    assert_eq!(b["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(b["active"], true);
    assert_eq!(
        b["emails"],
        json!([{"primary": true, "type": "work", "value": "Test_User_ab6490ee@contoso.com"}])
    );
    assert_eq!(
        b["name"],
        json!({"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"})
    );
    for key in ["title", "addresses", "roles", "password"] {
        assert_absent(b, key);
    }
    assert_eq!(b[ENTERPRISE]["department"], "Sales");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "42");
    assert_absent(&b[ENTERPRISE], "manager");
    let schemas = b["schemas"].as_array().unwrap();
    assert!(
        schemas.contains(&json!(USER_SCHEMA)) && schemas.contains(&json!(ENTERPRISE)),
        "{b}"
    );
    assert_eq!(b["meta"]["resourceType"], "User");
    assert!(b["meta"]["created"].is_string() && b["meta"]["lastModified"].is_string());
    assert_eq!(
        b["meta"]["location"],
        format!("{}/Users/{}", s.base("acme"), created.id())
    );
    // What was stored is what was answered.
    let read = s.get(&user_path(&created.id())).await.expect(200);
    assert_eq!(&read.body, b);
    assert_eq!(s.change_count().await, before + 1);
}

/// `Add`, `Replace` and `Remove` (capitalised) are the RFC's add, replace and remove.
async fn entra_patch_op_names_are_case_insensitive(s: TestServer) {
    let id = make_user(&s, "caps@contoso.com").await;
    s.patch_ops(
        &user_path(&id),
        json!([
            {"op": "Add", "path": "title", "value": "Engineer"},
            {"op": "Replace", "path": "displayName", "value": "Caps Lock"},
            {"op": "Remove", "path": "preferredLanguage"},
            {"op": "ADD", "path": "nickName", "value": "caps"},
        ]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(b["title"], "Engineer");
    assert_eq!(b["displayName"], "Caps Lock");
    assert_eq!(b["nickName"], "caps");
    assert_absent(&b, "preferredLanguage");
}

/// `"active": "True"` on POST and `"False"`/`"true"` strings on PATCH are booleans.
async fn entra_active_as_string_on_post_and_patch(s: TestServer) {
    let mut body = entra_user("strbool@contoso.com", "ext-strbool");
    body["active"] = json!("True");
    let created = s.create_user_from(body).await;
    assert_eq!(created.body["active"], json!(true));
    let id = created.id();

    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], json!(false));
    assert_eq!(s.get(&user_path(&id)).await.body["active"], json!(false));

    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "Replace", "path": "active", "value": "true"}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], json!(true));
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "value": {"active": "FALSE"}}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], json!(false));
    assert_eq!(s.get(&user_path(&id)).await.body["active"], json!(false));
}

/// A path-less replace whose value uses dotted keys and URN-qualified keys applies every
/// key, and leaves the other sub-attributes of `name` alone.
async fn entra_pathless_patch_with_dotted_and_urn_keys(s: TestServer) {
    let id = s
        .create_user_from(json!({
            "schemas": [USER_SCHEMA],
            "userName": "dotted@contoso.com",
            "name": {"givenName": "Old", "familyName": "Family"},
        }))
        .await
        .id();
    let r = s
        .patch_ops(
            &user_path(&id),
            json!([{"op": "replace", "value": {
                "name.givenName": "K",
                "displayName": "K Family",
                (urn("employeeNumber")): "7",
                (urn("department")): "Eng",
            }}]),
        )
        .await
        .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(r.body, b, "the PATCH response is the resource");
    assert_eq!(b["name"], json!({"givenName": "K", "familyName": "Family"}));
    assert_eq!(b["displayName"], "K Family");
    assert_eq!(
        b[ENTERPRISE],
        json!({"employeeNumber": "7", "department": "Eng"})
    );
    assert!(
        b["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE)),
        "extension listed: {b}"
    );
    assert_absent(&b, "name.givenName");
    assert_absent(&b, &urn("employeeNumber"));
}

/// Enterprise attributes addressed by their full URN path: add, replace, remove.
async fn entra_enterprise_attributes_by_urn_path(s: TestServer) {
    let id = make_user(&s, "urnpath@contoso.com").await;
    s.patch_ops(
        &user_path(&id),
        json!([
            {"op": "Replace", "path": urn("department"), "value": "Engineering"},
            {"op": "Add", "path": urn("costCenter"), "value": "CC-1"},
            {"op": "Add", "path": urn("organization"), "value": "Contoso"},
        ]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(b[ENTERPRISE]["department"], "Engineering");
    assert_eq!(b[ENTERPRISE]["costCenter"], "CC-1");
    assert_eq!(b[ENTERPRISE]["organization"], "Contoso");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "42");

    s.patch_ops(
        &user_path(&id),
        json!([{"op": "Remove", "path": urn("costCenter")}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_absent(&b[ENTERPRISE], "costCenter");
    assert_eq!(b[ENTERPRISE]["department"], "Engineering");
}

/// `Add` to `emails[type eq "work"].value` (or another typed sub-attribute) when no such
/// element exists creates it with that type; when it exists, the value is set in place.
async fn entra_add_with_value_filter_path_creates_the_element(s: TestServer) {
    let id = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "typed@contoso.com"}))
        .await
        .id();
    s.patch_ops(
        &user_path(&id),
        json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@contoso.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
        ]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(
        b["emails"],
        json!([{"type": "work", "value": "w@contoso.com"}])
    );
    assert_eq!(
        b["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(
        b["addresses"],
        json!([{"type": "work", "locality": "Redmond"}])
    );
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w2@contoso.com"}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(
        b["emails"],
        json!([{"type": "work", "value": "w2@contoso.com"}])
    );
}

/// `manager` as `[{"$ref":…,"value":id}]`, as `{"value":id}` and as a bare id string all
/// set `manager.value`.
async fn entra_manager_in_every_shape(s: TestServer) {
    let report = make_user(&s, "report@contoso.com").await;
    let boss1 = make_user(&s, "boss1@contoso.com").await;
    let boss2 = make_user(&s, "boss2@contoso.com").await;
    let boss3 = make_user(&s, "boss3@contoso.com").await;
    let path = urn("manager");

    let as_list = json!([{"$ref": format!("{}/Users/{boss1}", s.base("acme")), "value": boss1}]);
    s.patch_ops(
        &user_path(&report),
        json!([{"op": "Add", "path": path, "value": as_list}]),
    )
    .await
    .expect(200);
    assert_eq!(manager_of(&s, &report).await["value"], json!(boss1));

    s.patch_ops(
        &user_path(&report),
        json!([{"op": "Replace", "path": path, "value": {"value": boss2}}]),
    )
    .await
    .expect(200);
    assert_eq!(manager_of(&s, &report).await["value"], json!(boss2));

    s.patch_ops(
        &user_path(&report),
        json!([{"op": "Replace", "path": path, "value": boss3}]),
    )
    .await
    .expect(200);
    assert_eq!(manager_of(&s, &report).await["value"], json!(boss3));

    // And on create, as a bare string.
    let mut body = entra_user("report2@contoso.com", "ext-report2");
    body[ENTERPRISE]["manager"] = json!(boss1);
    let created = s.create_user_from(body).await;
    assert_eq!(created.body[ENTERPRISE]["manager"]["value"], json!(boss1));
}

/// Replacing the manager with an empty value removes it (`""`, `{"value": ""}`, `null`).
async fn entra_manager_replace_with_empty_removes_it(s: TestServer) {
    let report = make_user(&s, "report@contoso.com").await;
    let boss = make_user(&s, "boss@contoso.com").await;
    for empty in [json!(""), json!({"value": ""}), json!(null)] {
        s.patch_ops(
            &user_path(&report),
            json!([{"op": "Replace", "path": urn("manager"), "value": {"value": boss}}]),
        )
        .await
        .expect(200);
        assert_eq!(manager_of(&s, &report).await["value"], json!(boss));
        s.patch_ops(
            &user_path(&report),
            json!([{"op": "Replace", "path": urn("manager"), "value": empty}]),
        )
        .await
        .expect(200);
        let b = s.get(&user_path(&report)).await.expect(200).body;
        assert_absent(&b[ENTERPRISE], "manager");
        assert_eq!(
            b[ENTERPRISE]["department"], "Sales",
            "other enterprise data stays"
        );
    }
}

/// `POST /Groups` listing Microsoft's extra ADSCIM schema URN is accepted.
async fn entra_group_with_adscim_schema_urn(s: TestServer) {
    let r = s
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA, ADSCIM_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Group1DisplayName",
                "members": [],
                "meta": {"resourceType": "Group"},
            }),
        )
        .await
        .expect(201);
    assert_eq!(r.body["displayName"], "Group1DisplayName");
    assert_eq!(r.body["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    assert!(
        r.body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(GROUP_SCHEMA))
    );
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    s.get(&group_path(&r.id())).await.expect(200);
}

/// `excludedAttributes=members` leaves out `members` on GET by id and on a filtered list.
async fn entra_excluded_members_on_get_and_filtered_list(s: TestServer) {
    let u = s.create_user("member@contoso.com").await;
    let g = s.create_group_with("Readers", &[&u]).await;

    let full = s.get(&group_path(&g)).await.expect(200);
    assert_eq!(full.body["members"][0]["value"], json!(u));

    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await
        .expect(200);
    assert_absent(&r.body, "members");
    assert_eq!(r.body["id"], json!(g));
    assert_eq!(r.body["displayName"], "Readers");
    assert_eq!(r.body["schemas"], json!([GROUP_SCHEMA]));

    let list = s
        .filter(
            "Groups",
            "displayName eq \"Readers\"",
            "&excludedAttributes=members",
        )
        .await
        .expect_list(1, 1);
    let item = &list.resources()[0];
    assert_absent(item, "members");
    assert_eq!(item["id"], json!(g));
    assert_eq!(item["displayName"], "Readers");
}

/// `{"op":"Add","path":"members","value":[{"$ref":null,"value":id}]}` adds the member
/// (and keeps the ones already there).
async fn entra_add_member_with_null_ref(s: TestServer) {
    let u1 = s.create_user("u1@contoso.com").await;
    let u2 = s.create_user("u2@contoso.com").await;
    let g = s.create_group_with("G", &[&u1]).await;
    let r = s
        .patch_ops(
            &group_path(&g),
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u2}]}]),
        )
        .await
        .expect(200);
    let mut in_response = crate::support::values_of(&r.body, "members");
    in_response.sort();
    assert_eq!(
        in_response,
        sorted(&[&u1, &u2]),
        "the PATCH response shows the members"
    );
    assert_eq!(s.member_ids(&g).await, sorted(&[&u1, &u2]));
    let member = s.get(&group_path(&g)).await.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == json!(u2))
        .cloned()
        .unwrap();
    assert_eq!(
        member["$ref"],
        format!("{}/Users/{u2}", s.base("acme")),
        "$ref is the member's URI"
    );
}

/// Remove with a value list removes only the listed members, not all of them.
async fn entra_remove_members_by_value_list_removes_only_those(s: TestServer) {
    let u1 = s.create_user("u1@contoso.com").await;
    let u2 = s.create_user("u2@contoso.com").await;
    let u3 = s.create_user("u3@contoso.com").await;
    let g = s.create_group_with("G", &[&u1, &u2, &u3]).await;
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Remove", "path": "members", "value": [{"value": u1}, {"value": u3}]}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, vec![u2.clone()]);
    // The removed users still exist.
    s.get(&user_path(&u1)).await.expect(200);
}

/// `members[value eq "id"]` removes exactly that member.
async fn entra_remove_member_by_value_filter_path(s: TestServer) {
    let u1 = s.create_user("u1@contoso.com").await;
    let u2 = s.create_user("u2@contoso.com").await;
    let g = s.create_group_with("G", &[&u1, &u2]).await;
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Remove", "path": format!("members[value eq \"{u2}\"]")}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, vec![u1.clone()]);
}

/// Entra replays membership changes: adding a member already there and removing one that
/// is not there both succeed and change nothing.
async fn entra_membership_replays_are_idempotent(s: TestServer) {
    let u1 = s.create_user("u1@contoso.com").await;
    let u2 = s.create_user("u2@contoso.com").await;
    let g = s.create_group_with("G", &[&u1]).await;
    for _ in 0..2 {
        s.patch_ops(
            &group_path(&g),
            json!([{"op": "Add", "path": "members", "value": [{"value": u1}, {"value": u1}]}]),
        )
        .await
        .expect(200);
    }
    let members = s.get(&group_path(&g)).await.body["members"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(members, 1, "a member is listed once");
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Remove", "path": "members", "value": [{"value": u2}]}]),
    )
    .await
    .expect(200);
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Remove", "path": format!("members[value eq \"{u2}\"]")}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, vec![u1.clone()]);
}

/// One PATCH with many membership operations applies them in order, as one change: one new
/// version, recorded as the attribute change, the members added and the members removed.
async fn entra_many_membership_operations_in_one_patch(s: TestServer) {
    let mut u = Vec::new();
    for i in 0..5 {
        u.push(s.create_user(&format!("m{i}@contoso.com")).await);
    }
    let g = s.create_group_with("Big", &[&u[0]]).await;
    let changes = s.change_count().await;
    let version = s.get(&group_path(&g)).await.body["meta"]["version"].clone();
    assert_eq!(version, "W/\"1\"");
    s.patch_ops(
        &group_path(&g),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": u[1]}, {"value": u[2]}]},
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": u[3]}]},
            {"op": "Remove", "path": "members", "value": [{"value": u[1]}]},
            {"op": "Remove", "path": format!("members[value eq \"{}\"]", u[0])},
            {"op": "Add", "path": "members", "value": [{"value": u[4]}]},
            {"op": "Replace", "path": "displayName", "value": "Bigger"},
        ]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, sorted(&[&u[2], &u[3], &u[4]]));
    let after = s.get(&group_path(&g)).await.body;
    assert_eq!(after["displayName"], "Bigger");
    assert_eq!(
        after["meta"]["version"], "W/\"2\"",
        "one PATCH is one version"
    );
    let tenant = s.tenant_id("acme").await;
    let records = s.store.changes(tenant, changes as i64, 100).await.unwrap();
    let shape: Vec<(Vec<String>, usize, usize, Option<i64>)> = records
        .iter()
        .map(|c| {
            (
                c.changed.clone(),
                c.members_added.len(),
                c.members_removed.len(),
                c.version,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (vec!["displayName".to_string()], 0, 0, Some(2)),
            (vec!["members".to_string()], 3, 0, Some(2)),
            (vec!["members".to_string()], 0, 1, Some(2)),
        ]
    );
}

/// The matching filters Entra uses: `userName`, `externalId`, `emails[type eq "work"].value`,
/// group `displayName`, and `and` of them; misses are empty lists.
async fn entra_matching_filters(s: TestServer) {
    let id = make_user(&s, "match@contoso.com").await;
    make_user(&s, "other@contoso.com").await;
    let g = s.create_group("Sales Team").await;
    s.create_group("Sales").await;

    for f in [
        "userName eq \"match@contoso.com\"",
        "externalId eq \"ext-match@contoso.com\"",
        "emails[type eq \"work\"].value eq \"match@contoso.com\"",
        "userName eq \"match@contoso.com\" and externalId eq \"ext-match@contoso.com\"",
        "userName eq \"match@contoso.com\" and active eq true",
    ] {
        let r = s.filter("Users", f, "").await.expect_list(1, 1);
        assert_eq!(r.resource_ids(), vec![id.clone()], "filter {f}");
    }
    for f in [
        "userName eq \"match@contoso.com\" and externalId eq \"ext-other@contoso.com\"",
        "emails[type eq \"home\"].value eq \"match@contoso.com\"",
        "externalId eq \"nobody\"",
    ] {
        s.filter("Users", f, "").await.expect_list(0, 0);
    }
    let r = s
        .filter(
            "Groups",
            "displayName eq \"Sales Team\"",
            "&excludedAttributes=members",
        )
        .await
        .expect_list(1, 1);
    assert_eq!(r.resource_ids(), vec![g]);
}

/// `externalId` is case-exact (RFC 7643 §3.1): a filter with other letter case misses.
async fn entra_external_id_filter_is_case_exact(s: TestServer) {
    let id = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "u", "externalId": "AbC-1"}))
        .await
        .id();
    assert_eq!(
        s.filter("Users", "externalId eq \"AbC-1\"", "")
            .await
            .expect_list(1, 1)
            .resource_ids(),
        vec![id]
    );
    s.filter("Users", "externalId eq \"abc-1\"", "")
        .await
        .expect_list(0, 0);
}

/// `startIndex`/`count` page the results and the response echoes `startIndex`.
async fn entra_pagination_echoes_start_index(s: TestServer) {
    for i in 0..5 {
        s.create_user(&format!("page{i}@contoso.com")).await;
    }
    let all = s
        .get("/Users?startIndex=1&count=5")
        .await
        .expect_list(5, 5)
        .resource_ids();
    let r = s.get("/Users?startIndex=3&count=2").await.expect_list(5, 2);
    assert_eq!(r.body["startIndex"], 3);
    assert_eq!(r.resource_ids(), all[2..4].to_vec());
    let r = s.get("/Users?startIndex=5&count=2").await.expect_list(5, 1);
    assert_eq!(r.body["startIndex"], 5);
    let r = s.get("/Users?startIndex=9&count=2").await.expect_list(5, 0);
    assert_eq!(r.body["startIndex"], 9);
}

/// Optional attributes are cleared with `""` and with `null`, by path and path-less, for
/// core and enterprise attributes alike.
async fn entra_clear_optional_attributes_with_empty_and_null(s: TestServer) {
    let mut body = entra_user("clear@contoso.com", "ext-clear");
    body["title"] = json!("Boss");
    body["nickName"] = json!("nick");
    body["userType"] = json!("Employee");
    body["locale"] = json!("en-US");
    let id = s.create_user_from(body).await.id();
    s.patch_ops(
        &user_path(&id),
        json!([
            {"op": "Replace", "path": "title", "value": ""},
            {"op": "Replace", "path": "nickName", "value": null},
            {"op": "Replace", "path": urn("department"), "value": ""},
            {"op": "replace", "value": {"userType": "", "locale": null, "name.formatted": ""}},
        ]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    for key in ["title", "nickName", "userType", "locale"] {
        assert_absent(&b, key);
    }
    assert_absent(&b[ENTERPRISE], "department");
    assert_eq!(b[ENTERPRISE]["employeeNumber"], "42");
    assert_eq!(
        b["name"],
        json!({"familyName": "familyName", "givenName": "givenName"})
    );
    assert_eq!(b["displayName"], "Test User", "untouched attributes stay");
}

/// A deactivated user (`active: false`) is still returned by GET and by the userName filter.
async fn entra_deactivated_user_is_still_found(s: TestServer) {
    let id = make_user(&s, "leaver@contoso.com").await;
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(b["active"], false);
    let r = s
        .filter("Users", "userName eq \"leaver@contoso.com\"", "")
        .await
        .expect_list(1, 1);
    assert_eq!(r.resources()[0]["id"], json!(id));
    assert_eq!(r.resources()[0]["active"], false);
}

/// Entra's whole cycle: test connection, match miss, create, match hit, update, deactivate,
/// group create, membership add and remove, delete.
async fn entra_full_provisioning_cycle(s: TestServer) {
    // Test connection.
    let guid = uuid::Uuid::new_v4();
    s.filter("Users", &format!("userName eq \"{guid}\""), "")
        .await
        .expect_list(0, 0);

    // Match by filter: miss, then create.
    let upn = "adele.vance@contoso.com";
    s.filter("Users", &format!("userName eq \"{upn}\""), "")
        .await
        .expect_list(0, 0);
    let mut body = entra_user(upn, "adele-object-id");
    body["active"] = json!("True");
    let created = s.post("/Users", body).await.expect(201);
    let id = created.id();
    let boss = make_user(&s, "boss@contoso.com").await;

    // Next cycle: match hit.
    let hit = s
        .filter("Users", &format!("userName eq \"{upn}\""), "")
        .await
        .expect_list(1, 1);
    assert_eq!(hit.resource_ids(), vec![id.clone()]);

    // Update: attributes and manager.
    s.patch_ops(
        &user_path(&id),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Adele V."},
            {"op": "Add", "path": "title", "value": "Retail Manager"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "adele@contoso.com"},
            {"op": "Replace", "path": urn("department"), "value": "Retail"},
            {"op": "Add", "path": urn("manager"), "value": [{"$ref": null, "value": boss}]},
        ]),
    )
    .await
    .expect(200);
    let b = s.get(&user_path(&id)).await.expect(200).body;
    assert_eq!(b["displayName"], "Adele V.");
    assert_eq!(b["title"], "Retail Manager");
    assert_eq!(b["emails"][0]["value"], "adele@contoso.com");
    assert_eq!(b["emails"][0]["type"], "work");
    assert_eq!(b[ENTERPRISE]["department"], "Retail");
    assert_eq!(b[ENTERPRISE]["manager"]["value"], json!(boss));

    // Groups: match miss, create, add members, remove one.
    s.filter(
        "Groups",
        "displayName eq \"Retail\"",
        "&excludedAttributes=members",
    )
    .await
    .expect_list(0, 0);
    let g = s
        .post("/Groups", json!({"schemas": [GROUP_SCHEMA, ADSCIM_GROUP], "displayName": "Retail", "externalId": "grp-1", "members": []}))
        .await
        .expect(201)
        .id();
    s.filter(
        "Groups",
        "displayName eq \"Retail\"",
        "&excludedAttributes=members",
    )
    .await
    .expect_list(1, 1);
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": boss}]}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, sorted(&[&id, &boss]));
    s.patch_ops(
        &group_path(&g),
        json!([{"op": "Remove", "path": "members", "value": [{"value": boss}]}]),
    )
    .await
    .expect(200);
    assert_eq!(s.member_ids(&g).await, vec![id.clone()]);

    // Deactivate (soft, Entra's first step): still found.
    s.patch_ops(
        &user_path(&id),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await
    .expect(200);
    let r = s
        .filter("Users", &format!("userName eq \"{upn}\""), "")
        .await
        .expect_list(1, 1);
    assert_eq!(r.resources()[0]["active"], false);

    // Delete: gone, and gone from the group.
    s.delete(&user_path(&id)).await.expect(204);
    s.get(&user_path(&id)).await.expect_error(404, None);
    s.filter("Users", &format!("userName eq \"{upn}\""), "")
        .await
        .expect_list(0, 0);
    assert!(s.member_ids(&g).await.is_empty());
    s.delete(&group_path(&g)).await.expect(204);
    s.get(&group_path(&g)).await.expect_error(404, None);
}

/// Entra sends membership changes without `attributes`/`excludedAttributes` and documents
/// `204 No Content` as the answer. A group over the server's limit (default 100 members)
/// gets exactly that, whatever its size, with the new version in `ETag`; each change is
/// applied.
async fn entra_membership_patches_of_a_large_group_are_answered_204(s: TestServer) {
    let g = s.seed_group("All Staff", "staff", 110).await;
    let u1 = make_user(&s, "u1@contoso.com").await;
    let u2 = make_user(&s, "u2@contoso.com").await;
    let has = |id: String| {
        let s = &s;
        async move {
            let filter = format!("members.value eq \"{id}\"");
            s.filter("Groups", &filter, "&excludedAttributes=members")
                .await
                .expect(200)
                .body["totalResults"]
                .as_u64()
        }
    };
    let add = json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}]);
    let r = s.patch_ops(&group_path(&g), add).await.expect(204);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    assert_eq!(has(u1.clone()).await, Some(1));
    assert_eq!(has(u2.clone()).await, Some(1));

    let remove = json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]);
    let r = s.patch_ops(&group_path(&g), remove).await.expect(204);
    assert_eq!(r.header("etag"), Some("W/\"3\""));
    assert_eq!(has(u1.clone()).await, Some(0));

    let remove = json!([{"op": "Remove", "path": format!("members[value eq \"{u2}\"]")}]);
    s.patch_ops(&group_path(&g), remove).await.expect(204);
    assert_eq!(has(u2).await, Some(0));
    // A replay changes nothing and is still answered 204.
    let remove = json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]);
    let r = s.patch_ops(&group_path(&g), remove).await.expect(204);
    assert_eq!(r.header("etag"), Some("W/\"4\""));
    // Entra reads the group with excludedAttributes=members: unaffected.
    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await
        .expect(200);
    assert_eq!(r.body["displayName"], "All Staff");
}
