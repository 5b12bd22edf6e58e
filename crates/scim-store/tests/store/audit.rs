//! The point-in-time audit: a randomised provisioning run takes snapshots of the live
//! directory (through the ordinary reads) at instants, and afterwards every audit answer at
//! each snapshot's instant must equal the snapshot — states, members direct and nested
//! (checked against `groups_of` as the oracle), active users, diffs between snapshots,
//! change listings and histories. Plus bad input and pruning.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scim_store::audit::ChangeQuery;
use scim_store::{Include, MemberOp, MemberRef, Pagination, Store, StoredResource, Tenant, Update};
use serde_json::{Value, json};

use crate::support::{Fixture, actor, group_data, members_op, obj, set, status};

store_tests!(
    audit_answers_equal_snapshots_of_a_random_run,
    audit_refuses_bad_instants_and_unknown_ids,
    audit_survives_pruning_of_the_change_log,
    active_changes_and_history_name_actor_and_values
);

/// The live directory at an instant.
struct Snapshot {
    at: String,
    head: i64,
    /// Every live resource, groups with their members.
    resources: BTreeMap<String, StoredResource>,
    /// user id → the groups it is in, directly or nested (the store's own `groups_of`).
    groups_of: BTreeMap<String, BTreeSet<String>>,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn snapshot(f: &Fixture, tenant: i64) -> Snapshot {
    let s = f.s();
    // Instants are kept to the millisecond: keep the snapshot's instant apart from the
    // writes before and after it.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let at = now();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let head = s.change_head(tenant).await.unwrap();
    let mut resources = BTreeMap::new();
    let mut users = Vec::new();
    for rt in ["User", "Group"] {
        let mut req = f.request(
            rt,
            None,
            None,
            Pagination::Index {
                start_index: 1,
                count: 10_000,
            },
        );
        req.include = Include::MEMBERS;
        for r in s.list(tenant, req).await.unwrap().resources {
            if rt == "User" {
                users.push(r.id.clone());
            }
            resources.insert(r.id.clone(), r);
        }
    }
    let groups_of = s
        .groups_of(tenant, users.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|(u, gs)| (u, gs.into_iter().map(|g| g.group_id).collect()))
        .collect();
    Snapshot {
        at,
        head,
        resources,
        groups_of,
    }
}

fn is_active(r: &StoredResource) -> bool {
    scim_store::audit::is_active(&r.data)
}

fn member_set(r: &StoredResource) -> BTreeSet<(String, Option<String>)> {
    r.members
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.value, m.kind))
        .collect()
}

fn pick<'a>(rng: &mut StdRng, v: &'a [String]) -> Option<&'a String> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.random_range(0..v.len())])
    }
}

/// A random provisioning run on one tenant: creates, patches, replaces, deactivations,
/// member adds/removes/replaces, nested groups, renames, deletes, restores (soft deletes).
async fn random_run(
    f: &Fixture,
    tenant: i64,
    seed: u64,
    steps: usize,
) -> (Vec<Snapshot>, Vec<String>) {
    let s = f.s();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut users, mut groups, mut deleted): (Vec<String>, Vec<String>, Vec<String>) =
        Default::default();
    let mut ever = Vec::new();
    let mut snaps = vec![snapshot(f, tenant).await];
    for step in 0..steps {
        let roll = rng.random_range(0..100);
        let result: Result<(), scim_store::StoreError> = async {
            match roll {
                0..=19 => {
                    let mut data = crate::support::user_data(&format!("u{step}-{seed}"));
                    if rng.random_bool(0.5) {
                        data.insert("active".into(), json!(rng.random_bool(0.7)));
                    }
                    data.insert(
                        "title".into(),
                        json!(format!("t{}", rng.random_range(0..3))),
                    );
                    let u = s.create(tenant, "User", data, vec![], &actor()).await?;
                    ever.push(u.id.clone());
                    users.push(u.id);
                }
                20..=31 => {
                    if let Some(u) = pick(&mut rng, &users) {
                        let (attr, v) = if rng.random_bool(0.6) {
                            ("active", json!(rng.random_bool(0.5)))
                        } else {
                            ("title", json!(format!("t{}", rng.random_range(0..5))))
                        };
                        s.update(
                            tenant,
                            "User",
                            u,
                            None,
                            "patch",
                            set(attr, v),
                            false,
                            &actor(),
                        )
                        .await?;
                    }
                }
                32..=35 => {
                    if let Some(u) = pick(&mut rng, &users) {
                        let name = format!("r{step}-{seed}");
                        let replace: scim_store::UpdateFn =
                            scim_store::UpdateFn::new(move |_cur: &StoredResource| {
                                Ok(Update {
                                    data: obj(json!({"schemas": [crate::support::USER_SCHEMA],
                                        "userName": name, "name": {"givenName": "G"}})),
                                    changed: vec!["userName".into(), "name".into()],
                                    ..Update::default()
                                })
                            });
                        s.update(tenant, "User", u, None, "replace", replace, false, &actor())
                            .await?;
                    }
                }
                36..=45 => {
                    let mut refs = Vec::new();
                    for _ in 0..rng.random_range(0..4) {
                        if let Some(u) = pick(&mut rng, &users) {
                            refs.push(MemberRef {
                                value: u.clone(),
                                kind: None,
                                display: None,
                            });
                        }
                    }
                    if rng.random_bool(0.3)
                        && let Some(g) = pick(&mut rng, &groups)
                    {
                        refs.push(MemberRef {
                            value: g.clone(),
                            kind: None,
                            display: None,
                        });
                    }
                    refs.sort_by(|a, b| a.value.cmp(&b.value));
                    refs.dedup_by(|a, b| a.value == b.value);
                    let g = s
                        .create(
                            tenant,
                            "Group",
                            group_data(&format!("g{step}")),
                            refs,
                            &actor(),
                        )
                        .await?;
                    ever.push(g.id.clone());
                    groups.push(g.id);
                }
                46..=65 => {
                    if let Some(g) = pick(&mut rng, &groups).cloned() {
                        let pool: Vec<String> = if rng.random_bool(0.25) {
                            groups.clone()
                        } else {
                            users.clone()
                        };
                        let some: Vec<MemberRef> = (0..rng.random_range(1..4))
                            .filter_map(|_| pick(&mut rng, &pool))
                            .filter(|m| **m != g)
                            .map(|m| MemberRef {
                                value: m.clone(),
                                kind: None,
                                display: None,
                            })
                            .collect();
                        let op = match rng.random_range(0..4) {
                            0 | 1 => MemberOp::Add(some),
                            2 => MemberOp::Remove(some.into_iter().map(|m| m.value).collect()),
                            _ => MemberOp::ReplaceAll(some),
                        };
                        s.update(
                            tenant,
                            "Group",
                            &g,
                            None,
                            "patch",
                            members_op(op),
                            false,
                            &actor(),
                        )
                        .await?;
                    }
                }
                66..=70 => {
                    if let Some(g) = pick(&mut rng, &groups) {
                        let v = json!(format!("renamed{step}"));
                        s.update(
                            tenant,
                            "Group",
                            g,
                            None,
                            "patch",
                            set("displayName", v),
                            false,
                            &actor(),
                        )
                        .await?;
                    }
                }
                71..=80 => {
                    if let Some(u) = pick(&mut rng, &users).cloned() {
                        s.delete(tenant, "User", &u, None, &actor()).await?;
                        users.retain(|x| *x != u);
                        deleted.push(u);
                    }
                }
                81..=85 => {
                    if let Some(g) = pick(&mut rng, &groups).cloned() {
                        s.delete(tenant, "Group", &g, None, &actor()).await?;
                        groups.retain(|x| *x != g);
                        deleted.push(g);
                    }
                }
                86..=90 => {
                    if let Some(id) = pick(&mut rng, &deleted).cloned() {
                        // Only soft-deleted resources come back (404 on a hard-delete tenant).
                        if let Ok(r) = s.restore(tenant, &id, &actor()).await {
                            deleted.retain(|x| *x != id);
                            if r.resource_type == "User" {
                                users.push(id);
                            } else {
                                groups.push(id);
                            }
                        }
                    }
                }
                91..=93 => {
                    // The index is brought up to date mid-run too (incremental catch-up).
                    s.audit_catch_up(tenant).await?;
                }
                _ => snaps.push(snapshot(f, tenant).await),
            }
            Ok(())
        }
        .await;
        result.unwrap_or_else(|e| panic!("step {step} (roll {roll}, seed {seed}): {e}"));
    }
    snaps.push(snapshot(f, tenant).await);
    (snaps, ever)
}

async fn check_snapshot(s: &Arc<dyn Store>, tenant: &Tenant, snap: &Snapshot, ever: &[String]) {
    let t = tenant.id;
    let p = s.audit_point(tenant, &snap.at).await.unwrap();
    assert_eq!(
        p.seq, snap.head,
        "the instant {} is position {}",
        snap.at, snap.head
    );
    for id in ever {
        let got = s.audit_state(t, id, p.seq).await.unwrap();
        match (snap.resources.get(id), got) {
            (None, None) => {}
            (Some(want), Some(got)) => {
                assert_eq!(got.data, want.data, "{id} at {}", snap.at);
                assert_eq!(got.version, want.version, "{id} version at {}", snap.at);
                assert_eq!(got.created, want.created);
                assert_eq!(got.last_modified, want.last_modified, "{id} at {}", snap.at);
                if want.resource_type == "Group" {
                    assert_eq!(member_set(&got), member_set(want), "{id} at {}", snap.at);
                }
            }
            (want, got) => panic!(
                "{id} at {}: live {:?}, audit {:?}",
                snap.at,
                want.map(|w| &w.data),
                got.map(|g| g.data)
            ),
        }
    }
    for id in ever {
        let members = s.audit_members(t, id, p.seq, true).await.unwrap();
        let Some(want) = snap
            .resources
            .get(id)
            .filter(|r| r.resource_type == "Group")
        else {
            if !snap.resources.contains_key(id) {
                assert!(members.is_none(), "{id} did not exist at {}", snap.at);
            }
            continue;
        };
        let members = members.expect("the group existed");
        let direct: BTreeSet<(String, Option<String>)> = members
            .iter()
            .filter(|m| m.direct)
            .map(|m| (m.value.clone(), m.kind.clone()))
            .collect();
        assert_eq!(
            direct,
            member_set(want),
            "direct members of {id} at {}",
            snap.at
        );
        let nested_users: BTreeSet<&str> = members
            .iter()
            .filter(|m| m.kind.as_deref() == Some("User"))
            .map(|m| m.value.as_str())
            .collect();
        let oracle: BTreeSet<&str> = snap
            .groups_of
            .iter()
            .filter(|(_, gs)| gs.contains(id))
            .map(|(u, _)| u.as_str())
            .collect();
        assert_eq!(
            nested_users, oracle,
            "users in {id}, nested, at {}",
            snap.at
        );
    }
    let active: Vec<String> = s
        .audit_active_users(t, p.seq)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    let want: Vec<String> = snap
        .resources
        .values()
        .filter(|r| r.resource_type == "User" && is_active(r))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(active, want, "active users at {}", snap.at);
}

async fn check_diff(s: &Arc<dyn Store>, t: i64, a: &Snapshot, b: &Snapshot) {
    let d = s.audit_diff(t, a.head, b.head).await.unwrap();
    let ids = |v: &[scim_store::audit::DiffResource]| -> BTreeSet<String> {
        v.iter().map(|r| r.id.clone()).collect()
    };
    let (ka, kb): (BTreeSet<&String>, BTreeSet<&String>) =
        (a.resources.keys().collect(), b.resources.keys().collect());
    let created: BTreeSet<String> = kb.difference(&ka).map(|s| s.to_string()).collect();
    let deleted: BTreeSet<String> = ka.difference(&kb).map(|s| s.to_string()).collect();
    let updated: BTreeSet<String> = ka
        .intersection(&kb)
        .filter(|id| a.resources[**id].data != b.resources[**id].data)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ids(&d.created), created, "created {}..{}", a.head, b.head);
    assert_eq!(ids(&d.deleted), deleted, "deleted {}..{}", a.head, b.head);
    assert_eq!(ids(&d.updated), updated, "updated {}..{}", a.head, b.head);
    for u in &d.updated {
        let (x, y) = (&a.resources[&u.id].data, &b.resources[&u.id].data);
        // The changes take the earlier document to the later one.
        let mut patched = x.clone();
        for c in &u.changes {
            let key = c.attribute.split('.').next().unwrap().to_string();
            if !c.attribute.contains('.') {
                if c.new.is_null() {
                    patched.remove(&key);
                } else {
                    patched.insert(key, c.new.clone());
                }
            } else {
                patched.insert(key.clone(), y[&key].clone());
            }
        }
        patched.insert("schemas".into(), y["schemas"].clone());
        let norm = |m: &serde_json::Map<String, Value>| -> BTreeMap<String, Value> {
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        assert_eq!(norm(&patched), norm(y), "changes of {}", u.id);
    }
    let pairs = |snap: &Snapshot| -> BTreeSet<(String, String)> {
        snap.resources
            .values()
            .filter(|r| r.resource_type == "Group")
            .flat_map(|g| {
                member_set(g)
                    .into_iter()
                    .map(move |(m, _)| (g.id.clone(), m))
            })
            .collect()
    };
    let (pa, pb) = (pairs(a), pairs(b));
    let added: BTreeSet<(String, String)> = d
        .members_added
        .iter()
        .map(|m| (m.group.clone(), m.value.clone()))
        .collect();
    let removed: BTreeSet<(String, String)> = d
        .members_removed
        .iter()
        .map(|m| (m.group.clone(), m.value.clone()))
        .collect();
    assert_eq!(
        added,
        pb.difference(&pa).cloned().collect(),
        "members added"
    );
    assert_eq!(
        removed,
        pa.difference(&pb).cloned().collect(),
        "members removed"
    );
}

async fn audit_answers_equal_snapshots_of_a_random_run(f: Fixture) {
    let s = f.s();
    let seed: u64 = std::env::var("AUDIT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("AUDIT_SEED={seed}");
    for (tenant_id, name) in [(f.acme, "acme"), (f.globex, "globex")] {
        let tenant = s.tenant(name).await.unwrap().unwrap();
        let (snaps, ever) = random_run(&f, tenant_id, seed, 160).await;
        assert!(snaps.len() >= 2);
        for snap in &snaps {
            check_snapshot(&s, &tenant, snap, &ever).await;
        }
        for w in snaps.windows(2) {
            check_diff(&s, tenant_id, &w[0], &w[1]).await;
        }
        check_diff(&s, tenant_id, &snaps[0], &snaps[snaps.len() - 1]).await;
        // Listings equal the change log read directly.
        let all = s.changes(tenant_id, 0, 10_000).await.unwrap();
        let (from, to) = (snaps[1].head, snaps[snaps.len() - 1].head);
        let q = ChangeQuery {
            from,
            to,
            resource_type: Some("User".into()),
            operation: Some("patch".into()),
            token: Some("okta".into()),
            limit: 10_000,
        };
        let got: Vec<i64> = s
            .audit_changes(tenant_id, q)
            .await
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        let want: Vec<i64> = all
            .iter()
            .filter(|c| c.seq > from && c.seq <= to)
            .filter(|c| c.resource_type == "User" && c.operation == "patch")
            .map(|c| c.seq)
            .collect();
        assert_eq!(got, want);
        for id in &ever {
            let got = s.audit_history(tenant_id, id, 0, 10_000).await.unwrap();
            let want: Vec<_> = all
                .iter()
                .filter(|c| c.resource_id == *id)
                .cloned()
                .collect();
            assert_eq!(got, want, "history of {id}");
        }
    }
}

async fn audit_refuses_bad_instants_and_unknown_ids(f: Fixture) {
    let s = f.s();
    let acme = s.tenant("acme").await.unwrap().unwrap();
    for bad in ["", "yesterday", "2026-02-30T00:00:00Z", "14/03/2026"] {
        let e = s.audit_point(&acme, bad).await.unwrap_err();
        assert_eq!(status(&e), 400, "{bad}");
    }
    let e = s
        .audit_point(&acme, "2001-01-01T00:00:00Z")
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    assert!(e.to_scim().detail.contains("did not exist"), "{e}");
    // Before the first change: position 0, where nothing exists.
    let p = s.audit_point(&acme, &acme.created).await.unwrap();
    assert_eq!(p.seq, 0);
    let u = f.user(f.acme, "alice").await;
    assert!(s.audit_state(f.acme, &u.id, 0).await.unwrap().is_none());
    let now = s.audit_point(&acme, &now()).await.unwrap();
    assert!(
        s.audit_state(f.acme, &u.id, now.seq)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.audit_members(f.acme, "no-such-group", now.seq, true)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.audit_state(f.acme, "nope", now.seq)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.audit_history(f.acme, "nope", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let e = s.audit_diff(f.acme, 2, 1).await.unwrap_err();
    assert_eq!(status(&e), 400);
}

async fn audit_survives_pruning_of_the_change_log(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "alice").await;
    let bob = f.user(f.acme, "bob").await;
    let g = f.group(f.acme, "payroll", &[&alice.id, &bob.id]).await;
    let with_both = s.change_head(f.acme).await.unwrap();
    s.update(
        f.acme,
        "Group",
        &g.id,
        None,
        "patch",
        members_op(MemberOp::Remove(vec![bob.id.clone()])),
        false,
        &actor(),
    )
    .await
    .unwrap();
    let after = s.change_head(f.acme).await.unwrap();
    // Pruning everything up to the removal indexes it first: the audit still knows who
    // was in the group at each position.
    s.prune_changes(f.acme, after).await.unwrap();
    let ids = |m: Option<Vec<scim_store::audit::MemberAt>>| -> Vec<String> {
        m.unwrap().into_iter().map(|m| m.value).collect()
    };
    let mut both = vec![alice.id.clone(), bob.id.clone()];
    both.sort();
    assert_eq!(
        ids(s
            .audit_members(f.acme, &g.id, with_both, false)
            .await
            .unwrap()),
        both
    );
    assert_eq!(
        ids(s.audit_members(f.acme, &g.id, after, false).await.unwrap()),
        vec![alice.id.clone()]
    );
    // Instants older than the records kept cannot be placed: a clear 400.
    let acme = s.tenant("acme").await.unwrap().unwrap();
    let e = s.audit_point(&acme, &acme.created).await.unwrap_err();
    assert_eq!(status(&e), 400);
    assert!(e.to_scim().detail.contains("pruned"), "{e}");
}

async fn active_changes_and_history_name_actor_and_values(f: Fixture) {
    let s = f.s();
    let u = f.user(f.acme, "dave").await;
    let from = s.change_head(f.acme).await.unwrap();
    s.update(
        f.acme,
        "User",
        &u.id,
        None,
        "patch",
        set("active", json!(false)),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.update(
        f.acme,
        "User",
        &u.id,
        None,
        "patch",
        set("title", json!("x")),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.update(
        f.acme,
        "User",
        &u.id,
        None,
        "patch",
        set("active", json!(true)),
        false,
        &actor(),
    )
    .await
    .unwrap();
    s.delete(f.acme, "User", &u.id, None, &actor())
        .await
        .unwrap();
    let to = s.change_head(f.acme).await.unwrap();
    let got: Vec<(String, Value, Value)> = s
        .audit_active_changes(f.acme, from, to)
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            assert_eq!(c.token.as_deref(), Some("okta"));
            assert_eq!(c.user_name.as_deref(), Some("dave"));
            (c.operation, c.old, c.new)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("patch".into(), Value::Null, json!(false)),
            ("patch".into(), json!(false), json!(true)),
            ("delete".into(), json!(true), Value::Null),
        ]
    );
    let h = s.audit_history(f.acme, &u.id, 0, 100).await.unwrap();
    let ops: Vec<&str> = h.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(ops, ["create", "patch", "patch", "patch", "delete"]);
    let changes = scim_store::audit::record_changes(&h[2]);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].attribute, "title");
    assert_eq!(changes[0].new, json!("x"));
    assert_eq!(h[2].actor.request_id.as_deref(), Some("req-1"));
}
