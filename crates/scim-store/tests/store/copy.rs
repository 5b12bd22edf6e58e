//! Copying a store to another backend and back.

use scim_store::copy::copy;
use scim_store::sqlite::SqliteStore;
use scim_store::{AnyStore, DeleteMode, MemberOp, Store};
use serde_json::json;

use crate::support::{actor, member, members_op, registry, set, test_database, user_data};

/// Fills a store with a bit of everything and returns a fingerprint of its contents.
async fn fill(s: &dyn Store) {
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
        let u = s
            .create(
                acme.id,
                "User",
                user_data(&format!("User{i:04}")),
                Vec::new(),
                &actor(),
            )
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
    // A role rule: the group's 298 members get a role (and a roles_changed record each).
    s.admin_write(
        scim_store::manage::AdminOp::AddRoleRule {
            tenant: "acme".into(),
            spec: scim_store::roles::RoleRuleSpec {
                role: "staff".into(),
                matches: scim_store::roles::RoleMatch::GroupDisplayName,
                value: Some("A*".into()),
                pattern: true,
                filter: None,
            },
        },
        scim_store::manage::AuditActor::default(),
        None,
        Box::new(|_| serde_json::Value::Null),
    )
    .await
    .unwrap();
}

/// Everything observable through the store, as text.
async fn snapshot(s: &dyn Store) -> String {
    let mut out = String::new();
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
        for rule in s.role_rules(t.id).await.unwrap() {
            out.push_str(&format!("{rule:?}\n"));
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
                out.push_str(&format!("{r:?}\n"));
                let roles = s.user_roles(t.id, &r.id).await.unwrap();
                out.push_str(&format!("{roles:?}\n"));
            }
            let _ = &registry;
        }
    }
    out
}

fn sqlite_at(dir: &tempfile::TempDir, name: &str) -> AnyStore {
    AnyStore::Sqlite(SqliteStore::open(&dir.path().join(name), &registry()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_sqlite_copies_everything_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sqlite_at(&dir, "a.db"), sqlite_at(&dir, "b.db"));
    fill(a.shared().as_ref()).await;
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
            ("attr_index", 621),
            ("members", 298),
            ("changes", 925),
            ("role_rules", 1),
            ("user_roles", 298)
        ]
    );
    assert_eq!(
        snapshot(a.shared().as_ref()).await,
        snapshot(b.shared().as_ref()).await
    );
    // Again: nothing changes.
    copy(&a, &b).await.unwrap();
    assert_eq!(
        snapshot(a.shared().as_ref()).await,
        snapshot(b.shared().as_ref()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back() {
    let Some(db) = test_database("sqlite_to_postgres_and_back").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_at(&dir, "source.db");
    fill(source.shared().as_ref()).await;
    let pg = AnyStore::Postgres(db.store(&registry()).await.unwrap());
    copy(&source, &pg).await.unwrap();
    let expected = snapshot(source.shared().as_ref()).await;
    assert_eq!(snapshot(pg.shared().as_ref()).await, expected);
    // Idempotent, and the copy is fully usable: tokens authenticate, uniqueness holds, and
    // new ids and change numbers continue after the copied ones.
    copy(&source, &pg).await.unwrap();
    assert_eq!(snapshot(pg.shared().as_ref()).await, expected);
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
    // 626 changes, 298 roles_changed records, and the newcomer.
    assert_eq!(last, 626 + 298 + 1);
    let t = s
        .create_tenant("third", DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert!(t.id > acme.id);
    // And back to a new SQLite file.
    let back = sqlite_at(&dir, "back.db");
    copy(&pg, &back).await.unwrap();
    assert_eq!(
        snapshot(back.shared().as_ref()).await,
        snapshot(pg.shared().as_ref()).await
    );
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
