//! Administration tokens open the management API and nothing else; SCIM tokens never open
//! it; errors are JSON with a stable code.

use reqwest::Method;

use crate::support::App;

backend_tests!(
    only_admin_tokens_open_the_management_api,
    unknown_paths_and_methods_are_json_errors
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
