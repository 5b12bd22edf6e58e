//! Tenant isolation: a token works only on its own tenant, and no answer reveals whether
//! another tenant, token or resource exists.

use reqwest::Method;
use serde_json::json;

use crate::support::{GROUP_SCHEMA, Reply, SEARCH_REQUEST, TestServer, USER_SCHEMA, enc};

backend_tests!(
    tenancy_wrong_tenant_token_looks_like_a_bad_token,
    tenancy_other_tenant_cannot_reach_a_resource_by_id,
    tenancy_lists_filters_and_searches_stay_in_the_tenant,
    tenancy_memberships_do_not_cross_tenants,
    tenancy_user_name_uniqueness_is_per_tenant,
    tenancy_revoked_token_is_refused,
    tenancy_expired_token_is_refused,
    tenancy_cursor_of_one_tenant_is_useless_in_another,
    tenancy_bulk_cannot_reach_another_tenant,
);

/// A request with globex's token to `tenant`.
async fn globex_token(
    s: &TestServer,
    tenant: &str,
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
) -> Reply {
    s.call_as(&s.other_token, tenant, method, &path, body, &[])
        .await
}

/// The parts of a 401 that must not differ between causes.
fn fingerprint(r: &Reply) -> (u16, String, Option<String>, Option<String>) {
    (
        r.status.as_u16(),
        r.text.clone(),
        r.header("www-authenticate").map(str::to_string),
        r.header("content-type").map(str::to_string),
    )
}

/// acme's token on globex's URL, a made-up token and an unknown tenant all get the same
/// 401, on every kind of endpoint.
async fn tenancy_wrong_tenant_token_looks_like_a_bad_token(s: TestServer) {
    let id = s.create_user("alice@acme.example").await;
    for path in [
        "/Users".to_string(),
        format!("/Users/{id}"),
        "/ServiceProviderConfig".to_string(),
        "/Groups?filter=displayName%20eq%20%22x%22".to_string(),
    ] {
        let wrong_tenant = s
            .call_as(&s.token, "globex", Method::GET, &path, None, &[])
            .await
            .expect_error(401, None);
        let bad_token = s
            .call_as(
                "scim_not_a_real_token",
                "globex",
                Method::GET,
                &path,
                None,
                &[],
            )
            .await
            .expect_error(401, None);
        let no_tenant = s
            .call_as(&s.token, "initech", Method::GET, &path, None, &[])
            .await
            .expect_error(401, None);
        let no_tenant_other = s
            .call_as(&s.other_token, "initech", Method::GET, &path, None, &[])
            .await
            .expect_error(401, None);
        assert_eq!(
            fingerprint(&wrong_tenant),
            fingerprint(&bad_token),
            "{path}: wrong tenant vs bad token"
        );
        assert_eq!(
            fingerprint(&wrong_tenant),
            fingerprint(&no_tenant),
            "{path}: wrong tenant vs unknown tenant"
        );
        assert_eq!(
            fingerprint(&wrong_tenant),
            fingerprint(&no_tenant_other),
            "{path}"
        );
    }
    // Writes too, and nothing is written.
    let body = json!({"schemas": [USER_SCHEMA], "userName": "intruder"});
    let w = s
        .call_as(
            &s.token,
            "globex",
            Method::POST,
            "/Users",
            Some(body.clone()),
            &[],
        )
        .await
        .expect_error(401, None);
    let b = s
        .call_as(
            "scim_not_a_real_token",
            "globex",
            Method::POST,
            "/Users",
            Some(body),
            &[],
        )
        .await
        .expect_error(401, None);
    assert_eq!(fingerprint(&w), fingerprint(&b));
    s.call_as(&s.other_token, "globex", Method::GET, "/Users", None, &[])
        .await
        .expect_list(0, 0);
}

/// globex cannot reach acme's user: 401 with its token on acme's URL, 404 on its own URL
/// for every method, and acme's user is unchanged.
async fn tenancy_other_tenant_cannot_reach_a_resource_by_id(s: TestServer) {
    let id = s.create_user("alice@acme.example").await;
    let g = s.create_group_with("Acme Admins", &[&id]).await;
    let path = format!("/Users/{id}");
    let before = s.snapshot(&path).await;
    let gbefore = s.snapshot(&format!("/Groups/{g}")).await;
    globex_token(&s, "acme", Method::GET, path.clone(), None)
        .await
        .expect_error(401, None);
    globex_token(&s, "acme", Method::DELETE, path.clone(), None)
        .await
        .expect_error(401, None);
    let put = json!({"schemas": [USER_SCHEMA], "userName": "stolen"});
    let patch =
        crate::support::patch_body(json!([{"op": "replace", "path": "active", "value": false}]));
    for p in [path.clone(), format!("/Groups/{g}")] {
        globex_token(&s, "globex", Method::GET, p.clone(), None)
            .await
            .expect_error(404, None);
        globex_token(&s, "globex", Method::PUT, p.clone(), Some(put.clone()))
            .await
            .expect_error(404, None);
        globex_token(&s, "globex", Method::PATCH, p.clone(), Some(patch.clone()))
            .await
            .expect_error(404, None);
        globex_token(&s, "globex", Method::DELETE, p.clone(), None)
            .await
            .expect_error(404, None);
    }
    // The 404 for another tenant's id is the same as for an id that never existed.
    let theirs = globex_token(&s, "globex", Method::GET, path.clone(), None).await;
    let nobody = globex_token(
        &s,
        "globex",
        Method::GET,
        "/Users/00000000-0000-0000-0000-000000000000".to_string(),
        None,
    )
    .await;
    assert_eq!(theirs.body["scimType"], nobody.body["scimType"]);
    assert!(
        !theirs.text.contains("acme"),
        "the 404 must not mention the other tenant: {}",
        theirs.text
    );
    s.assert_unchanged(&path, &before).await;
    s.assert_unchanged(&format!("/Groups/{g}"), &gbefore).await;
}

/// Lists, filters (on every matching attribute), `/.search` and the root search of globex
/// never return acme's resources, and the reverse.
async fn tenancy_lists_filters_and_searches_stay_in_the_tenant(s: TestServer) {
    let acme_user = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "shared@example.com", "externalId": "ext-1",
            "displayName": "Shared", "emails": [{"value": "shared@example.com", "type": "work"}]}))
        .await
        .id();
    s.create_group("Shared").await;
    for f in [
        "userName eq \"shared@example.com\"",
        "externalId eq \"ext-1\"",
        "emails[type eq \"work\"].value eq \"shared@example.com\"",
        "displayName eq \"Shared\"",
        "userName pr",
        "id eq \"ACME_ID\"",
    ] {
        let f = f.replace("ACME_ID", &acme_user);
        globex_token(
            &s,
            "globex",
            Method::GET,
            format!("/Users?filter={}", enc(&f)),
            None,
        )
        .await
        .expect_list(0, 0);
        let body = json!({"schemas": [SEARCH_REQUEST], "filter": f});
        globex_token(
            &s,
            "globex",
            Method::POST,
            "/Users/.search".into(),
            Some(body),
        )
        .await
        .expect_list(0, 0);
    }
    globex_token(&s, "globex", Method::GET, "/Users".into(), None)
        .await
        .expect_list(0, 0);
    globex_token(&s, "globex", Method::GET, "/Groups".into(), None)
        .await
        .expect_list(0, 0);
    globex_token(
        &s,
        "globex",
        Method::GET,
        format!("/Groups?filter={}", enc("displayName eq \"Shared\"")),
        None,
    )
    .await
    .expect_list(0, 0);
    globex_token(
        &s,
        "globex",
        Method::POST,
        "/.search".into(),
        Some(json!({"schemas": [SEARCH_REQUEST]})),
    )
    .await
    .expect_list(0, 0);
    let r = globex_token(
        &s,
        "globex",
        Method::GET,
        "/Users?cursor=&count=10".into(),
        None,
    )
    .await
    .expect(200);
    assert!(r.resource_ids().is_empty(), "{}", r.body);

    // The reverse: globex's own user is invisible to acme.
    let body = json!({"schemas": [USER_SCHEMA], "userName": "globex-only@example.com"});
    globex_token(&s, "globex", Method::POST, "/Users".into(), Some(body))
        .await
        .expect(201);
    s.filter("Users", "userName eq \"globex-only@example.com\"", "")
        .await
        .expect_list(0, 0);
    s.get("/Users").await.expect_list(1, 1);
}

/// A globex group cannot pull in acme's user: it is refused, or kept as an unknown id that
/// reveals nothing (no display, no type) and never shows up in acme's user's `groups`.
async fn tenancy_memberships_do_not_cross_tenants(s: TestServer) {
    let acme_user = s
        .create_user_from(json!({"schemas": [USER_SCHEMA], "userName": "alice@acme.example", "displayName": "Alice Acme"}))
        .await
        .id();
    let created = s
        .call_as(
            &s.other_token,
            "globex",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Globex Spies", "members": [{"value": acme_user}]})),
            &[],
        )
        .await;
    match created.status.as_u16() {
        201 => {
            let g = created.id();
            let read = s
                .call_as(
                    &s.other_token,
                    "globex",
                    Method::GET,
                    &format!("/Groups/{g}"),
                    None,
                    &[],
                )
                .await
                .expect(200);
            assert!(
                !read.text.contains("Alice Acme") && !read.text.contains("alice@acme.example"),
                "leak: {}",
                read.text
            );
            assert_ne!(
                read.body["members"][0]["type"], "User",
                "the type of acme's resource leaked: {}",
                read.text
            );
        }
        _ => {
            created.expect_error(400, Some("invalidValue"));
        }
    }
    let acme_view = s.get(&format!("/Users/{acme_user}")).await.expect(200);
    assert!(
        acme_view.body.get("groups").is_none(),
        "acme's user is in no acme group: {}",
        acme_view.body
    );
}

/// The same userName may exist once in each tenant; within a tenant it is unique.
async fn tenancy_user_name_uniqueness_is_per_tenant(s: TestServer) {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "same@example.com"});
    let a = s.post("/Users", body.clone()).await.expect(201).id();
    let g = s
        .call_as(
            &s.other_token,
            "globex",
            Method::POST,
            "/Users",
            Some(body.clone()),
            &[],
        )
        .await
        .expect(201)
        .id();
    assert_ne!(a, g);
    s.call_as(
        &s.other_token,
        "globex",
        Method::POST,
        "/Users",
        Some(body.clone()),
        &[],
    )
    .await
    .expect_error(409, Some("uniqueness"));
    s.post("/Users", body)
        .await
        .expect_error(409, Some("uniqueness"));
    // Group displayNames likewise.
    s.create_group("Admins").await;
    s.call_as(
        &s.other_token,
        "globex",
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Admins"})),
        &[],
    )
    .await
    .expect(201);
}

/// A revoked token is refused with the same 401 as a made-up one.
async fn tenancy_revoked_token_is_refused(s: TestServer) {
    let tenant = s.tenant_id("acme").await;
    let (info, token) = s
        .store
        .create_token(tenant, "rotating", None)
        .await
        .unwrap();
    s.call_as(&token, "acme", Method::GET, "/Users", None, &[])
        .await
        .expect(200);
    assert!(s.store.revoke_token(tenant, &info.id).await.unwrap());
    let revoked = s
        .call_as(&token, "acme", Method::GET, "/Users", None, &[])
        .await
        .expect_error(401, None);
    let bogus = s
        .call_as("scim_bogus", "acme", Method::GET, "/Users", None, &[])
        .await
        .expect_error(401, None);
    assert_eq!(fingerprint(&revoked), fingerprint(&bogus));
    let body = json!({"schemas": [USER_SCHEMA], "userName": "after-revoke"});
    s.call_as(&token, "acme", Method::POST, "/Users", Some(body), &[])
        .await
        .expect_error(401, None);
    // The tenant's other token still works; another tenant cannot revoke acme's token.
    s.get("/Users").await.expect_list(0, 0);
    let globex = s.tenant_id("globex").await;
    let (info2, token2) = s.store.create_token(tenant, "second", None).await.unwrap();
    assert!(!s.store.revoke_token(globex, &info2.id).await.unwrap());
    s.call_as(&token2, "acme", Method::GET, "/Users", None, &[])
        .await
        .expect(200);
}

/// A token past its expiry is refused; one expiring in the future works. A token cannot be
/// created already expired.
async fn tenancy_expired_token_is_refused(s: TestServer) {
    let tenant = s.tenant_id("acme").await;
    let e = s
        .store
        .create_token(tenant, "old", Some("2020-01-01T00:00:00Z".into()))
        .await
        .unwrap_err();
    assert_eq!(e.to_scim().status, 400);
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, expired) = s
        .store
        .create_token(tenant, "old", Some(soon))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (_, future) = s
        .store
        .create_token(tenant, "new", Some("2999-01-01T00:00:00Z".into()))
        .await
        .unwrap();
    let r = s
        .call_as(&expired, "acme", Method::GET, "/Users", None, &[])
        .await
        .expect_error(401, None);
    let bogus = s
        .call_as("scim_bogus", "acme", Method::GET, "/Users", None, &[])
        .await;
    assert_eq!(fingerprint(&r), fingerprint(&bogus));
    s.call_as(&future, "acme", Method::GET, "/Users", None, &[])
        .await
        .expect(200);
}

/// A `nextCursor` issued to acme, replayed by globex, yields nothing of acme's.
async fn tenancy_cursor_of_one_tenant_is_useless_in_another(s: TestServer) {
    let acme_ids: Vec<String> = s.seed_users("acme", 10).await;
    let first = s.get("/Users?cursor=&count=3").await.expect(200);
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_string();
    let r = globex_token(
        &s,
        "globex",
        Method::GET,
        format!("/Users?count=3&cursor={}", enc(&cursor)),
        None,
    )
    .await;
    if r.status.as_u16() == 200 {
        for id in r.resource_ids() {
            assert!(!acme_ids.contains(&id), "globex saw acme's user {id}");
        }
    } else {
        r.expect_error_in(400, &["invalidCursor", "invalidValue"]);
    }
}

/// Bulk operations of globex cannot address acme's resources: per-operation 404s, and
/// acme's data is unchanged.
async fn tenancy_bulk_cannot_reach_another_tenant(s: TestServer) {
    let id = s.create_user("alice@acme.example").await;
    let path = format!("/Users/{id}");
    let before = s.snapshot(&path).await;
    let body = json!({"schemas": [crate::support::BULK_REQUEST], "Operations": [
        {"method": "PATCH", "path": path, "bulkId": "p",
         "data": {"schemas": [crate::support::PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}},
        {"method": "PUT", "path": path, "bulkId": "u", "data": {"schemas": [USER_SCHEMA], "userName": "stolen"}},
        {"method": "DELETE", "path": path, "bulkId": "d"},
    ]});
    let r = globex_token(&s, "globex", Method::POST, "/Bulk".into(), Some(body))
        .await
        .expect(200);
    for op in r.body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], "404", "{op}");
    }
    s.assert_unchanged(&path, &before).await;
}
