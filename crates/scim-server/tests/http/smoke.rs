//! The basic round trip: create, read, list, delete.

use serde_json::json;

use crate::support::TestServer;

backend_tests!(create_read_list_delete_user);

async fn create_read_list_delete_user(s: TestServer) {
    let created = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen"}),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location"),
        created.body["meta"]["location"].as_str()
    );
    assert_eq!(
        created.header("etag"),
        created.body["meta"]["version"].as_str()
    );

    let read = s.get(&format!("/Users/{id}")).await.expect(200);
    assert_eq!(read.body["userName"], "bjensen");

    let list = s
        .get("/Users?filter=userName%20eq%20%22BJENSEN%22")
        .await
        .expect(200);
    assert_eq!(list.body["totalResults"], 1);

    s.delete(&format!("/Users/{id}")).await.expect(204);
    s.get(&format!("/Users/{id}")).await.expect_error(404, None);
}
