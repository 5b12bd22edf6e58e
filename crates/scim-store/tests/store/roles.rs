//! A user's effective roles as of a position of the change log (`EventLog::roles_at`):
//! exact for each position, after pruning and across a deletion and restoration.

use std::collections::HashMap;
use std::sync::Arc;

use scim_store::manage::{AdminOp, AuditActor};
use scim_store::roles::{RoleMatch, RoleRuleSpec};
use scim_store::{MemberOp, Store};
use serde_json::{Value, json};

use crate::support::{Fixture, actor, members_op, set};

store_tests!(
    roles_as_of_positions_are_exact_after_pruning_and_deletion,
    a_page_of_the_log_tells_the_roles_after_creates_as_the_log_does,
    a_page_of_the_log_leaves_created_documents_as_stored_text
);

async fn rule(
    s: &Arc<dyn Store>,
    tenant: &str,
    role: &str,
    matches: RoleMatch,
    value: Option<&str>,
) {
    s.admin_write(
        AdminOp::AddRoleRule {
            tenant: tenant.into(),
            spec: RoleRuleSpec {
                role: role.into(),
                matches,
                value: value.map(str::to_string),
                pattern: false,
                filter: None,
            },
        },
        AuditActor {
            name: "tests".into(),
            ..Default::default()
        },
        None,
        Box::new(|_| Value::Null),
    )
    .await
    .unwrap();
}

/// The position of the latest record of a resource that is not a roles change.
async fn last_write(s: &Arc<dyn Store>, tenant: i64, id: &str) -> i64 {
    s.changes(tenant, 0, 1000)
        .await
        .unwrap()
        .iter()
        .rev()
        .find(|c| c.resource_id == id && c.operation != "roles_changed")
        .unwrap()
        .seq
}

async fn roles_at(
    s: &Arc<dyn Store>,
    tenant: i64,
    asked: &[(&str, i64)],
) -> HashMap<(String, i64), Vec<String>> {
    s.roles_at(
        tenant,
        asked.iter().map(|(u, p)| (u.to_string(), *p)).collect(),
    )
    .await
    .unwrap()
}

fn roles(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

async fn roles_as_of_positions_are_exact_after_pruning_and_deletion(f: Fixture) {
    let s = f.s();
    rule(&s, "acme", "member", RoleMatch::Default, None).await;
    rule(
        &s,
        "acme",
        "admin",
        RoleMatch::GroupDisplayName,
        Some("Admins"),
    )
    .await;
    let alice = f.user(f.acme, "alice").await.id;
    let created = last_write(&s, f.acme, &alice).await;
    let bob = f.user(f.acme, "bob").await.id;
    let admins = f.group(f.acme, "Admins", &[&alice]).await.id;
    s.update(
        f.acme,
        "User",
        &alice,
        None,
        "patch",
        set("displayName", json!("Alice")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let updated = last_write(&s, f.acme, &alice).await;
    s.update(
        f.acme,
        "User",
        &bob,
        None,
        "patch",
        set("displayName", json!("Bob")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let bob_updated = last_write(&s, f.acme, &bob).await;
    let got = roles_at(
        &s,
        f.acme,
        &[(&alice, created), (&alice, updated), (&bob, bob_updated)],
    )
    .await;
    assert_eq!(got[&(alice.clone(), created)], roles(&["member"]));
    assert_eq!(got[&(alice.clone(), updated)], roles(&["admin", "member"]));
    assert_eq!(got[&(bob.clone(), bob_updated)], roles(&["member"]));

    // Records before the updates pruned: the roles as of the updates are still known, from
    // the roles now, then from the first change after them.
    s.prune_changes(f.acme, updated - 1).await.unwrap();
    let got = roles_at(&s, f.acme, &[(&alice, updated), (&bob, bob_updated)]).await;
    assert_eq!(got[&(alice.clone(), updated)], roles(&["admin", "member"]));
    assert_eq!(got[&(bob.clone(), bob_updated)], roles(&["member"]));
    s.update(
        f.acme,
        "Group",
        &admins,
        None,
        "patch",
        members_op(MemberOp::Remove(vec![alice.clone()])),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.delete(f.acme, "User", &alice, None, &actor())
        .await
        .unwrap();
    s.delete(f.acme, "User", &bob, None, &actor())
        .await
        .unwrap();
    let got = roles_at(&s, f.acme, &[(&alice, updated), (&bob, bob_updated)]).await;
    assert_eq!(got[&(alice.clone(), updated)], roles(&["admin", "member"]));
    assert!(
        !got.contains_key(&(bob.clone(), bob_updated)),
        "deleted since, its grant pruned: not known"
    );

    // A soft deletion drops the roles without a record; a restoration gives them back.
    rule(&s, "globex", "member", RoleMatch::Default, None).await;
    let carol = f.user(f.globex, "carol").await.id;
    let carol_created = last_write(&s, f.globex, &carol).await;
    s.delete(f.globex, "User", &carol, None, &actor())
        .await
        .unwrap();
    s.restore(f.globex, &carol, &actor()).await.unwrap();
    let restored = last_write(&s, f.globex, &carol).await;
    let got = roles_at(&s, f.globex, &[(&carol, carol_created), (&carol, restored)]).await;
    assert_eq!(got[&(carol.clone(), carol_created)], roles(&["member"]));
    assert_eq!(got[&(carol.clone(), restored)], roles(&["member"]));
}

/// `log_slice` answers the roles right after a user's create from the page itself (the
/// next record decides); whatever the page's bounds, the answer is `roles_at`'s.
async fn a_page_of_the_log_tells_the_roles_after_creates_as_the_log_does(f: Fixture) {
    let s = f.s();
    let start = s.change_head(f.acme).await.unwrap();
    let mut users = Vec::new();
    users.push(f.user(f.acme, "ann").await.id);
    users.push(f.user(f.acme, "ben").await.id);
    rule(&s, "acme", "member", RoleMatch::Default, None).await;
    users.push(f.user(f.acme, "cy").await.id);
    f.group(f.acme, "Staff", &[]).await;
    users.push(f.user(f.acme, "dee").await.id);
    users.push(f.user(f.acme, "eve").await.id);
    let head = s.change_head(f.acme).await.unwrap();
    let creates: Vec<(String, i64)> = s
        .changes(f.acme, start, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.operation == "create" && c.resource_type == "User")
        .map(|c| (c.resource_id.clone(), c.seq))
        .collect();
    assert_eq!(creates.len(), users.len());
    let truth = s.roles_at(f.acme, creates.clone()).await.unwrap();
    assert_eq!(
        truth[&creates[0]],
        Vec::<String>::new(),
        "created before the rule"
    );
    assert_eq!(
        truth[&creates[4]],
        roles(&["member"]),
        "created under the rule"
    );
    let mut answered = 0;
    for after in start..head {
        for limit in 1..=4 {
            let slice = s.log_slice(f.acme, after, limit).await.unwrap();
            for r in &slice.records {
                let key = (r.resource_id.clone(), r.seq);
                if let Some(expected) = truth.get(&key) {
                    assert_eq!(
                        slice.roles.get(&key),
                        Some(expected),
                        "after {after}, limit {limit}: {key:?}"
                    );
                    answered += 1;
                }
            }
        }
    }
    assert!(answered > 20, "{answered}");
}

/// `log_slice` hands a create's document over as the stored text (readers that only pass
/// it on do not parse it): the same document `changes` parses; other records come parsed.
async fn a_page_of_the_log_leaves_created_documents_as_stored_text(f: Fixture) {
    let s = f.s();
    let start = s.change_head(f.acme).await.unwrap();
    let ann = f.user(f.acme, "ann").await.id;
    f.group(f.acme, "Staff", &[ann.as_str()]).await;
    s.delete(f.acme, "User", &ann, None, &actor())
        .await
        .unwrap();
    let parsed = s.changes(f.acme, start, 100).await.unwrap();
    let slice = s.log_slice(f.acme, start, 100).await.unwrap();
    assert_eq!(slice.records.len(), parsed.len());
    let mut creates = 0;
    for (r, p) in slice.records.iter().zip(&parsed) {
        assert_eq!(r.seq, p.seq);
        if r.operation == "create" {
            creates += 1;
            assert!(r.after.is_none(), "{}", r.seq);
            let text = &slice.stored_after[&r.seq];
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(Some(doc), p.after, "{}", r.seq);
        } else {
            assert_eq!(r.after, p.after, "{}", r.seq);
            assert!(!slice.stored_after.contains_key(&r.seq));
        }
    }
    // The user, the group and its first members' record.
    assert!(creates >= 2, "{creates}");
    assert_eq!(slice.stored_after.len(), creates);
}
