use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use scim_client::{Client, ClientConfig, ListParams, Paging};
use scim_mapping::Mapping;
use scim_sync::{Limit, MatchKey, SourceSpec, SyncError, SyncOptions};
use serde_json::Value;

use crate::support::Server;

backend_tests!(
    csv_with_mapping_then_nothing_to_do,
    modified_source_plans_exactly_the_changes,
    delete_guard_refuses_a_source_that_lost_most_rows,
    bad_rows_are_skipped_with_line_numbers_and_hold_leavers,
    jsonl_without_mapping,
    scim_to_scim_copy_with_memberships,
    rate_limited_target_answers_429_and_sync_finishes,
    concurrent_bulks_take_turns_at_the_rate_limit,
    interrupted_run_resumes_without_duplicates,
    mapping_checked_against_target_schemas,
    large_source_is_planned_and_applied_through_the_workspace,
);

const MAPPING: &str = r#"
[user]
externalId = "{employee_id}"
userName = "{email | lower}"
"name.givenName" = "{first_name}"
"name.familyName" = "{last_name}"
displayName = "{first_name} {last_name}"
'emails[type eq "work"].value' = "{email | lower}"
'emails[type eq "work"].primary' = true
active = "{status | in('Active', 'Leave')}"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "{dept | default('Unassigned')}"

[group]
displayName = "{name}"
members = "{members | split(';')}"
"#;

#[derive(Clone)]
pub struct Person {
    pub id: String,
    first: String,
    pub last: String,
    dept: String,
    pub group: usize,
}

pub fn people(n: usize, groups: usize) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            id: format!("E{i:04}"),
            first: format!("First{i}"),
            last: format!("Last{i}"),
            dept: if i % 3 == 0 {
                String::new()
            } else {
                format!("Dept{}", i % 4)
            },
            group: i % groups,
        })
        .collect()
}

pub fn users_csv(ps: &[Person]) -> String {
    let mut s = String::from("employee_id,email,first_name,last_name,status,dept\n");
    for p in ps {
        s.push_str(&format!(
            "{},{}@Example.com,{},{},Active,{}\n",
            p.id, p.id, p.first, p.last, p.dept
        ));
    }
    s
}

pub fn groups_csv(ps: &[Person], groups: usize) -> String {
    let mut s = String::from("name,members\n");
    for g in 0..groups {
        let members: Vec<&str> = ps
            .iter()
            .filter(|p| p.group == g)
            .map(|p| p.id.as_str())
            .collect();
        s.push_str(&format!("Team {g},\"{}\"\n", members.join(";")));
    }
    s
}

/// The target's state by externalId: (userName, active, familyName, department), and the
/// groups' members by externalId.
type State = (
    BTreeMap<String, (String, bool, String, String)>,
    BTreeMap<String, BTreeSet<String>>,
);

pub async fn state(c: &Client) -> State {
    let users = c
        .pager(
            "/Users",
            ListParams {
                count: Some(50),
                ..Default::default()
            },
            Paging::Index,
        )
        .collect_all()
        .await
        .unwrap();
    let mut by_id = BTreeMap::new();
    let mut out = BTreeMap::new();
    for u in &users {
        let key = u["externalId"]
            .as_str()
            .unwrap_or(u["userName"].as_str().unwrap())
            .to_string();
        by_id.insert(u["id"].as_str().unwrap().to_string(), key.clone());
        let prev = out.insert(
            key.clone(),
            (
                u["userName"].as_str().unwrap().to_string(),
                u["active"].as_bool().unwrap_or(true),
                u["name"]["familyName"].as_str().unwrap_or("").to_string(),
                u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ),
        );
        assert!(prev.is_none(), "duplicate user {key}");
    }
    let groups = c
        .pager(
            "/Groups",
            ListParams {
                count: Some(50),
                ..Default::default()
            },
            Paging::Index,
        )
        .collect_all()
        .await
        .unwrap();
    let mut gs = BTreeMap::new();
    for g in &groups {
        let members = g["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        by_id
                            .get(m["value"].as_str().unwrap())
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let prev = gs.insert(g["displayName"].as_str().unwrap().to_string(), members);
        assert!(prev.is_none(), "duplicate group");
    }
    (out, gs)
}

fn files(s: &Server, tag: &str, ps: &[Person], groups: usize) -> SourceSpec {
    SourceSpec::Files {
        users: Some(s.file(&format!("{tag}-users.csv"), &users_csv(ps))),
        groups: Some(s.file(&format!("{tag}-groups.csv"), &groups_csv(ps, groups))),
    }
}

pub fn mapping() -> Mapping {
    Mapping::parse(MAPPING, "mapping.toml").unwrap()
}

async fn csv_with_mapping_then_nothing_to_do(s: Server) {
    let target = s.client("acme");
    let ps = people(40, 4);
    let src = files(&s, "a", &ps, 4);
    let m = mapping();
    let out = scim_sync::run(&target, &src, Some(&m), &SyncOptions::default())
        .await
        .unwrap();
    let report = out.report.unwrap();
    assert_eq!(
        (report.created, report.groups_created, report.members_added),
        (40, 4, 40),
        "{}",
        report.render()
    );
    assert!(report.failures.is_empty(), "{}", report.render());
    assert!(
        report.bulk_requests > 0,
        "the target advertises Bulk: {}",
        report.render()
    );
    let (users, groups) = state(&target).await;
    assert_eq!(users.len(), 40);
    assert_eq!(
        users["E0001"],
        (
            "e0001@example.com".into(),
            true,
            "Last1".into(),
            "Dept1".into()
        )
    );
    assert_eq!(users["E0003"].3, "Unassigned");
    assert_eq!(
        groups["Team 1"],
        ps.iter()
            .filter(|p| p.group == 1)
            .map(|p| p.id.clone())
            .collect()
    );
    // Unchanged source: nothing planned, nothing written.
    let again = scim_sync::run(&target, &src, Some(&m), &SyncOptions::default())
        .await
        .unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan.render(10));
    assert_eq!(again.report.unwrap().requests, 0);
}

async fn modified_source_plans_exactly_the_changes(s: Server) {
    let target = s.client("acme");
    let ps = people(40, 4);
    let m = mapping();
    scim_sync::run(
        &target,
        &files(&s, "a", &ps, 4),
        Some(&m),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    // 10% changed (family names), 5% leavers, 3 membership moves.
    let mut changed = ps.clone();
    for p in changed.iter_mut().take(4) {
        p.last = format!("{}-Renamed", p.last);
    }
    let leavers: Vec<String> = changed.drain(38..).map(|p| p.id).collect();
    for p in changed.iter_mut().skip(10).take(3) {
        p.group = (p.group + 1) % 4;
    }
    let src = files(&s, "b", &changed, 4);
    let dry = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let plan = scim_sync::run(&target, &src, Some(&m), &dry)
        .await
        .unwrap()
        .plan;
    assert!(plan.creates.is_empty());
    // A renamed family name changes familyName and displayName, nothing else.
    assert_eq!(plan.updates.len(), 4, "{}", plan.render(50));
    for u in &plan.updates {
        let paths: BTreeSet<_> = u.operations.iter().filter_map(|o| o.path.clone()).collect();
        assert_eq!(
            paths,
            ["displayName".to_string(), "name.familyName".to_string()].into(),
            "{}",
            u.key
        );
    }
    let mut planned_leavers: Vec<String> =
        plan.deactivations.iter().map(|l| l.key.clone()).collect();
    planned_leavers.sort();
    assert_eq!(planned_leavers, leavers);
    assert_eq!(plan.member_adds(), 3, "{}", plan.render(50));
    // The three moves, and the two leavers leave their groups.
    assert_eq!(plan.member_removes(), 5, "{}", plan.render(50));
    assert!(plan.group_creates.is_empty() && plan.group_updates.is_empty());
    // A dry run wrote nothing.
    assert!(state(&target).await.0.values().all(|u| u.1));
    let out = scim_sync::run(&target, &src, Some(&m), &SyncOptions::default())
        .await
        .unwrap();
    assert!(out.report.unwrap().failures.is_empty());
    let (users, groups) = state(&target).await;
    assert!(
        !users["E0038"].1 && !users["E0039"].1,
        "leavers deactivated, not deleted"
    );
    assert_eq!(users["E0000"].2, "Last0-Renamed");
    assert_eq!(
        groups["Team 3"],
        changed
            .iter()
            .filter(|p| p.group == 3)
            .map(|p| p.id.clone())
            .collect()
    );
    let again = scim_sync::run(&target, &src, Some(&m), &dry).await.unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan.render(10));
    // A leaver who comes back is reactivated.
    let back = files(&s, "c", &ps, 4);
    let plan = scim_sync::run(&target, &back, Some(&m), &dry)
        .await
        .unwrap()
        .plan;
    assert_eq!(
        plan.updates
            .iter()
            .filter(|u| u
                .operations
                .iter()
                .any(|o| o.path.as_deref() == Some("active")))
            .count(),
        2
    );
}

async fn delete_guard_refuses_a_source_that_lost_most_rows(s: Server) {
    let target = s.client("acme");
    let ps = people(40, 4);
    let m = mapping();
    scim_sync::run(
        &target,
        &files(&s, "a", &ps, 4),
        Some(&m),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    let truncated = files(&s, "t", &ps[..10], 4);
    match scim_sync::run(&target, &truncated, Some(&m), &SyncOptions::default()).await {
        Err(SyncError::Guard { reason, plan }) => {
            assert_eq!(plan.deactivations.len(), 30);
            assert!(reason.contains("--allow-deletes 30"), "{reason}");
        }
        other => panic!("expected the guard to refuse: {other:?}"),
    }
    assert!(
        state(&target).await.0.values().all(|u| u.1),
        "nothing was deactivated"
    );
    // A count limit, and an explicit allowance.
    let opts = SyncOptions {
        limit: Limit::Count(29),
        ..SyncOptions::default()
    };
    assert!(matches!(
        scim_sync::run(&target, &truncated, Some(&m), &opts).await,
        Err(SyncError::Guard { .. })
    ));
    let opts = SyncOptions {
        allow_deletes: Some(30),
        ..SyncOptions::default()
    };
    let out = scim_sync::run(&target, &truncated, Some(&m), &opts)
        .await
        .unwrap();
    assert_eq!(out.report.unwrap().deactivated, 30);
    assert_eq!(state(&target).await.0.values().filter(|u| u.1).count(), 10);
}

async fn bad_rows_are_skipped_with_line_numbers_and_hold_leavers(s: Server) {
    let target = s.client("acme");
    let m = mapping();
    let ps = people(10, 2);
    scim_sync::run(
        &target,
        &files(&s, "a", &ps, 2),
        Some(&m),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    // Line 3 lost its key, line 4 has an unquoted field count problem; E0009 left.
    let mut csv = users_csv(&ps[..9]);
    csv = csv.replacen("E0001,", ",", 1);
    csv = csv.replacen(
        "E0002,E0002@Example.com,First2",
        "E0002,E0002@Example.com,First2,extra",
        1,
    );
    let src = SourceSpec::Files {
        users: Some(s.file("bad.csv", &csv)),
        groups: None,
    };
    let dry = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let plan = scim_sync::run(&target, &src, Some(&m), &dry)
        .await
        .unwrap()
        .plan;
    let lines: Vec<(u64, String)> = plan
        .skipped
        .iter()
        .map(|k| (k.line, k.reason.clone()))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.contains("externalId"), "{lines:?}");
    assert_eq!(lines[1].0, 4);
    assert!(
        plan.deactivations.is_empty(),
        "a skipped row may be a user who has not left"
    );
    assert!(plan.leavers_held.is_some());
    let allow = SyncOptions {
        dry_run: true,
        plan: scim_sync::PlanOptions {
            allow_partial: true,
            ..SyncOptions::default().plan
        },
        ..SyncOptions::default()
    };
    let plan = scim_sync::run(&target, &src, Some(&m), &allow)
        .await
        .unwrap()
        .plan;
    assert_eq!(plan.deactivations.len(), 3);
    let strict = SyncOptions {
        strict: true,
        ..SyncOptions::default()
    };
    match scim_sync::run(&target, &src, Some(&m), &strict).await {
        Err(SyncError::Source(msg)) => assert!(msg.contains("bad.csv:3:"), "{msg}"),
        other => panic!("strict mode stops at the first bad row: {other:?}"),
    }
}

async fn jsonl_without_mapping(s: Server) {
    let target = s.client("acme");
    let mut users = String::new();
    for i in 0..12 {
        users.push_str(&format!(
            "{{\"userName\":\"u{i}@x.org\",\"externalId\":\"x{i}\",\"name\":{{\"givenName\":\"G{i}\",\"familyName\":\"F{i}\"}},\"active\":true,\"emails\":[{{\"type\":\"work\",\"value\":\"u{i}@x.org\"}}]}}\n\n"
        ));
    }
    users.push_str("not json\n");
    let groups = "{\"displayName\":\"Ops\",\"members\":[\"x1\",\"x2\",\"nobody\"]}\n{\"displayName\":\"Dev\",\"members\":\"x3;x4\"}\n";
    let src = SourceSpec::Files {
        users: Some(s.file("u.jsonl", &users)),
        groups: Some(s.file("g.jsonl", groups)),
    };
    let out = scim_sync::run(&target, &src, None, &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(out.plan.skipped.len(), 1);
    assert_eq!(out.plan.skipped[0].line, 25);
    assert_eq!(out.plan.unknown_members, vec!["nobody".to_string()]);
    let report = out.report.unwrap();
    assert_eq!(
        (report.created, report.members_added),
        (12, 4),
        "{}",
        report.render()
    );
    let (u, g) = state(&target).await;
    assert_eq!(u["x5"].2, "F5");
    assert_eq!(g["Ops"], ["x1".to_string(), "x2".to_string()].into());
    let plan = scim_sync::run(
        &target,
        &src,
        None,
        &SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap()
    .plan;
    assert!(plan.is_empty(), "{}", plan.render(10));
}

async fn scim_to_scim_copy_with_memberships(s: Server) {
    let source = s.client("acme");
    let target = s.client("globex");
    let ps = people(30, 3);
    scim_sync::run(
        &source,
        &files(&s, "a", &ps, 3),
        Some(&mapping()),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    for paging in [Paging::Index, Paging::Cursor] {
        let src = SourceSpec::Scim {
            client: source.clone(),
            paging: Some(paging),
        };
        let opts = SyncOptions {
            paging: Some(paging),
            ..SyncOptions::default()
        };
        let out = scim_sync::run(&target, &src, None, &opts).await.unwrap();
        if paging == Paging::Index {
            let r = out.report.unwrap();
            assert_eq!(
                (r.created, r.groups_created, r.members_added),
                (30, 3, 30),
                "{}",
                r.render()
            );
        } else {
            assert!(
                out.plan.is_empty(),
                "the second copy (by cursor) has nothing to do: {}",
                out.plan.render(10)
            );
        }
    }
    assert_eq!(state(&source).await, state(&target).await);
}

/// Sets tenant `globex`'s rate limit (units a minute, burst).
async fn limit_globex(s: &Server, per_minute: u32, burst: u32) {
    s.store
        .update_tenant(
            "globex",
            scim_store::TenantUpdate {
                rate_per_minute: Some(Some(per_minute)),
                rate_burst: Some(Some(burst)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn rate_limited_target_answers_429_and_sync_finishes(s: Server) {
    limit_globex(&s, 600, 5).await;
    let target = s.client("globex");
    let ps = people(30, 2);
    let opts = SyncOptions {
        bulk: false,
        concurrency: 8,
        ..SyncOptions::default()
    };
    let out = scim_sync::run(&target, &files(&s, "a", &ps, 2), Some(&mapping()), &opts)
        .await
        .unwrap();
    let r = out.report.unwrap();
    assert!(r.failures.is_empty(), "{}", r.render());
    assert!(
        r.throttled > 0,
        "the target's 10/s limit must have answered 429: {}",
        r.render()
    );
    assert_eq!(r.created, 30);
    assert_eq!(state(&target).await.0.len(), 30);
}

/// Bulk requests as large as the tenant's burst, sent concurrently: only one fits the
/// bucket at a time, so each is answered 429 again and again while the others take their
/// turn — more times than the client retries a failure. `429`s are waited out for a time
/// budget, not a number of attempts, so the run finishes.
async fn concurrent_bulks_take_turns_at_the_rate_limit(s: Server) {
    limit_globex(&s, 1200, 10).await;
    let mut cfg = ClientConfig::new(
        format!("{}/scim/v2/globex", s.url),
        Some(s.globex_token.clone()),
    );
    cfg.max_retries = 1;
    let target = Client::new(cfg).unwrap();
    let ps = people(80, 2);
    let opts = SyncOptions {
        concurrency: 8,
        ..SyncOptions::default()
    };
    let out = scim_sync::run(&target, &files(&s, "a", &ps, 2), Some(&mapping()), &opts)
        .await
        .unwrap();
    let r = out.report.unwrap();
    assert!(r.failures.is_empty(), "{}", r.render());
    assert!(r.bulk_requests > 0 && r.throttled > 8, "{}", r.render());
    assert_eq!(r.created, 80);
    assert_eq!(state(&target).await.0.len(), 80);
}

async fn interrupted_run_resumes_without_duplicates(s: Server) {
    let ps = people(60, 3);
    let src = files(&s, "a", &ps, 3);
    let m = mapping();
    let state_file = s.dir.path().join("sync.state");
    // A slow client (40 requests/s, one at a time) so the run can be cut mid-way.
    let mut cfg = ClientConfig::new(
        format!("{}/scim/v2/acme", s.url),
        Some(s.acme_token.clone()),
    );
    cfg.rate = Some((40.0, 1));
    let target = Client::new(cfg).unwrap();
    let opts = SyncOptions {
        bulk: false,
        concurrency: 2,
        state_file: Some(state_file.clone()),
        ..SyncOptions::default()
    };
    let cut = tokio::time::timeout(
        Duration::from_millis(700),
        scim_sync::run(&target, &src, Some(&m), &opts),
    )
    .await;
    assert!(cut.is_err(), "the first run must be interrupted");
    // A create in flight when the run was cut may still complete on the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let partial = state(&s.client("acme")).await.0.len();
    assert!(
        partial > 0 && partial < 60,
        "interrupted mid-way: {partial} users"
    );
    assert!(
        state_file.exists(),
        "the state file records what was created"
    );
    let out = scim_sync::run(&target, &src, Some(&m), &opts)
        .await
        .unwrap();
    let r = out.report.unwrap();
    assert_eq!(r.created, 60 - partial, "{}", r.render());
    assert!(
        !state_file.exists(),
        "a completed run removes its state file"
    );
    let (users, groups) = state(&s.client("acme")).await;
    assert_eq!(users.len(), 60);
    assert_eq!(groups.values().map(BTreeSet::len).sum::<usize>(), 60);
    let plan = scim_sync::run(
        &target,
        &src,
        Some(&m),
        &SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap()
    .plan;
    assert!(plan.is_empty(), "{}", plan.render(10));
}

async fn mapping_checked_against_target_schemas(s: Server) {
    let target = s.client("acme");
    let m = Mapping::parse(
        "[user]\nexternalId = \"{employee_id}\"\nuserName = \"{email}\"\nnickName2 = \"{first_name}\"\n'emails[type eq \"work\"].valu' = \"{email}\"\n",
        "m.toml",
    )
    .unwrap();
    let src = files(&s, "a", &people(5, 1), 1);
    match scim_sync::run(&target, &src, Some(&m), &SyncOptions::default()).await {
        Err(SyncError::Mapping(msg)) => {
            assert!(
                msg.contains("nickName2") && msg.contains("emails.valu"),
                "{msg}"
            );
        }
        other => panic!("expected a mapping error: {other:?}"),
    }
    assert!(state(&target).await.0.is_empty(), "nothing was sent");
    // A value of the wrong type skips its row, with its line.
    let m = Mapping::parse(
        "[user]\nexternalId = \"{employee_id}\"\nuserName = \"{email}\"\nactive = \"{status}\"\n",
        "m.toml",
    )
    .unwrap();
    let plan = scim_sync::run(
        &target,
        &src,
        Some(&m),
        &SyncOptions {
            dry_run: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap()
    .plan;
    let typed: Vec<_> = plan
        .skipped
        .iter()
        .filter(|k| k.reason.contains("is not a valid boolean"))
        .collect();
    assert_eq!(typed.len(), 5, "{:?}", plan.skipped);
    assert_eq!(typed[0].line, 2);
    let _ = MatchKey::UserName;
    let _: Option<Value> = None;
}

/// A large-ish source goes through the plan workspace: the summary and the streamed JSON
/// agree with the plan loaded in memory, the workspace's directory exists while the plan
/// is prepared and is removed when it has been applied, and an unchanged re-run plans
/// nothing and sends no write.
async fn large_source_is_planned_and_applied_through_the_workspace(s: Server) {
    let target = s.client("acme");
    let ps = people(2000, 20);
    let src = files(&s, "big", &ps, 20);
    let m = mapping();
    let ws_dir = tempfile::tempdir().unwrap();
    let opts = SyncOptions {
        workspace_dir: Some(ws_dir.path().to_path_buf()),
        ..SyncOptions::default()
    };
    let entries = || std::fs::read_dir(ws_dir.path()).unwrap().count();
    let prepared = scim_sync::prepare(&target, &src, Some(&m), &opts)
        .await
        .unwrap();
    assert_eq!(entries(), 1, "the workspace is a temporary directory");
    let plan = prepared.plan().unwrap();
    assert_eq!(plan.creates.len(), 2000);
    assert_eq!(plan.creates[1999].line, 2001);
    assert_eq!(plan.group_creates.len(), 20);
    assert_eq!(plan.member_adds(), 2000);
    assert_eq!(prepared.counts(), &plan.counts());
    assert_eq!(prepared.render(20).unwrap(), plan.render(20));
    let mut json = Vec::new();
    prepared.write_json(&mut json).unwrap();
    let streamed: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(streamed, serde_json::to_value(&plan).unwrap());
    let report = prepared.apply(&target, &opts).await.unwrap();
    assert_eq!(
        (report.created, report.groups_created, report.members_added),
        (2000, 20, 2000),
        "{}",
        report.render()
    );
    assert!(report.failures.is_empty(), "{}", report.render());
    assert_eq!(entries(), 0, "the workspace is removed after the run");
    let (users, groups) = state(&target).await;
    assert_eq!(users.len(), 2000);
    assert_eq!(groups["Team 7"].len(), 100);
    // Unchanged: nothing planned, nothing sent.
    let prepared = scim_sync::prepare(&target, &src, Some(&m), &opts)
        .await
        .unwrap();
    assert!(prepared.is_empty(), "{}", prepared.render(10).unwrap());
    let report = prepared.apply(&target, &opts).await.unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(entries(), 0);
    // A modified source: the streamed plan still matches the loaded one.
    let mut changed = ps.clone();
    for p in changed.iter_mut().take(150) {
        p.last = format!("{}-Renamed", p.last);
    }
    changed.truncate(1900);
    for p in changed.iter_mut().skip(500).take(30) {
        p.group = (p.group + 1) % 20;
    }
    let src = files(&s, "big2", &changed, 20);
    let opts = SyncOptions {
        allow_deletes: Some(100),
        ..opts
    };
    let prepared = scim_sync::prepare(&target, &src, Some(&m), &opts)
        .await
        .unwrap();
    let plan = prepared.plan().unwrap();
    assert_eq!(
        (plan.updates.len(), plan.deactivations.len()),
        (150, 100),
        "{}",
        plan.render(5)
    );
    assert_eq!((plan.member_adds(), plan.member_removes()), (30, 130));
    let mut json = Vec::new();
    prepared.write_json(&mut json).unwrap();
    let streamed: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(streamed, serde_json::to_value(&plan).unwrap());
    assert_eq!(prepared.render(20).unwrap(), plan.render(20));
    let report = prepared.apply(&target, &opts).await.unwrap();
    assert_eq!(
        (
            report.updated,
            report.deactivated,
            report.members_added,
            report.members_removed
        ),
        (150, 100, 30, 130),
        "{}",
        report.render()
    );
    let out = scim_sync::run(&target, &src, Some(&m), &opts)
        .await
        .unwrap();
    assert!(out.plan.is_empty(), "{}", out.plan.render(10));
    assert_eq!(out.report.unwrap().requests, 0);
    assert_eq!(entries(), 0);
}
