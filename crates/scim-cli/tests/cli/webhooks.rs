//! Webhooks through the real binary, to a real receiver process (scripts/webhook_receiver.py)
//! that verifies every signature with the Standard Webhooks reference library for Python
//! (PyPI `standardwebhooks`, in target/webhooks-venv made by scripts/webhooks-venv.sh):
//! `kill -9` of the server mid-delivery loses nothing and keeps the order; two instances on
//! one PostgreSQL database deliver an endpoint one at a time, in order.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, USER_SCHEMA, eventually, run, test_database, token_in};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The Python that runs the receiver: the venv with `standardwebhooks` when it exists (in
/// CI it must), else the system's python3 verifying with the standard library.
fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("target/webhooks-venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    if in_ci() {
        panic!(
            "target/webhooks-venv is missing: scripts/test builds it (scripts/webhooks-venv.sh)"
        );
    }
    eprintln!(
        "NOTE: the standardwebhooks reference library is not installed (run \
         scripts/webhooks-venv.sh); the receiver verifies with Python's standard library"
    );
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => Some(PathBuf::from("python3")),
        _ => {
            eprintln!("SKIPPED: no python3 to run the webhook receiver");
            None
        }
    }
}

/// The receiver process; killed when dropped.
struct Receiver {
    child: Child,
    url: String,
    log: PathBuf,
    secret_file: PathBuf,
}

impl Receiver {
    fn start(python: &Path, dir: &Path, fail_every: u32, slow_ms: u32) -> Receiver {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/webhook_receiver.py");
        let log = dir.join("received.jsonl");
        let secret_file = dir.join("secret");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .arg("--secret-file")
            .arg(&secret_file)
            .arg("--log")
            .arg(&log)
            .args(["--fail-every", &fail_every.to_string()])
            .args(["--slow-ms", &slow_ms.to_string()])
            .stdout(Stdio::piped());
        if python.ends_with("webhooks-venv/bin/python") {
            cmd.env("SCIM_REQUIRE_STANDARDWEBHOOKS", "1");
        }
        let mut child = cmd.spawn().expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("receiver port");
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}/hooks/scim"),
            log,
            secret_file,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Event ids acknowledged (204), first acknowledgement of each, in arrival order.
    fn acknowledged(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.received()
            .into_iter()
            .filter(|e| e["status"] == 204)
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .filter(|id| seen.insert(id.clone()))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .expect("the secret is printed")
        .to_string()
}

fn admin_token(store: &[&str]) -> String {
    let mut args = vec!["admin-token", "create", "--name", "tests"];
    args.extend_from_slice(store);
    run(&args)
        .split_whitespace()
        .find(|w| w.starts_with("scimadm_"))
        .unwrap()
        .to_string()
}

/// Creates users (and changes some) through SCIM.
async fn provision(server: &str, token: &str, prefix: &str, n: usize) {
    let http = reqwest::Client::new();
    for i in 0..n {
        let r = http
            .post(format!("{server}/scim/v2/default/Users"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(json!({"schemas": [USER_SCHEMA], "userName": format!("{prefix}{i}@example.com"), "active": true}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        if i % 4 == 0 {
            let id = r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let r = http
                .patch(format!("{server}/scim/v2/default/Users/{id}"))
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
}

/// Every event of the tenant, from the feed: (id, position), in order.
async fn all_events(server: &str, admin: &str) -> Vec<(String, i64)> {
    let page: Value = reqwest::Client::new()
        .get(format!(
            "{server}/admin/v1/tenants/default/events?limit=1000"
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["position"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// What the receiver saw, checked: every delivery verified; no event sent before the one
/// before it was acknowledged (resends of acknowledged ones are allowed); every expected
/// event acknowledged, in order.
fn check(receiver: &Receiver, expected: &[(String, i64)]) {
    let received = receiver.received();
    assert!(!received.is_empty());
    for e in &received {
        assert_eq!(e["ok"], true, "every signature verifies: {e}");
    }
    let first = expected.first().map_or(1, |e| e.1);
    let mut acked_through = first - 1;
    for e in &received {
        let p = e["position"].as_i64().unwrap();
        assert!(
            p <= acked_through + 1,
            "position {p} sent before {} was acknowledged",
            acked_through + 1
        );
        if e["status"] == 204 && p == acked_through + 1 {
            acked_through = p;
        }
    }
    let ids: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
    assert_eq!(
        receiver.acknowledged(),
        ids,
        "every event once (by id), in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_loses_nothing_and_keeps_the_order() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    // Every 5th delivery is refused (503), each takes 15 ms: retries and a kill mid-way.
    let receiver = Receiver::start(&python, dir.path(), 5, 15);
    let args = [
        "--data-dir",
        data,
        "--allow-private-webhooks",
        "--delivery-lease",
        "2s",
        "--retry-base",
        "50ms",
        "--retry-max",
        "500ms",
    ];
    let server = Server::start(&args);
    let token = token_in(&server.output.lock().unwrap()).expect("bootstrap token");
    let added = run(&[
        "webhook",
        "add",
        "--tenant",
        "default",
        "--url",
        &receiver.url,
        "--from",
        "beginning",
        "--allow-private",
        "--data-dir",
        data,
    ]);
    std::fs::write(&receiver.secret_file, secret_in(&added)).unwrap();
    let id = added.split_whitespace().nth(1).unwrap().to_string();
    assert!(id.starts_with("wh_"), "{added}");

    provision(&server.url, &token, "before", 24).await;
    eventually("some deliveries", Duration::from_secs(30), || async {
        receiver.acknowledged().len() >= 8
    })
    .await;
    // kill -9 (the harness's Drop sends SIGKILL) with deliveries in flight.
    drop(server);
    let server = Server::start(&args);
    provision(&server.url, &token, "after", 6).await;
    let admin = admin_token(&["--data-dir", data]);
    let expected = all_events(&server.url, &admin).await;
    assert_eq!(
        expected.len(),
        24 + 6 + 24usize.div_ceil(4) + 6usize.div_ceil(4)
    );
    eventually(
        "every event acknowledged",
        Duration::from_secs(60),
        || async { receiver.acknowledged().len() >= expected.len() },
    )
    .await;
    check(&receiver, &expected);
    let verifier = receiver.received()[0]["verifier"].clone();
    eprintln!("signatures verified by: {verifier}");

    // The attempts are recorded, failures (503) included, and the position caught up.
    let attempts = run(&[
        "webhook",
        "deliveries",
        &id,
        "--limit",
        "1000",
        "--json",
        "--data-dir",
        data,
    ]);
    let attempts: Vec<Value> = attempts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        attempts
            .iter()
            .any(|a| a["outcome"] == "failed" && a["status"] == 503)
    );
    assert!(
        attempts
            .iter()
            .any(|a| a["outcome"] == "delivered" && a["status"] == 204)
    );
    let instances: HashSet<&str> = attempts
        .iter()
        .filter_map(|a| a["instance"].as_str())
        .collect();
    assert!(
        instances.len() >= 2,
        "the restarted instance took over: {instances:?}"
    );
    eventually("lag 0", Duration::from_secs(10), || async {
        let shown: Value =
            serde_json::from_str(&run(&["webhook", "show", &id, "--data-dir", data])).unwrap();
        shown["lag"] == 0 && shown["position"] == expected.last().unwrap().1
    })
    .await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_an_endpoint_one_at_a_time_in_order() {
    let Some(db) = test_database("two_instances_deliver_an_endpoint").await else {
        return;
    };
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&python, dir.path(), 7, 10);
    let url = db.url.clone();
    let args = [
        "--database-url",
        &url,
        "--allow-private-webhooks",
        "--delivery-lease",
        "2s",
        "--retry-base",
        "50ms",
        "--retry-max",
        "500ms",
    ];
    let mut servers = Server::start_together(2, &args);
    let token = servers
        .iter()
        .find_map(|s| token_in(&s.output.lock().unwrap()))
        .expect("one instance printed the bootstrap token");
    let added = run(&[
        "webhook",
        "add",
        "--tenant",
        "default",
        "--url",
        &receiver.url,
        "--from",
        "beginning",
        "--allow-private",
        "--database-url",
        &url,
    ]);
    std::fs::write(&receiver.secret_file, secret_in(&added)).unwrap();
    // Writes through both instances.
    provision(&servers[0].url, &token, "one", 10).await;
    provision(&servers[1].url, &token, "two", 10).await;
    eventually("some deliveries", Duration::from_secs(30), || async {
        receiver.acknowledged().len() >= 6
    })
    .await;
    // One instance dies; the other carries on (after the lease expires, if it was the one).
    drop(servers.remove(0));
    provision(&servers[0].url, &token, "three", 4).await;
    let admin = admin_token(&["--database-url", &url]);
    let expected = all_events(&servers[0].url, &admin).await;
    eventually(
        "every event acknowledged",
        Duration::from_secs(60),
        || async { receiver.acknowledged().len() >= expected.len() },
    )
    .await;
    check(&receiver, &expected);
    for e in receiver.received() {
        assert_eq!(e["inflight"], 1, "never two deliveries at once: {e}");
    }
}

/// `scim webhook …` and `scim nats …` record their changes in the management audit log
/// under the local user, through the same management layer as the API (no secret in it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_commands_are_recorded_in_the_management_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let server = Server::start(&["--data-dir", data]);
    let added = run(&[
        "webhook",
        "add",
        "--tenant",
        "default",
        "--url",
        "https://hooks.example.com/scim?key=s3cret",
        "--data-dir",
        data,
    ]);
    let first_secret = secret_in(&added);
    let id = added.split_whitespace().nth(1).unwrap().to_string();
    run(&["webhook", "pause", &id, "--data-dir", data]);
    run(&["webhook", "resume", &id, "--data-dir", data]);
    run(&["webhook", "replay", &id, "--from", "0", "--data-dir", data]);
    let rotated = run(&["webhook", "rotate-secret", &id, "--data-dir", data]);
    let second_secret = secret_in(&rotated);
    run(&["webhook", "remove", &id, "--data-dir", data]);
    let nats = run(&[
        "nats",
        "add",
        "--tenant",
        "default",
        "--url",
        "nats://app:pw@127.0.0.1:4222",
        "--data-dir",
        data,
    ]);
    let nats_id = nats.split_whitespace().nth(2).unwrap().to_string();
    assert!(nats_id.starts_with("nats_"), "{nats}");
    run(&["nats", "pause", &nats_id, "--data-dir", data]);
    run(&["nats", "remove", &nats_id, "--data-dir", data]);

    let admin = admin_token(&["--data-dir", data]);
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/admin/v1/audit?tenant=default", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records: Vec<&Value> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["action"].as_str().unwrap().starts_with("tenant."))
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.create",
            "webhook.pause",
            "webhook.resume",
            "webhook.replay",
            "webhook.rotate_secret",
            "webhook.delete",
            "nats.create",
            "nats.pause",
            "nats.delete"
        ],
        "{audit}"
    );
    for r in &records {
        assert!(r["actor"].as_str().unwrap().starts_with("cli:"), "{r}");
        assert_eq!(r["tenant"], "default");
    }
    assert_eq!(records[0]["target"], id.as_str());
    assert_eq!(records[6]["target"], nats_id.as_str());
    let text = audit.to_string();
    for secret in [
        first_secret.as_str(),
        second_secret.as_str(),
        "s3cret",
        "pw@",
    ] {
        assert!(!text.contains(secret), "{secret} is not recorded: {text}");
    }
    drop(server);
}
