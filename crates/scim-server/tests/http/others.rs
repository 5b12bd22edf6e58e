//! OneLogin, JumpCloud and Google: IDP-COMPAT.md § Others.

use serde_json::json;

use crate::support::{ENTERPRISE, GROUP_SCHEMA, TestServer, USER_SCHEMA, assert_absent};

backend_tests!(
    others_onelogin_manager_with_display_name,
    others_onelogin_unknown_sub_attributes_are_ignored,
    others_jumpcloud_connection_test,
    others_google_probe_with_count_one,
);

/// OneLogin sends `manager` as `{"value":…,"displayName":…}` on create and PATCH.
async fn others_onelogin_manager_with_display_name(s: TestServer) {
    let boss = s.create_user("boss@onelogin.example").await;
    let boss2 = s.create_user("boss2@onelogin.example").await;
    let r = s
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": "report@onelogin.example",
                ENTERPRISE: {"manager": {"value": boss, "displayName": "The Boss"}},
            }),
        )
        .await
        .expect(201);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], json!(boss));
    let id = r.id();
    s.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": boss2, "displayName": "Boss 2"}}]),
    )
    .await
    .expect(200);
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.body[ENTERPRISE]["manager"]["value"],
        json!(boss2)
    );
}

/// Unknown sub-attributes of complex attributes are ignored rather than failing the
/// request (IDP-COMPAT.md: "tolerate unknown sub-attributes ... (ignore them)").
async fn others_onelogin_unknown_sub_attributes_are_ignored(s: TestServer) {
    let boss = s.create_user("boss@onelogin.example").await;
    let r = s
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": "report@onelogin.example",
                "name": {"givenName": "Re", "familyName": "Port", "nickname": "rp"},
                ENTERPRISE: {"manager": {"value": boss, "displayName": "The Boss", "email": "boss@onelogin.example"}},
            }),
        )
        .await
        .expect(201);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], json!(boss));
    assert_absent(&r.body[ENTERPRISE]["manager"], "email");
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Re", "familyName": "Port"})
    );
    let id = r.id();
    s.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": boss, "email": "x@y"}}]),
    )
    .await
    .expect(200);
}

/// JumpCloud's connection test creates a user and a group, then deletes both.
async fn others_jumpcloud_connection_test(s: TestServer) {
    let u = s
        .post(
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": "jc-test-user", "name": {"givenName": "JC", "familyName": "Test"},
                   "emails": [{"value": "jc@example.com", "type": "work", "primary": true}], "active": true}),
        )
        .await
        .expect(201)
        .id();
    let g = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "jc-test-group"}),
        )
        .await
        .expect(201)
        .id();
    s.delete(&format!("/Users/{u}")).await.expect(204);
    s.delete(&format!("/Groups/{g}")).await.expect(204);
    s.get(&format!("/Users/{u}")).await.expect_error(404, None);
    s.get(&format!("/Groups/{g}")).await.expect_error(404, None);
    s.get("/Users").await.expect_list(0, 0);
    s.get("/Groups").await.expect_list(0, 0);
    // A second delete is a 404, not a success.
    s.delete(&format!("/Users/{u}"))
        .await
        .expect_error(404, None);
}

/// Google probes with `GET /Users?count=1`: a ListResponse with at most one resource.
async fn others_google_probe_with_count_one(s: TestServer) {
    let r = s.get("/Users?count=1").await.expect_list(0, 0);
    assert_eq!(r.body["Resources"], json!([]));
    s.create_user("g1@example.com").await;
    s.create_user("g2@example.com").await;
    let r = s
        .get("/Users?count=1")
        .await
        .expect_list(2, 1)
        .expect_scim_json();
    assert_eq!(r.body["startIndex"], 1);
}
