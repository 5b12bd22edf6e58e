//! Custom schemas and resource types, loaded from JSON in the format `/Schemas` and
//! `/ResourceTypes` return: a `Device` resource type with its own endpoint, and a custom
//! extension of User.

use reqwest::Method;
use scim_core::schema::SchemaRegistry;
use serde_json::json;

use crate::support::TestServer;

backend_tests!(
    registry = crate::custom::registry;
    custom_resource_type_is_discoverable,
    custom_resource_type_lifecycle,
    custom_unique_required_and_immutable_attributes_are_enforced,
    custom_user_extension_is_stored_filtered_and_patched,
);

const DEVICE: &str = "urn:example:scim:schemas:Device";
const BADGE: &str = "urn:example:scim:schemas:extension:badge:2.0:User";

/// The built-in schemas plus the custom documents, loaded as from a schemas directory.
pub fn registry() -> SchemaRegistry {
    let mut reg = SchemaRegistry::builtin().expect("schemas");
    let device = json!({
        "id": DEVICE, "name": "Device", "description": "A managed laptop or phone",
        "attributes": [
            {"name": "serialNumber", "type": "string", "required": true, "caseExact": true,
             "uniqueness": "server", "mutability": "immutable"},
            {"name": "displayName", "type": "string"},
            {"name": "model", "type": "string"},
            {"name": "enrolled", "type": "boolean"},
            {"name": "owner", "type": "complex", "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "display", "type": "string", "mutability": "readOnly"}]}
        ]
    });
    let badge = json!({
        "id": BADGE, "name": "Badge",
        "attributes": [{"name": "badgeNumber", "type": "string"},
                       {"name": "floor", "type": "integer"}]
    });
    // A new type, and User redefined with one more extension.
    let types = json!([
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
         "id": "Device", "name": "Device", "endpoint": "/Devices", "schema": DEVICE},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
         "id": "User", "name": "User", "endpoint": "/Users",
         "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
         "schemaExtensions": [
            {"schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false},
            {"schema": BADGE, "required": false}]}
    ]);
    reg.add_json_documents(&[
        ("device.json", &device.to_string()),
        ("badge.json", &badge.to_string()),
        ("types.json", &types.to_string()),
    ])
    .expect("custom schemas load");
    reg
}

/// `/ResourceTypes` and `/Schemas` describe the custom type as they describe built-in ones.
async fn custom_resource_type_is_discoverable(s: TestServer) {
    let rt = s.get("/ResourceTypes/Device").await.expect(200);
    assert_eq!(rt.body["endpoint"], "/Devices");
    assert_eq!(rt.body["schema"], DEVICE);
    let schema = s.get(&format!("/Schemas/{DEVICE}")).await.expect(200);
    assert_eq!(schema.body["attributes"][0]["name"], "serialNumber");
    let user = s.get("/ResourceTypes/User").await.expect(200);
    let exts: Vec<&str> = user.body["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schema"].as_str().unwrap())
        .collect();
    assert!(exts.contains(&BADGE), "{exts:?}");
    s.get(&format!("/Schemas/{BADGE}")).await.expect(200);
}

/// Create, read, filter, patch, replace and delete on the custom endpoint.
async fn custom_resource_type_lifecycle(s: TestServer) {
    let created = s
        .post(
            "/Devices",
            json!({"schemas": [DEVICE], "serialNumber": "SN-1", "model": "X1", "enrolled": "True"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["meta"]["resourceType"], "Device");
    assert_eq!(created.body["enrolled"], true);
    assert!(
        created
            .header("location")
            .unwrap()
            .ends_with(&format!("/Devices/{id}"))
    );

    let found = s
        .get("/Devices?filter=serialNumber%20eq%20%22SN-1%22")
        .await
        .expect(200);
    assert_eq!(found.body["totalResults"], 1);
    // serialNumber is caseExact: another case does not match.
    let other_case = s
        .get("/Devices?filter=serialNumber%20eq%20%22sn-1%22")
        .await
        .expect(200);
    assert_eq!(other_case.body["totalResults"], 0);

    let patched = s
        .patch(
            &format!("/Devices/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "model", "value": "X2"}]}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["model"], "X2");

    let replaced = s
        .put(
            &format!("/Devices/{id}"),
            json!({"schemas": [DEVICE], "serialNumber": "SN-1", "displayName": "Kim's laptop"}),
        )
        .await
        .expect(200);
    assert_eq!(replaced.body["displayName"], "Kim's laptop");
    assert!(
        replaced.body.get("model").is_none(),
        "PUT clears what it omits"
    );

    s.delete(&format!("/Devices/{id}")).await.expect(204);
    s.get(&format!("/Devices/{id}"))
        .await
        .expect_error(404, None);
}

/// The custom schema's characteristics are enforced: `required`, `uniqueness: server`
/// (409) and `mutability: immutable` (400 mutability).
async fn custom_unique_required_and_immutable_attributes_are_enforced(s: TestServer) {
    s.post("/Devices", json!({"schemas": [DEVICE], "model": "X1"}))
        .await
        .expect_error(400, Some("invalidValue"));
    let id = s
        .post(
            "/Devices",
            json!({"schemas": [DEVICE], "serialNumber": "SN-2"}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(
        "/Devices",
        json!({"schemas": [DEVICE], "serialNumber": "SN-2"}),
    )
    .await
    .expect_error(409, Some("uniqueness"));
    s.patch(
        &format!("/Devices/{id}"),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "serialNumber", "value": "SN-3"}]}),
    )
    .await
    .expect_error(400, Some("mutability"));
    let back = s.get(&format!("/Devices/{id}")).await.expect(200);
    assert_eq!(back.body["serialNumber"], "SN-2");
}

/// A custom extension of User: stored under its URN, listed in `schemas`, filterable by a
/// URN-qualified path and patchable by URN path.
async fn custom_user_extension_is_stored_filtered_and_patched(s: TestServer) {
    let created = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", BADGE],
                   "userName": "kim", BADGE: {"badgeNumber": "B-7", "floor": 3}}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(
        created.body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(BADGE))
    );
    assert_eq!(created.body[BADGE]["floor"], 3);

    let filter = format!("{BADGE}:floor gt 2");
    let found = s
        .call(
            Method::POST,
            "/Users/.search",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": filter}),
            ),
        )
        .await
        .expect(200);
    assert_eq!(found.body["totalResults"], 1);

    let patched = s
        .patch(
            &format!("/Users/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": format!("{BADGE}:badgeNumber"), "value": "B-8"}]}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body[BADGE]["badgeNumber"], "B-8");
}
