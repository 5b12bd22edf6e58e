//! The audit query benchmark (BENCHMARKS.md, "Point-in-time audit"): a tenant with a group
//! of `--members` members and `--records` change records in all, then "the members of the
//! group at an instant" (direct and nested) timed at several instants.
//!
//! ```sh
//! cargo run --release -p scim-store --example audit_bench -- \
//!     --db target/audit-bench/scim.db --members 100000 --records 1000000
//! ```
//!
//! The database is kept: run again with the same `--db` to time the queries alone (the
//! set-up is skipped when the tenant exists), e.g. under `valgrind --tool=callgrind`
//! with `--queries 1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use scim_core::schema::SchemaRegistry;
use scim_store::sqlite::SqliteStore;
use scim_store::{Actor, DeleteMode, MemberOp, MemberRef, Store, StoredResource, Update};
use serde_json::{Map, Value, json};

struct Args {
    db: std::path::PathBuf,
    members: usize,
    records: usize,
    concurrency: usize,
    queries: usize,
}

fn args() -> Args {
    let mut a = Args {
        db: "target/audit-bench/scim.db".into(),
        members: 100_000,
        records: 1_000_000,
        concurrency: 64,
        queries: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--db" => a.db = v.into(),
            "--members" => a.members = v.parse().unwrap(),
            "--records" => a.records = v.parse().unwrap(),
            "--concurrency" => a.concurrency = v.parse().unwrap(),
            "--queries" => a.queries = v.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn actor() -> Actor {
    Actor {
        token_id: None,
        token_name: Some("bench".into()),
        request_id: None,
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Runs `n` jobs with `concurrency` tasks.
async fn many<F, Fut>(n: usize, concurrency: usize, job: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                job(i).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Builds the tenant; returns the instants to ask about (stored in a side file).
async fn set_up(s: Arc<dyn Store>, a: &Args) -> (String, Vec<String>) {
    let t = s
        .create_tenant("bench", DeleteMode::Hard, 30)
        .await
        .unwrap()
        .id;
    let started = Instant::now();
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); a.members]));
    {
        let (s, ids) = (s.clone(), ids.clone());
        many(a.members, a.concurrency, move |i| {
            let (s, ids) = (s.clone(), ids.clone());
            async move {
                let data = obj(
                    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i:07}@example.com"), "active": true}),
                );
                let u = s.create(t, "User", data, vec![], &actor()).await.unwrap();
                ids.lock().unwrap()[i] = u.id;
            }
        })
        .await;
    }
    let ids: Vec<String> = ids.lock().unwrap().clone();
    eprintln!("{} users in {:.1?}", ids.len(), started.elapsed());
    let inner = s
        .create(
            t,
            "Group",
            obj(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Inner"}),
            ),
            ids[..10].iter().map(|id| member(id)).collect(),
            &actor(),
        )
        .await
        .unwrap();
    let big = s
        .create(
            t,
            "Group",
            obj(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Payroll-Admins"}),
            ),
            vec![member(&inner.id)],
            &actor(),
        )
        .await
        .unwrap();
    for chunk in ids.chunks(10_000) {
        let refs: Vec<MemberRef> = chunk.iter().map(|id| member(id)).collect();
        s.update(
            t,
            "Group",
            &big.id,
            None,
            "patch",
            members(MemberOp::Add(refs)),
            false,
            &actor(),
        )
        .await
        .unwrap();
    }
    let mut instants = vec![now()];
    eprintln!(
        "group of {} members at {:.1?}",
        ids.len() + 1,
        started.elapsed()
    );
    // The rest of the records: membership churn in the big group (a member out and back
    // in: two records) and attribute changes of users, in four phases with an instant
    // taken after each.
    let head = s.change_head(t).await.unwrap() as usize;
    let rest = a.records.saturating_sub(head);
    let phases = 4;
    let ids = Arc::new(ids);
    for phase in 0..phases {
        let target = (head + rest * (phase + 1) / phases) as i64;
        loop {
            let now_head = s.change_head(t).await.unwrap();
            if now_head >= target {
                break;
            }
            let n = ((target - now_head) / 2 + 1) as usize;
            let base = now_head as usize;
            let (s2, ids2, g) = (s.clone(), ids.clone(), big.id.clone());
            many(n, a.concurrency, move |i| {
                let i = i + base;
                let (s, ids, g) = (s2.clone(), ids2.clone(), g.clone());
                async move {
                    let k = (i * 7919 + phase * 104_729) % ids.len();
                    if i.is_multiple_of(2) {
                        let id = ids[k].clone();
                        let _ = s
                            .update(
                                t,
                                "Group",
                                &g,
                                None,
                                "patch",
                                members(MemberOp::Remove(vec![id.clone()])),
                                false,
                                &actor(),
                            )
                            .await;
                        let _ = s
                            .update(
                                t,
                                "Group",
                                &g,
                                None,
                                "patch",
                                members(MemberOp::Add(vec![member(&id)])),
                                false,
                                &actor(),
                            )
                            .await;
                    } else {
                        let title = json!(format!("title {phase}-{i}"));
                        let set: scim_store::UpdateFn =
                            scim_store::UpdateFn::new(move |cur: &StoredResource| {
                                let mut data = cur.data.clone();
                                data.insert("title".into(), title.clone());
                                Ok(Update {
                                    data,
                                    changed: vec!["title".into()],
                                    ..Update::default()
                                })
                            });
                        let _ = s
                            .update(t, "User", &ids[k], None, "patch", set, false, &actor())
                            .await;
                        let active = json!(!i.is_multiple_of(3));
                        let set: scim_store::UpdateFn =
                            scim_store::UpdateFn::new(move |cur: &StoredResource| {
                                let mut data = cur.data.clone();
                                data.insert("active".into(), active.clone());
                                Ok(Update {
                                    data,
                                    changed: vec!["active".into()],
                                    ..Update::default()
                                })
                            });
                        let _ = s
                            .update(t, "User", &ids[k], None, "patch", set, false, &actor())
                            .await;
                    }
                }
            })
            .await;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        instants.push(now());
        eprintln!(
            "phase {phase}: {} records at {:.1?}",
            s.change_head(t).await.unwrap(),
            started.elapsed()
        );
    }
    (big.id, instants)
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.to_string(),
        kind: None,
        display: None,
    }
}

fn members(op: MemberOp) -> scim_store::UpdateFn {
    scim_store::UpdateFn::new(move |cur: &StoredResource| {
        Ok(Update {
            data: cur.data.clone(),
            changed: vec!["members".into()],
            members: vec![op.clone()],
            members_only: true,
        })
    })
}

#[tokio::main]
async fn main() {
    let a = args();
    std::fs::create_dir_all(a.db.parent().unwrap()).unwrap();
    let registry = SchemaRegistry::builtin().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&a.db, &registry).unwrap());
    let side = a.db.with_extension("instants.json");
    let (group, instants): (String, Vec<String>) = match store.tenant("bench").await.unwrap() {
        Some(_) => serde_json::from_str(&std::fs::read_to_string(&side).unwrap()).unwrap(),
        None => {
            let i = set_up(store.clone(), &a).await;
            std::fs::write(&side, serde_json::to_string(&i).unwrap()).unwrap();
            i
        }
    };
    let tenant = store.tenant("bench").await.unwrap().unwrap();
    let head = store.change_head(tenant.id).await.unwrap();
    let started = Instant::now();
    let indexed = store.audit_catch_up(tenant.id).await.unwrap();
    println!(
        "change records: {head}; indexed now: {indexed} in {:.2?}",
        started.elapsed()
    );
    for at in &instants {
        let p = store.audit_point(&tenant, at).await.unwrap();
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..a.queries {
            let t0 = Instant::now();
            let list = store
                .audit_members(tenant.id, &group, p.seq, true)
                .await
                .unwrap()
                .unwrap();
            times.push(t0.elapsed());
            n = list.len();
        }
        times.sort();
        println!(
            "members at {at} (position {}): {n} (direct and nested); median {:.1?}, min {:.1?}, max {:.1?}",
            p.seq,
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}
