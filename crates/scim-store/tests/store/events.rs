//! The change log as an event source: positions, heads, pruning, commit signals, large
//! member changes split into records, tenant incarnations.

use std::time::Duration;

use scim_store::{DeleteMode, MEMBERS_PER_RECORD, MemberOp, MemberRef, Update};

use crate::support::{Fixture, actor, member, members_op};

store_tests!(
    member_changes_are_recorded_in_bounded_records_with_types,
    heads_oldest_and_pruning,
    a_commit_wakes_the_tenants_waiters,
    a_recreated_tenant_is_a_new_incarnation
);

async fn member_changes_are_recorded_in_bounded_records_with_types(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let g = f.group(f.acme, "big", &[]).await;
    let head = s.change_head(f.acme).await.unwrap();
    // 2,500 members: alice (a user of the tenant) and ids the client typed itself.
    let mut refs = vec![member(&alice.id)];
    refs.extend((1..2500).map(|i| MemberRef {
        value: format!("ext-{i:05}"),
        kind: Some("User".into()),
        display: None,
    }));
    s.update(
        f.acme,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Add(refs)),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let added = s.changes(f.acme, head, 100).await.unwrap();
    let sizes: Vec<usize> = added.iter().map(|c| c.members_added.len()).collect();
    assert_eq!(sizes, [MEMBERS_PER_RECORD, MEMBERS_PER_RECORD, 500]);
    assert!(
        added
            .iter()
            .all(|c| c.is_members_change() && c.version == Some(2))
    );
    let all: Vec<_> = added.iter().flat_map(|c| c.members_added.clone()).collect();
    assert_eq!(all.len(), 2500);
    let a = all.iter().find(|m| m.value == alice.id).unwrap();
    assert_eq!(a.kind.as_deref(), Some("User"));

    // Removing 1,200 and adding one in one write: the addition, then the removals.
    let head = s.change_head(f.acme).await.unwrap();
    let gone: Vec<String> = (1..=1200).map(|i| format!("ext-{i:05}")).collect();
    s.update(
        f.acme,
        "Group",
        &g.id,
        None,
        "patch",
        scim_store::UpdateFn::new(move |current: &scim_store::StoredResource| {
            Ok(Update {
                data: current.data.clone(),
                changed: vec!["members".into()],
                members: vec![
                    MemberOp::Remove(gone.clone()),
                    MemberOp::Add(vec![member("ext-new")]),
                ],
                members_only: true,
            })
        }),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let moved = s.changes(f.acme, head, 100).await.unwrap();
    let shape: Vec<(usize, usize)> = moved
        .iter()
        .map(|c| (c.members_added.len(), c.members_removed.len()))
        .collect();
    assert_eq!(shape, [(1, 0), (0, MEMBERS_PER_RECORD), (0, 200)]);
    assert!(moved.iter().all(|c| c.version == Some(3)));
    assert!(moved.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

async fn heads_oldest_and_pruning(f: Fixture) {
    let s = f.s();
    assert_eq!(s.change_head(f.acme).await.unwrap(), 0);
    assert_eq!(s.oldest_change(f.acme).await.unwrap(), None);
    assert_eq!(
        s.first_kept(f.acme).await.unwrap(),
        1,
        "an empty log: everything is kept"
    );
    for i in 0..5 {
        f.user(f.acme, &format!("u{i}")).await;
    }
    f.user(f.globex, "other").await;
    assert_eq!(s.change_head(f.acme).await.unwrap(), 5);
    let mut heads = s
        .change_heads(vec![f.acme, f.globex, 999_999])
        .await
        .unwrap();
    heads.sort();
    assert_eq!(heads, [(f.acme, 5), (f.globex, 1)]);
    assert_eq!(s.oldest_change(f.acme).await.unwrap(), Some(1));

    assert_eq!(s.prune_changes(f.acme, 3).await.unwrap(), 3);
    assert_eq!(s.oldest_change(f.acme).await.unwrap(), Some(4));
    assert_eq!(s.first_kept(f.acme).await.unwrap(), 4);
    let left: Vec<i64> = s
        .changes(f.acme, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, [4, 5]);
    // The head does not move back, and the other tenant is untouched.
    assert_eq!(s.change_head(f.acme).await.unwrap(), 5);
    assert_eq!(s.oldest_change(f.globex).await.unwrap(), Some(1));
    let t = s.tenant_by_id(f.acme).await.unwrap().unwrap();
    assert_eq!(t.name, "acme");
    assert!(s.tenant_by_id(999_999).await.unwrap().is_none());

    // Everything pruned: the first change a reader can get is the next one.
    assert_eq!(s.prune_changes(f.acme, 5).await.unwrap(), 2);
    assert_eq!(s.oldest_change(f.acme).await.unwrap(), None);
    assert_eq!(s.first_kept(f.acme).await.unwrap(), 6);
}

async fn a_commit_wakes_the_tenants_waiters(f: Fixture) {
    let s = f.s();
    let signal = s.commit_signal().watch(f.acme);
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    f.user(f.acme, "alice").await;
    tokio::time::timeout(Duration::from_secs(10), woken)
        .await
        .expect("a write wakes the tenant's waiters");
    // A failed write wakes nobody.
    let again = signal.notified();
    tokio::pin!(again);
    again.as_mut().enable();
    let dup = s
        .create(
            f.acme,
            "User",
            crate::support::user_data("alice"),
            Vec::new(),
            &actor(),
        )
        .await;
    assert!(dup.is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), again)
            .await
            .is_err()
    );
}

async fn a_recreated_tenant_is_a_new_incarnation(f: Fixture) {
    let s = f.s();
    let first = s.tenant("acme").await.unwrap().unwrap();
    assert_eq!(first.uid.len(), 16);
    assert!(s.delete_tenant("acme").await.unwrap());
    let second = s.create_tenant("acme", DeleteMode::Hard, 30).await.unwrap();
    assert_ne!(first.uid, second.uid);
    assert_ne!(first.id, second.id);
    assert_eq!(s.change_head(second.id).await.unwrap(), 0);
}
