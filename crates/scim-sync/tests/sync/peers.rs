//! `scim sync` into the peers of ../shared/peers (`SCIM_PEERS_DIR`; scim2-server, and the Node server on
//! scimmy), started with its start.sh, and into `scim` itself: the same source ends in the
//! same state in each, and a second run plans nothing. A peer that is not installed (run
//! /work/shared/peers/setup.sh) is SKIPPED with a message, or fails with SCIM_SYNC_PEERS=1.

use std::collections::BTreeSet;

use scim_client::{Client, ClientConfig};
use scim_sync::{SourceSpec, SyncOptions};

use crate::cases::{groups_csv, mapping, people, state, users_csv};

struct Peer {
    pid: String,
    client: Client,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.pid).status();
    }
}

fn start(peer: &str, base: &str) -> Option<Peer> {
    let home = std::env::var("PEERS_HOME").unwrap_or_else(|_| "/tmp/scim-peers".into());
    let marker = match peer {
        "scim2-server" => "venv/bin/scim2-server",
        _ => "node/node_modules/scimmy-routers",
    };
    if !std::path::Path::new(&home).join(marker).exists() {
        if std::env::var("SCIM_SYNC_PEERS").as_deref() == Ok("1") {
            panic!("{peer} is not installed under {home}");
        }
        eprintln!(
            "SKIPPED: {peer} is not installed under {home} (run /work/shared/peers/setup.sh)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = "sync-peer-token";
    let peers = std::env::var("SCIM_PEERS_DIR").unwrap_or_else(|_| "/work/shared/peers".into());
    let out = std::process::Command::new("bash")
        .args([&format!("{peers}/start.sh"), peer, &port.to_string(), token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{peer}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut config =
        ClientConfig::new(format!("http://127.0.0.1:{port}{base}"), Some(token.into()));
    // A peer that answers slowly at full size (scimmy's Bulk of 10,000 users takes about
    // 30 s): `SCIM_SYNC_PEER_TIMEOUT` seconds per request.
    if let Some(secs) = std::env::var("SCIM_SYNC_PEER_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.timeout = std::time::Duration::from_secs(secs);
    }
    let client = Client::new(config).unwrap();
    Some(Peer { pid, client })
}

/// The source's size: 30 people in 3 groups in CI; the full size (10,000 people in 50
/// groups) with `SCIM_SYNC_PEER_USERS=10000 SCIM_SYNC_PEER_GROUPS=50` (and, for scimmy,
/// `SCIM_SYNC_PEER_TIMEOUT=900`).
fn size() -> (usize, usize) {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        var("SCIM_SYNC_PEER_USERS", 30).max(30),
        var("SCIM_SYNC_PEER_GROUPS", 3).max(3),
    )
}

async fn sync_into(peer: &str, base: &str) {
    let Some(p) = start(peer, base) else { return };
    same_source_into(peer, &p.client, peer != "scimmy").await;
}

/// The same source, the same changes and the same checks against any server: `scim` itself
/// and each peer. A server without the enterprise extension (`enterprise: false`) must
/// refuse the mapping before any write, and is then synced without its enterprise rules.
async fn same_source_into(peer: &str, client: &Client, enterprise: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (n, teams) = size();
    let started = std::time::Instant::now();
    let ps = people(n, teams);
    let (u, g) = (dir.path().join("u.csv"), dir.path().join("g.csv"));
    std::fs::write(&u, users_csv(&ps)).unwrap();
    std::fs::write(&g, groups_csv(&ps, teams)).unwrap();
    let src = SourceSpec::Files {
        users: Some(u),
        groups: Some(g),
    };
    let mut m = mapping();
    if !enterprise {
        // This peer has no enterprise extension: the mapping is refused before any write.
        match scim_sync::run(client, &src, Some(&m), &SyncOptions::default()).await {
            Err(scim_sync::SyncError::Mapping(msg)) => assert!(msg.contains("enterprise"), "{msg}"),
            other => panic!("{peer}: expected the schema check to refuse: {other:?}"),
        }
        assert!(state(client).await.0.is_empty());
        if let Some(u) = m.user.as_mut() {
            u.rules.retain(|r| r.target.urn.is_none());
        }
    }
    let out = scim_sync::run(client, &src, Some(&m), &SyncOptions::default())
        .await
        .unwrap();
    let r = out.report.unwrap();
    eprintln!("{peer}: {}", r.render());
    assert!(r.failures.is_empty(), "{peer}: {}", r.render());
    let (users, groups) = state(client).await;
    assert_eq!(users.len(), n, "{peer}");
    assert_eq!(users["E0001"].0, "e0001@example.com");
    assert_eq!(users["E0001"].2, "Last1");
    let expect: BTreeSet<String> = ps
        .iter()
        .filter(|x| x.group == 2)
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(groups["Team 2"], expect, "{peer}");
    let again = scim_sync::run(
        client,
        &src,
        Some(&m),
        &SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(again.plan.is_empty(), "{peer}: {}", again.plan.render(10));
    // A modified source, applied without Bulk: 10% renamed, 5% leavers, a membership move.
    let (renamed, leavers) = ((n / 10).max(3), (n / 20).max(2));
    let mut changed = ps.clone();
    for x in changed.iter_mut().take(renamed) {
        x.last = format!("{}-Renamed", x.last);
    }
    changed.truncate(n - leavers);
    changed[5].group = (changed[5].group + 1) % teams;
    std::fs::write(dir.path().join("u.csv"), users_csv(&changed)).unwrap();
    std::fs::write(dir.path().join("g.csv"), groups_csv(&changed, teams)).unwrap();
    let opts = SyncOptions {
        bulk: false,
        ..SyncOptions::default()
    };
    let r = scim_sync::run(client, &src, Some(&m), &opts)
        .await
        .unwrap()
        .report
        .unwrap();
    assert!(r.failures.is_empty(), "{peer}: {}", r.render());
    assert_eq!(
        (r.updated, r.deactivated, r.members_added, r.members_removed),
        (renamed, leavers, 1, leavers + 1),
        "{peer}: {}",
        r.render()
    );
    let (users, groups) = state(client).await;
    assert_eq!(users["E0002"].2, "Last2-Renamed");
    assert!(
        !users[&format!("E{:04}", n - 1)].1,
        "{peer}: leaver deactivated"
    );
    for g in 0..teams {
        let expect: BTreeSet<String> = changed
            .iter()
            .filter(|x| x.group == g)
            .map(|x| x.id.clone())
            .collect();
        assert_eq!(groups[&format!("Team {g}")], expect, "{peer}");
    }
    let again = scim_sync::run(
        client,
        &src,
        Some(&m),
        &SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(again.plan.is_empty(), "{peer}: {}", again.plan.render(10));
    eprintln!(
        "{peer}: {n} people in {teams} groups: synced, changed, re-planned in {:.1?}",
        started.elapsed()
    );
}

/// `scim` itself, on SQLite, through the same steps (the fixture's tenant has the default
/// per-tenant rate limit, so a full-size run also meets its 429s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_into_scim_itself() {
    let server = crate::support::Server::sqlite().await;
    same_source_into("scim", &server.client("acme"), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_into_scim2_server() {
    sync_into("scim2-server", "/v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_into_scimmy() {
    sync_into("scimmy", "/scim/v2").await;
}

/// A target that is not a SCIM server (a plain web server answering HTML error pages, as a
/// misconfigured proxy would) gets a clear report naming the status and content type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_answers_stop_with_a_clear_report() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Ok(mut child) = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    };
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    let client = Client::new(ClientConfig::new(base, Some("t".into()))).unwrap();
    let mut ready = false;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "python3 -m http.server did not start");
    std::fs::write(dir.path().join("u.csv"), "externalId,userName\ne1,a@x\n").unwrap();
    let src = SourceSpec::Files {
        users: Some(dir.path().join("u.csv")),
        groups: None,
    };
    let err = scim_sync::run(&client, &src, None, &SyncOptions::default()).await;
    let _ = child.kill();
    let _ = child.wait();
    match err {
        Err(scim_sync::SyncError::Target(scim_client::ClientError::NotScim {
            status,
            content_type,
            ..
        })) => {
            assert_eq!(status, 404);
            assert!(content_type.starts_with("text/html"), "{content_type}");
        }
        other => panic!("expected a non-SCIM answer to be reported: {other:?}"),
    }
}
