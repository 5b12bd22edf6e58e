//! Copying a store to another backend and back.

use scim_store::copy::copy;
use scim_store::sqlite::SqliteStore;
use scim_store::{AnyStore, DeleteMode, MemberOp};
use serde_json::json;

use crate::support::{actor, member, members_op, registry, set, test_database, user_data};

/// Fills a store with a bit of everything and returns a fingerprint of its contents.
async fn fill(any: &AnyStore) {
    let shared = any.shared();
    let s = shared.as_ref();
    let targets = any.target_states();
    let acme = s.create_tenant("acme", DeleteMode::Soft, 14).await.unwrap();
    let other = s
        .create_tenant("other", DeleteMode::Hard, 30)
        .await
        .unwrap();
    s.create_token(acme.id, "okta", None).await.unwrap();
    let (revoked, _) = s
        .create_token(other.id, "entra", Some("2030-01-01T00:00:00Z".into()))
        .await
        .unwrap();
    s.revoke_token(other.id, &revoked.id).await.unwrap();
    s.create_admin_token("ops", None).await.unwrap();
    s.update_tenant(
        "acme",
        scim_store::TenantUpdate {
            rate_per_minute: Some(Some(1200)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..620 {
        let mut data = user_data(&format!("User{i:04}"));
        if i == 0 {
            // A large document, which SQLite keeps packed (sql/document.rs).
            data.insert("emails".into(), large_emails());
        }
        let u = s
            .create(acme.id, "User", data, Vec::new(), &actor())
            .await
            .unwrap();
        ids.push(u.id);
    }
    let g = s
        .create(
            acme.id,
            "Group",
            crate::support::group_data("All"),
            ids[..300].iter().map(|i| member(i)).collect(),
            &actor(),
        )
        .await
        .unwrap();
    s.update(
        acme.id,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Remove(vec![ids[0].clone()])),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.update(
        acme.id,
        "User",
        &ids[1],
        None,
        "patch",
        set("title", json!("Boss")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.delete(acme.id, "User", &ids[2], None, &actor())
        .await
        .unwrap();
    s.create(other.id, "User", user_data("solo"), Vec::new(), &actor())
        .await
        .unwrap();
    // What is built over the data: a webhook endpoint (paused by an operator), a role rule
    // (and the roles it gives), the audit index, a connector target's position and a parked
    // event, the record of management writes.
    let hook = s
        .create_destination(scim_store::delivery::NewDestination {
            tenant_id: acme.id,
            kind: scim_store::delivery::DestinationKind::Webhook,
            url: "https://hooks.example.com/scim".into(),
            event_types: "user.*".into(),
            description: "billing".into(),
            secret: Some("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into()),
            batch_max: 1,
            position: 0,
        })
        .await
        .unwrap();
    s.set_destination_active(&hook.id, false, Some("operator".into()))
        .await
        .unwrap();
    s.admin_write(
        scim_store::manage::AdminOp::AddRoleRule {
            tenant: "acme".into(),
            spec: scim_store::roles::RoleRuleSpec {
                role: "staff".into(),
                matches: scim_store::roles::RoleMatch::GroupDisplayName,
                // A pattern rule (`pattern` is copied too).
                value: Some("A*".into()),
                pattern: true,
                filter: None,
            },
        },
        scim_store::manage::AuditActor {
            name: "cli:test".into(),
            id: None,
            request_id: Some("req-1".into()),
        },
        None,
        Box::new(|_| json!({})),
    )
    .await
    .unwrap();
    s.audit_catch_up(acme.id).await.unwrap();
    let mut status = scim_store::TargetStatus::new("legacy", acme.id);
    status.position = 5;
    status.updated = "2026-12-03T00:00:00Z".into();
    targets.save_target_status(&status).await.unwrap();
    targets
        .park_event(
            &scim_store::ParkedEvent {
                target: "legacy".into(),
                tenant_id: acme.id,
                position: 6,
                resource_id: ids[3].clone(),
                event: "{}".into(),
                error: "no such column".into(),
                parked_at: "2026-12-03T00:00:01Z".into(),
            },
            true,
        )
        .await
        .unwrap();
}

/// Everything observable through the store, as text.
async fn snapshot(any: &AnyStore) -> String {
    let shared = any.shared();
    let s = shared.as_ref();
    let targets = any.target_states();
    let mut out = String::new();
    let log = scim_store::manage::AuditQuery {
        after: 0,
        limit: 100,
        tenant: None,
    };
    for e in s.audit_log(log).await.unwrap() {
        out.push_str(&format!("{e:?}\n"));
    }
    for a in s.list_admin_tokens().await.unwrap() {
        out.push_str(&format!("{a:?}\n"));
    }
    for t in s.list_tenants().await.unwrap() {
        out.push_str(&format!("{t:?}\n"));
        for tok in s.list_tokens(t.id).await.unwrap() {
            out.push_str(&format!("{tok:?}\n"));
        }
        for c in s.changes(t.id, 0, u32::MAX).await.unwrap() {
            out.push_str(&format!("{c:?}\n"));
        }
        for d in s.list_destinations(Some(t.id), None).await.unwrap() {
            let kept = (
                &d.id,
                &d.url,
                &d.event_types,
                &d.secret,
                d.position,
                d.active,
            );
            out.push_str(&format!("{kept:?} {:?}\n", d.paused_reason));
        }
        for r in s.role_rules(t.id).await.unwrap() {
            out.push_str(&format!("{r:?}\n"));
        }
        for st in targets.target_statuses(None).await.unwrap() {
            if st.tenant_id == t.id {
                out.push_str(&format!("{st:?}\n"));
            }
        }
        for p in targets.parked_events("legacy", t.id).await.unwrap() {
            out.push_str(&format!("{p:?}\n"));
        }
        let registry = registry();
        for rt in ["User", "Group"] {
            let request = scim_store::ListRequest {
                resource_type: rt.into(),
                filter: None,
                sort: None,
                pagination: scim_store::Pagination::Index {
                    start_index: 1,
                    count: 10_000,
                },
                include: scim_store::Include::MEMBERS,
                max_scan: u64::MAX,
            };
            for r in s.list(t.id, request).await.unwrap().resources {
                if rt == "User" {
                    let roles = s.user_roles(t.id, &r.id).await.unwrap();
                    out.push_str(&format!("roles {roles:?}\n"));
                }
                out.push_str(&format!("{r:?}\n"));
            }
            let _ = &registry;
        }
    }
    out
}

fn large_emails() -> serde_json::Value {
    (0..1000)
        .map(|k| serde_json::json!({"value": format!("user0000.{k}@example.com"), "type": "work"}))
        .collect()
}

/// How many resources and change records of a SQLite file are stored packed.
fn packed_in(dir: &tempfile::TempDir, name: &str) -> (i64, i64) {
    let conn = rusqlite::Connection::open(dir.path().join(name)).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        count("SELECT count(*) FROM resources WHERE typeof(data) = 'blob'"),
        count("SELECT count(*) FROM changes WHERE typeof(after) = 'blob'"),
    )
}

fn sqlite_at(dir: &tempfile::TempDir, name: &str) -> AnyStore {
    AnyStore::Sqlite(SqliteStore::open(&dir.path().join(name), &registry()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_sqlite_copies_everything_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sqlite_at(&dir, "a.db"), sqlite_at(&dir, "b.db"));
    fill(&a).await;
    let report = copy(&a, &b).await.unwrap();
    let counts: Vec<(&str, u64)> = report.tables.iter().map(|t| (t.table, t.target)).collect();
    assert_eq!(
        counts,
        [
            ("admin_tokens", 1),
            ("tenants", 2),
            ("tenant_settings", 1),
            ("tokens", 2),
            ("resources", 622),
            // The large user's emails included (one `UNINDEXED` entry).
            ("attr_index", 622),
            ("members", 298),
            ("changes", 925),
            ("destinations", 1),
            ("audit_progress", 1),
            ("audit_members", 300),
            ("audit_states", 622),
            ("target_positions", 1),
            ("target_parked", 1),
            ("admin_audit", 1),
            ("role_rules", 1),
            ("user_roles", 298),
            ("ended_memberships", 1)
        ]
    );
    assert_eq!(snapshot(&a).await, snapshot(&b).await);
    // The large document stays packed in the copy.
    assert_eq!(packed_in(&dir, "a.db"), (1, 1));
    assert_eq!(packed_in(&dir, "b.db"), (1, 1));
    // Again: nothing changes.
    copy(&a, &b).await.unwrap();
    assert_eq!(snapshot(&a).await, snapshot(&b).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back() {
    let Some(db) = test_database("sqlite_to_postgres_and_back").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_at(&dir, "source.db");
    fill(&source).await;
    let pg = AnyStore::Postgres(db.store(&registry()).await.unwrap());
    copy(&source, &pg).await.unwrap();
    let expected = snapshot(&source).await;
    assert_eq!(snapshot(&pg).await, expected);
    // Idempotent, and the copy is fully usable: tokens authenticate, uniqueness holds, and
    // new ids and change numbers continue after the copied ones.
    copy(&source, &pg).await.unwrap();
    assert_eq!(snapshot(&pg).await, expected);
    let s = pg.shared();
    let acme = s.tenant("acme").await.unwrap().unwrap();
    let e = s
        .create(acme.id, "User", user_data("user0005"), Vec::new(), &actor())
        .await
        .unwrap_err();
    assert_eq!(e.to_scim().status, 409);
    s.create(acme.id, "User", user_data("newcomer"), Vec::new(), &actor())
        .await
        .unwrap();
    let last = s
        .changes(acme.id, 0, u32::MAX)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    // 626 records of the data, 298 of the roles the rule gave; then the newcomer.
    assert_eq!(last, 626 + 298 + 1);
    let t = s
        .create_tenant("third", DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert!(t.id > acme.id);
    // And back to a new SQLite file.
    let back = sqlite_at(&dir, "back.db");
    copy(&pg, &back).await.unwrap();
    assert_eq!(snapshot(&back).await, snapshot(&pg).await);
    assert_eq!(packed_in(&dir, "back.db"), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sqlite_at(&dir, "a.db"), sqlite_at(&dir, "b.db"));
    a.shared()
        .create_tenant("acme", DeleteMode::Hard, 30)
        .await
        .unwrap();
    b.shared()
        .create_tenant("zulu", DeleteMode::Hard, 30)
        .await
        .unwrap();
    let e = copy(&a, &b).await.unwrap_err();
    assert!(e.to_string().contains("empty database"), "{e}");
    assert!(copy(&a, &a).await.is_err());
}
