//! The client side through the real binary: `scim sync` killed (SIGKILL) mid-run and run
//! again finishes without duplicates; `--dry-run --plan-json`; the delete guard's refusal;
//! `scim check` against the real server (all pass, exit 0, JUnit written) and against the
//! scim2-server peer when installed (real findings, exit 1).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::{Client, Server, run, scim, token_in};

fn setup() -> (tempfile::TempDir, Server, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    // Administration never creates a database: `migrate` does.
    run(&["migrate", "--data-dir", d]);
    run(&["tenant", "create", "acme", "--data-dir", d]);
    let token = token_in(&run(&[
        "token",
        "create",
        "--tenant",
        "acme",
        "--name",
        "sync",
        "--data-dir",
        d,
    ]))
    .unwrap();
    let server = Server::start(&["--data-dir", d]);
    let base = format!("{}/scim/v2/acme", server.url);
    (dir, server, base, token)
}

fn write_source(dir: &std::path::Path, n: usize) -> (String, String) {
    let mut users = String::from("externalId,userName,name.givenName,name.familyName,active\n");
    for i in 0..n {
        users.push_str(&format!(
            "e{i},user{i}@example.com,Given{i},Family{i},true\n"
        ));
    }
    let mut groups = String::from("displayName,members\n");
    for g in 0..3 {
        let members: Vec<String> = (0..n)
            .filter(|i| i % 3 == g)
            .map(|i| format!("e{i}"))
            .collect();
        groups.push_str(&format!("Group {g},{}\n", members.join(";")));
    }
    let (u, gp) = (dir.join("users.csv"), dir.join("groups.csv"));
    std::fs::write(&u, users).unwrap();
    std::fs::write(&gp, groups).unwrap();
    (u.to_str().unwrap().into(), gp.to_str().unwrap().into())
}

/// Users by externalId (panics on a duplicate) and group members by externalId.
async fn target_state(
    server: &str,
    token: &str,
) -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let c = Client::new(token);
    let mut users = BTreeSet::new();
    let mut ids = BTreeMap::new();
    let mut start = 1;
    loop {
        let r = c
            .call(
                server,
                Method::GET,
                &format!("/Users?startIndex={start}&count=200"),
                None,
                &[],
            )
            .await
            .expect(200);
        let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
        for u in &page {
            let key = u["externalId"].as_str().unwrap().to_string();
            ids.insert(u["id"].as_str().unwrap().to_string(), key.clone());
            assert!(users.insert(key.clone()), "duplicate user {key}");
        }
        if page.is_empty() {
            break;
        }
        start += page.len();
    }
    let r = c
        .call(server, Method::GET, "/Groups?count=100", None, &[])
        .await
        .expect(200);
    let mut groups = BTreeMap::new();
    for g in r.body["Resources"].as_array().cloned().unwrap_or_default() {
        let members = g["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| ids[m["value"].as_str().unwrap()].clone())
            .collect();
        assert!(
            groups
                .insert(g["displayName"].as_str().unwrap().to_string(), members)
                .is_none(),
            "duplicate group"
        );
    }
    (users, groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_mid_run_and_resumed() {
    let (dir, server, base, token) = setup();
    let url = server.url.clone();
    let n = 240;
    let (users, groups) = write_source(dir.path(), n);
    let state = dir.path().join("sync.state");
    // The plan workspaces go here (the system's temporary directory, by TMPDIR).
    let tmp = dir.path().join("tmp").tap_mkdir();
    let workspaces = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("scim-sync-plan-")
            })
            .count()
    };
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "sync",
            "--to",
            &base,
            "--users",
            &users,
            "--groups",
            &groups,
            "--state",
            state.to_str().unwrap(),
            "--rate",
            "100/s",
            "--concurrency",
            "2",
            "--no-bulk",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // Killed twice, at different points, with SIGKILL: no chance to clean up.
    for delay in [700, 1300] {
        let log = std::fs::File::create(dir.path().join(format!("run-{delay}.log"))).unwrap();
        let mut child = scim()
            .args(args(&[]))
            .env("SCIM_TOKEN", &token)
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let finished = child.try_wait().unwrap();
        let _ = child.kill();
        child.wait().unwrap();
        let log = std::fs::read_to_string(dir.path().join(format!("run-{delay}.log"))).unwrap();
        assert!(
            finished.is_none(),
            "the run ended ({finished:?}) before it could be killed: {log}"
        );
        let (have, _) = target_state(&url, &token).await;
        assert!(
            have.len() < n,
            "killed before the end: {} users",
            have.len()
        );
    }
    assert!(state.exists(), "the state file survives a kill");
    // The second run removed the first's workspace; the second's is left by its kill.
    assert_eq!(workspaces(), 1, "a killed run leaves its workspace");
    let out = scim()
        .args(args(&[]))
        .env("SCIM_TOKEN", &token)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Done in"), "{stdout}");
    assert!(!state.exists(), "a completed run removes the state file");
    assert_eq!(
        workspaces(),
        0,
        "a run removes its workspace, and those of killed runs"
    );
    let (have, groups_now) = target_state(&url, &token).await;
    assert_eq!(have.len(), n);
    assert_eq!(groups_now.len(), 3);
    assert_eq!(
        groups_now["Group 1"],
        (0..n)
            .filter(|i| i % 3 == 1)
            .map(|i| format!("e{i}"))
            .collect()
    );
    // Unchanged source: the plan is empty and nothing is sent.
    let out = scim()
        .args(args(&["--dry-run", "--plan-json"]))
        .env("SCIM_TOKEN", &token)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(workspaces(), 0);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "creates",
        "updates",
        "deactivations",
        "deletes",
        "group_creates",
        "memberships",
    ] {
        assert_eq!(plan[k], Value::Array(vec![]), "{k}: {plan}");
    }
    // The delete guard: a source that lost most rows is refused, with the way out.
    let (users_few, _) = write_source(&dir.path().join("few").tap_mkdir(), 20);
    let out = scim()
        .args(["sync", "--to", &base, "--users", &users_few])
        .env("SCIM_TOKEN", &token)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("refused") && err.contains("--allow-deletes 220"),
        "{err}"
    );
    assert_eq!(target_state(&url, &token).await.0.len(), n);
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_against_scim_and_writes_junit() {
    let (dir, _server, base, token) = setup();
    let junit = dir.path().join("junit.xml");
    let out = scim()
        .args(["check", &base, "--junit", junit.to_str().unwrap()])
        .env("SCIM_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed, 0 skipped."), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    let out = scim()
        .args(["check", &base, "--json", "--provider", "okta"])
        .env("SCIM_TOKEN", &token)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "pass")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_findings_in_scim2_server() {
    let home = std::env::var("PEERS_HOME").unwrap_or_else(|_| "/tmp/scim-peers".into());
    if !std::path::Path::new(&home)
        .join("venv/bin/scim2-server")
        .exists()
    {
        eprintln!(
            "SKIPPED: scim2-server is not installed under {home} (run /work/shared/peers/setup.sh)"
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peers = std::env::var("SCIM_PEERS_DIR").unwrap_or_else(|_| "/work/shared/peers".into());
    let out = std::process::Command::new("bash")
        .args([
            &format!("{peers}/start.sh"),
            "scim2-server",
            &port.to_string(),
            "peer-token",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let result = scim()
        .args([
            "check",
            &format!("http://127.0.0.1:{port}/v2"),
            "--provider",
            "entra",
        ])
        .env("SCIM_TOKEN", "peer-token")
        .output()
        .unwrap();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        !result.status.success(),
        "findings that affect Entra make the exit code non-zero:\n{stdout}"
    );
    assert!(stdout.contains("FAIL  entra.manager_forms"), "{stdout}");
}
