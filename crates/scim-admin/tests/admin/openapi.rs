//! The OpenAPI document: generated from the code, valid OpenAPI 3.1 by a third-party
//! validator, and in agreement with the router (every documented operation is routed, and
//! every operation of the API is documented).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::App;

/// Every operation of the management API. Adding an endpoint means adding it here too.
const OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/admin/v1/openapi.json"),
    ("GET", "/admin/v1/tenants"),
    ("POST", "/admin/v1/tenants"),
    ("GET", "/admin/v1/tenants/{tenant}"),
    ("PATCH", "/admin/v1/tenants/{tenant}"),
    ("DELETE", "/admin/v1/tenants/{tenant}"),
    ("GET", "/admin/v1/tenants/{tenant}/tokens"),
    ("POST", "/admin/v1/tenants/{tenant}/tokens"),
    ("DELETE", "/admin/v1/tenants/{tenant}/tokens/{token_id}"),
    (
        "POST",
        "/admin/v1/tenants/{tenant}/tokens/{token_id}/rotate",
    ),
    ("GET", "/admin/v1/tenants/{tenant}/events"),
    ("GET", "/admin/v1/tenants/{tenant}/users"),
    ("GET", "/admin/v1/tenants/{tenant}/users/{id}"),
    ("GET", "/admin/v1/tenants/{tenant}/groups"),
    ("GET", "/admin/v1/tenants/{tenant}/groups/{id}"),
    ("GET", "/admin/v1/audit"),
    ("GET", "/admin/v1/tenants/{tenant}/role-rules"),
    ("POST", "/admin/v1/tenants/{tenant}/role-rules"),
    ("DELETE", "/admin/v1/tenants/{tenant}/role-rules/{rule_id}"),
    ("GET", "/admin/v1/tenants/{tenant}/users/{id}/roles"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

async fn document(app: &App) -> Value {
    // Served without a token.
    let r = app
        .call("", Method::GET, "/admin/v1/openapi.json", None)
        .await
        .expect(200);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/json",
        "{:?}",
        r.headers
    );
    r.body
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(*m).is_some() {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_operation_and_each_is_routed() {
    let app = App::sqlite().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    // The served document is the one the code generates.
    assert_eq!(doc, serde_json::to_value(scim_admin::openapi()).unwrap());
    let documented = operations(&doc);
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document and the list of operations differ"
    );
    let mut ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            ids.insert(op["operationId"].as_str().unwrap().to_string()),
            "duplicate operationId at {method} {path}"
        );
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        // A request to it reaches its handler: never the router's own 404 or 405 (a
        // tenant that does not exist gives the handler's `tenant_not_found`).
        let url = path
            .replace("{tenant}", "nobody")
            .replace("{token_id}", "0123456789abcdef")
            .replace("{id}", "0123456789abcdef")
            .replace("{rule_id}", "rr_0123456789abcdef");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = app.call(&app.admin_token, m, &url, None).await;
        assert_ne!(r.status, 405, "{method} {path} is not routed: {}", r.body);
        assert_ne!(
            r.body["error"]["code"], "not_found",
            "{method} {path} is not routed: {}",
            r.body
        );
        assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.body);
    }
    // And the router's own answers for what is not documented.
    app.call(&app.admin_token, Method::PUT, "/admin/v1/tenants", None)
        .await
        .expect_error(405, "method_not_allowed");
    app.admin_get("/tenants/acme/nothing")
        .await
        .expect_error(404, "not_found");
}

/// Validated by PyPI's openapi-spec-validator (scripts/openapi-validate.sh installs it in
/// target/openapi-venv). Without network access it is skipped, except in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_by_a_third_party_validator() {
    let app = App::sqlite().await;
    let doc = document(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/openapi-validate.sh"
    );
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(&file)
        .output()
        .expect("run scripts/openapi-validate.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert!(stdout.contains("valid OpenAPI 3.1.0"), "{stdout}"),
        Some(2) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: the OpenAPI validator could not be installed: {stderr}");
        }
        _ => panic!("the OpenAPI document is not valid:\n{stdout}\n{stderr}"),
    }
}
