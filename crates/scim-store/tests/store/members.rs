//! Group memberships.

use scim_store::{Include, MemberOp, MemberRef, Pagination};

use crate::support::{Fixture, actor, groups, member, member_ids, members_op, status};

store_tests!(
    members_are_kept_with_their_type_and_display,
    member_operations_apply_in_order,
    deleting_a_member_removes_it_from_every_group,
    nested_groups_are_found_and_cycles_cut,
    groups_read_with_the_resource_match_groups_of,
    long_member_lists_count_exactly_what_changed
);

async fn members_are_kept_with_their_type_and_display(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let sub = f.group(f.acme, "sub", &[]).await;
    let refs = vec![
        member(&alice.id),
        member(&sub.id),
        MemberRef {
            value: "not-a-resource".into(),
            kind: Some("User".into()),
            display: Some("Ghost".into()),
        },
    ];
    let g = s
        .create(
            f.acme,
            "Group",
            crate::support::group_data("all"),
            refs,
            &actor(),
        )
        .await
        .unwrap();
    let members = g.members.unwrap();
    assert_eq!(members.len(), 3);
    let by_id = |id: &str| members.iter().find(|m| m.value == id).unwrap().clone();
    assert_eq!(by_id(&alice.id).kind.as_deref(), Some("User"));
    assert_eq!(by_id(&alice.id).display.as_deref(), Some("alice"));
    assert_eq!(by_id(&sub.id).kind.as_deref(), Some("Group"));
    assert_eq!(by_id("not-a-resource").display.as_deref(), Some("Ghost"));
    // Members come back ordered by id.
    let ids: Vec<String> = members.iter().map(|m| m.value.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    // Without asking for members, none are loaded.
    assert!(
        s.get(f.acme, "Group", &g.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .unwrap()
            .members
            .is_none()
    );
    // A group cannot contain itself.
    let e = s
        .update(
            f.acme,
            "Group",
            &g.id,
            None,
            "patch",
            members_op(MemberOp::Add(vec![member(&g.id)])),
            false,
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
}

async fn member_operations_apply_in_order(f: Fixture) {
    let s = f.s();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(f.user(f.acme, &format!("u{i}")).await.id);
    }
    let g = f.group(f.acme, "g", &[&ids[0], &ids[1]]).await;
    let up = |op| {
        let s = s.clone();
        let id = g.id.clone();
        let tenant = f.acme;
        async move {
            s.update(
                tenant,
                "Group",
                &id,
                None,
                "patch",
                members_op(op),
                true,
                &actor(),
            )
            .await
            .unwrap()
        }
    };
    let r = up(MemberOp::Add(vec![member(&ids[2]), member(&ids[0])])).await;
    assert_eq!(r.version, 2);
    assert_eq!(r.members.unwrap().len(), 3);
    // Adding only existing members changes nothing.
    let r = up(MemberOp::Add(vec![member(&ids[1])])).await;
    assert_eq!(r.version, 2);
    up(MemberOp::Remove(vec![ids[0].clone(), "unknown".into()])).await;
    assert_eq!(
        member_ids(&s, f.acme, &g.id).await,
        sorted(&[&ids[1], &ids[2]])
    );
    let target = ids[2].clone();
    up(MemberOp::RemoveWhere(std::sync::Arc::new(move |m| {
        m["value"] == target.as_str()
    })))
    .await;
    assert_eq!(member_ids(&s, f.acme, &g.id).await, sorted(&[&ids[1]]));
    up(MemberOp::ReplaceAll(vec![
        member(&ids[3]),
        member(&ids[4]),
        member(&ids[1]),
    ]))
    .await;
    assert_eq!(
        member_ids(&s, f.acme, &g.id).await,
        sorted(&[&ids[1], &ids[3], &ids[4]])
    );
    let r = up(MemberOp::RemoveAll).await;
    assert!(r.members.unwrap().is_empty());
    let changes = s.changes(f.acme, 0, 1000).await.unwrap();
    let last = changes.last().unwrap();
    assert_eq!(last.members_removed.len(), 3);
    assert_eq!(last.changed, vec!["members".to_string()]);
}

/// The ids of recorded members, in record order.
fn values(members: &[scim_store::RecordedMember]) -> Vec<String> {
    members.iter().map(|m| m.value.clone()).collect()
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn deleting_a_member_removes_it_from_every_group(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let bob = f.user(f.acme, "bob").await;
    let g1 = f.group(f.acme, "g1", &[&alice.id, &bob.id]).await;
    let g2 = f.group(f.acme, "g2", &[&alice.id]).await;
    let before = s.changes(f.acme, 0, 1000).await.unwrap().len();
    s.delete(f.acme, "User", &alice.id, None, &actor())
        .await
        .unwrap();
    assert_eq!(member_ids(&s, f.acme, &g1.id).await, vec![bob.id.clone()]);
    assert!(member_ids(&s, f.acme, &g2.id).await.is_empty());
    for g in [&g1, &g2] {
        assert_eq!(
            s.get(f.acme, "Group", &g.id, scim_store::Include::NOTHING)
                .await
                .unwrap()
                .unwrap()
                .version,
            2
        );
    }
    // One record per group that lost the member, and one for the delete.
    let changes = s.changes(f.acme, 0, 1000).await.unwrap();
    assert_eq!(changes.len(), before + 3);
    assert!(groups(&s, f.acme, &alice.id).await.is_empty());
    // Deleting a group drops its member list.
    s.delete(f.acme, "Group", &g1.id, None, &actor())
        .await
        .unwrap();
    assert!(groups(&s, f.acme, &bob.id).await.is_empty());
    assert_eq!(changes.last().unwrap().operation, "delete");
}

async fn nested_groups_are_found_and_cycles_cut(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let inner = f.group(f.acme, "inner", &[&alice.id]).await;
    let outer = f.group(f.acme, "outer", &[&inner.id]).await;
    // A cycle: inner contains outer.
    s.update(
        f.acme,
        "Group",
        &inner.id,
        None,
        "patch",
        members_op(MemberOp::Add(vec![member(&outer.id)])),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let found_groups = groups(&s, f.acme, &alice.id).await;
    let mut found: Vec<(String, bool, Option<String>)> = found_groups
        .into_iter()
        .map(|g| (g.group_id, g.direct, g.display))
        .collect();
    found.sort();
    let mut expected = vec![
        (inner.id.clone(), true, Some("inner".to_string())),
        (outer.id.clone(), false, Some("outer".to_string())),
    ];
    expected.sort();
    assert_eq!(found, expected);
    // A group is not its own group even in a cycle.
    let of_inner = groups(&s, f.acme, &inner.id).await;
    assert_eq!(of_inner.len(), 1);
    assert_eq!(of_inner[0].group_id, outer.id);
}

/// `Include { groups }` on a get or a list reads the same memberships as `groups_of`, in
/// the same snapshot as the resource; a resource in no group gets an empty list, and
/// nothing is read when groups are not asked for.
async fn groups_read_with_the_resource_match_groups_of(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let bob = f.user(f.acme, "bob").await;
    let inner = f.group(f.acme, "inner", &[&alice.id]).await;
    f.group(f.acme, "outer", &[&inner.id]).await;
    let with_groups = Include {
        members: false,
        groups: true,
    };
    let sorted = |mut g: Vec<scim_store::GroupMembership>| {
        g.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        g
    };

    let read = s
        .get(f.acme, "User", &alice.id, with_groups)
        .await
        .unwrap()
        .unwrap();
    let expected = sorted(groups(&s, f.acme, &alice.id).await);
    assert_eq!(expected.len(), 2);
    assert_eq!(read.groups.map(sorted), Some(expected.clone()));
    let plain = s
        .get(f.acme, "User", &alice.id, Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.groups, None);

    let mut request = f.request(
        "User",
        Some("userName eq \"alice\" or userName eq \"bob\""),
        None,
        Pagination::Index {
            start_index: 1,
            count: 10,
        },
    );
    request.include = with_groups;
    let page = s.list(f.acme, request).await.unwrap();
    assert_eq!(page.resources.len(), 2);
    for r in page.resources {
        let groups = r.groups.map(sorted);
        if r.id == alice.id {
            assert_eq!(groups, Some(expected.clone()));
        } else {
            assert_eq!(r.id, bob.id);
            assert_eq!(groups, Some(Vec::new()));
        }
    }
}

/// Members are added and removed 100 to a statement: lists longer than that behave as if
/// each member were handled in turn.
async fn long_member_lists_count_exactly_what_changed(f: Fixture) {
    let s = f.s();
    let mut users = Vec::new();
    for i in 0..130 {
        users.push(f.user(f.acme, &format!("m{i}")).await.id);
    }
    let sub = f.group(f.acme, "sub", &[]).await;
    let g = f.group(f.acme, "big", &[&users[0], &users[1]]).await;
    let patch = |op| {
        let s = s.clone();
        let id = g.id.clone();
        let tenant = f.acme;
        async move {
            s.update(
                tenant,
                "Group",
                &id,
                None,
                "patch",
                members_op(op),
                true,
                &actor(),
            )
            .await
        }
    };
    let ghosts: Vec<String> = (0..100).map(|i| format!("ghost-{i:03}")).collect();
    let mut refs: Vec<MemberRef> = users.iter().map(|u| member(u)).collect();
    refs.push(member(&sub.id));
    refs.extend(ghosts.iter().map(|id| MemberRef {
        value: id.clone(),
        kind: Some("User".into()),
        display: Some(format!("first {id}")),
    }));
    // Named twice: the first mention counts.
    refs.push(MemberRef {
        value: ghosts[0].clone(),
        kind: Some("Group".into()),
        display: Some("second".into()),
    });
    refs.push(member(&users[5]));
    let r = patch(MemberOp::Add(refs)).await.unwrap();
    let members = r.members.unwrap();
    assert_eq!(members.len(), 130 + 1 + 100);
    let by_id = |id: &str| members.iter().find(|m| m.value == id).unwrap().clone();
    assert_eq!(by_id(&users[129]).kind.as_deref(), Some("User"));
    assert_eq!(by_id(&users[129]).display.as_deref(), Some("m129"));
    assert_eq!(by_id(&sub.id).kind.as_deref(), Some("Group"));
    assert_eq!(by_id(&ghosts[0]).kind.as_deref(), Some("User"));
    assert_eq!(
        by_id(&ghosts[0]).display.as_deref(),
        Some("first ghost-000")
    );
    assert_eq!(
        by_id(&ghosts[99]).display.as_deref(),
        Some("first ghost-099")
    );
    let mut added: Vec<String> = users[2..].to_vec();
    added.push(sub.id.clone());
    added.extend(ghosts.iter().cloned());
    added.sort();
    let last = s.changes(f.acme, 0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(values(&last.members_added), added);
    assert!(last.members_removed.is_empty());

    // The group itself, anywhere in a long list, is refused and nothing is added.
    let mut refs: Vec<MemberRef> = (0..150).map(|i| member(&format!("x{i}"))).collect();
    refs.insert(120, member(&g.id));
    let e = patch(MemberOp::Add(refs)).await.unwrap_err();
    assert_eq!(status(&e), 400);
    assert_eq!(member_ids(&s, f.acme, &g.id).await.len(), 231);

    let mut gone: Vec<String> = users[..120].to_vec();
    gone.push("unknown".into());
    gone.push(users[0].clone());
    let r = patch(MemberOp::Remove(gone)).await.unwrap();
    assert_eq!(r.members.unwrap().len(), 231 - 120);
    let mut removed = users[..120].to_vec();
    removed.sort();
    let last = s.changes(f.acme, 0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(values(&last.members_removed), removed);
    assert!(last.members_added.is_empty());
}
