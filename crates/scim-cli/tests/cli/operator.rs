//! Issue 12 on the real binary: the operator's first hour. Administration that cannot act
//! on the wrong database, confirmations before erasing, errors that explain themselves,
//! restore that restores, and what the server says at start.

use std::process::{Output, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Client, GROUP_SCHEMA, Server, USER_SCHEMA, run, scim, test_database, token_in,
};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must fail; returns its output.
fn fails(args: &[&str]) -> Output {
    let out = scim().args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        !out.status.success(),
        "scim {args:?} succeeded: {}",
        text(&out.stdout)
    );
    out
}

fn line_value(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' in {out}"))
        .trim()
        .to_string()
}

#[test]
fn administration_never_creates_a_database_and_says_which_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    // Run from a directory without ./data, as an operator in the wrong directory would.
    let out = scim()
        .args(["tenant", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let expected = dir.path().join("data").join("scim.db");
    assert!(err.contains(&expected.display().to_string()), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
    assert!(
        !err.contains("Error: "),
        "a sentence, not a debug dump: {err}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
    for args in [
        vec!["token", "create", "--tenant", "default", "--name", "x"],
        vec!["admin-token", "list"],
        vec!["restore", "--tenant", "default", "--list"],
    ] {
        let out = scim().args(&args).current_dir(dir.path()).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created a database"
        );
    }
    // `migrate` (like `serve`) creates it; administration then names the file it acts on.
    let data = dir.path().join("data");
    run(&["migrate", "--data-dir", data.to_str().unwrap()]);
    let out = scim()
        .args(["tenant", "list", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("acting on sqlite://{}", expected.display())),
        "{err}"
    );
    assert!(
        text(&out.stdout).contains("no tenants"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_delete_says_what_it_erases_and_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    run(&["migrate", "--data-dir", d]);
    run(&["tenant", "create", "acme", "--data-dir", d]);
    let token = token_in(&run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "idp",
        "--data-dir",
        d,
    ]))
    .unwrap();
    let server = Server::start(&["--data-dir", d]);
    let client = Client::new(&token);
    let u1 = client
        .create_user(&server.url, "a@example.com")
        .await
        .expect(201)
        .id();
    client
        .create_user(&server.url, "b@example.com")
        .await
        .expect(201);
    let group =
        json!({"schemas": [GROUP_SCHEMA], "displayName": "Eng", "members": [{"value": u1}]});
    client
        .call(&server.url, Method::POST, "/Groups", Some(group), &[])
        .await
        .expect(201);
    // A revoked token is deleted too, and counted as such.
    let old = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "old",
        "--data-dir",
        d,
    ]);
    let old_id = old
        .lines()
        .find_map(|l| l.strip_prefix("token id: "))
        .unwrap()
        .trim()
        .to_string();
    run(&[
        "token",
        "revoke",
        "--tenant",
        "acme",
        &old_id,
        "--data-dir",
        d,
    ]);
    // Without --yes and without a terminal to ask on: nothing is deleted.
    let out = fails(&["tenant", "delete", "acme", "--data-dir", d]);
    let said = text(&out.stdout);
    assert!(said.contains("2 users, 1 group"), "{said}");
    assert!(said.contains("2 tokens (1 active)"), "{said}");
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    client.get(&server.url, "/Users").await.expect(200);
    // The change records counted before are those the delete reports.
    let records = |s: &str| -> String {
        let end = s.find(" change record").expect("change records counted");
        s[..end].rsplit(' ').next().unwrap().to_string()
    };
    let announced = records(&said);
    // With --yes it goes, and says what went: the same counts.
    let out = run(&["tenant", "delete", "acme", "--yes", "--data-dir", d]);
    assert!(
        out.contains("deleted tenant 'acme': 2 users, 1 group"),
        "{out}"
    );
    let deleted = out
        .lines()
        .find(|l| l.starts_with("deleted tenant"))
        .unwrap();
    assert!(deleted.contains("2 tokens (1 active)"), "{out}");
    assert_eq!(records(deleted), announced, "{said}\n{out}");
    assert!(!run(&["tenant", "list", "--data-dir", d]).contains("acme"));
    let out = fails(&["tenant", "delete", "acme", "--yes", "--data-dir", d]);
    assert!(
        text(&out.stderr).contains("There is no tenant named 'acme'"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_explain_themselves_in_the_log_and_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let server = Server::start(&["--data-dir", d]);
    run(&["tenant", "create", "acme", "--data-dir", d]);
    let created = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "idp",
        "--data-dir",
        d,
    ]);
    let token = token_in(&created).unwrap();
    let token_id = line_value(&created, "token id: ");
    let client = Client::new(&token);
    client
        .create_user(&server.url, "secret.person@example.com")
        .await
        .expect(201);
    client
        .create_user(&server.url, "secret.person@example.com")
        .await
        .expect(409);
    let bad = json!({"schemas": [USER_SCHEMA], "userName": "x@example.com", "active": "maybe"});
    client
        .call(&server.url, Method::POST, "/Users", Some(bad), &[])
        .await
        .expect(400);
    // The log says why (scimType, detail), never the values sent. (Lines are written by
    // a background thread: wait for both.)
    let mut log = String::new();
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        log = server.output.lock().unwrap().clone();
        lines = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["status"].as_u64().is_some_and(|s| s >= 400))
            .collect();
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let conflict = lines
        .iter()
        .find(|v| v["fields"]["status"] == 409)
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(conflict["fields"]["scim_type"], "uniqueness", "{conflict}");
    let detail = conflict["fields"]["detail"].as_str().unwrap();
    assert!(detail.contains("userName '…'"), "{detail}");
    let invalid = lines.iter().find(|v| v["fields"]["status"] == 400).unwrap();
    assert_eq!(invalid["fields"]["scim_type"], "invalidValue", "{invalid}");
    assert!(
        invalid["fields"]["detail"]
            .as_str()
            .unwrap()
            .contains("'active'"),
        "{invalid}"
    );
    assert!(!log.contains("secret.person"), "a value in the log: {log}");
    assert!(!log.contains(&token), "a token in the log");
    // Malformed JSON: the position once.
    let r = reqwest::Client::new()
        .post(format!("{}/scim/v2/acme/Users", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": }")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("(line 1, column 14)"), "{detail}");
    assert!(
        !detail.contains(" at line "),
        "position said twice: {detail}"
    );
    // A trailing slash is the same path; a tenant name in another case is the same tenant.
    client.get(&server.url, "/Users/").await.expect(200);
    client
        .get(&server.url, "/ServiceProviderConfig/")
        .await
        .expect(200);
    let r = reqwest::Client::new()
        .get(format!("{}/scim/v2/ACME/Users?count=1", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A name that differs only by case is refused, in a sentence.
    let out = fails(&["tenant", "create", "Acme", "--data-dir", d]);
    let err = text(&out.stderr);
    assert!(err.contains("case-insensitive"), "{err}");
    assert!(!err.contains("409") && !err.contains("uniqueness"), "{err}");
    assert!(err.contains("error: Tenant 'acme' already exists"), "{err}");
    // Token messages: last use, revocation, a second revocation, an unknown id.
    let list = run(&["token", "list", "--tenant", "ACME", "--data-dir", d]);
    assert!(list.contains("LAST USED"), "{list}");
    let out = run(&[
        "token",
        "revoke",
        "--tenant",
        "acme",
        &token_id,
        "--data-dir",
        d,
    ]);
    assert!(
        out.contains("revoked token") && out.contains("'idp'"),
        "{out}"
    );
    let out = run(&[
        "token",
        "revoke",
        "--tenant",
        "acme",
        &token_id,
        "--data-dir",
        d,
    ]);
    assert!(out.contains("already revoked at"), "{out}");
    let out = fails(&[
        "token",
        "revoke",
        "--tenant",
        "acme",
        "nope",
        "--data-dir",
        d,
    ]);
    assert!(
        text(&out.stderr).contains("has no token with id 'nope'"),
        "{}",
        text(&out.stderr)
    );
    // A past expiry is refused.
    let out = fails(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "late",
        "--expires",
        "2001-01-01T00:00:00Z",
        "--data-dir",
        d,
    ]);
    assert!(
        text(&out.stderr).contains("in the past"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn serve_refuses_an_unknown_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = fails(&[
        "serve",
        "--log-format",
        "xml",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("d").to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(
        err.contains("'text' or 'json'") && err.contains("xml"),
        "{err}"
    );
}

#[test]
fn serve_on_every_interface_advertises_a_usable_url_and_a_restart_says_how_to_get_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let mut c = scim();
    c.args([
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--log-format",
        "json",
        "--data-dir",
        d,
    ]);
    let server = Server::spawn_command(c).ready();
    let output = server.output.lock().unwrap().clone();
    assert!(output.contains("without --public-url"), "{output}");
    let base = line_value(&output, "  SCIM base URL: ");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!output.contains("http://0.0.0.0"), "{output}");
    drop(server);
    // A second start shows no token, but says how to get one.
    let server = Server::start(&["--data-dir", d]);
    let output = server.output.lock().unwrap().clone();
    assert!(token_in(&output).is_none());
    assert!(
        output.contains(&format!(
            "scim token create --tenant default --name <idp> --data-dir {d}"
        )),
        "{output}"
    );
}

#[test]
fn help_texts_describe_every_argument_and_only_relevant_flags() {
    let commands: &[&[&str]] = &[
        &["tenant", "create"],
        &["tenant", "update"],
        &["tenant", "list"],
        &["tenant", "delete"],
        &["token", "create"],
        &["token", "rotate"],
        &["token", "list"],
        &["token", "revoke"],
        &["admin-token", "create"],
        &["admin-token", "list"],
        &["admin-token", "revoke"],
        &["restore"],
    ];
    for cmd in commands {
        let help = run(&[cmd, &["--help"][..]].concat());
        // Server-only settings do nothing for administration.
        for irrelevant in [
            "--database-max-connections",
            "--database-statement-timeout",
            "--database-acquire-timeout",
            "--listen",
        ] {
            assert!(
                !help.contains(irrelevant),
                "{cmd:?} lists {irrelevant}:\n{help}"
            );
        }
        // Every argument and flag has a description (clap prints it on the same line
        // or, when long, on the next one).
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_item = t.starts_with('<') || t.starts_with("--") || t.starts_with("-");
            if !is_item || !line.starts_with("  ") {
                continue;
            }
            let described_here = t.contains("  ");
            let described_below = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(
                described_here || described_below,
                "{cmd:?}: '{t}' has no description:\n{help}"
            );
        }
    }
    let delete = run(&["tenant", "delete", "--help"]);
    assert!(delete.contains("--yes"), "{delete}");
}

/// Restore brings a user back into the groups it was removed from, and a group back with
/// its members; `restore --list` finds the ids. On SQLite, and on PostgreSQL when present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_restores_memberships() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    restore_on(&["--data-dir", data.to_str().unwrap()]).await;
    if let Some(db) = test_database("restore_restores_memberships").await {
        restore_on(&["--database-url", &db.url]).await;
    }
}

async fn restore_on(store: &[&str]) {
    let with = |args: &[&str]| run(&[args, store].concat());
    with(&["migrate"]);
    with(&["tenant", "create", "acme", "--delete-mode", "soft"]);
    let token = token_in(&with(&[
        "token", "create", "--tenant", "acme", "--name", "idp",
    ]))
    .unwrap();
    let server = Server::start(store);
    let (c, url) = (Client::new(&token), server.url.clone());
    let user = c
        .create_user(&url, "leaver@example.com")
        .await
        .expect(201)
        .id();
    let other = c
        .create_user(&url, "stayer@example.com")
        .await
        .expect(201)
        .id();
    let mut groups = Vec::new();
    for name in ["Eng", "All"] {
        let g = json!({"schemas": [GROUP_SCHEMA], "displayName": name,
                       "members": [{"value": user}, {"value": other}]});
        groups.push(
            c.call(&url, Method::POST, "/Groups", Some(g), &[])
                .await
                .expect(201)
                .id(),
        );
    }
    c.call(&url, Method::DELETE, &format!("/Users/{user}"), None, &[])
        .await
        .expect(204);
    let members = |body: &Value| -> Vec<String> {
        body["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let g0 = c
        .get(&url, &format!("/Groups/{}", groups[0]))
        .await
        .expect(200);
    assert_eq!(members(&g0.body), vec![other.clone()]);
    let listed = with(&["restore", "--tenant", "acme", "--list"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&user))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        row.contains("User") && row.contains("leaver@example.com"),
        "{row}"
    );
    assert!(row.trim_end().ends_with(" 2"), "two groups: {row}");
    let out = with(&["restore", "--tenant", "acme", &user]);
    assert!(
        out.contains("member again of: ") && out.contains("Eng") && out.contains("All"),
        "{out}"
    );
    for g in &groups {
        let body = c.get(&url, &format!("/Groups/{g}")).await.expect(200).body;
        let mut m = members(&body);
        m.sort();
        let mut want = vec![user.clone(), other.clone()];
        want.sort();
        assert_eq!(m, want, "{body}");
    }
    let u = c
        .get(&url, &format!("/Users/{user}"))
        .await
        .expect(200)
        .body;
    assert_eq!(u["groups"].as_array().map(Vec::len), Some(2), "{u}");
    // A group comes back with its members.
    c.call(
        &url,
        Method::DELETE,
        &format!("/Groups/{}", groups[1]),
        None,
        &[],
    )
    .await
    .expect(204);
    with(&["restore", "--tenant", "acme", &groups[1]]);
    let body = c
        .get(&url, &format!("/Groups/{}", groups[1]))
        .await
        .expect(200)
        .body;
    assert_eq!(members(&body).len(), 2, "{body}");
    // Nothing left to restore.
    assert!(with(&["restore", "--tenant", "acme", "--list"]).contains("no soft-deleted"));
}

/// On a terminal, `tenant delete` asks for the tenant's name and deletes only when it is
/// typed exactly (run under `script`, which gives the command a pseudo-terminal).
#[test]
fn tenant_delete_on_a_terminal_asks_for_the_name() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`script` (util-linux) is needed in CI"
        );
        eprintln!("SKIPPED: `script` (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    run(&["migrate", "--data-dir", d]);
    run(&["tenant", "create", "acme", "--data-dir", d]);
    let on_terminal = |typed: &str| -> String {
        use std::io::Write;
        let command = format!(
            "{} tenant delete acme --data-dir {d}",
            env!("CARGO_BIN_EXE_scim")
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("SCIM_DATABASE_URL")
            .env_remove("SCIM_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{typed}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        text(&out.stdout) + &text(&out.stderr)
    };
    let out = on_terminal("acm");
    assert!(out.contains("Type the tenant's name"), "{out}");
    assert!(out.contains("was not deleted"), "{out}");
    assert!(run(&["tenant", "list", "--data-dir", d]).contains("acme"));
    let out = on_terminal("acme");
    assert!(out.contains("deleted tenant 'acme'"), "{out}");
    assert!(!run(&["tenant", "list", "--data-dir", d]).contains("acme"));
}
