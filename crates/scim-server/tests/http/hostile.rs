//! What a hostile probe found (issue 11), each reproduced: these tests failed before their
//! fixes. Sizes are small enough for CI; `scripts/hostile` runs the full sizes.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

backend_tests!(
    hostile_duplicate_json_keys_are_invalid_syntax,
    hostile_put_ignores_a_differing_id,
    hostile_forged_request_ids_are_replaced,
    hostile_deleted_tenant_gets_401_never_500,
    hostile_patch_work_is_bounded,
);

/// Defect 9: `{"active": true, "active": false}` is ambiguous: 400 `invalidSyntax`, and
/// nothing is stored, at any depth, on POST, PUT, PATCH, search and Bulk.
async fn hostile_duplicate_json_keys_are_invalid_syntax(s: TestServer) {
    let id = s.create_user("dup@example.com").await;
    let path = format!("/Users/{id}");
    let before = s.snapshot(&path).await;
    let auth = s.auth_header();
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/scim+json"),
    ];
    let cases: [(Method, &str, String); 6] = [
        (
            Method::POST,
            "/Users",
            format!(
                r#"{{"schemas":["{USER_SCHEMA}"],"userName":"a@example.com","userName":"b@example.com"}}"#
            ),
        ),
        (
            Method::PUT,
            &path,
            format!(
                r#"{{"schemas":["{USER_SCHEMA}"],"userName":"dup@example.com","name":{{"givenName":"A","givenName":"B"}}}}"#
            ),
        ),
        (
            Method::PATCH,
            &path,
            format!(
                r#"{{"schemas":["{PATCH_OP}"],"Operations":[{{"op":"replace","path":"active","value":true,"value":false}}]}}"#
            ),
        ),
        (
            Method::PATCH,
            &path,
            format!(r#"{{"schemas":["{PATCH_OP}"],"Operations":[],"Operations":[]}}"#),
        ),
        (
            Method::POST,
            "/Users/.search",
            format!(r#"{{"schemas":["{SEARCH_REQUEST}"],"count":1,"count":2}}"#),
        ),
        (
            Method::POST,
            "/Bulk",
            format!(
                r#"{{"schemas":["{BULK_REQUEST}"],"Operations":[{{"method":"POST","method":"DELETE","path":"/Users","data":{{}}}}]}}"#
            ),
        ),
    ];
    for (method, p, body) in cases {
        let r = s
            .raw(method.clone(), p, &headers, Some(body.clone().into_bytes()))
            .await
            .expect_error(400, Some("invalidSyntax"));
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("twice")),
            "{method} {p}: {}",
            r.body
        );
    }
    s.assert_unchanged(&path, &before).await;
    s.filter("Users", "userName eq \"a@example.com\"", "")
        .await
        .expect_list(0, 0);
}

/// Defect 10: RFC 7644 §3.5.1: readOnly values in a PUT body, an `id` that differs from the
/// URL's included, SHALL be ignored.
async fn hostile_put_ignores_a_differing_id(s: TestServer) {
    let id = s.create_user("put-id@example.com").await;
    let other = s.create_user("other@example.com").await;
    let r = s
        .put(
            &format!("/Users/{id}"),
            json!({"schemas": [USER_SCHEMA], "id": other, "userName": "put-id@example.com",
                   "displayName": "Renamed", "meta": {"created": "2000-01-01T00:00:00Z"}}),
        )
        .await
        .expect(200);
    assert_eq!(r.id(), id);
    assert_eq!(r.body["displayName"], "Renamed");
    assert_ne!(r.body["meta"]["created"], "2000-01-01T00:00:00Z");
    // The other resource is untouched.
    let o = s.get(&format!("/Users/{other}")).await.expect(200);
    assert_absent(&o.body, "displayName");
    for weird in [json!(7), json!({"x": 1}), json!("")] {
        s.put(
            &format!("/Users/{id}"),
            json!({"schemas": [USER_SCHEMA], "id": weird, "userName": "put-id@example.com"}),
        )
        .await
        .expect(200);
    }
}

/// Defect 7: a client-chosen `X-Request-Id` is written into log lines and change records;
/// one that could forge log fields (spaces, quotes, `=`, control characters) is replaced by
/// a fresh id. A well-formed one is kept.
async fn hostile_forged_request_ids_are_replaced(s: TestServer) {
    let auth = s.auth_header();
    let ok = "req-0f8fad5b-d9cb-469f.a:1";
    let r = s
        .raw(
            Method::GET,
            "/Users?count=1",
            &[("authorization", &auth), ("x-request-id", ok)],
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.header("x-request-id"), Some(ok));
    for forged in [
        "abc status=200 tenant=globex",
        "x\" injected=\"1",
        "a\tb",
        "é",
        &"x".repeat(200),
    ] {
        let r = s
            .raw(
                Method::POST,
                "/Users",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/scim+json"),
                    ("x-request-id", forged),
                ],
                Some(
                    json!({"schemas": [USER_SCHEMA], "userName": format!("rid{}@example.com", forged.len())})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await
            .expect(201);
        let echoed = r.header("x-request-id").expect("a request id").to_string();
        assert_ne!(echoed, forged);
        assert!(
            echoed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b)),
            "{echoed}"
        );
        // The change record carries the id the logs show, not the forged one.
        let t = s.tenant_id("acme").await;
        let changes = s.store.changes(t, 0, u32::MAX).await.unwrap();
        let last = changes.last().unwrap();
        assert_eq!(last.actor.request_id.as_deref(), Some(echoed.as_str()));
    }
}

/// Defect 4: a tenant deleted by another process (the admin CLI, another instance) while
/// this server still remembers its token: writes get 401 (they got 500, a foreign-key
/// error), reads find nothing; deleted through this server's own store, the token stops
/// working at once.
async fn hostile_deleted_tenant_gets_401_never_500(s: TestServer) {
    let id = s.create_user("gone@example.com").await;
    let group = s.create_group("Gone").await;
    let other = s.other_instance().await;
    assert!(other.delete_tenant("acme").await.unwrap());
    // This server's cache still accepts the token (within its stated bound): nothing may
    // answer 500.
    let user = json!({"schemas": [USER_SCHEMA], "userName": "new@example.com"});
    let r = s.post("/Users", user.clone()).await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.body);
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "G"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 401, "{}", r.body);
    for (method, path, body) in [
        (Method::GET, format!("/Users/{id}"), None),
        (Method::GET, "/Users".to_string(), None),
        (
            Method::PATCH,
            format!("/Groups/{group}"),
            Some(patch_body(
                json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
            )),
        ),
        (Method::PUT, format!("/Users/{id}"), Some(user.clone())),
        (Method::DELETE, format!("/Users/{id}"), None),
        (
            Method::POST,
            "/Bulk".to_string(),
            Some(json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user}]})),
        ),
    ] {
        let r = s.call(method.clone(), &path, body).await;
        let status = r.status.as_u16();
        assert!(
            matches!(status, 200 | 401 | 404),
            "{method} {path}: {status} {}",
            r.body
        );
        if status == 200 && path == "/Bulk" {
            let op = &r.body["Operations"][0];
            assert_eq!(op["status"], "401", "{}", r.body);
        }
    }
    // Deleted through this server's own store: refused at once.
    assert!(s.store.delete_tenant("globex").await.unwrap());
    s.globex(Method::GET, "/Users".into(), None)
        .await
        .expect_error(401, None);
}

/// Defect 1 (CI size): one PATCH could cost time quadratic in the values it adds (20,000
/// `emails` took 10 s, 65,000 one-email operations 250 s). Now the operations per PATCH
/// and the values per multi-valued attribute are bounded (413 and 400 `invalidValue`,
/// nothing stored), and what is within the bounds is applied in linear time.
async fn hostile_patch_work_is_bounded(s: TestServer) {
    let id = s.create_user("bounded@example.com").await;
    let path = format!("/Users/{id}");
    let before = s.snapshot(&path).await;
    let email = |i: usize| json!({"value": format!("e{i}@example.com"), "type": "work"});
    // More operations than allowed: 413 before anything is read.
    let ops: Vec<_> = (0..1001)
        .map(|i| json!({"op": "add", "path": "emails", "value": [email(i)]}))
        .collect();
    let r = s.patch_ops(&path, json!(ops)).await.expect_error(413, None);
    assert!(
        r.body["detail"].as_str().unwrap().contains("1000"),
        "{}",
        r.body
    );
    // More values than allowed in one attribute, in one operation or on create.
    let many: Vec<_> = (0..1001).map(email).collect();
    s.patch_ops(
        &path,
        json!([{"op": "add", "path": "emails", "value": many}]),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    s.post(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": "many@example.com", "emails": many}),
    )
    .await
    .expect_error(400, Some("invalidValue"));
    s.assert_unchanged(&path, &before).await;
    // Within the bounds: 1,000 values in one operation, then 300 one-value operations that
    // each find their value already there, all applied.
    let all: Vec<_> = (0..1000).map(email).collect();
    let r = s
        .patch_ops(
            &path,
            json!([{"op": "add", "path": "emails", "value": all}]),
        )
        .await
        .expect(200);
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1000));
    let ops: Vec<_> = (0..300)
        .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("E{i}@EXAMPLE.com")}]}))
        .collect();
    let r = s.patch_ops(&path, json!(ops)).await.expect(200);
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1000));
    // One more value than the bound, by a later request: refused.
    s.patch_ops(
        &path,
        json!([{"op": "add", "path": "emails", "value": [email(5000)]}]),
    )
    .await
    .expect_error(400, Some("invalidValue"));
}

/// Defect 2 (CI size: 30 idle sockets against a limit of 20, 1 s timeouts; `scripts/hostile`
/// opens 1,100 against the defaults): idle keep-alive connections and byte-by-byte header
/// senders were never closed. Now the server closes both after the header-read timeout,
/// keeps at most `max_connections` open, and answers a normal client meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_idle_and_slow_connections_are_closed() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let s = TestServer::sqlite_configured(builtin_registry(), |c| {
        c.connections.max_connections = 20;
        c.connections.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..30 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // A byte-by-byte sender that would take 12 s to send its head.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        for b in b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut buf = [0u8; 64];
        matches!(slow.read(&mut buf).await, Ok(0) | Err(_))
    });
    // A normal client is answered (once idle connections make room).
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), s.get("/Users?count=1"))
        .await
        .expect("a normal request was not answered");
    r.expect(200);
    assert!(started.elapsed() < Duration::from_secs(15));
    // Every idle connection is closed by the server.
    for mut c in idle {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
            .await
            .expect("an idle connection stayed open");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(10), trickle)
            .await
            .expect("the slow sender was not cut off")
            .unwrap(),
        "the slow sender's connection was closed"
    );
}
