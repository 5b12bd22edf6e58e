//! Rate limits, authentication throttling, token scopes, rotation and JWT mode (issue 11),
//! on every backend.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use scim_store::{JwtSettings, TenantUpdate, TokenScope, TokenSpec};
use serde_json::{Value, json};

use crate::support::*;

backend_tests!(
    limits_over_the_rate_limit_is_429_with_retry_after,
    limits_bulk_counts_its_operations,
    limits_large_bodies_take_a_unit_per_16_kib,
    limits_large_bulk_requests_retried_together_are_all_admitted,
    limits_unknown_tokens_are_throttled_per_address,
    limits_read_scope_tokens_cannot_write,
    limits_rotated_tokens_overlap_then_stop,
    jwt_tokens_are_verified_against_the_tenants_keys,
);

async fn set_rate(s: &TestServer, tenant: &str, per_minute: u32, burst: u32) {
    s.store
        .update_tenant(
            tenant,
            TenantUpdate {
                rate_per_minute: Some(Some(per_minute)),
                rate_burst: Some(Some(burst)),
                ..TenantUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
}

/// Over its limit a tenant gets 429 with Retry-After and a SCIM error body; other tenants
/// are not affected.
async fn limits_over_the_rate_limit_is_429_with_retry_after(s: TestServer) {
    // 6 a minute: a unit every 10 s, so nothing refills during the test (a 429 is held
    // for up to a second before it is sent).
    set_rate(&s, "acme", 6, 5).await;
    for _ in 0..5 {
        s.get("/Users?count=1").await.expect(200);
    }
    let r = s.get("/Users?count=1").await.expect_error(429, None);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    // Writes are refused before they reach the store.
    let before = s.change_count().await;
    s.post(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": "late@example.com"}),
    )
    .await
    .expect_error(429, None);
    assert_eq!(s.change_count().await, before);
    // globex has the default limit.
    for _ in 0..20 {
        s.globex(Method::GET, "/Users?count=1".into(), None)
            .await
            .expect(200);
    }
}

/// A Bulk request takes one unit per operation; the tenant's burst bounds (and
/// `/ServiceProviderConfig` advertises) the operations of one Bulk request.
async fn limits_bulk_counts_its_operations(s: TestServer) {
    set_rate(&s, "acme", 1, 10).await;
    let spc = s.get("/ServiceProviderConfig").await.expect(200);
    assert_eq!(spc.body["bulk"]["maxOperations"], 10);
    let bulk = |n: usize, tag: &str| {
        let ops: Vec<Value> = (0..n)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("{tag}{i}"),
                "data": {"schemas": [USER_SCHEMA], "userName": format!("{tag}{i}@example.com")}})
            })
            .collect();
        json!({"schemas": [BULK_REQUEST], "Operations": ops})
    };
    s.post("/Bulk", bulk(6, "a")).await.expect(200);
    // 3 units left: 4 operations are refused, nothing runs.
    let before = s.change_count().await;
    s.post("/Bulk", bulk(4, "b")).await.expect_error(429, None);
    assert_eq!(s.change_count().await, before);
    set_rate(&s, "globex", 1, 10).await;
    let r = s
        .globex(Method::POST, "/Bulk".into(), Some(bulk(11, "c")))
        .await
        .expect_error(413, None);
    assert!(
        r.body["detail"].as_str().unwrap().contains("10"),
        "{}",
        r.body
    );
}

/// A body over 16 KiB takes one more unit of the tenant's rate limit per 16 KiB, before it
/// is parsed; identity providers' small requests still take one.
async fn limits_large_bodies_take_a_unit_per_16_kib(s: TestServer) {
    // Set before the first request (settings are cached): 11 units, one taken by the create.
    set_rate(&s, "acme", 1, 11).await;
    let id = s.create_user("large@example.com").await;
    let emails = |tag: &str, n: usize, pad: usize| -> Value {
        let pad = "p".repeat(pad);
        json!(
            (0..n)
                .map(|i| json!({"value": format!("{tag}-{i:04}-{pad}@example.com")}))
                .collect::<Vec<_>>()
        )
    };
    let patch = |v: Value| patch_body(json!([{"op": "replace", "path": "emails", "value": v}]));
    let units = |body: &Value| (body.to_string().len() - 1) / (16 * 1024) + 1;
    // The burst bounds one body's size, and discovery says so.
    let spc = s.get("/ServiceProviderConfig").await.expect(200);
    assert_eq!(spc.body["bulk"]["maxPayloadSize"], 11 * 16 * 1024);
    let small = patch(emails("s", 1, 0));
    let two = patch(emails("a", 300, 30));
    assert_eq!((units(&small), units(&two)), (1, 2));
    // 9 units left after the discovery request.
    s.patch(&format!("/Users/{id}"), two).await.expect(200); // 7
    s.patch(&format!("/Users/{id}"), small.clone())
        .await
        .expect(200); // 6
    let five = patch(emails("b", 1000, 38));
    assert_eq!(units(&five), 5);
    s.patch(&format!("/Users/{id}"), five.clone())
        .await
        .expect(200); // 1
    // One unit left: a body that needs five is refused and changes nothing.
    let before = s.change_count().await;
    let r = s
        .patch(&format!("/Users/{id}"), five)
        .await
        .expect_error(429, None);
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.change_count().await, before);
    s.patch(&format!("/Users/{id}"), small).await.expect(200);
}

/// Two clients retrying large Bulk requests (200 operations in 30 units of size) at a rate
/// below what they pay for their bodies: each attempt refused for its operations leaves
/// what it paid for its size as the tenant's credit, so both are admitted within seconds.
/// Before, each refused attempt lost those units: the two burned 60 a second against 50
/// refilled, and neither was ever admitted.
async fn limits_large_bulk_requests_retried_together_are_all_admitted(s: TestServer) {
    set_rate(&s, "acme", 3000, 200).await;
    let bulk = |tag: &str| {
        let pad = "p".repeat(2250);
        let ops: Vec<Value> = (0..200)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("{tag}{i}"),
                "data": {"schemas": [USER_SCHEMA], "userName": format!("{tag}{i}@example.com"),
                         "nickName": pad}})
            })
            .collect();
        json!({"schemas": [BULK_REQUEST], "Operations": ops})
    };
    let send = |body: Value| {
        let s = &s;
        async move {
            let started = std::time::Instant::now();
            let mut refused = 0;
            loop {
                let r = s.post("/Bulk", body.clone()).await;
                if r.status != 429 {
                    return (r.expect(200), refused);
                }
                refused += 1;
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "still refused after {refused} attempts"
                );
                let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        }
    };
    let (a, b) = (bulk("a"), bulk("b"));
    let units = |body: &Value| (body.to_string().len() - 1) / (16 * 1024) + 1;
    assert_eq!(units(&a), 30);
    let ((a, refused_a), (b, refused_b)) = tokio::join!(send(a), send(b));
    // 400 units asked of a bucket of 200: the two contended.
    assert!(refused_a + refused_b >= 1);
    for r in [a, b] {
        let ops = r.body["Operations"].as_array().unwrap();
        assert_eq!(ops.len(), 200);
        assert!(ops.iter().all(|o| o["status"] == "201"), "{}", r.body);
    }
}

/// Guessing tokens from one address is slowed down before any lookup; a token that was in
/// use keeps working meanwhile.
async fn limits_unknown_tokens_are_throttled_per_address(s: TestServer) {
    s.get("/Users?count=1").await.expect(200);
    let mut throttled = 0;
    for i in 0..40 {
        let r = s
            .call_as(
                &format!("scim_{:016x}_guess{i}", i),
                "acme",
                Method::GET,
                "/Users",
                None,
                &[],
            )
            .await;
        match r.status.as_u16() {
            401 => {}
            429 => {
                throttled += 1;
                assert!(r.header("retry-after").is_some());
                assert_eq!(r.body["status"], "429");
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
        // Each 429 is held for up to a second (the tarpit): three are enough.
        if throttled == 3 {
            break;
        }
    }
    assert_eq!(throttled, 3, "guesses were not throttled");
    // The token in use is not affected.
    s.get("/Users?count=1").await.expect(200);
}

/// `--scope read` tokens read (GET, /.search) and never write (403, nothing stored).
async fn limits_read_scope_tokens_cannot_write(s: TestServer) {
    let id = s.create_user("scoped@example.com").await;
    let t = s.tenant_id("acme").await;
    let (_, reader) = s
        .store
        .create_token_with(
            t,
            TokenSpec {
                name: "auditor".into(),
                expires: None,
                scope: TokenScope::Read,
            },
        )
        .await
        .unwrap();
    let as_reader = |method: Method, path: String, body: Option<Value>| {
        let reader = reader.clone();
        let s = &s;
        async move { s.call_as(&reader, "acme", method, &path, body, &[]).await }
    };
    as_reader(Method::GET, format!("/Users/{id}"), None)
        .await
        .expect(200);
    as_reader(
        Method::POST,
        "/Users/.search".into(),
        Some(json!({"schemas": [SEARCH_REQUEST], "filter": "userName eq \"scoped@example.com\""})),
    )
    .await
    .expect_list(1, 1);
    let before = s.change_count().await;
    let user = json!({"schemas": [USER_SCHEMA], "userName": "w@example.com"});
    for (method, path, body) in [
        (Method::POST, "/Users".to_string(), Some(user.clone())),
        (Method::PUT, format!("/Users/{id}"), Some(user.clone())),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            Some(patch_body(
                json!([{"op": "replace", "path": "active", "value": false}]),
            )),
        ),
        (Method::DELETE, format!("/Users/{id}"), None),
        (
            Method::POST,
            "/Bulk".to_string(),
            Some(json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "x", "data": user}]})),
        ),
    ] {
        let r = as_reader(method.clone(), path.clone(), body).await;
        r.expect_error(403, None);
    }
    assert_eq!(s.change_count().await, before);
}

/// Rotation: the new token works at once, the old one until the end of the overlap; an
/// overlap of zero ends the old one at once (on the instance that rotated).
async fn limits_rotated_tokens_overlap_then_stop(s: TestServer) {
    let t = s.tenant_id("acme").await;
    s.get("/Users?count=1").await.expect(200);
    let old_id = s.store.list_tokens(t).await.unwrap()[0].id.clone();
    let r = s.store.rotate_token(t, &old_id, 3600).await.unwrap();
    s.get("/Users?count=1").await.expect(200);
    s.call_as(&r.text, "acme", Method::GET, "/Users?count=1", None, &[])
        .await
        .expect(200);
    let r2 = s.store.rotate_token(t, &r.new.id, 0).await.unwrap();
    s.call_as(&r.text, "acme", Method::GET, "/Users?count=1", None, &[])
        .await
        .expect_error(401, None);
    s.call_as(&r2.text, "acme", Method::GET, "/Users?count=1", None, &[])
        .await
        .expect(200);
    // Revocation through this server's store takes effect at once too.
    assert!(s.store.revoke_token(t, &r2.new.id).await.unwrap());
    s.call_as(&r2.text, "acme", Method::GET, "/Users?count=1", None, &[])
        .await
        .expect_error(401, None);
}

/// An Ed25519 key pair generated here: (signing key as PKCS#8 DER, public key bytes).
fn ed25519_pair() -> (Vec<u8>, [u8; 32]) {
    let seed: [u8; 32] = rand::random();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = signing.verifying_key().to_bytes();
    // PKCS#8 v1 for Ed25519 (RFC 8410): a fixed prefix, then the 32-byte seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    (der, public)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The public key as a PEM SubjectPublicKeyInfo (RFC 8410).
fn ed25519_pem(public: &[u8; 32]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

fn jwk(kid: &str, public: &[u8; 32]) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(public), "kid": kid, "alg": "EdDSA", "use": "sig"})
}

fn sign(der: &[u8], kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(der),
    )
    .unwrap()
}

/// A JWKS document served over real HTTP on 127.0.0.1, replaceable while running.
async fn jwks_server(doc: Arc<Mutex<Value>>) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// JWT mode: tokens signed with a key of the tenant's JWKS (fetched over HTTP, refetched
/// when a new key id appears) or with its static key are accepted when issuer, audience,
/// expiry and the tenant claim are right; the scope claim is honoured.
async fn jwt_tokens_are_verified_against_the_tenants_keys(s: TestServer) {
    let (der1, pub1) = ed25519_pair();
    let doc = Arc::new(Mutex::new(json!({"keys": [jwk("k1", &pub1)]})));
    let url = jwks_server(doc.clone()).await;
    s.store
        .update_tenant(
            "acme",
            TenantUpdate {
                jwt: Some(Some(JwtSettings {
                    issuer: "https://idp.example.com".into(),
                    audience: "scim-acme".into(),
                    jwks_url: Some(url),
                    static_key: None,
                    tenant_claim: "scim_tenant".into(),
                    tenant_value: None,
                })),
                ..TenantUpdate::default()
            },
        )
        .await
        .unwrap();
    // A static key (globex).
    let (der3, pub3) = ed25519_pair();
    s.store
        .update_tenant(
            "globex",
            TenantUpdate {
                jwt: Some(Some(JwtSettings {
                    issuer: "gw".into(),
                    audience: "scim".into(),
                    jwks_url: None,
                    static_key: Some(ed25519_pem(&pub3)),
                    tenant_claim: "org".into(),
                    tenant_value: Some("globex-inc".into()),
                })),
                ..TenantUpdate::default()
            },
        )
        .await
        .unwrap();
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let claims = |extra: Value| {
        let mut c = json!({"iss": "https://idp.example.com", "aud": "scim-acme", "exp": exp,
            "sub": "gateway", "scim_tenant": "acme"});
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    };
    let call = |token: String, method: Method, path: &str, body: Option<Value>| {
        let s = &s;
        let path = path.to_string();
        async move { s.call_as(&token, "acme", method, &path, body, &[]).await }
    };
    let good = sign(&der1, "k1", claims(json!({})));
    call(good.clone(), Method::GET, "/Users?count=1", None)
        .await
        .expect(200);
    let created = call(
        good.clone(),
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER_SCHEMA], "userName": "jwt@example.com"})),
    )
    .await
    .expect(201);
    let t = s.tenant_id("acme").await;
    let last = s.store.changes(t, 0, u32::MAX).await.unwrap();
    assert_eq!(
        last.last().unwrap().actor.token_name.as_deref(),
        Some("jwt:gateway")
    );
    // Refused: wrong audience, issuer, tenant claim, expired, another tenant's URL, a key
    // of nobody's, a token without signature.
    let (der_x, _) = ed25519_pair();
    for bad in [
        sign(&der1, "k1", claims(json!({"aud": "other"}))),
        sign(
            &der1,
            "k1",
            claims(json!({"iss": "https://evil.example.com"})),
        ),
        sign(&der1, "k1", claims(json!({"scim_tenant": "globex"}))),
        sign(&der1, "k1", claims(json!({"exp": exp - 3600}))),
        sign(&der_x, "k1", claims(json!({}))),
        format!("{}.", good.rsplit_once('.').unwrap().0),
    ] {
        call(bad, Method::GET, "/Users?count=1", None)
            .await
            .expect_error(401, None);
    }
    s.call_as(&good, "globex", Method::GET, "/Users", None, &[])
        .await
        .expect_error(401, None);
    // A read scope reads only.
    let reader = sign(&der1, "k1", claims(json!({"scope": "openid scim.read"})));
    call(
        reader.clone(),
        Method::GET,
        &format!("/Users/{}", created.id()),
        None,
    )
    .await
    .expect(200);
    call(
        reader,
        Method::DELETE,
        &format!("/Users/{}", created.id()),
        None,
    )
    .await
    .expect_error(403, None);
    // The provider rotates its key: a token with the new key id is accepted once the
    // JWKS is fetched again.
    let (der2, pub2) = ed25519_pair();
    *doc.lock().unwrap() = json!({"keys": [jwk("k2", &pub2)]});
    tokio::time::sleep(scim_server::jwt::REFRESH_AT_MOST_EVERY + Duration::from_millis(200)).await;
    call(
        sign(&der2, "k2", claims(json!({}))),
        Method::GET,
        "/Users?count=1",
        None,
    )
    .await
    .expect(200);
    let token = sign(
        &der3,
        "any",
        json!({"iss": "gw", "aud": "scim", "exp": exp, "org": "globex-inc"}),
    );
    s.call_as(&token, "globex", Method::GET, "/Users", None, &[])
        .await
        .expect(200);
}
