//! Retention: soft-deleted resources are purged once their tenant's window has passed;
//! their history stays (the audit still answers about them); the job covers every tenant.

use scim_store::retention;

use scim_store::audit::ChangeQuery;
use scim_store::retention::{PolicyUpdate, RetentionPolicy};
use scim_store::{MemberOp, Store};
use serde_json::json;

use crate::support::{Fixture, actor, member, members_op, set, status};

store_tests!(
    soft_deleted_resources_are_purged_after_retention_and_history_stays,
    deleted_users_records_are_redacted_after_the_window_and_their_existence_stays,
    old_change_records_are_pruned_and_the_audit_stays_exact_for_the_kept_period,
    policies_are_checked_and_kept_per_tenant
);

fn days_later(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn soft_deleted_resources_are_purged_after_retention_and_history_stays(f: Fixture) {
    let s = f.s();
    // globex: soft deletes, 30 days.
    let gone = f.user(f.globex, "gone").await;
    let kept = f.user(f.globex, "kept").await;
    let before = s.change_head(f.globex).await.unwrap();
    s.delete(f.globex, "User", &gone.id, None, &actor())
        .await
        .unwrap();
    // Within the window: nothing is purged, the user can be restored.
    assert_eq!(s.purge_deleted(f.globex, &days_later(29)).await.unwrap(), 0);
    // A pass of the job over every tenant, now: nothing expired yet.
    let report = retention::pass(&s).await.unwrap();
    assert_eq!((report.tenants, report.total.purged), (2, 0));
    // Past it: purged for good.
    assert_eq!(s.purge_deleted(f.globex, &days_later(31)).await.unwrap(), 1);
    assert_eq!(
        s.purge_deleted(f.globex, &days_later(31)).await.unwrap(),
        0,
        "idempotent"
    );
    let e = s.restore(f.globex, &gone.id, &actor()).await.unwrap_err();
    assert_eq!(status(&e), 404);
    assert!(
        s.get(f.globex, "User", &kept.id, Default::default())
            .await
            .unwrap()
            .is_some()
    );
    // A new user may take the purged one's userName (its index entries went with it).
    f.user(f.globex, "gone").await;
    // The history stays: the audit still shows the user as it was before the delete.
    let then = s
        .audit_state(f.globex, &gone.id, before)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(then.data["userName"], "gone");
    let h = s.audit_history(f.globex, &gone.id, 0, 10).await.unwrap();
    assert_eq!(h.len(), 2);
    // Bad input is refused, not guessed.
    let e = s.purge_deleted(f.globex, "soon").await.unwrap_err();
    assert_eq!(status(&e), 400);
}

fn instant_now() -> String {
    scim_store::audit::now_instant()
}

/// Waits until the clock (milliseconds) has moved on, so that records on each side of an
/// instant are told apart.
async fn next_millisecond() {
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

async fn deleted_users_records_are_redacted_after_the_window_and_their_existence_stays(f: Fixture) {
    let s = f.s();
    // acme deletes for good; globex soft-deletes (30 days restorable).
    for t in [f.acme, f.globex] {
        s.set_retention_policy(
            t,
            &PolicyUpdate {
                redact_days: Some(Some(10)),
                ..PolicyUpdate::default()
            },
        )
        .await
        .unwrap();
        let alice = f.user(t, "alice@example.com").await;
        let bob = f.user(t, "bob@example.com").await;
        s.update(
            t,
            "User",
            &alice.id,
            None,
            "patch",
            set("title", json!("Payroll")),
            false,
            &actor(),
        )
        .await
        .unwrap();
        let g = f.group(t, "Payroll-Admins", &[&alice.id, &bob.id]).await;
        let member_pos = s.change_head(t).await.unwrap();
        s.delete(t, "User", &alice.id, None, &actor())
            .await
            .unwrap();
        let history_before = s.audit_history(t, &alice.id, 0, 100).await.unwrap();
        assert_eq!(history_before.len(), 3, "create, patch, delete");

        // Within the window: nothing is redacted.
        let r = s.apply_retention(t, &days_later(5)).await.unwrap();
        assert_eq!(r.redacted_users, 0);
        // Past it (and, for soft deletes, past the restore window: the row is purged first).
        let r = s.apply_retention(t, &days_later(31)).await.unwrap();
        assert_eq!(r.purged, u64::from(t == f.globex));
        assert_eq!((r.redacted_users, r.redacted_records), (1, 3));
        let again = s.apply_retention(t, &days_later(31)).await.unwrap();
        assert_eq!(again.redacted_users, 0, "idempotent");

        // The records stay, with their time, operation and actor; the values go.
        let history = s.audit_history(t, &alice.id, 0, 100).await.unwrap();
        assert_eq!(history.len(), 3);
        for (now, then) in history.iter().zip(&history_before) {
            assert_eq!(
                (
                    now.seq,
                    &now.at,
                    &now.operation,
                    &now.actor.token_name,
                    &now.changed
                ),
                (
                    then.seq,
                    &then.at,
                    &then.operation,
                    &then.actor.token_name,
                    &then.changed
                )
            );
            let text = serde_json::to_string(&(&now.before, &now.after)).unwrap();
            assert!(!text.contains("alice"), "{text}");
            assert!(!text.contains("Payroll"), "{text}");
        }
        let head = s.change_head(t).await.unwrap();
        let changes = s
            .audit_changes(
                t,
                ChangeQuery {
                    to: head,
                    limit: 1000,
                    ..ChangeQuery::default()
                },
            )
            .await
            .unwrap();
        let all = serde_json::to_string(
            &changes
                .iter()
                .map(|c| (&c.before, &c.after))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!all.contains("alice@example.com"), "{all}");
        assert!(all.contains("bob@example.com"), "bob is not deleted");
        // The audit's copy of her documents is redacted too, her memberships stay.
        let state = s
            .audit_state(t, &alice.id, member_pos)
            .await
            .unwrap()
            .unwrap();
        assert!(state.data.get("userName").is_none(), "{:?}", state.data);
        let members: Vec<String> = s
            .audit_members(t, &g.id, member_pos, false)
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|m| m.value)
            .collect();
        assert!(members.contains(&alice.id) && members.contains(&bob.id));
        let bob_then = s
            .audit_state(t, &bob.id, member_pos)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob_then.data["userName"], "bob@example.com");
    }
}

async fn old_change_records_are_pruned_and_the_audit_stays_exact_for_the_kept_period(f: Fixture) {
    let s = f.s();
    let t = f.acme;
    // Before the cutoff: two users, a group with one of them, a change of the other.
    let u1 = f.user(t, "u1").await;
    let u2 = f.user(t, "u2").await;
    let g = f.group(t, "g", &[&u1.id]).await;
    s.update(
        t,
        "User",
        &u2.id,
        None,
        "patch",
        set("title", json!("old")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let old_head = s.change_head(t).await.unwrap();
    next_millisecond().await;
    let cutoff = instant_now();
    next_millisecond().await;
    // After it: u2 joins, u1 changes, u3 arrives, u2 leaves.
    s.update(
        t,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Add(vec![member(&u2.id)])),
        true,
        &actor(),
    )
    .await
    .unwrap();
    let first_kept = s.change_head(t).await.unwrap();
    s.update(
        t,
        "User",
        &u1.id,
        None,
        "patch",
        set("title", json!("new")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let u3 = f.user(t, "u3").await;
    let middle = s.change_head(t).await.unwrap();
    s.update(
        t,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Remove(vec![u2.id.clone()])),
        true,
        &actor(),
    )
    .await
    .unwrap();
    let head = s.change_head(t).await.unwrap();

    // The answers for the kept period, before pruning.
    async fn answers(
        s: &std::sync::Arc<dyn Store>,
        t: i64,
        g: &str,
        ids: &[&str],
        at: i64,
    ) -> serde_json::Value {
        let members = s.audit_members(t, g, at, true).await.unwrap();
        let active = s.audit_active_users(t, at).await.unwrap();
        let mut states = Vec::new();
        for id in ids {
            states.push(s.audit_state(t, id, at).await.unwrap().map(|r| r.data));
        }
        json!({"members": members, "active": active, "states": states})
    }
    let ids = [
        u1.id.as_str(),
        u2.id.as_str(),
        u3.id.as_str(),
        g.id.as_str(),
    ];
    let mut expected = Vec::new();
    for at in [first_kept, middle, head] {
        expected.push(answers(&s, t, &g.id, &ids, at).await);
    }
    let diff_before = s.audit_diff(t, first_kept, head).await.unwrap();

    s.set_retention_policy(
        t,
        &PolicyUpdate {
            changes_days: Some(Some(0)),
            ..PolicyUpdate::default()
        },
    )
    .await
    .unwrap();
    let r = s.apply_retention(t, &cutoff).await.unwrap();
    assert_eq!(
        r.changes_pruned, old_head as u64,
        "every record before the cutoff"
    );
    assert!(
        r.audit_rows_pruned >= 1,
        "u2's first version ended before it"
    );
    assert_eq!(s.oldest_change(t).await.unwrap(), Some(old_head + 1));
    // The same answers for every position kept.
    for (at, want) in [first_kept, middle, head].into_iter().zip(&expected) {
        assert_eq!(
            &answers(&s, t, &g.id, &ids, at).await,
            want,
            "at position {at}"
        );
    }
    assert_eq!(
        s.audit_diff(t, first_kept, head).await.unwrap(),
        diff_before
    );
    // An instant before the oldest record kept is refused, not answered wrongly.
    let tenant = s.tenant_by_id(t).await.unwrap().unwrap();
    let e = s.audit_point(&tenant, &tenant.created).await.unwrap_err();
    assert_eq!(status(&e), 400);
    assert!(
        e.to_scim().detail.contains("pruned"),
        "{}",
        e.to_scim().detail
    );
    // Running again prunes nothing more.
    let r = s.apply_retention(t, &cutoff).await.unwrap();
    assert_eq!((r.changes_pruned, r.audit_rows_pruned), (0, 0));
    // Another tenant is untouched.
    assert_eq!(
        s.oldest_change(f.globex).await.unwrap().is_some(),
        s.change_head(f.globex).await.unwrap() > 0
    );
}

async fn policies_are_checked_and_kept_per_tenant(f: Fixture) {
    let s = f.s();
    assert_eq!(
        s.retention_policy(f.acme).await.unwrap(),
        RetentionPolicy::default()
    );
    let p = s
        .set_retention_policy(
            f.acme,
            &PolicyUpdate {
                changes_days: Some(Some(365)),
                requests_max: Some(500),
                ..PolicyUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.changes_days, Some(365));
    assert_eq!(p.requests_max, 500);
    assert_eq!(s.retention_policy(f.acme).await.unwrap(), p);
    assert_eq!(
        s.retention_policy(f.globex).await.unwrap(),
        RetentionPolicy::default()
    );
    // Back to forever.
    let p = s
        .set_retention_policy(
            f.acme,
            &PolicyUpdate {
                changes_days: Some(None),
                ..PolicyUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((p.changes_days, p.requests_max), (None, 500));
    for bad in [
        PolicyUpdate {
            changes_days: Some(Some(-1)),
            ..PolicyUpdate::default()
        },
        PolicyUpdate {
            redact_days: Some(Some(40_000)),
            ..PolicyUpdate::default()
        },
        PolicyUpdate {
            requests_max: Some(0),
            ..PolicyUpdate::default()
        },
    ] {
        let e = s.set_retention_policy(f.acme, &bad).await.unwrap_err();
        assert_eq!(status(&e), 400);
    }
    let e = s
        .set_retention_policy(999_999, &PolicyUpdate::default())
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
}
