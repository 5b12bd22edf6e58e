//! `scim backup` while a server is being written to, then `scim restore-backup` into an
//! empty data directory and a server on it: every write acknowledged before the backup
//! began is in the copy, and the copy is consistent (its change log accounts for every
//! user in it).

use std::sync::{Arc, Mutex};

use crate::support::{Client, Server, run, scim, tenant_and_token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live").join("scim.db");
    let url = format!("sqlite://{}", db.display());
    let token = tenant_and_token(&url);
    let server = Server::start(&["--database-url", &url]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, stop, url, token) = (
            acked.clone(),
            stop.clone(),
            server.url.clone(),
            token.clone(),
        );
        writers.push(tokio::spawn(async move {
            let c = Client::new(&token);
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c.create_user(&url, &format!("w{w}-{i}@example.com")).await;
                assert_eq!(r.status, 201);
                acked.lock().unwrap().push(r.id());
                i += 1;
            }
        }));
    }
    // Writes under way (waited for, not timed: a loaded machine is slower).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() <= 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Everything acknowledged now must be in the backup.
    let before: Vec<String> = acked.lock().unwrap().clone();
    let file = dir.path().join("backup.db");
    let out = tokio::task::spawn_blocking({
        let (file, url) = (file.clone(), url.clone());
        move || {
            run(&[
                "backup",
                "--to",
                file.to_str().unwrap(),
                "--database-url",
                &url,
            ])
        }
    })
    .await
    .unwrap();
    assert!(out.contains("integrity check ok"), "{out}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() <= before.len() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let after = acked.lock().unwrap().len();
    assert!(
        before.len() > 10 && after > before.len(),
        "writes went on during the backup"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is owner-only: {mode:o}");
    }
    // Never over an existing file.
    let again = scim()
        .args([
            "backup",
            "--to",
            file.to_str().unwrap(),
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    drop(server);

    // Restore into an empty data directory and serve it.
    let restored = dir.path().join("restored");
    let out = run(&[
        "restore-backup",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.contains("restored"), "{out}");
    let refused = scim()
        .args([
            "restore-backup",
            file.to_str().unwrap(),
            "--data-dir",
            restored.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a restore never overwrites a database"
    );
    let server = Server::start(&["--data-dir", restored.to_str().unwrap()]);
    let c = Client::new(&token);
    for id in &before {
        c.get(&server.url, &format!("/Users/{id}"))
            .await
            .expect(200);
    }
    // Consistent: the users in the copy are exactly those its change log created.
    let users = c.count(&server.url, "Users", "userName pr").await;
    assert!(users as usize >= before.len() && users as usize <= after);
    drop(server);
    let history = run(&[
        "audit",
        "changes",
        "--tenant",
        "acme",
        "--type",
        "User",
        "--operation",
        "create",
        "--format",
        "csv",
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert_eq!(
        history.lines().count() - 1,
        users as usize,
        "one create record per user"
    );
}
