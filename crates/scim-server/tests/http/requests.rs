//! The request log: after real requests (an Entra-like PATCH the server refuses, a
//! duplicate, a bad token, a success), the log holds what a support engineer needs — status,
//! scimType, detail, token name, request id, User-Agent, the failed request's body — and
//! never a bearer token, a password or the values named in a detail.

use std::time::Duration;

use reqwest::Method;
use scim_store::requests::{LoggedRequest, RequestQuery};
use serde_json::json;

use crate::support::{PATCH_OP, TestServer, USER_SCHEMA};

backend_tests!(
    failed_requests_are_in_the_request_log_with_why_they_failed,
    logged_details_keep_names_and_allowed_values_but_never_a_value_sent
);

/// The log is written off the request's path: wait until `n` entries match.
async fn wait_for(s: &TestServer, tenant: i64, q: RequestQuery, n: usize) -> Vec<LoggedRequest> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = s.store.requests(tenant, &q).await.unwrap();
        if found.len() >= n || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn failed_requests_are_in_the_request_log_with_why_they_failed(s: TestServer) {
    let acme = s.store.tenant("acme").await.unwrap().unwrap().id;
    let globex = s.store.tenant("globex").await.unwrap().unwrap().id;
    let since = scim_store::audit::now_instant();
    let id = s.create_user("bjensen@example.com").await;
    s.get(&format!("/Users/{id}")).await.expect(200);
    // What Entra ID sends to disable a user, with a value the server refuses, beside a
    // password change.
    let entra = [
        ("user-agent", "Azure-AD-SCIM-Service/1.0"),
        ("x-request-id", "entra-req-1"),
    ];
    let bad = s
        .call_as(
            &s.token,
            "acme",
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "password", "value": "Hunter2-secret!"},
                {"op": "Replace", "path": "active", "value": "Maybe"}]})),
            &entra,
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.text);
    let scim_type = bad.body["scimType"].as_str().unwrap().to_string();
    // A duplicate: the detail names the attribute, not the value.
    s.post(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": "bjensen@example.com"}),
    )
    .await
    .expect(409);
    // A bad token for acme.
    s.call_as("scim_nope_nope", "acme", Method::GET, "/Users", None, &[])
        .await;
    // Another tenant's request.
    s.call_as(
        &s.other_token,
        "globex",
        Method::GET,
        "/Users?count=1",
        None,
        &[],
    )
    .await
    .expect(200);

    let all = wait_for(
        &s,
        acme,
        RequestQuery {
            limit: 100,
            ..RequestQuery::default()
        },
        5,
    )
    .await;
    let text = serde_json::to_string(&all).unwrap();
    assert_eq!(all.len(), 5, "{text}");
    for secret in ["Hunter2-secret!", &s.token, "scim_nope_nope"] {
        assert!(!text.contains(secret), "{secret} in the log: {text}");
    }
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 200, 400, 409, 401]);
    // The refused PATCH: what Entra sent and why it was refused.
    let patch = &all[2];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.path, format!("/scim/v2/acme/Users/{id}"));
    assert_eq!(patch.scim_type.as_deref(), Some(scim_type.as_str()));
    assert!(
        patch.detail.as_deref().unwrap().contains("active"),
        "{patch:?}"
    );
    assert_eq!(patch.token_name.as_deref(), Some("okta"));
    assert_eq!(patch.request_id.as_deref(), Some("entra-req-1"));
    assert_eq!(
        patch.user_agent.as_deref(),
        Some("Azure-AD-SCIM-Service/1.0")
    );
    let body = patch.request_body.as_deref().unwrap();
    assert!(
        body.contains("Maybe") && body.contains("[redacted]"),
        "{body}"
    );
    let response: serde_json::Value =
        serde_json::from_str(patch.response_body.as_deref().unwrap()).unwrap();
    assert_eq!(response["status"], "400");
    assert_eq!(response["scimType"], scim_type.as_str());
    // The duplicate's detail does not repeat the value.
    let dup = &all[3];
    assert_eq!(dup.scim_type.as_deref(), Some("uniqueness"));
    assert!(
        !dup.detail.as_deref().unwrap().contains("bjensen"),
        "{dup:?}"
    );
    // The bad token: logged for the tenant it named, without a token name.
    assert_eq!(all[4].token_name, None);
    // Successes keep no bodies.
    assert!(all[0].request_body.is_none() && all[1].response_body.is_none());
    assert!(all[1].duration_us > 0);

    // Filters: failed only, one status, since an instant, after an id.
    let failed = s
        .store
        .requests(
            acme,
            &RequestQuery {
                failed: true,
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        failed.iter().map(|r| r.status).collect::<Vec<_>>(),
        [400, 409, 401]
    );
    let only = s
        .store
        .requests(
            acme,
            &RequestQuery {
                status: Some(409),
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let after = s
        .store
        .requests(
            acme,
            &RequestQuery {
                after: Some(all[2].id),
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    let later = s
        .store
        .requests(
            acme,
            &RequestQuery {
                since: Some("2999-01-01T00:00:00.000Z".into()),
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(later.is_empty());
    let since_start = s
        .store
        .requests(
            acme,
            &RequestQuery {
                since: Some(since),
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(since_start.len(), 5);
    // Each tenant sees its own.
    let theirs = wait_for(
        &s,
        globex,
        RequestQuery {
            limit: 100,
            ..RequestQuery::default()
        },
        1,
    )
    .await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].token_name.as_deref(), Some("entra"));

    // Bounded by count: a policy of 3 entries keeps the newest 3.
    s.store
        .set_retention_policy(
            acme,
            &scim_store::PolicyUpdate {
                requests_max: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let trimmed = s
        .store
        .trim_requests(acme, &scim_store::audit::now_instant())
        .await
        .unwrap();
    assert_eq!(trimmed, 2);
    let kept = s
        .store
        .requests(
            acme,
            &RequestQuery {
                limit: 100,
                ..RequestQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        kept.iter().map(|r| r.status).collect::<Vec<_>>(),
        [400, 409, 401]
    );
}

/// The detail the log keeps: what the client sent (a userName, a filter's value, an unknown
/// sub-attribute, an id, a bad `op` or `sortOrder`) is `…`; attribute names, allowed values
/// and RFC terms stay as the client read them. The client's own answer shows everything.
async fn logged_details_keep_names_and_allowed_values_but_never_a_value_sent(s: TestServer) {
    let acme = s.store.tenant("acme").await.unwrap().unwrap().id;
    let id = s.create_user("barbara.jensen@example.com").await;
    let patch = |op: serde_json::Value| Some(json!({"schemas": [PATCH_OP], "Operations": [op]}));
    let user = format!("/Users/{id}");
    // (request id, method, path, body, status, what the logged detail says)
    type Case<'a> = (
        &'a str,
        Method,
        String,
        Option<serde_json::Value>,
        u16,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "dup",
            Method::POST,
            "/Users".into(),
            Some(json!({"schemas": [USER_SCHEMA], "userName": "barbara.jensen@example.com"})),
            409,
            vec!["userName '…' is already in use"],
        ),
        (
            "sort",
            Method::GET,
            "/Users?sortBy=userName&sortOrder=BarbaraJensen".into(),
            None,
            400,
            vec![r#"sortOrder must be "ascending" or "descending", got "…""#],
        ),
        (
            "filter-type",
            Method::GET,
            "/Users?filter=active%20eq%20%22BarbaraJensen%22".into(),
            None,
            400,
            vec![
                "'active eq …'",
                "boolean, so the value must be true or false",
            ],
        ),
        (
            "filter-quotes",
            Method::GET,
            "/Users?filter=userName%20eq%20BarbaraJensen".into(),
            None,
            400,
            vec!["after 'eq'", "found '…' (strings need double quotes)"],
        ),
        (
            "op",
            Method::PATCH,
            user.clone(),
            patch(json!({"op": "BarbaraJensen", "path": "active", "value": true})),
            400,
            vec![r#""op" must be "add", "replace" or "remove", got "…""#],
        ),
        (
            "sub-attribute",
            Method::PATCH,
            user.clone(),
            patch(json!({"op": "replace", "path": "name.BarbaraJensen", "value": "x"})),
            400,
            vec!["'…' is not a sub-attribute of 'name'", "familyName"],
        ),
        (
            "boolean",
            Method::PATCH,
            user.clone(),
            patch(json!({"op": "Replace", "path": "active", "value": "BarbaraJensen"})),
            400,
            vec!["attribute 'active' must be a boolean"],
        ),
        (
            "missing",
            Method::GET,
            "/Users/BarbaraJensen".into(),
            None,
            404,
            vec!["User '…' not found"],
        ),
    ];
    for (rid, method, path, body, status, _) in &cases {
        let r = s
            .call_as(
                &s.token,
                "acme",
                method.clone(),
                path,
                body.clone(),
                &[("x-request-id", rid)],
            )
            .await;
        assert_eq!(r.status.as_u16(), *status, "{rid}: {}", r.text);
        // The client is told everything, its own values included (the boolean's message
        // names only the attribute).
        let told = r.body["detail"].as_str().unwrap_or_default();
        assert!(
            *rid == "boolean"
                || told.contains("BarbaraJensen")
                || told.contains("barbara.jensen@example.com"),
            "{rid}: {told}"
        );
    }
    let logged = wait_for(
        &s,
        acme,
        RequestQuery {
            failed: true,
            limit: 100,
            ..RequestQuery::default()
        },
        cases.len(),
    )
    .await;
    for (rid, _, _, _, _, says) in &cases {
        let entry = logged
            .iter()
            .find(|e| e.request_id.as_deref() == Some(*rid))
            .unwrap_or_else(|| panic!("{rid} not logged: {logged:?}"));
        let detail = entry.detail.as_deref().unwrap_or_default();
        for part in says {
            assert!(detail.contains(part), "{rid}: {detail:?} lacks {part:?}");
        }
        let response = entry.response_body.as_deref().unwrap_or_default();
        for value in ["BarbaraJensen", "barbara.jensen", "Barbara"] {
            assert!(!detail.contains(value), "{rid}: {value} in {detail:?}");
            assert!(!response.contains(value), "{rid}: {value} in {response}");
        }
    }
}
