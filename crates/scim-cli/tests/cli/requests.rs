//! `scim requests`, `scim retention` and `/admin/v1/tenants/{t}/requests` through the real
//! binary: a PATCH the server refuses (as Entra ID sends it) is in the request log with its
//! scimType, detail and body (password redacted); retention trims the log to its policy.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Client, Server, run, scim, tenant_and_token};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `scim requests` until its output contains `what` (the log is written off the request's
/// path, within moments).
fn requests_until(args: &[&str], what: &str) -> String {
    let mut out = String::new();
    for _ in 0..100 {
        out = run(args);
        if out.contains(what) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no '{what}' in the request log: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_patch_is_in_the_request_log_and_retention_trims_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scim.db").display());
    let token = tenant_and_token(&url);
    let created = run(&[
        "admin-token",
        "create",
        "--name",
        "support",
        "--database-url",
        &url,
    ]);
    let admin = created
        .split_whitespace()
        .find(|w| w.starts_with("scimadm_"))
        .expect("admin token printed")
        .to_string();
    let server = Server::start(&["--database-url", &url]);
    let c = Client::new(&token);
    let id = c
        .create_user(&server.url, "alice@example.com")
        .await
        .expect(201)
        .id();
    let refused = c
        .call(
            &server.url,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "password", "value": "Pa55-word!"},
                {"op": "Replace", "path": "active", "value": "Maybe"}]})),
            &[
                ("user-agent", "Azure-AD-SCIM-Service/1.0"),
                ("x-request-id", "ticket-42"),
            ],
        )
        .await;
    assert_eq!(refused.status.as_u16(), 400);
    let scim_type = refused.body["scimType"].as_str().unwrap().to_string();

    let base = ["requests", "--tenant", "acme", "--database-url", &url];
    let failed = requests_until(
        &[&base[..], &["--failed", "--bodies"]].concat(),
        "ticket-42",
    );
    assert!(
        failed.contains("PATCH") && failed.contains(" 400 "),
        "{failed}"
    );
    assert!(failed.contains(&scim_type), "{failed}");
    assert!(failed.contains("Azure-AD-SCIM-Service/1.0"), "{failed}");
    assert!(
        failed.contains("[redacted]") && !failed.contains("Pa55-word!"),
        "{failed}"
    );
    assert!(!failed.contains(" 201 "), "only failed requests: {failed}");
    let json_lines = run(&[&base[..], &["--json", "--status", "201"]].concat());
    let first: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["method"], "POST");
    assert_eq!(first["tokenName"], "idp");
    let out = scim()
        .args([&base[..], &["--since", "yesterday"]].concat())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));

    // The management API reads the same log.
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!(
            "{}/admin/v1/tenants/acme/requests?failed=true",
            server.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = page["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0]["scimType"], scim_type.as_str());
    assert_eq!(entries[0]["requestId"], "ticket-42");
    let bad = http
        .get(format!(
            "{}/admin/v1/tenants/acme/requests?since=soon",
            server.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // Retention: keep one entry, applied now.
    let set = run(&[
        "retention",
        "set",
        "--tenant",
        "acme",
        "--requests-max",
        "1",
        "--redact-days",
        "90",
        "--database-url",
        &url,
    ]);
    assert!(
        set.contains("at most 1 entries") && set.contains("90 days"),
        "{set}"
    );
    let shown = run(&[
        "retention",
        "show",
        "--tenant",
        "acme",
        "--database-url",
        &url,
    ]);
    assert!(shown.contains("forever"), "{shown}");
    let report = run(&["retention", "run", "--database-url", &url]);
    assert!(
        report.contains("acme:") && report.contains("request log entries trimmed"),
        "{report}"
    );
    let left = run(&base);
    assert_eq!(left.lines().count(), 1, "{left}");
    let policy: Value = http
        .get(format!("{}/admin/v1/tenants/acme/retention", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policy["policy"]["requestsMax"], 1);
    assert_eq!(policy["policy"]["redactDays"], 90);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_retention_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scim.db").display());
    let token = tenant_and_token(&url);
    run(&[
        "retention",
        "set",
        "--tenant",
        "acme",
        "--requests-max",
        "2",
        "--database-url",
        &url,
    ]);
    let server = Server::start(&["--database-url", &url, "--retention-interval", "1"]);
    let c = Client::new(&token);
    for i in 0..6 {
        c.create_user(&server.url, &format!("u{i}@example.com"))
            .await
            .expect(201);
    }
    let base = [
        "requests",
        "--tenant",
        "acme",
        "--json",
        "--database-url",
        &url,
    ];
    // All six are logged (ids 1 to 6 in a fresh database), then the job (every second)
    // trims the log to the newest two.
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids = run(&base)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        if ids == [5, 6] {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ids, [5, 6], "trimmed by the server's retention job");
}
