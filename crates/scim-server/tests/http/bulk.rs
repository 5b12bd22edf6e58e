//! `POST /Bulk` (RFC 7644 §3.7): operations with `bulkId` references in any order, cycles,
//! undefined references, `failOnErrors`, limits, and PUT/PATCH/DELETE by path.

use serde_json::{Value, json};

use crate::support::{
    BULK_REQUEST, BULK_RESPONSE, ENTERPRISE, ERROR_SCHEMA, GROUP_SCHEMA, PATCH_OP, Reply,
    TestServer, USER_SCHEMA, sorted,
};

backend_tests!(
    bulk_outcome_equals_processing_in_request_order,
    bulk_creates_users_and_a_group_with_forward_bulk_id_references,
    bulk_circular_references_are_409,
    bulk_undefined_bulk_id_is_400,
    bulk_fail_on_errors_stops_after_that_many_errors,
    bulk_without_fail_on_errors_runs_everything,
    bulk_more_than_max_operations_is_413,
    bulk_put_patch_and_delete_by_path,
    bulk_errors_are_reported_per_operation,
);

fn bulk(operations: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

fn new_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER_SCHEMA], "userName": user_name}})
}

/// Sends a Bulk request and checks the BulkResponse envelope.
async fn send(s: &TestServer, body: Value) -> Vec<Value> {
    let r = s.post("/Bulk", body).await.expect(200).expect_scim_json();
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]), "{}", r.body);
    let ops = r.body["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no Operations: {}", r.body));
    for op in &ops {
        assert!(op["status"].is_string(), "status must be a string: {op}");
        assert!(op["method"].is_string(), "method is echoed: {op}");
    }
    ops
}

/// The result of the operation with this bulkId.
#[track_caller]
fn by_bulk_id<'a>(ops: &'a [Value], bulk_id: &str) -> &'a Value {
    ops.iter()
        .find(|o| o["bulkId"] == bulk_id)
        .unwrap_or_else(|| panic!("no result for bulkId {bulk_id}: {ops:?}"))
}

/// The id at the end of an operation's `location`.
#[track_caller]
fn id_of(op: &Value) -> String {
    op["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap_or_else(|| panic!("no location: {op}"))
        .to_string()
}

/// Asserts a successful operation: status, `location` of the resource, and `version`
/// equal to the ETag a GET returns now.
async fn assert_done(s: &TestServer, op: &Value, status: &str, endpoint: &str) -> Reply {
    assert_eq!(op["status"], status, "{op}");
    let id = id_of(op);
    assert_eq!(
        op["location"],
        format!("{}/{endpoint}/{id}", s.base("acme")),
        "{op}"
    );
    let read = s.get(&format!("/{endpoint}/{id}")).await.expect(200);
    assert_eq!(
        op["version"].as_str(),
        read.header("etag"),
        "version is the current ETag: {op}"
    );
    read
}

/// A group that lists `bulkId:` members defined by LATER operations, and a user whose
/// manager is a `bulkId:` reference: every reference resolves to the created id.
async fn bulk_creates_users_and_a_group_with_forward_bulk_id_references(s: TestServer) {
    let ops = send(
        &s,
        bulk(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides",
                      "members": [{"type": "User", "value": "bulkId:u1"}, {"type": "User", "value": "bulkId:u2"}]}},
            new_user("u1", "alice"),
            {"method": "POST", "path": "/Users", "bulkId": "u2",
             "data": {"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "bob", ENTERPRISE: {"manager": {"value": "bulkId:u1"}}}},
        ])),
    )
    .await;
    assert_eq!(ops.len(), 3);
    let u1 = assert_done(&s, by_bulk_id(&ops, "u1"), "201", "Users").await;
    let u2 = assert_done(&s, by_bulk_id(&ops, "u2"), "201", "Users").await;
    let g = assert_done(&s, by_bulk_id(&ops, "g"), "201", "Groups").await;
    assert_eq!(by_bulk_id(&ops, "g")["method"], "POST");
    assert_eq!(u1.body["userName"], "alice");
    assert_eq!(u2.body[ENTERPRISE]["manager"]["value"], json!(u1.id()));
    assert_eq!(
        crate::support::values_of(&g.body, "members"),
        sorted(&[&u1.id(), &u2.id()])
    );
}

/// Operations that wait on each other in a cycle fail with 409; independent ones in the
/// same request still run; nothing of the cycle is stored.
async fn bulk_circular_references_are_409(s: TestServer) {
    let ops = send(
        &s,
        bulk(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "a",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "A", "members": [{"type": "Group", "value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "B", "members": [{"type": "Group", "value": "bulkId:a"}]}},
            new_user("free", "independent"),
        ])),
    )
    .await;
    for b in ["a", "b"] {
        let op = by_bulk_id(&ops, b);
        assert_eq!(op["status"], "409", "{op}");
        assert_eq!(op["response"]["schemas"], json!([ERROR_SCHEMA]), "{op}");
        assert_eq!(op["response"]["status"], "409", "{op}");
    }
    assert_eq!(by_bulk_id(&ops, "free")["status"], "201");
    s.get("/Groups").await.expect_list(0, 0);
    s.get("/Users").await.expect_list(1, 1);
}

/// A reference to a bulkId no operation defines fails that operation with 400.
async fn bulk_undefined_bulk_id_is_400(s: TestServer) {
    let ops = send(
        &s,
        bulk(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "bulkId:nobody"}]}},
            new_user("u", "fine"),
        ])),
    )
    .await;
    let g = by_bulk_id(&ops, "g");
    assert_eq!(g["status"], "400", "{g}");
    assert_eq!(g["response"]["scimType"], "invalidValue", "{g}");
    assert!(
        g["response"]["detail"].as_str().unwrap().contains("nobody"),
        "{g}"
    );
    assert_eq!(by_bulk_id(&ops, "u")["status"], "201");
    s.get("/Groups").await.expect_list(0, 0);
}

/// With `failOnErrors: 1` processing stops after the first error: later operations are
/// neither run nor reported (RFC 7644 §3.7.3).
async fn bulk_fail_on_errors_stops_after_that_many_errors(s: TestServer) {
    let mut body = bulk(json!([
        new_user("ok1", "first"),
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER_SCHEMA], "displayName": "no userName"}},
        new_user("ok2", "never"),
        new_user("ok3", "never-either"),
    ]));
    body["failOnErrors"] = json!(1);
    let ops = send(&s, body).await;
    assert_eq!(ops.len(), 2, "stops after the first error: {ops:?}");
    assert_eq!(by_bulk_id(&ops, "ok1")["status"], "201");
    let bad = by_bulk_id(&ops, "bad");
    assert_eq!(bad["status"], "400");
    assert_eq!(bad["response"]["scimType"], "invalidValue");
    let names: Vec<Value> = s
        .get("/Users")
        .await
        .expect_list(1, 1)
        .resources()
        .iter()
        .map(|u| u["userName"].clone())
        .collect();
    assert_eq!(names, vec![json!("first")]);
}

/// Without `failOnErrors` every operation runs and reports, errors included.
async fn bulk_without_fail_on_errors_runs_everything(s: TestServer) {
    let ops = send(
        &s,
        bulk(json!([
            new_user("ok1", "first"),
            {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER_SCHEMA]}},
            new_user("ok2", "second"),
        ])),
    )
    .await;
    assert_eq!(ops.len(), 3);
    assert_eq!(by_bulk_id(&ops, "bad")["status"], "400");
    assert_eq!(by_bulk_id(&ops, "ok2")["status"], "201");
    s.get("/Users").await.expect_list(2, 2);
}

/// More operations than the advertised `maxOperations` (1000) is a 413 SCIM error and
/// runs nothing.
async fn bulk_more_than_max_operations_is_413(s: TestServer) {
    let ops: Vec<Value> = (0..1001)
        .map(|i| new_user(&format!("b{i}"), &format!("user{i}")))
        .collect();
    let r = s
        .post("/Bulk", bulk(Value::Array(ops)))
        .await
        .expect_error(413, None);
    assert!(
        r.body["detail"].as_str().unwrap().contains("1000"),
        "{}",
        r.body
    );
    assert_eq!(s.change_count().await, 0);
    assert_eq!(
        s.get("/Users?count=0").await.expect(200).body["totalResults"],
        0,
        "nothing created"
    );
}

/// PUT, PATCH and DELETE address existing resources by path; `version` is an If-Match.
async fn bulk_put_patch_and_delete_by_path(s: TestServer) {
    let a = s.create_user("a").await;
    let b = s.create_user("b").await;
    let c = s.create_user("c").await;
    let g = s.create_group("G").await;
    let g_tag = s
        .get(&format!("/Groups/{g}"))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let ops = send(
        &s,
        bulk(json!([
            {"method": "PUT", "path": format!("/Users/{a}"), "bulkId": "put",
             "data": {"schemas": [USER_SCHEMA], "userName": "a", "title": "Replaced"}},
            {"method": "PATCH", "path": format!("/Users/{b}"), "bulkId": "patch",
             "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Patched"}]}},
            {"method": "DELETE", "path": format!("/Users/{c}"), "bulkId": "delete"},
            {"method": "PATCH", "path": format!("/Groups/{g}"), "bulkId": "members", "version": g_tag,
             "data": {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]}},
        ])),
    )
    .await;
    assert_eq!(ops.len(), 4);
    let put = assert_done(&s, by_bulk_id(&ops, "put"), "200", "Users").await;
    assert_eq!(put.body["title"], "Replaced");
    let patch = assert_done(&s, by_bulk_id(&ops, "patch"), "200", "Users").await;
    assert_eq!(patch.body["title"], "Patched");
    let group = assert_done(&s, by_bulk_id(&ops, "members"), "200", "Groups").await;
    assert_eq!(
        crate::support::values_of(&group.body, "members"),
        sorted(&[&a, &b])
    );
    let del = by_bulk_id(&ops, "delete");
    assert_eq!(del["status"], "204", "{del}");
    assert_eq!(del["method"], "DELETE");
    s.get(&format!("/Users/{c}")).await.expect_error(404, None);
}

/// Failures are reported per operation with the status as a string and a SCIM Error in
/// `response`: 409 uniqueness, 404 unknown id, 412 stale version; the others succeed.
async fn bulk_errors_are_reported_per_operation(s: TestServer) {
    let a = s.create_user("taken").await;
    let stale = s
        .get(&format!("/Users/{a}"))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    s.patch_ops(
        &format!("/Users/{a}"),
        json!([{"op": "replace", "path": "title", "value": "v2"}]),
    )
    .await
    .expect(200);
    let ops = send(
        &s,
        bulk(json!([
            new_user("dup", "TAKEN"),
            {"method": "PATCH", "path": "/Users/no-such-id", "bulkId": "missing",
             "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}},
            {"method": "PUT", "path": format!("/Users/{a}"), "bulkId": "stale", "version": stale,
             "data": {"schemas": [USER_SCHEMA], "userName": "taken", "title": "lost update"}},
            {"method": "DELETE", "path": "/Users/no-such-id", "bulkId": "gone"},
            new_user("good", "fresh"),
        ])),
    )
    .await;
    assert_eq!(ops.len(), 5);
    for (bulk_id, status, scim_type) in [
        ("dup", "409", Some("uniqueness")),
        ("missing", "404", None),
        ("stale", "412", None),
        ("gone", "404", None),
    ] {
        let op = by_bulk_id(&ops, bulk_id);
        assert_eq!(op["status"], status, "{op}");
        assert_eq!(op["response"]["schemas"], json!([ERROR_SCHEMA]), "{op}");
        assert_eq!(op["response"]["status"], status, "{op}");
        assert_eq!(op["response"]["scimType"].as_str(), scim_type, "{op}");
    }
    assert_done(&s, by_bulk_id(&ops, "good"), "201", "Users").await;
    assert_eq!(s.get(&format!("/Users/{a}")).await.body["title"], "v2");
}

/// Bulk processes operations as if in request order (RFC 7644 §3.7): renaming a user and
/// then creating a user with the old name succeeds, and a bulkId on a PATCH names the
/// patched resource for later operations.
async fn bulk_outcome_equals_processing_in_request_order(s: TestServer) {
    let id = s.create_user("first-name").await;
    let r = s
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "PATCH", "path": format!("/Users/{id}"), "bulkId": "renamed",
                     "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                              "Operations": [{"op": "replace", "path": "userName", "value": "second-name"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "again",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "first-name"}},
                    {"method": "POST", "path": "/Groups", "bulkId": "g",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G",
                              "members": [{"value": "bulkId:renamed"}]}}
                ]
            }),
        )
        .await
        .expect(200);
    let statuses: Vec<&str> = r.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["200", "201", "201"], "{}", r.body);
    let group = r.body["Operations"][2]["location"]
        .as_str()
        .unwrap()
        .to_string();
    let g = s.get(&group).await.expect(200);
    assert_eq!(g.body["members"][0]["value"], json!(id));
}
