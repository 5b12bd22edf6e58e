//! Concurrent writers: through one store and, on PostgreSQL, through two independent
//! stores (two instances) on one database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::join_all;
use scim_store::{MemberOp, Store};
use serde_json::json;

use crate::support::{
    Fixture, USER_SCHEMA, actor, member, member_ids, members_op, obj, set, status, user_data,
};

store_tests!(
    concurrent_creates_of_one_name_have_one_winner,
    concurrent_writes_with_one_etag_have_one_winner,
    concurrent_member_changes_are_all_kept,
    the_change_log_has_no_gaps_for_a_concurrent_reader,
    batched_writes_keep_the_change_log_in_order_for_a_concurrent_reader,
    concurrent_creates_index_each_resource_under_its_own_entries
);

async fn instances(f: &Fixture) -> [Arc<dyn Store>; 2] {
    [f.s(), f.second_instance().await]
}

async fn concurrent_creates_of_one_name_have_one_winner(f: Fixture) {
    let stores = instances(&f).await;
    for round in 0..4 {
        let attempts = (0..8).map(|i| {
            let s = stores[i % 2].clone();
            let name = if i % 2 == 0 {
                format!("Race{round}")
            } else {
                format!("rAcE{round}")
            };
            let tenant = f.acme;
            async move {
                s.create(tenant, "User", user_data(&name), Vec::new(), &actor())
                    .await
            }
        });
        let results = join_all(attempts).await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(status(r), 409, "{r:?}");
        }
    }
    assert_eq!(
        f.list(f.acme, "User", None, None, 1, 100)
            .await
            .unwrap()
            .total_results,
        4
    );
}

async fn concurrent_writes_with_one_etag_have_one_winner(f: Fixture) {
    let stores = instances(&f).await;
    let u = f.user(f.acme, "target").await;
    let attempts = (0..10).map(|i| {
        let s = stores[i % 2].clone();
        let (tenant, id) = (f.acme, u.id.clone());
        async move {
            s.update(
                tenant,
                "User",
                &id,
                Some("W/\"1\"".into()),
                "patch",
                set("title", json!(format!("t{i}"))),
                false,
                &actor(),
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status(r), 412, "{r:?}");
    }
    let now = f
        .s()
        .get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.version, 2);
}

async fn concurrent_member_changes_are_all_kept(f: Fixture) {
    let stores = instances(&f).await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(f.user(f.acme, &format!("m{i:02}")).await.id);
    }
    let initial: Vec<&str> = users[..10].iter().map(String::as_str).collect();
    let g = f.group(f.acme, "busy", &initial).await;
    // Remove members 0..5 and add members 10..30, one operation each, all at once.
    let ops = users[..5]
        .iter()
        .map(|id| MemberOp::Remove(vec![id.clone()]))
        .chain(users[10..].iter().map(|id| MemberOp::Add(vec![member(id)])));
    let writes = ops.enumerate().map(|(i, op)| {
        let s = stores[i % 2].clone();
        let (tenant, id) = (f.acme, g.id.clone());
        async move {
            s.update(
                tenant,
                "Group",
                &id,
                None,
                "patch",
                members_op(op),
                false,
                &actor(),
            )
            .await
        }
    });
    for r in join_all(writes).await {
        r.unwrap();
    }
    let mut expected: Vec<String> = users[5..].to_vec();
    expected.sort();
    assert_eq!(member_ids(&f.s(), f.acme, &g.id).await, expected);
    let group = f
        .s()
        .get(f.acme, "Group", &g.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.version, 1 + 25);
}

async fn the_change_log_has_no_gaps_for_a_concurrent_reader(f: Fixture) {
    let stores = instances(&f).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, done, tenant) = (f.s(), done.clone(), f.acme);
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let after = seen.last().copied().unwrap_or(0);
                let page = s.changes(tenant, after, 1000).await.unwrap();
                seen.extend(page.iter().map(|c| c.seq));
                if finished && page.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let group = f.group(f.acme, "log", &[]).await;
    let writes = (0..60).map(|i| {
        let s = stores[i % 2].clone();
        let (tenant, gid) = (f.acme, group.id.clone());
        async move {
            let u = s
                .create(
                    tenant,
                    "User",
                    user_data(&format!("w{i}")),
                    Vec::new(),
                    &actor(),
                )
                .await
                .unwrap();
            s.update(
                tenant,
                "Group",
                &gid,
                None,
                "patch",
                members_op(MemberOp::Add(vec![member(&u.id)])),
                false,
                &actor(),
            )
            .await
            .unwrap();
        }
    });
    join_all(writes).await;
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let n = 1 + 60 * 2;
    assert_eq!(seen, (1..=n).collect::<Vec<i64>>());
}

/// Many writes of one tenant at once, through two instances, some of them failing inside
/// their transaction (a duplicate userName: 409 from the database; a stale If-Match: 412
/// after the row was read and locked): on both backends the writes share commits (see the
/// PostgreSQL engine's own test that they do), the failed ones leave nothing, and a reader polling
/// `seq > last` meanwhile sees every record of the successful writes exactly once, in order,
/// numbered without gaps.
async fn batched_writes_keep_the_change_log_in_order_for_a_concurrent_reader(f: Fixture) {
    let stores = instances(&f).await;
    let target = f.user(f.acme, "target").await;
    let before = f.s().changes(f.acme, 0, 1000).await.unwrap().len() as i64;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, done, tenant) = (f.s(), done.clone(), f.acme);
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let after = seen.last().copied().unwrap_or(0);
                let page = s.changes(tenant, after, 37).await.unwrap();
                seen.extend(page.iter().map(|c| c.seq));
                if finished && page.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writes = (0..240).map(|i| {
        let s = stores[i % 2].clone();
        let (tenant, target) = (f.acme, target.id.clone());
        async move {
            match i % 8 {
                // Every other of these names is taken by an earlier write: 409.
                3 => s
                    .create(
                        tenant,
                        "User",
                        user_data(&format!("dup{}", i / 16)),
                        Vec::new(),
                        &actor(),
                    )
                    .await
                    .map(|_| ()),
                // A precondition that cannot hold: 412, after the row was locked.
                5 => s
                    .update(
                        tenant,
                        "User",
                        &target,
                        Some("W/\"0\"".into()),
                        "patch",
                        set("title", json!(i)),
                        false,
                        &actor(),
                    )
                    .await
                    .map(|_| ()),
                _ => s
                    .create(
                        tenant,
                        "User",
                        user_data(&format!("batch{i:03}")),
                        Vec::new(),
                        &actor(),
                    )
                    .await
                    .map(|_| ()),
            }
        }
    });
    let results = join_all(writes).await;
    done.store(true, Ordering::SeqCst);
    let ok = results.iter().filter(|r| r.is_ok()).count() as i64;
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!([409, 412].contains(&status(r)), "{r:?}");
    }
    assert_eq!(ok, 240 - 30 - 15, "{results:?}");
    let seen = reader.await.unwrap();
    assert_eq!(seen, (1..=before + ok).collect::<Vec<i64>>());
    let log = f.s().changes(f.acme, before, 1000).await.unwrap();
    assert_eq!(log.len() as i64, ok);
    assert!(log.iter().all(|c| c.operation == "create"));
}

/// Creates batched together, some of them failing (their writes rolled back and the later
/// ones sent again): every user created is found by each of its indexed values, and only
/// by them.
async fn concurrent_creates_index_each_resource_under_its_own_entries(f: Fixture) {
    let stores = instances(&f).await;
    f.s()
        .create(f.acme, "User", user_data("taken"), Vec::new(), &actor())
        .await
        .unwrap();
    let creates = (0..48).map(|i| {
        let s = stores[i % 2].clone();
        let tenant = f.acme;
        async move {
            let name = if i % 6 == 5 { "TAKEN".to_string() } else { format!("u{i}") };
            let data = obj(json!({"schemas": [USER_SCHEMA], "userName": name,
                "externalId": format!("x{i}"), "emails": [{"value": format!("u{i}@example.com")}]}));
            (name, s.create(tenant, "User", data, Vec::new(), &actor()).await)
        }
    });
    let mut created = 0;
    for (name, result) in join_all(creates).await {
        if name == "TAKEN" {
            assert_eq!(status(&result.unwrap_err()), 409);
            continue;
        }
        let id = result.unwrap().id;
        created += 1;
        let i = &name[1..];
        for filter in [
            format!("userName eq \"{name}\""),
            format!("externalId eq \"x{i}\""),
            format!("emails.value eq \"u{i}@example.com\""),
        ] {
            let page = f
                .list(f.acme, "User", Some(&filter), None, 1, 10)
                .await
                .unwrap();
            let ids: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, [id.as_str()], "{filter}");
        }
    }
    assert_eq!(created, 40);
}
