//! The change log.

use scim_store::MemberOp;
use serde_json::json;

use crate::support::{Fixture, actor, member, members_op, set};

store_tests!(every_write_appends_one_record_in_order);

async fn every_write_appends_one_record_in_order(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let g = f.group(f.acme, "g", &[&alice.id]).await;
    s.update(
        f.acme,
        "User",
        &alice.id,
        None,
        "patch",
        set("title", json!("CEO")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let bob = f.user(f.acme, "bob").await;
    s.update(
        f.acme,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Add(vec![member(&bob.id)])),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.delete(f.acme, "User", &alice.id, None, &actor())
        .await
        .unwrap();
    f.user(f.globex, "other").await;

    let log = s.changes(f.acme, 0, 100).await.unwrap();
    let seqs: Vec<i64> = log.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let ops: Vec<(&str, &str)> = log
        .iter()
        .map(|c| (c.operation.as_str(), c.resource_type.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("create", "User"),
            ("create", "Group"),
            ("patch", "User"),
            ("create", "User"),
            ("patch", "Group"),
            // Deleting alice removes her from the group first.
            ("patch", "Group"),
            ("delete", "User"),
        ]
    );
    assert_eq!(log[1].members_added, vec![alice.id.clone()]);
    assert_eq!(log[2].changed, vec!["title".to_string()]);
    assert_eq!(log[2].before.as_ref().unwrap()["title"], json!(null));
    assert_eq!(log[2].after.as_ref().unwrap()["title"], "CEO");
    assert_eq!(log[4].members_added, vec![bob.id.clone()]);
    assert_eq!(log[5].members_removed, vec![alice.id.clone()]);
    assert_eq!(log[6].before.as_ref().unwrap()["userName"], "alice");
    assert!(log[6].after.is_none());
    assert_eq!(log[0].actor, actor());
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    // Paging through the log.
    let page = s.changes(f.acme, 3, 2).await.unwrap();
    assert_eq!(page.iter().map(|c| c.seq).collect::<Vec<_>>(), [4, 5]);
    // Each tenant has its own numbering.
    let other = s.changes(f.globex, 0, 100).await.unwrap();
    assert_eq!(other.iter().map(|c| c.seq).collect::<Vec<_>>(), [1]);
}
