//! Issue 11 on the real binary: tenant settings and the token lifecycle commands, the
//! open-file limit, owner-only data files.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{Client, Server, USER_SCHEMA, eventually, run, scim, token_in};

fn line_value(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' in {out}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings_and_token_lifecycle_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    run(&["migrate", "--data-dir", d]);
    run(&[
        "tenant",
        "create",
        "acme",
        "--rate-limit",
        "5/s",
        "--burst",
        "7",
        "--data-dir",
        d,
    ]);
    let list = run(&["tenant", "list", "--data-dir", d]);
    assert!(list.contains("5/s") && list.contains(" 7 "), "{list}");
    let out = run(&[
        "tenant",
        "update",
        "acme",
        "--delete-mode",
        "soft",
        "--retention-days",
        "3",
        "--rate-limit",
        "default",
        "--data-dir",
        d,
    ]);
    assert!(
        out.contains("delete mode soft") && out.contains("rate default"),
        "{out}"
    );
    // A past expiry is refused with a clear message.
    let past = scim()
        .args([
            "token",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--expires",
        ])
        .args(["2020-01-01T00:00:00Z", "--data-dir", d])
        .output()
        .unwrap();
    assert!(!past.status.success());
    assert!(
        String::from_utf8_lossy(&past.stderr).contains("in the past"),
        "{}",
        String::from_utf8_lossy(&past.stderr)
    );
    let created = run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "auditor",
        "--scope",
        "read",
        "--data-dir",
        d,
    ]);
    assert!(created.contains("scope: read"), "{created}");
    let reader = token_in(&created).unwrap();
    let reader_id = line_value(&created, "token id: ");
    let writer = token_in(&run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "okta",
        "--data-dir",
        d,
    ]))
    .unwrap();
    let server = Server::start(&["--data-dir", d]);
    let base = server.url.clone();
    let user = json!({"schemas": [USER_SCHEMA], "userName": "cli@example.com"});
    Client::new(&reader)
        .call(&base, Method::GET, "/Users", None, &[])
        .await
        .expect(200);
    Client::new(&reader)
        .call(&base, Method::POST, "/Users", Some(user.clone()), &[])
        .await
        .expect(403);
    Client::new(&writer)
        .call(&base, Method::POST, "/Users", Some(user), &[])
        .await
        .expect(201);
    // Rotation with no overlap: the new token works at once; the old one stops within the
    // stated bound for another process (5 s).
    let rotated = run(&[
        "token",
        "rotate",
        "--tenant",
        "acme",
        &reader_id,
        "--overlap",
        "0",
        "--data-dir",
        d,
    ]);
    assert!(rotated.contains("revoked"), "{rotated}");
    let fresh = token_in(&rotated).unwrap();
    Client::new(&fresh)
        .call(&base, Method::GET, "/Users", None, &[])
        .await
        .expect(200);
    eventually(
        "the rotated token stops working",
        Duration::from_secs(8),
        || {
            let (base, reader) = (base.clone(), reader.clone());
            async move {
                Client::new(&reader)
                    .call(&base, Method::GET, "/Users", None, &[])
                    .await
                    .status
                    .as_u16()
                    == 401
            }
        },
    )
    .await;
    // Last use is shown (recorded off the request path, once a minute per token).
    eventually("last use is listed", Duration::from_secs(8), || {
        let d = d.to_string();
        async move {
            let list = run(&["token", "list", "--tenant", "acme", "--data-dir", &d]);
            // Shown to the minute (`2026-12-03T12:07Z`), as it is recorded.
            list.lines().any(|l| {
                l.contains("okta")
                    && l.split_whitespace()
                        .any(|w| w.len() == 17 && w.ends_with('Z') && w.as_bytes()[13] == b':')
            })
        }
    })
    .await;
}

/// The server raises its soft open-file limit (here started at 512) to the hard limit, and
/// creates its data directory 0700 and its files 0600 under a umask of 000.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_the_open_file_limit_and_keeps_data_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let server = Server::start_after_shell(
        "ulimit -S -n 512; umask 000",
        &["--data-dir", data.to_str().unwrap()],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "{line}");
    assert_ne!(soft, "512", "{line}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("scim.db")), 0o600);
    assert!(server.output.lock().unwrap().contains("open_file_limit"));
}
