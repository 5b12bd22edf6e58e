//! The OpenAPI document: generated from the code, valid OpenAPI 3.1 by a third-party
//! validator, and in agreement with the router (every documented operation is routed, and
//! every operation of the API is documented).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::App;

/// Every operation of the management API. Adding an endpoint means adding it here too.
pub(crate) const OPERATIONS: &[(&str, &str)] = &[
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
    ("GET", "/admin/v1/tenants/{tenant}/requests"),
    ("GET", "/admin/v1/tenants/{tenant}/retention"),
    ("GET", "/admin/v1/tenants/{tenant}/role-rules"),
    ("POST", "/admin/v1/tenants/{tenant}/role-rules"),
    ("DELETE", "/admin/v1/tenants/{tenant}/role-rules/{rule_id}"),
    ("GET", "/admin/v1/tenants/{tenant}/users/{id}/roles"),
    ("GET", "/admin/v1/tenants/{tenant}/webhooks"),
    ("POST", "/admin/v1/tenants/{tenant}/webhooks"),
    ("GET", "/admin/v1/tenants/{tenant}/webhooks/{id}"),
    ("PATCH", "/admin/v1/tenants/{tenant}/webhooks/{id}"),
    ("DELETE", "/admin/v1/tenants/{tenant}/webhooks/{id}"),
    ("POST", "/admin/v1/tenants/{tenant}/webhooks/{id}/pause"),
    ("POST", "/admin/v1/tenants/{tenant}/webhooks/{id}/resume"),
    ("POST", "/admin/v1/tenants/{tenant}/webhooks/{id}/replay"),
    (
        "POST",
        "/admin/v1/tenants/{tenant}/webhooks/{id}/rotate-secret",
    ),
    ("GET", "/admin/v1/tenants/{tenant}/webhooks/{id}/attempts"),
    ("GET", "/admin/v1/tenants/{tenant}/nats"),
    ("POST", "/admin/v1/tenants/{tenant}/nats"),
    ("GET", "/admin/v1/tenants/{tenant}/nats/{id}"),
    ("PATCH", "/admin/v1/tenants/{tenant}/nats/{id}"),
    ("DELETE", "/admin/v1/tenants/{tenant}/nats/{id}"),
    ("POST", "/admin/v1/tenants/{tenant}/nats/{id}/pause"),
    ("POST", "/admin/v1/tenants/{tenant}/nats/{id}/resume"),
    ("POST", "/admin/v1/tenants/{tenant}/nats/{id}/replay"),
    ("GET", "/admin/v1/tenants/{tenant}/nats/{id}/attempts"),
    ("GET", "/admin/v1/tenants/{tenant}/audit/resources/{id}"),
    (
        "GET",
        "/admin/v1/tenants/{tenant}/audit/resources/{id}/history",
    ),
    (
        "GET",
        "/admin/v1/tenants/{tenant}/audit/groups/{id}/members",
    ),
    ("GET", "/admin/v1/tenants/{tenant}/audit/users/active"),
    (
        "GET",
        "/admin/v1/tenants/{tenant}/audit/users/active-changes",
    ),
    ("GET", "/admin/v1/tenants/{tenant}/audit/changes"),
    ("GET", "/admin/v1/tenants/{tenant}/audit/diff"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// A concrete URL for a documented path.
pub(crate) fn concrete(path: &str) -> String {
    path.replace("{tenant}", "nobody")
        .replace("{token_id}", "0123456789abcdef")
        .replace("{id}", "0123456789abcdef")
        .replace("{rule_id}", "rr_0123456789abcdef")
}

/// Whether a concrete path is an instance of a documented path template.
fn instance_of(url: &str, template: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (url.split('/').collect(), template.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, t)| x == t || (t.starts_with('{') && t.ends_with('}')))
}

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
        let url = concrete(path);
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
    // Nothing else is routed: on every documented path, the methods not documented are
    // the router's 405; one segment more (or less) than a documented path, unless that is
    // documented too, is the router's 404.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in &paths {
        let url = concrete(path);
        for m in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if documented.contains(&(m.to_string(), path.to_string())) {
                continue;
            }
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            app.call(&app.admin_token, method, &url, None)
                .await
                .expect_error(405, "method_not_allowed");
        }
        let parent = url.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap();
        for probe in [
            format!("{url}/x"),
            format!("{url}/0123456789abcdef"),
            parent,
        ] {
            if probe.len() <= "/admin/v1".len() || paths.iter().any(|p| instance_of(&probe, p)) {
                continue;
            }
            for m in [Method::GET, Method::POST] {
                app.call(&app.admin_token, m, &probe, None)
                    .await
                    .expect_error(404, "not_found");
            }
        }
    }
    app.admin_get("/tenants/acme/nothing")
        .await
        .expect_error(404, "not_found");
}

/// Routes can only be added through `utoipa-axum` (`api_routes`): the crate's code has no
/// plain axum routing that would answer requests without being documented.
#[test]
fn every_route_is_registered_through_the_documented_router() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files = vec![std::path::PathBuf::from(src)];
    let mut offending = Vec::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let plain = [".route(", ".merge(", "axum::routing", ".route_service("]
                .iter()
                .any(|n| code.contains(n));
            // `nest` only mounts the documented router under /admin/v1.
            let nest = code.contains(".nest(") && !code.contains(".nest(\"/admin/v1\"");
            if plain || nest {
                offending.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "routes outside api_routes() would be missing from the OpenAPI document:\n{}",
        offending.join("\n")
    );
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
