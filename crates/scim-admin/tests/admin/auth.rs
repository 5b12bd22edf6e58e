//! Administration tokens open the management API and nothing else; SCIM tokens never open
//! it; errors are JSON with a stable code.

use reqwest::Method;
use serde_json::json;

use crate::openapi::{OPERATIONS, concrete};
use crate::support::{App, USER_SCHEMA};

backend_tests!(
    only_admin_tokens_open_the_management_api,
    unknown_paths_and_methods_are_json_errors,
    a_scim_token_opens_no_management_operation_and_an_admin_token_no_scim_url
);

async fn only_admin_tokens_open_the_management_api(app: App) {
    let path = "/admin/v1/tenants/acme/events";
    let ok = app.call(&app.admin_token, Method::GET, path, None).await;
    ok.expect(200);
    for token in [
        "",
        "nonsense",
        app.scim_token.as_str(),
        "scimadm_0123456789abcdef_x",
    ] {
        let r = app
            .call(token, Method::GET, path, None)
            .await
            .expect_error(401, "unauthorized");
        assert_eq!(
            r.headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"scim-admin\""
        );
    }
    // An admin token on a SCIM URL is refused like any bad token, with a SCIM error.
    let r = app
        .call(&app.admin_token, Method::GET, "/scim/v2/acme/Users", None)
        .await
        .expect(401);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // A revoked admin token stops working at once.
    let (info, second) = app.store.create_admin_token("second", None).await.unwrap();
    app.call(&second, Method::GET, path, None).await.expect(200);
    assert!(app.store.revoke_admin_token(&info.id).await.unwrap());
    app.call(&second, Method::GET, path, None)
        .await
        .expect_error(401, "unauthorized");
}

async fn unknown_paths_and_methods_are_json_errors(app: App) {
    app.admin_get("/nothing/here")
        .await
        .expect_error(404, "not_found");
    app.admin_get("/tenants/nobody/events")
        .await
        .expect_error(404, "tenant_not_found");
    app.call(
        &app.admin_token,
        Method::DELETE,
        "/admin/v1/tenants/acme/events",
        None,
    )
    .await
    .expect_error(405, "method_not_allowed");
    // The SCIM API keeps its own answers beside it.
    app.scim(Method::GET, "/Users", None).await.expect(200);
    app.call("", Method::GET, "/health", None).await.expect(200);
}

async fn a_scim_token_opens_no_management_operation_and_an_admin_token_no_scim_url(app: App) {
    let user = app.create_user("kept").await;
    let tenants = app.admin_get("/tenants").await.expect(200).body;
    let tokens = app.admin_get("/tenants/acme/tokens").await.expect(200).body;
    // Every operation of the management API (but its public document), with the tenant's
    // own SCIM token, on its own tenant, with a body that would be valid.
    for (method, path) in OPERATIONS {
        if path.ends_with("/openapi.json") {
            continue;
        }
        let url = concrete(path).replace("/tenants/nobody", "/tenants/acme");
        let body = (*method == "POST" || *method == "PATCH").then(|| json!({"name": "x"}));
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        app.call(&app.scim_token, m, &url, body)
            .await
            .expect_error(401, "unauthorized");
    }
    // Nothing changed, and no management write was recorded.
    assert_eq!(app.admin_get("/tenants").await.expect(200).body, tenants);
    assert_eq!(
        app.admin_get("/tenants/acme/tokens").await.expect(200).body,
        tokens
    );
    let audit = app.admin_get("/audit").await.expect(200).body;
    assert_eq!(audit["records"], json!([]), "{audit}");

    // An admin token on SCIM URLs, reads and writes: a SCIM 401, nothing written.
    let new_user = json!({"schemas": [USER_SCHEMA], "userName": "intruder"});
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    for (method, path, body) in [
        (Method::GET, "/scim/v2/acme/Users".to_string(), None),
        (
            Method::POST,
            "/scim/v2/acme/Users".to_string(),
            Some(new_user),
        ),
        (
            Method::PATCH,
            format!("/scim/v2/acme/Users/{user}"),
            Some(patch),
        ),
        (Method::DELETE, format!("/scim/v2/acme/Users/{user}"), None),
        (Method::GET, "/scim/v2/acme/Groups".to_string(), None),
    ] {
        let r = app
            .call(&app.admin_token, method.clone(), &path, body)
            .await
            .expect(401);
        assert_eq!(
            r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{method} {path}: {}",
            r.body
        );
    }
    let users = app.scim(Method::GET, "/Users", None).await.expect(200).body;
    assert_eq!(users["totalResults"], 1, "{users}");
    assert_eq!(
        users["Resources"][0]["meta"]["version"], "W/\"1\"",
        "{users}"
    );
}
