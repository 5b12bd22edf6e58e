//! `scim role-rule add|list|remove` through the real binary: the rules it writes (through
//! the management layer the API uses, so audited, like `scim tenant` and `scim token`
//! writes) give roles to what a running server provisions, and bad rules are refused with
//! what is wrong, nothing written.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{GROUP_SCHEMA, Server, USER_SCHEMA, run, scim, token_in};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Runs a command that must fail; returns its standard error.
fn fails(args: &[&str]) -> String {
    let out = scim().args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        !out.status.success(),
        "scim {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_rules_from_the_cli_give_roles_to_what_is_provisioned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    run(&["migrate", "--data-dir", data]);
    run(&["tenant", "create", "acme", "--data-dir", data]);
    let token = token_in(&run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "idp",
        "--data-dir",
        data,
    ]))
    .unwrap();
    let admin = run(&["admin-token", "create", "--name", "app", "--data-dir", data])
        .split_whitespace()
        .find(|w| w.starts_with("scimadm_"))
        .unwrap()
        .to_string();

    let add = |extra: &[&str]| {
        let mut args = vec!["role-rule", "add", "--tenant", "acme", "--data-dir", data];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert!(
        add(&[
            "--role",
            "engineer",
            "--group-display-name",
            "eng-*",
            "--pattern"
        ])
        .contains("added role rule rr_")
    );
    let finance_filter = format!("{ENTERPRISE}:department eq \"Finance\"");
    add(&["--role", "finance", "--user-filter", &finance_filter]);
    add(&["--role", "member", "--default"]);

    // Bad rules: the message says what is wrong; nothing is written.
    let base = ["role-rule", "add", "--tenant", "acme", "--data-dir", data];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let err = fails(&with(
        &base,
        &["--role", "x", "--user-filter", "shoeSize eq \"9\""],
    ));
    assert!(err.contains("shoeSize"), "{err}");
    let err = fails(&with(
        &base,
        &["--role", "x", "--user-filter", "department eq"],
    ));
    assert!(err.contains("filter"), "{err}");
    let err = fails(&with(&base, &["--role", "x", "--default", "--pattern"]));
    assert!(err.contains("pattern"), "{err}");
    let err = fails(&with(&base, &["--role", "x"]));
    assert!(err.contains("--group-display-name"), "{err}");
    let err = fails(&[
        "role-rule",
        "add",
        "--tenant",
        "nobody",
        "--role",
        "x",
        "--default",
        "--data-dir",
        data,
    ]);
    assert!(err.contains("nobody"), "{err}");

    let list = run(&["role-rule", "list", "--tenant", "acme", "--data-dir", data]);
    let lines: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(list.contains("eng-* (pattern)"), "{list}");
    assert!(list.contains("user_filter"), "{list}");
    let finance_id = lines
        .iter()
        .find(|l| l.contains("finance"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();

    // A running server on the same data applies them to what an identity provider sends.
    let server = Server::start(&["--data-dir", data]);
    let http = reqwest::Client::new();
    let scim_post = |path: &str, body: Value| {
        http.post(format!("{}/scim/v2/acme{path}", server.url))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    let user: Value = scim_post(
        "/Users",
        json!({"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "ann",
            ENTERPRISE: {"department": "Finance"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let ann = user["id"].as_str().unwrap().to_string();
    let group = scim_post(
        "/Groups",
        json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng-Platform",
            "members": [{"value": ann}]}),
    )
    .await
    .unwrap();
    assert_eq!(group.status(), 201);
    let roles = || async {
        let r: Value = http
            .get(format!(
                "{}/admin/v1/tenants/acme/users/{ann}/roles",
                server.url
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["roles"].clone()
    };
    assert_eq!(roles().await, json!(["engineer", "finance", "member"]));

    // Removing a rule from the CLI while the server runs takes its role away at once.
    let removed = run(&[
        "role-rule",
        "remove",
        &finance_id,
        "--tenant",
        "acme",
        "--data-dir",
        data,
    ]);
    assert!(removed.contains("finance"), "{removed}");
    assert_eq!(roles().await, json!(["engineer", "member"]));

    // The CLI's changes are in the management audit log, under the local user.
    let audit: Value = http
        .get(format!("{}/admin/v1/audit", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("role_rule."))
        .map(|r| (r["action"].as_str().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(actions.len(), 4, "{audit}");
    assert!(
        actions.iter().all(|(_, actor)| actor.starts_with("cli:")),
        "{audit}"
    );
    assert_eq!(actions[3].0, "role_rule.remove");
    // `scim tenant create` and `scim token create` went through the same layer.
    let first: Vec<(&str, &str)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|r| (r["action"].as_str().unwrap(), r["tenant"].as_str().unwrap()))
        .collect();
    assert_eq!(first, [("tenant.create", "acme"), ("token.create", "acme")]);
}
