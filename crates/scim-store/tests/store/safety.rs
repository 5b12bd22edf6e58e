//! Safety under load and abuse (issue 11): update computations off the writer, concurrent
//! updates never lost, owner-only files.

use std::sync::Arc;
use std::time::Duration;

use scim_store::postgres::{PgOptions, PgStore};
use scim_store::{AnyStore, Store, StoredResource, Update};
use serde_json::{Value, json};

use crate::support::*;

store_tests!(
    a_blocked_update_computation_holds_up_no_other_write,
    concurrent_document_updates_are_never_lost,
    a_tenant_over_its_writer_share_waits_alone,
    large_update_computations_leave_the_async_worker,
);

/// A store whose PostgreSQL pool has one connection (the same store for SQLite, whose
/// writer is one thread): anything an update's computation held would stop every write.
async fn narrow_store(f: &Fixture) -> Arc<dyn Store> {
    match (&f.store, &f.db) {
        (AnyStore::Postgres(_), Some(db)) => {
            let options = PgOptions {
                max_connections: 1,
                ..PgOptions::default()
            };
            let s: PgStore = PgStore::connect(&db.url, &f.registry, &options)
                .await
                .expect("connect");
            Arc::new(s)
        }
        _ => f.s(),
    }
}

/// Defect 1: a PATCH's computation ran inside the write (on SQLite's single writer thread,
/// holding a pooled connection and a row lock on PostgreSQL), so one slow request stalled
/// every tenant's writes. Now it runs on a snapshot before the write: while it is stuck,
/// another tenant's writes go through. (This test hung before the fix.)
async fn a_blocked_update_computation_holds_up_no_other_write(f: Fixture) {
    let s = narrow_store(&f).await;
    let u = s
        .create(f.acme, "User", user_data("slow"), Vec::new(), &actor())
        .await
        .unwrap();
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(released));
    let entered_tx = Arc::new(std::sync::Mutex::new(entered_tx));
    let slow: scim_store::UpdateFn = scim_store::UpdateFn::new(move |r: &StoredResource| {
        let _ = entered_tx.lock().unwrap().send(());
        // Stuck until the test releases it (bounded, so a failure cannot hang forever).
        let _ = released
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        let mut data = r.data.clone();
        data.insert("title".into(), json!("done"));
        Ok(Update {
            data,
            changed: vec!["title".into()],
            ..Update::default()
        })
    });
    let (s2, tenant, id) = (s.clone(), f.acme, u.id.clone());
    let stuck = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(async move {
            s2.update(tenant, "User", &id, None, "patch", slow, false, &actor())
                .await
        })
    });
    tokio::task::spawn_blocking(move || entered.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("the computation started");
    // Another tenant's create and update complete while the computation is stuck.
    let other = tokio::time::timeout(Duration::from_secs(10), async {
        let g = s
            .create(f.globex, "User", user_data("other"), Vec::new(), &actor())
            .await
            .unwrap();
        s.update(
            f.globex,
            "User",
            &g.id,
            None,
            "patch",
            set("title", json!("x")),
            false,
            &actor(),
        )
        .await
        .unwrap()
    })
    .await
    .expect("another tenant's writes waited for a stuck computation");
    assert_eq!(other.data["title"], "x");
    release.send(()).unwrap();
    let done = stuck.await.unwrap().unwrap();
    assert_eq!(done.data["title"], "done");
    assert_eq!(done.version, 2);
}

/// Updates computed outside the write are checked against the version they were computed
/// from: of many concurrent read-modify-write updates of one resource, none is lost.
async fn concurrent_document_updates_are_never_lost(f: Fixture) {
    let s = f.s();
    let u = f.user(f.acme, "busy").await;
    let writers = (0..12).map(|i| {
        let (s, id, tenant) = (s.clone(), u.id.clone(), f.acme);
        let append: scim_store::UpdateFn = scim_store::UpdateFn::new(move |r: &StoredResource| {
            let mut data = r.data.clone();
            let mut emails = data
                .get("emails")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            emails.push(json!({"value": format!("e{i}@example.com")}));
            data.insert("emails".into(), Value::Array(emails));
            Ok(Update {
                data,
                changed: vec!["emails".into()],
                ..Update::default()
            })
        });
        async move {
            s.update(tenant, "User", &id, None, "patch", append, false, &actor())
                .await
        }
    });
    for r in futures_util::future::join_all(writers).await {
        r.expect("every update succeeds");
    }
    let after = s
        .get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.data["emails"].as_array().map(Vec::len), Some(12));
    assert_eq!(after.version, 13);
}

/// A large update's computation (a request marked large, or a large resource) runs on a
/// blocking thread: a PATCH replacing 1,000 emails took milliseconds of CPU on the async
/// worker, and every request queued on that worker, any tenant's, waited for it. A small
/// one runs where the update was called, without the hand-over.
async fn large_update_computations_leave_the_async_worker(f: Fixture) {
    let s = f.s();
    let here = std::thread::current().id();
    let u = f.user(f.acme, "sized").await;
    // The thread each computation ran on.
    let ran_on = Arc::new(std::sync::Mutex::new(Vec::new()));
    let setting = |emails: usize, large: bool| {
        let ran_on = ran_on.clone();
        scim_store::UpdateFn::new(move |r: &StoredResource| {
            ran_on.lock().unwrap().push(std::thread::current().id());
            let mut data = r.data.clone();
            let list: Vec<Value> = (0..emails)
                .map(|k| json!({"value": format!("e{k}@example.com"), "type": "work"}))
                .collect();
            data.insert("emails".into(), Value::Array(list));
            Ok(Update {
                data,
                changed: vec!["emails".into()],
                ..Update::default()
            })
        })
        .large(large)
    };
    let update = |emails, large| {
        let (s, id, tenant, u) = (s.clone(), u.id.clone(), f.acme, setting(emails, large));
        async move {
            s.update(tenant, "User", &id, None, "patch", u, false, &actor())
                .await
                .expect("update")
        }
    };
    // Small request, small resource: here.
    update(2, false).await;
    // A request marked large: on another thread; it leaves the resource large.
    update(500, true).await;
    // A small request on a large resource: on another thread too (the resource's size
    // is the work); it makes the resource small again.
    let done = update(1, false).await;
    assert_eq!(done.data["emails"].as_array().map(Vec::len), Some(1));
    update(1, false).await;
    let ran_on = ran_on.lock().unwrap().clone();
    assert_eq!(ran_on.len(), 4, "one computation per update");
    assert_eq!(ran_on[0], here, "a small update is computed in place");
    assert_ne!(
        ran_on[1], here,
        "a large request is computed off the worker"
    );
    assert_ne!(
        ran_on[2], here,
        "a large resource is computed off the worker"
    );
    assert_eq!(ran_on[3], here);
}

/// Defect 6: the database files were created world-readable (0644, directory 0755). Now
/// the directory is 0700 and the files 0600 whatever the umask, and files left readable by
/// an earlier version are tightened at the next open.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = data.join("scim.db");
    let registry = registry();
    let store = scim_store::sqlite::SqliteStore::open(&path, &registry).unwrap();
    store
        .create_tenant("acme", scim_store::DeleteMode::Hard, 30)
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(file.exists(), "{}", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _again = scim_store::sqlite::SqliteStore::open(&path, &registry).unwrap();
    assert_eq!(mode(&path), 0o600, "tightened at the next open");
}

/// A TCP forwarder to the database that can freeze: every connection stays open but no
/// byte goes through any more, and new connections are accepted and never answered (a
/// database that accepts connections but hangs).
struct FreezingProxy {
    addr: std::net::SocketAddr,
    frozen: tokio::sync::watch::Sender<bool>,
    _task: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    async fn start(target: (String, u16)) -> FreezingProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, watch) = (target.clone(), watch.clone());
                tokio::spawn(async move {
                    if *watch.borrow() {
                        // Accepted, never answered.
                        let _held = inbound;
                        std::future::pending::<()>().await;
                        return;
                    }
                    let Ok(outbound) =
                        tokio::net::TcpStream::connect((target.0.as_str(), target.1)).await
                    else {
                        return;
                    };
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    let pump =
                        |mut from: tokio::net::tcp::OwnedReadHalf,
                         mut to: tokio::net::tcp::OwnedWriteHalf,
                         mut watch: tokio::sync::watch::Receiver<bool>| async move {
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let n = match from.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                if *watch.borrow_and_update() {
                                    // Frozen: hold the bytes (and the sockets) for ever.
                                    let _keep = (from, to);
                                    std::future::pending::<()>().await;
                                    return;
                                }
                                if to.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        };
                    let a = tokio::spawn(pump(ir, ow, watch.clone()));
                    let b = tokio::spawn(pump(or, iw, watch));
                    let _ = tokio::join!(a, b);
                });
            }
        });
        FreezingProxy {
            addr,
            frozen,
            _task: task,
        }
    }

    fn freeze(&self) {
        let _ = self.frozen.send(true);
    }
}

/// The store on `db` through `proxy`, with short timeouts (CI size; the defaults are 5 s to
/// wait for a connection and 10 s per statement).
async fn store_via(db: &scim_store::postgres::testing::TestDatabase, host_port: &str) -> PgStore {
    let options = PgOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(1),
        ..PgOptions::default()
    };
    PgStore::connect(&db.url_via(host_port), &registry(), &options)
        .await
        .expect("connect")
}

/// Defect 5: when PostgreSQL accepted connections but stopped answering, requests hung for
/// as long as it did (45 s observed). Now a statement that gets no answer is given up
/// after the statement timeout (+1 s), its connection closed, and the request answered 503
/// with Retry-After; waiting for a connection is bounded the same way. (This test hung
/// before the fix.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_database_gives_503_not_a_hang() {
    let Some(db) = test_database("a_hanging_database_gives_503_not_a_hang").await else {
        return;
    };
    let target = db.tcp_address().expect("a TCP server");
    let proxy = FreezingProxy::start(target).await;
    let s = store_via(&db, &proxy.addr.to_string()).await;
    let t = s
        .create_tenant("acme", scim_store::DeleteMode::Hard, 30)
        .await
        .unwrap();
    s.create(t.id, "User", user_data("before"), Vec::new(), &actor())
        .await
        .unwrap();
    proxy.freeze();
    let started = std::time::Instant::now();
    let attempts = (0..4).map(|i| {
        let s = s.clone();
        async move {
            s.create(
                t.id,
                "User",
                user_data(&format!("u{i}")),
                Vec::new(),
                &actor(),
            )
            .await
        }
    });
    let results = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(attempts),
    )
    .await
    .expect("requests hung with the database");
    for r in results {
        let e = r.expect_err("nothing can be written");
        assert_eq!(status(&e), 503, "{e}");
    }
    let reads = tokio::time::timeout(Duration::from_secs(30), s.tenant("acme"))
        .await
        .expect("a read hung with the database");
    assert_eq!(status(&reads.expect_err("nothing can be read")), 503);
    eprintln!("503s after {:?}", started.elapsed());
}

/// The same when PostgreSQL answers but a statement waits for a lock another session holds
/// (the server's statement_timeout): 503, and the store works again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_behind_a_lock_gives_503() {
    let Some(db) = test_database("a_statement_stuck_behind_a_lock_gives_503").await else {
        return;
    };
    let target = db.tcp_address().expect("a TCP server");
    let s = store_via(&db, &format!("{}:{}", target.0, target.1)).await;
    let t = s
        .create_tenant("acme", scim_store::DeleteMode::Hard, 30)
        .await
        .unwrap();
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let (locker, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    locker
        .batch_execute("BEGIN; LOCK TABLE resources IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        s.create(t.id, "User", user_data("blocked"), Vec::new(), &actor()),
    )
    .await
    .expect("the write hung behind the lock");
    assert_eq!(status(&r.expect_err("blocked")), 503);
    locker.batch_execute("ROLLBACK").await.unwrap();
    drop(locker);
    let _ = conn.await;
    s.create(t.id, "User", user_data("after"), Vec::new(), &actor())
        .await
        .expect("works again");
}

/// Fairness mechanics: a tenant that has used more than its share of the writer is made to
/// wait (429 with Retry-After past the longest wait) while another tenant's writes go
/// straight through; once the debt is repaid it writes again.
async fn a_tenant_over_its_writer_share_waits_alone(f: Fixture) {
    f.store.set_fairness(scim_store::Fairness {
        max_writes: 4,
        writer_share: 0.000_1,
        writer_burst: Duration::ZERO,
        // The wait a debt costs is the debt over the share (at least 1%): 100 times the
        // first write's writer time, which is well over a millisecond on a debug build but
        // not always over the 50 ms a looser bound would need on a fast or idle machine.
        max_wait: Duration::from_millis(1),
    });
    let s = f.s();
    s.create(f.acme, "User", user_data("a1"), Vec::new(), &actor())
        .await
        .unwrap();
    let e = s
        .create(f.acme, "User", user_data("a2"), Vec::new(), &actor())
        .await
        .expect_err("acme is over its share");
    let e = e.to_scim();
    assert_eq!(e.status, 429);
    assert!(e.retry_after.is_some());
    // globex is not held up (its own first write is within its burst of zero only once).
    s.create(f.globex, "User", user_data("g1"), Vec::new(), &actor())
        .await
        .unwrap();
    // With a normal share, acme writes again.
    f.store.set_fairness(scim_store::Fairness::default());
    s.create(f.acme, "User", user_data("a3"), Vec::new(), &actor())
        .await
        .unwrap();
}
