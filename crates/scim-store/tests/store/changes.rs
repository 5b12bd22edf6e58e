//! The change log.

use scim_store::{MemberOp, RecordedMember};
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
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    let ops: Vec<(&str, &str, bool)> = log
        .iter()
        .map(|c| {
            (
                c.operation.as_str(),
                c.resource_type.as_str(),
                c.is_members_change(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("create", "User", false),
            // A group created with members: its attributes, then its members.
            ("create", "Group", false),
            ("create", "Group", true),
            ("patch", "User", false),
            ("create", "User", false),
            ("patch", "Group", true),
            // Deleting alice removes her from the group first.
            ("patch", "Group", true),
            ("delete", "User", false),
        ]
    );
    let user = |id: &str| RecordedMember {
        value: id.to_string(),
        kind: Some("User".into()),
    };
    assert!(log[1].members_added.is_empty());
    assert_eq!(log[2].members_added, vec![user(&alice.id)]);
    assert_eq!(log[2].after.as_ref().unwrap()["displayName"], "g");
    assert_eq!(log[3].changed, vec!["title".to_string()]);
    assert_eq!(log[3].before.as_ref().unwrap()["title"], json!(null));
    assert_eq!(log[3].after.as_ref().unwrap()["title"], "CEO");
    assert_eq!(log[3].version, Some(2));
    assert_eq!(log[3].created.as_deref(), Some(alice.created.as_str()));
    assert_eq!(log[5].members_added, vec![user(&bob.id)]);
    assert_eq!(log[5].version, Some(2));
    assert_eq!(log[6].members_removed, vec![user(&alice.id)]);
    assert_eq!(log[6].version, Some(3));
    assert_eq!(log[6].after.as_ref().unwrap()["displayName"], "g");
    assert_eq!(log[7].before.as_ref().unwrap()["userName"], "alice");
    assert!(log[7].after.is_none());
    assert_eq!(log[7].detail["deleteMode"], "hard");
    assert!(log[3].detail.is_empty());
    assert_eq!(log[0].actor, actor());
    assert_eq!(log[0].version, Some(1));
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    // Paging through the log.
    let page = s.changes(f.acme, 3, 2).await.unwrap();
    assert_eq!(page.iter().map(|c| c.seq).collect::<Vec<_>>(), [4, 5]);
    // Each tenant has its own numbering.
    let other = s.changes(f.globex, 0, 100).await.unwrap();
    assert_eq!(other.iter().map(|c| c.seq).collect::<Vec<_>>(), [1]);
}
