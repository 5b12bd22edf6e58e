//! Bad requests get the right SCIM error (RFC 7644 §3.12) and change nothing: every test
//! compares the change log and a GET of the resource before and after.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, PATCH_OP, SEARCH_REQUEST, TestServer, USER_SCHEMA,
    patch_body,
};

backend_tests!(
    errors_malformed_json_is_invalid_syntax,
    errors_wrong_types_are_invalid_value,
    errors_unknown_attributes_are_rejected,
    errors_missing_schemas_is_rejected,
    errors_patch_without_patch_op_schema_is_rejected,
    errors_missing_required_user_name_is_invalid_value,
    errors_oversized_body_is_413,
    errors_invalid_filter_names_the_position,
    errors_unknown_endpoint_is_a_scim_404,
    errors_unknown_id_is_a_scim_404,
    errors_patch_with_bad_path_is_invalid_path,
    errors_patch_without_target_is_no_target,
    errors_patch_on_read_only_attribute_is_mutability,
    errors_malformed_patch_request_is_invalid_syntax,
    errors_stale_if_match_is_412,
    errors_wrong_method_on_discovery_endpoints_is_405,
    errors_wrong_method_on_resource_endpoints_is_405,
    errors_405_names_the_allowed_methods,
    errors_me_is_not_implemented,
    errors_patch_is_all_or_nothing,
    errors_unusual_strings_are_stored_exactly_or_refused,
);

fn user_path(id: &str) -> String {
    format!("/Users/{id}")
}

/// A user with several attributes, to check that a failed write leaves all of them alone.
async fn rich_user(s: &TestServer) -> String {
    s.create_user_from(json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": "kept@example.com",
        "displayName": "Kept",
        "title": "Original",
        "name": {"givenName": "Kept", "familyName": "User"},
        "emails": [{"value": "kept@example.com", "type": "work", "primary": true}],
        ENTERPRISE: {"department": "Ops"},
    }))
    .await
    .id()
}

/// Sends raw bytes with the SCIM content type and acme's token.
async fn send_bytes(
    s: &TestServer,
    method: Method,
    path: &str,
    bytes: Vec<u8>,
) -> crate::support::Reply {
    let auth = s.auth_header();
    s.raw(
        method,
        path,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/scim+json"),
        ],
        Some(bytes),
    )
    .await
}

/// Malformed JSON on POST, PUT and PATCH: 400 `invalidSyntax`, nothing stored.
async fn errors_malformed_json_is_invalid_syntax(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let list_before = s.snapshot("/Users").await;
    for body in [
        r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x""#,
        "not json",
        "",
        "{'a': 1}",
    ] {
        send_bytes(&s, Method::POST, "/Users", body.into())
            .await
            .expect_error(400, Some("invalidSyntax"));
        send_bytes(&s, Method::PUT, &path, body.into())
            .await
            .expect_error(400, Some("invalidSyntax"));
        send_bytes(&s, Method::PATCH, &path, body.into())
            .await
            .expect_error(400, Some("invalidSyntax"));
    }
    // JSON that is not an object.
    for body in [json!([1, 2]), json!("user"), json!(42)] {
        s.post("/Users", body.clone())
            .await
            .expect_error(400, Some("invalidSyntax"));
        s.put(&path, body)
            .await
            .expect_error(400, Some("invalidSyntax"));
    }
    s.assert_unchanged(&path, &before).await;
    s.assert_unchanged("/Users", &list_before).await;
}

/// Values of the wrong type are 400 `invalidValue` on POST, PUT and PATCH.
async fn errors_wrong_types_are_invalid_value(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let bad_values = [
        ("userName", json!(42)),
        ("active", json!("maybe")),
        ("active", json!(1)),
        ("name", json!("Barbara Jensen")),
        ("emails", json!([{"value": 5}])),
        (
            "emails",
            json!([{"value": "a@b.c", "primary": "sometimes"}]),
        ),
        ("displayName", json!({"a": 1})),
        ("displayName", json!(["a", "b"])),
    ];
    for (attr, value) in &bad_values {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": "new@example.com"});
        body[*attr] = value.clone();
        s.post("/Users", body.clone())
            .await
            .expect_error(400, Some("invalidValue"));
        s.put(&path, body)
            .await
            .expect_error(400, Some("invalidValue"));
        s.patch_ops(
            &path,
            json!([{"op": "replace", "path": attr, "value": value}]),
        )
        .await
        .expect_error(400, Some("invalidValue"));
    }
    // Group members without a value.
    let g_body = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"display": "no value"}]});
    s.post("/Groups", g_body)
        .await
        .expect_error(400, Some("invalidValue"));
    s.assert_unchanged(&path, &before).await;
    s.get("/Users?filter=userName%20eq%20%22new%40example.com%22")
        .await
        .expect_list(0, 0);
    s.get("/Groups").await.expect_list(0, 0);
}

/// Attributes no schema defines are a 400 (RFC 7644 §3.12 `invalidSyntax` "did not conform
/// to the request schema"; `invalidValue` is accepted too).
async fn errors_unknown_attributes_are_rejected(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let list_before = s.snapshot("/Users").await;
    let body =
        json!({"schemas": [USER_SCHEMA], "userName": "new@example.com", "favouriteColour": "blue"});
    s.post("/Users", body.clone())
        .await
        .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    s.put(&path, body)
        .await
        .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    // An extension attribute the extension does not define.
    let body = json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "new@example.com", ENTERPRISE: {"shoeSize": 42}});
    s.post("/Users", body)
        .await
        .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    // A schema URN the resource type does not have.
    let body = json!({"schemas": [USER_SCHEMA, "urn:example:unknown:2.0:User"], "userName": "new@example.com"});
    s.post("/Users", body)
        .await
        .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    s.assert_unchanged(&path, &before).await;
    s.assert_unchanged("/Users", &list_before).await;
}

/// A body without `schemas`, or whose `schemas` lacks the core schema, is a 400.
async fn errors_missing_schemas_is_rejected(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let list_before = s.snapshot("/Users").await;
    for body in [
        json!({"userName": "new@example.com"}),
        json!({"schemas": [], "userName": "new@example.com"}),
        json!({"schemas": [GROUP_SCHEMA], "userName": "new@example.com"}),
    ] {
        s.post("/Users", body.clone())
            .await
            .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
        s.put(&path, body)
            .await
            .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    }
    s.assert_unchanged(&path, &before).await;
    s.assert_unchanged("/Users", &list_before).await;
}

/// A PATCH body must declare the PatchOp schema (RFC 7644 §3.5.2: MUST).
async fn errors_patch_without_patch_op_schema_is_rejected(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    for body in [
        json!({"Operations": [{"op": "replace", "path": "title", "value": "X"}]}),
        json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "replace", "path": "title", "value": "X"}]}),
    ] {
        s.patch(&path, body)
            .await
            .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    }
    s.assert_unchanged(&path, &before).await;
}

/// `userName` is required: missing, null or empty on POST and PUT is a 400 `invalidValue`,
/// and so is removing it by PATCH; a group needs its `displayName` too.
async fn errors_missing_required_user_name_is_invalid_value(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    for body in [
        json!({"schemas": [USER_SCHEMA], "displayName": "No Name"}),
        json!({"schemas": [USER_SCHEMA], "userName": null}),
        json!({"schemas": [USER_SCHEMA], "userName": ""}),
    ] {
        s.post("/Users", body.clone())
            .await
            .expect_error(400, Some("invalidValue"));
        s.put(&path, body)
            .await
            .expect_error(400, Some("invalidValue"));
    }
    // Removing a required value by PATCH: "a required value was missing" (invalidValue) or
    // "not compatible with the attribute's current state" (mutability); both readings exist.
    s.patch_ops(&path, json!([{"op": "remove", "path": "userName"}]))
        .await
        .expect_error_in(400, &["invalidValue", "mutability"]);
    s.patch_ops(
        &path,
        json!([{"op": "replace", "path": "userName", "value": ""}]),
    )
    .await
    .expect_error_in(400, &["invalidValue", "mutability"]);
    s.post("/Groups", json!({"schemas": [GROUP_SCHEMA]}))
        .await
        .expect_error(400, Some("invalidValue"));
    s.assert_unchanged(&path, &before).await;
    s.get("/Users").await.expect_list(1, 1);
    s.get("/Groups").await.expect_list(0, 0);
}

/// A body over the advertised 4 MiB is a 413 SCIM error, on every endpoint that reads one.
async fn errors_oversized_body_is_413(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let filler = "x".repeat(4 * 1024 * 1024 + 16);
    let huge =
        json!({"schemas": [USER_SCHEMA], "userName": "huge@example.com", "nickName": filler})
            .to_string();
    for (method, target) in [
        (Method::POST, "/Users".to_string()),
        (Method::PUT, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::POST, "/Bulk".to_string()),
        (Method::POST, "/Users/.search".to_string()),
    ] {
        send_bytes(&s, method.clone(), &target, huge.clone().into_bytes())
            .await
            .expect_error(413, None);
    }
    s.assert_unchanged(&path, &before).await;
    s.get("/Users").await.expect_list(1, 1);
}

/// Filter syntax errors are 400 `invalidFilter` whose detail says where it broke.
async fn errors_invalid_filter_names_the_position(s: TestServer) {
    s.create_user("a@example.com").await;
    for f in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" and",
        "userName eq \"unterminated",
        "emails[type eq \"work\".value eq \"a\"",
        "userName eq \"a\" or or active eq true",
    ] {
        let r = s
            .filter("Users", f, "")
            .await
            .expect_error(400, Some("invalidFilter"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("position"),
            "detail should give the position for {f:?}: {detail}"
        );
    }
    // The same in a POST /.search body.
    s.post("/Users/.search", json!({"filter": "userName eq"}))
        .await
        .expect_error(400, Some("invalidFilter"));
}

/// Unknown endpoints, inside and outside a tenant, are SCIM 404s.
async fn errors_unknown_endpoint_is_a_scim_404(s: TestServer) {
    for path in ["/Widgets", "/Widgets/123", "/Users/abc/def"] {
        let r = s.get(path).await;
        assert_eq!(r.status.as_u16(), 404, "GET {path}: {}", r.body);
        r.expect_error(404, None);
    }
    s.post(
        "/Widgets",
        json!({"schemas": [USER_SCHEMA], "userName": "x"}),
    )
    .await
    .expect_error(404, None);
    s.post("/Widgets/.search", json!({"schemas": [SEARCH_REQUEST]}))
        .await
        .expect_error(404, None);
    let auth = s.auth_header();
    for url in [
        format!("{}/nothing", s.url),
        format!("{}/scim/v1/acme/Users", s.url),
        format!("{}/scim/v2", s.url),
    ] {
        s.raw(Method::GET, &url, &[("authorization", auth.as_str())], None)
            .await
            .expect_error(404, None);
    }
    s.get("/Users").await.expect_list(0, 0);
}

/// An unknown id, or the id of a resource of another type, is a SCIM 404 for every method.
async fn errors_unknown_id_is_a_scim_404(s: TestServer) {
    let user = rich_user(&s).await;
    let before = s.snapshot(&user_path(&user)).await;
    let user_body = json!({"schemas": [USER_SCHEMA], "userName": "x@example.com"});
    let group_body = json!({"schemas": [GROUP_SCHEMA], "displayName": "X"});
    let patch = patch_body(json!([{"op": "replace", "path": "displayName", "value": "Y"}]));
    for path in [
        "/Users/00000000-0000-0000-0000-000000000000".to_string(),
        format!("/Groups/{user}"),
    ] {
        let body = if path.starts_with("/Users") {
            user_body.clone()
        } else {
            group_body.clone()
        };
        s.get(&path).await.expect_error(404, None);
        s.put(&path, body).await.expect_error(404, None);
        s.patch(&path, patch.clone()).await.expect_error(404, None);
        s.delete(&path).await.expect_error(404, None);
    }
    s.assert_unchanged(&user_path(&user), &before).await;
}

/// A PATCH path that is malformed or names no attribute is 400 `invalidPath`.
async fn errors_patch_with_bad_path_is_invalid_path(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    for bad in [
        "emails[type eq \"work\"",
        "name..givenName",
        "emails[type eq \"work\"]]",
        "favouriteColour",
        "name.nickname",
        "urn:example:unknown:2.0:User:foo",
        "emails[type eq \"work\"].bogus",
    ] {
        s.patch_ops(&path, json!([{"op": "replace", "path": bad, "value": "x"}]))
            .await
            .expect_error(400, Some("invalidPath"));
    }
    s.assert_unchanged(&path, &before).await;
}

/// A replace whose value filter matches no element, and a remove without a path, are
/// 400 `noTarget` (RFC 7644 §3.5.2.2, §3.5.2.3).
async fn errors_patch_without_target_is_no_target(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    s.patch_ops(&path, json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@example.com"}]))
        .await
        .expect_error(400, Some("noTarget"));
    s.patch_ops(&path, json!([{"op": "remove"}]))
        .await
        .expect_error(400, Some("noTarget"));
    s.assert_unchanged(&path, &before).await;
}

/// Changing a readOnly attribute by PATCH (`id`, `meta`, `groups`) is 400 `mutability`.
async fn errors_patch_on_read_only_attribute_is_mutability(s: TestServer) {
    let id = rich_user(&s).await;
    let g = s.create_group("G").await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    for op in [
        json!({"op": "replace", "path": "id", "value": "another-id"}),
        json!({"op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"}),
        json!({"op": "add", "path": "groups", "value": [{"value": g}]}),
        json!({"op": "remove", "path": "groups"}),
        json!({"op": "replace", "value": {"id": "another-id"}}),
    ] {
        s.patch_ops(&path, json!([op]))
            .await
            .expect_error(400, Some("mutability"));
    }
    s.assert_unchanged(&path, &before).await;
    assert!(s.member_ids(&g).await.is_empty());
}

/// A PatchOp message that is not one (wrong schema, no Operations, unknown op, missing
/// value) is a 400 and changes nothing.
async fn errors_malformed_patch_request_is_invalid_syntax(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    for body in [
        json!({"schemas": [PATCH_OP]}),
        json!({"schemas": [PATCH_OP], "Operations": {"op": "replace"}}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "upsert", "path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": "not an object"}]}),
    ] {
        s.patch(&path, body)
            .await
            .expect_error_in(400, &["invalidSyntax", "invalidValue"]);
    }
    s.assert_unchanged(&path, &before).await;
}

/// A stale `If-Match` is a 412 for PUT, PATCH and DELETE and changes nothing.
async fn errors_stale_if_match_is_412(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let stale = s.get(&path).await.header("etag").unwrap().to_string();
    s.patch_ops(
        &path,
        json!([{"op": "replace", "path": "title", "value": "Newer"}]),
    )
    .await
    .expect(200);
    let before = s.snapshot(&path).await;
    let stale_h = [("if-match", stale.as_str())];
    let put = json!({"schemas": [USER_SCHEMA], "userName": "kept@example.com"});
    s.call_as(&s.token, "acme", Method::PUT, &path, Some(put), &stale_h)
        .await
        .expect_error(412, None);
    let patch = patch_body(json!([{"op": "replace", "path": "title", "value": "Lost update"}]));
    s.call_as(
        &s.token,
        "acme",
        Method::PATCH,
        &path,
        Some(patch),
        &stale_h,
    )
    .await
    .expect_error(412, None);
    s.call_as(&s.token, "acme", Method::DELETE, &path, None, &stale_h)
        .await
        .expect_error(412, None);
    s.call_as(&s.token, "acme", Method::GET, &path, None, &stale_h)
        .await
        .expect_error(412, None);
    s.assert_unchanged(&path, &before).await;
}

/// Discovery endpoints are read-only: POST, PUT, PATCH and DELETE are SCIM 405s.
async fn errors_wrong_method_on_discovery_endpoints_is_405(s: TestServer) {
    let body = json!({"schemas": [USER_SCHEMA]});
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = s.call(method.clone(), path, Some(body.clone())).await;
            assert_eq!(r.status.as_u16(), 405, "{method} {path}: {}", r.body);
            r.expect_error(405, None);
        }
    }
    assert_eq!(s.change_count().await, 0);
}

/// Methods a resource endpoint does not have are SCIM 405s: PUT/PATCH/DELETE on a
/// collection, POST on a resource, GET on /Bulk and on /.search.
async fn errors_wrong_method_on_resource_endpoints_is_405(s: TestServer) {
    let id = rich_user(&s).await;
    let before = s.snapshot(&user_path(&id)).await;
    let body = json!({"schemas": [USER_SCHEMA], "userName": "x@example.com"});
    let mut cases = Vec::new();
    for collection in ["/Users", "/Groups"] {
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            cases.push((m, collection.to_string()));
        }
    }
    cases.push((Method::POST, user_path(&id)));
    cases.push((Method::GET, "/Bulk".to_string()));
    cases.push((Method::DELETE, "/Bulk".to_string()));
    cases.push((Method::GET, "/.search".to_string()));
    cases.push((Method::GET, "/Users/.search".to_string()));
    for (method, path) in cases {
        let r = s.call(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(r.status.as_u16(), 405, "{method} {path}: {}", r.body);
        r.expect_error(405, None);
    }
    s.assert_unchanged(&user_path(&id), &before).await;
}

/// A 405 names the allowed methods in `Allow` (RFC 9110 §15.5.6: MUST).
async fn errors_405_names_the_allowed_methods(s: TestServer) {
    let r = s
        .call(Method::DELETE, "/ServiceProviderConfig", None)
        .await
        .expect_error(405, None);
    let allow = r.header("allow").unwrap_or_default().to_string();
    assert!(allow.contains("GET"), "Allow should list GET: {allow:?}");
    let r = s
        .call(Method::PUT, "/Users", Some(json!({})))
        .await
        .expect_error(405, None);
    let allow = r.header("allow").unwrap_or_default().to_string();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow should list GET, POST: {allow:?}"
    );
}

/// `/Me` is a SCIM 501 for every method (tokens belong to systems, not people).
async fn errors_me_is_not_implemented(s: TestServer) {
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let body = (method != Method::GET && method != Method::DELETE)
            .then(|| json!({"schemas": [USER_SCHEMA]}));
        s.call(method, "/Me", body).await.expect_error(501, None);
    }
    s.get("/Me/groups").await.expect_error(501, None);
    assert_eq!(s.change_count().await, 0);
    // Without a valid token it is a 401 like everything else.
    let r = s
        .call_as("wrong", "acme", Method::GET, "/Me", None, &[])
        .await;
    r.expect_error(401, None);
}

/// A PATCH whose second (or last) operation fails applies none of its operations: the
/// resource is byte-identical afterwards, ETag included, for users and group members.
async fn errors_patch_is_all_or_nothing(s: TestServer) {
    let id = rich_user(&s).await;
    let path = user_path(&id);
    let before = s.snapshot(&path).await;
    let failing: [(Value, &str); 4] = [
        (
            json!({"op": "replace", "path": "bogus", "value": "x"}),
            "invalidPath",
        ),
        (
            json!({"op": "replace", "path": "active", "value": "perhaps"}),
            "invalidValue",
        ),
        (
            json!({"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}),
            "noTarget",
        ),
        (
            json!({"op": "replace", "path": "id", "value": "x"}),
            "mutability",
        ),
    ];
    for (bad, scim_type) in failing {
        s.patch_ops(
            &path,
            json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "remove", "path": "title"},
                bad,
            ]),
        )
        .await
        .expect_error(400, Some(scim_type));
        s.assert_unchanged(&path, &before).await;
    }

    let u2 = s.create_user("second@example.com").await;
    let g = s.create_group_with("G", &[&id]).await;
    let gpath = format!("/Groups/{g}");
    let before = s.snapshot(&gpath).await;
    s.patch_ops(
        &gpath,
        json!([
            {"op": "add", "path": "members", "value": [{"value": u2}]},
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
            {"op": "replace", "path": "displayName", "value": "H"},
            {"op": "add", "path": "members", "value": [{"display": "no value"}]},
        ]),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    s.assert_unchanged(&gpath, &before).await;
    assert_eq!(s.member_ids(&g).await, vec![id]);
    let r = s.get(&gpath).await;
    assert_eq!(r.body["schemas"][0], GROUP_SCHEMA);
    assert_ne!(r.body["schemas"][0], ERROR_SCHEMA);
}

/// Strings a database may choke on (NUL, 5 000 characters, 4-byte characters) are either
/// stored exactly (then found by GET and by filter) or refused with 400 `invalidValue`;
/// never a 500.
async fn errors_unusual_strings_are_stored_exactly_or_refused(s: TestServer) {
    for name in [
        "nul\u{0}inside".to_string(),
        "l".repeat(5_000),
        "emoji-\u{1F600}-\u{10FFFF}".to_string(),
    ] {
        let changes = s.change_count().await;
        let r = s
            .post(
                "/Users",
                json!({"schemas": [USER_SCHEMA], "userName": name, "displayName": name}),
            )
            .await;
        match r.status.as_u16() {
            201 => {
                let back = s.get(&user_path(&r.id())).await.expect(200);
                assert_eq!(back.body["userName"], json!(name));
                let filter = format!("userName eq {}", Value::String(name.clone()));
                let found = s
                    .post(
                        "/Users/.search",
                        json!({"schemas": [SEARCH_REQUEST], "filter": filter}),
                    )
                    .await
                    .expect_list(1, 1);
                assert_eq!(found.resource_ids(), vec![r.id()]);
                s.delete(&user_path(&r.id())).await.expect(204);
            }
            _ => {
                r.expect_error(400, Some("invalidValue"));
                assert_eq!(s.change_count().await, changes);
            }
        }
    }
}
