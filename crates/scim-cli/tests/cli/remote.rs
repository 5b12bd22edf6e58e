//! `scim tenant …` and `scim token …` with `--server`: the commands act on a running server
//! through its management API, and their effects are seen through SCIM.

use std::process::Output;

use crate::support::{Client, Server, run, scim, token_in};

fn admin_token_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("scimadm_"))
        .expect("an admin token is printed")
        .to_string()
}

/// `scim ARGS --server URL` with the admin token in `SCIM_ADMIN_TOKEN`.
fn remote(server: &str, admin: &str, args: &[&str]) -> Output {
    scim()
        .args(args)
        .args(["--server", server])
        .env("SCIM_ADMIN_TOKEN", admin)
        .output()
        .expect("run scim")
}

/// Like [`remote`], and it must succeed: its standard output.
fn remote_ok(server: &str, admin: &str, args: &[&str]) -> String {
    let out = remote(server, admin, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "scim {args:?} failed: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("scim: acting on {server} (management API)")),
        "{stderr}"
    );
    stdout
}

/// The token id in `token id: ID` / `new token id: ID (…)`.
fn id_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no '{label}' in {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_tokens_are_managed_through_the_management_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    run(&["migrate", "--data-dir", data]);
    let admin = admin_token_in(&run(&[
        "admin-token",
        "create",
        "--name",
        "ops",
        "--data-dir",
        data,
    ]));
    let server = Server::start(&["--data-dir", data]);
    let url = server.url.clone();
    let url = url.as_str();

    let created = remote_ok(url, &admin, &["tenant", "create", "acme"]);
    assert!(created.contains("created tenant 'acme'"), "{created}");
    assert!(created.contains("/scim/v2/acme"), "{created}");
    let list = remote_ok(url, &admin, &["tenant", "list"]);
    assert!(list.contains("acme") && list.contains("default"), "{list}");
    let updated = remote_ok(
        url,
        &admin,
        &["tenant", "update", "acme", "--retention-days", "7"],
    );
    assert!(updated.contains("retention 7d"), "{updated}");
    assert!(remote_ok(url, &admin, &["tenant", "list"]).contains("7d"));
    // JWT mode: one flag later changes only its part of the current settings.
    let jwt = remote_ok(
        url,
        &admin,
        &[
            "tenant",
            "update",
            "acme",
            "--jwt-issuer",
            "https://idp.example.com",
            "--jwt-audience",
            "scim",
            "--jwt-jwks-url",
            "https://idp.example.com/jwks",
            "--jwt-tenant-claim",
            "tid",
        ],
    );
    assert!(jwt.contains("JWT mode on"), "{jwt}");
    let jwt = remote_ok(
        url,
        &admin,
        &["tenant", "update", "acme", "--jwt-audience", "other"],
    );
    assert!(
        jwt.contains("JWT mode on") && jwt.contains("retention 7d"),
        "{jwt}"
    );
    let jwt = remote_ok(url, &admin, &["tenant", "update", "acme", "--no-jwt"]);
    assert!(jwt.contains("JWT mode off"), "{jwt}");

    // A token made remotely works for SCIM.
    let made = remote_ok(
        url,
        &admin,
        &["token", "create", "--tenant", "acme", "--name", "okta"],
    );
    let first = token_in(&made).expect("token printed");
    let first_id = id_after(&made, "token id: ");
    Client::new(&first)
        .create_user(url, "ann@example.com")
        .await
        .expect(201);

    // Rotated without overlap: the new one works, the old one is refused.
    let rotated = remote_ok(
        url,
        &admin,
        &[
            "token",
            "rotate",
            "--tenant",
            "acme",
            &first_id,
            "--overlap",
            "0",
        ],
    );
    let second = token_in(&rotated).expect("new token printed");
    let second_id = id_after(&rotated, "new token id: ");
    assert!(
        rotated.contains(&format!("old token {first_id} revoked at")),
        "{rotated}"
    );
    Client::new(&second).get(url, "/Users").await.expect(200);
    Client::new(&first).get(url, "/Users").await.expect(401);

    let revoked = remote_ok(
        url,
        &admin,
        &["token", "revoke", "--tenant", "acme", &second_id],
    );
    assert!(
        revoked.contains(&format!("revoked token {second_id}")),
        "{revoked}"
    );
    Client::new(&second).get(url, "/Users").await.expect(401);
    let tokens = remote_ok(url, &admin, &["token", "list", "--tenant", "acme"]);
    assert!(
        tokens.contains(&first_id) && tokens.contains(&second_id) && tokens.contains("okta"),
        "{tokens}"
    );
    assert!(!tokens.contains(&second), "secrets are never listed");

    // An API error is one sentence naming what is wrong.
    let out = remote(
        url,
        &admin,
        &["tenant", "update", "acme", "--retention-days", "99999"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retention"), "{err}");

    let deleted = remote_ok(url, &admin, &["tenant", "delete", "acme", "--yes"]);
    assert!(
        deleted.contains("tenant 'acme' holds 1 user, 0 groups, 2 tokens (0 active)"),
        "{deleted}"
    );
    assert!(
        deleted.contains("2 tokens (0 active)") && deleted.matches("2 tokens").count() == 2,
        "the confirmation and the answer count the same: {deleted}"
    );
    assert!(
        deleted.contains("deleted tenant 'acme': 1 user"),
        "{deleted}"
    );
    Client::new(&second).get(url, "/Users").await.expect(401);
    assert!(!remote_ok(url, &admin, &["tenant", "list"]).contains("acme"));

    // Without --yes and without a terminal, nothing is deleted.
    let out = remote(url, &admin, &["tenant", "delete", "default"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(remote_ok(url, &admin, &["tenant", "list"]).contains("default"));

    // A wrong admin token is refused in words, with exit code 1.
    let out = remote(url, "scimadm_wrong", &["tenant", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the admin token"), "{err}");
    assert!(out.stdout.is_empty());

    // The server and the admin token from the config file.
    let config = dir.path().join("remote.toml");
    std::fs::write(
        &config,
        format!("server = \"{url}\"\nadmin_token = \"{admin}\"\n"),
    )
    .unwrap();
    let out = scim()
        .args(["tenant", "list", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("default"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("(management API)"));

    // --server with --data-dir is refused.
    let out = remote(url, &admin, &["tenant", "list", "--data-dir", data]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not both"), "{err}");

    // A server that is down: the error names its URL.
    drop(server);
    let out = remote(url, &admin, &["tenant", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("Cannot reach the scim server at {url}")),
        "{err}"
    );
}
