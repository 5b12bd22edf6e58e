//! Tenants and tokens.

use scim_store::DeleteMode;
use scim_store::requests::{NewRequest, RequestQuery};

use crate::support::{Fixture, status};

store_tests!(
    tenant_ids_are_never_reused,
    tenants_are_unique_named_and_listed_by_name,
    deleting_a_tenant_removes_everything_in_it,
    tenant_delete_counts_every_token_and_says_which_work,
    tokens_authenticate_until_revoked_or_expired,
    admin_tokens_authenticate_only_the_management_api,
    request_log_entries_are_kept_in_order_and_only_for_existing_tenants,
    the_request_log_is_capped_to_its_newest_entries_and_trimmed_by_age
);

async fn tenants_are_unique_named_and_listed_by_name(f: Fixture) {
    let s = f.s();
    let e = s
        .create_tenant("acme", DeleteMode::Hard, 30)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
    let e = s
        .create_tenant("no spaces", DeleteMode::Hard, 30)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    s.create_tenant("Zeta", DeleteMode::Soft, 7).await.unwrap();
    s.create_tenant("beta", DeleteMode::Hard, 30).await.unwrap();
    let names: Vec<String> = s
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    // Byte order on both backends: upper case before lower case.
    assert_eq!(names, ["Zeta", "acme", "beta", "globex"]);
    let zeta = s.tenant("Zeta").await.unwrap().unwrap();
    assert_eq!(
        (zeta.delete_mode, zeta.retention_days),
        (DeleteMode::Soft, 7)
    );
    // Names are case-insensitive (issue 12): any spelling finds the tenant, and a name
    // that differs only by case is taken.
    assert_eq!(s.tenant("zeta").await.unwrap().unwrap().id, zeta.id);
    assert_eq!(s.tenant("ZETA").await.unwrap().unwrap().name, "Zeta");
    let e = s
        .create_tenant("ZETA", DeleteMode::Hard, 30)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
    assert!(e.to_scim().detail.contains("case-insensitive"), "{e}");
}

/// What `scim tenant delete` says before (`tenant_contents`) and what the delete reports
/// (the management operation behind it and DELETE /admin/v1/tenants/{t}) are the same
/// counts: every token, revoked and expired ones included, and how many still work; the
/// change records actually stored.
async fn tenant_delete_counts_every_token_and_says_which_work(f: Fixture) {
    use scim_store::manage::{AdminOp, AdminOutcome, AdminWritten, AuditActor};
    let s = f.s();
    let before = s.tenant_contents(f.acme).await.unwrap();
    f.user(f.acme, "alice").await;
    s.create_token(f.acme, "working", None).await.unwrap();
    let (revoked, _) = s.create_token(f.acme, "revoked", None).await.unwrap();
    assert!(s.revoke_token(f.acme, &revoked.id).await.unwrap());
    // Expires in a second: expired, not revoked, by the time it is counted.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    s.create_token(f.acme, "expiring", Some(soon))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let c = s.tenant_contents(f.acme).await.unwrap();
    assert_eq!(c.tokens, before.tokens + 3, "{c:?}");
    assert_eq!(c.active_tokens, before.active_tokens + 1, "{c:?}");
    let stored = s.changes(f.acme, 0, u32::MAX).await.unwrap().len();
    assert_eq!(c.changes, i64::try_from(stored).unwrap(), "{c:?}");
    let written = s
        .admin_write(
            AdminOp::DeleteTenant {
                name: "acme".into(),
            },
            AuditActor {
                name: "cli:test".into(),
                id: None,
                request_id: None,
            },
            None,
            Box::new(|_| serde_json::Value::Null),
        )
        .await
        .unwrap();
    let AdminWritten::Done { outcome, .. } = written else {
        panic!("not written")
    };
    let AdminOutcome::TenantDeleted(d) = *outcome else {
        panic!("not a tenant delete")
    };
    assert_eq!(
        (d.tokens, d.active_tokens, d.changes),
        (
            u64::try_from(c.tokens).unwrap(),
            u64::try_from(c.active_tokens).unwrap(),
            u64::try_from(c.changes).unwrap()
        )
    );
}

async fn deleting_a_tenant_removes_everything_in_it(f: Fixture) {
    let s = f.s();
    let u = f.user(f.acme, "alice").await;
    f.group(f.acme, "admins", &[&u.id]).await;
    let (_, token) = s.create_token(f.acme, "okta", None).await.unwrap();
    f.user(f.globex, "alice").await;
    assert!(s.delete_tenant("acme").await.unwrap());
    assert!(!s.delete_tenant("acme").await.unwrap());
    assert!(
        s.authenticate(&token, "2030-01-01T00:00:00Z")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.changes(f.acme, 0, 100).await.unwrap().is_empty());
    // The other tenant is untouched, and the name can be used again.
    assert_eq!(
        f.list(f.globex, "User", None, None, 1, 10)
            .await
            .unwrap()
            .total_results,
        1
    );
    let again = s.create_tenant("acme", DeleteMode::Hard, 30).await.unwrap();
    assert_eq!(
        f.list(again.id, "User", None, None, 1, 10)
            .await
            .unwrap()
            .total_results,
        0
    );
    assert_eq!(
        f.list(again.id, "Group", None, None, 1, 10)
            .await
            .unwrap()
            .total_results,
        0
    );
}

async fn tokens_authenticate_until_revoked_or_expired(f: Fixture) {
    let s = f.s();
    let now = "2026-06-01T00:00:00Z";
    let (info, token) = s.create_token(f.acme, "okta", None).await.unwrap();
    let (tenant, who) = s.authenticate(&token, now).await.unwrap().unwrap();
    assert_eq!(
        (tenant.name.as_str(), who.id.as_str()),
        ("acme", info.id.as_str())
    );
    // A wrong secret, a malformed token and another tenant's revocation do not work.
    let wrong = format!("{}x", &token[..token.len() - 1]);
    assert!(s.authenticate(&wrong, now).await.unwrap().is_none());
    assert!(
        s.authenticate("scim_nonsense", now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.revoke_token(f.globex, &info.id).await.unwrap());
    let (_, expiring) = s
        .create_token(f.acme, "entra", Some("2999-05-01T00:00:00Z".into()))
        .await
        .unwrap();
    assert!(
        s.authenticate(&expiring, "2999-06-01T00:00:00Z")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.authenticate(&expiring, now).await.unwrap().is_some());
    assert!(s.revoke_token(f.acme, &info.id).await.unwrap());
    assert!(!s.revoke_token(f.acme, &info.id).await.unwrap());
    assert!(s.authenticate(&token, now).await.unwrap().is_none());
    let tokens = s.list_tokens(f.acme).await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens.iter().filter(|t| t.revoked.is_some()).count(), 1);
    assert!(s.list_tokens(f.globex).await.unwrap().is_empty());
}

/// A deleted tenant's id is never given to a new tenant, so nothing keyed by the old id (a
/// cached token check, a change record) can ever point at the new tenant's data.
async fn tenant_ids_are_never_reused(f: Fixture) {
    let s = f.s();
    let doomed = s
        .create_tenant("doomed", scim_store::DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert!(s.delete_tenant("doomed").await.unwrap());
    let next = s
        .create_tenant("next", scim_store::DeleteMode::Hard, 30)
        .await
        .unwrap();
    assert!(next.id > doomed.id, "{} reused {}", next.id, doomed.id);
}

async fn admin_tokens_authenticate_only_the_management_api(f: Fixture) {
    let s = f.s();
    let now = "2026-06-01T00:00:00Z";
    let (info, secret) = s.create_admin_token("ops", None).await.unwrap();
    assert!(secret.starts_with("scimadm_"));
    assert_eq!(info.name, "ops");
    let found = s.authenticate_admin(&secret, now).await.unwrap().unwrap();
    assert_eq!(found.id, info.id);
    // Neither kind passes for the other.
    assert!(s.authenticate(&secret, now).await.unwrap().is_none());
    let (_, tenant_token) = s.create_token(f.acme, "okta", None).await.unwrap();
    assert!(
        s.authenticate_admin(&tenant_token, now)
            .await
            .unwrap()
            .is_none()
    );
    // A wrong secret with a real id, and a made-up id.
    let forged = format!("{}x", &secret[..secret.len() - 1]);
    assert!(s.authenticate_admin(&forged, now).await.unwrap().is_none());
    let unknown = secret.replacen(&info.id, "0123456789abcdef", 1);
    assert!(s.authenticate_admin(&unknown, now).await.unwrap().is_none());
    // Expiry: refused in the past, honoured in the future.
    let e = s
        .create_admin_token("old", Some("2000-01-01T00:00:00Z".into()))
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    let (_, later) = s
        .create_admin_token("ci", Some("2999-01-01T00:00:00Z".into()))
        .await
        .unwrap();
    assert!(s.authenticate_admin(&later, now).await.unwrap().is_some());
    assert!(
        s.authenticate_admin(&later, "3000-01-01T00:00:00Z")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.create_admin_token("  ", None).await.is_err());
    // Revocation is immediate and happens once.
    assert!(s.revoke_admin_token(&info.id).await.unwrap());
    assert!(!s.revoke_admin_token(&info.id).await.unwrap());
    assert!(s.authenticate_admin(&secret, now).await.unwrap().is_none());
    let names: Vec<String> = s
        .list_admin_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ops", "ci"]);
}

/// A request log entry of `tenant_id` (or of the tenant named, when `None`), numbered `i`.
fn log_entry(i: u64, tenant_id: Option<i64>, tenant_name: &str) -> NewRequest {
    NewRequest {
        tenant_id,
        tenant_name: tenant_name.to_string(),
        at: format!("2026-01-01T00:00:{:02}.{:03}Z", i / 1000, i % 1000),
        method: "POST".into(),
        path: format!("/Users/{i}"),
        status: if i.is_multiple_of(3) { 409 } else { 201 },
        scim_type: i.is_multiple_of(3).then(|| "uniqueness".to_string()),
        detail: i.is_multiple_of(3).then(|| format!("taken {i}")),
        duration_us: i * 10,
        request_id: Some(format!("r{i}")),
        token_name: i.is_multiple_of(2).then(|| "t".to_string()),
        user_agent: None,
        request_body: i
            .is_multiple_of(5)
            .then(|| "{\"a\":\"\\u0000\"}".to_string()),
        response_body: None,
    }
}

/// A batch of request log entries larger than one statement's share: every entry of an
/// existing tenant is kept, in order, with its values; entries of unknown tenants are
/// dropped and not counted.
async fn request_log_entries_are_kept_in_order_and_only_for_existing_tenants(f: Fixture) {
    let entry = log_entry;
    let mut entries = Vec::new();
    for i in 0..75u64 {
        entries.push(match i % 15 {
            14 => entry(i, None, "no-such-tenant"),
            7 => entry(i, None, "acme"),
            _ => entry(i, Some(f.acme), ""),
        });
    }
    let kept: Vec<NewRequest> = entries
        .iter()
        .filter(|e| e.tenant_name != "no-such-tenant")
        .cloned()
        .collect();
    assert_eq!(
        f.s().append_requests(entries).await.unwrap(),
        kept.len() as u64
    );
    let query = RequestQuery {
        limit: 1000,
        ..Default::default()
    };
    let mut logged = f.s().requests(f.acme, &query).await.unwrap();
    logged.sort_by_key(|r| r.id);
    assert_eq!(logged.len(), kept.len());
    for (l, e) in logged.iter().zip(&kept) {
        assert_eq!(
            (
                &l.at,
                &l.path,
                l.status,
                &l.scim_type,
                &l.detail,
                l.duration_us
            ),
            (
                &e.at,
                &e.path,
                e.status,
                &e.scim_type,
                &e.detail,
                e.duration_us
            )
        );
        assert_eq!(
            (&l.request_id, &l.token_name, &l.request_body),
            (&e.request_id, &e.token_name, &e.request_body)
        );
    }
}

/// Capping a tenant's log keeps its newest entries up to the policy's number, whatever
/// their age, and leaves other tenants alone; trimming also drops the entries older than
/// the policy's days.
async fn the_request_log_is_capped_to_its_newest_entries_and_trimmed_by_age(f: Fixture) {
    let s = f.s();
    s.set_retention_policy(
        f.acme,
        &scim_store::PolicyUpdate {
            requests_max: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let now = scim_store::audit::now_instant();
    // Eight entries of acme, the first four months old, and three of globex.
    let mut entries: Vec<NewRequest> = (0..8)
        .map(|i| NewRequest {
            at: if i < 4 {
                log_entry(i, None, "").at
            } else {
                now.clone()
            },
            ..log_entry(i, Some(f.acme), "")
        })
        .collect();
    entries.extend((8..11).map(|i| log_entry(i, Some(f.globex), "")));
    s.append_requests(entries).await.unwrap();
    // The newest five stay, one of them months old.
    assert_eq!(s.cap_requests(f.acme).await.unwrap(), 3);
    assert_eq!(
        logged_paths(&s, f.acme).await,
        ["/Users/3", "/Users/4", "/Users/5", "/Users/6", "/Users/7"]
    );
    assert_eq!(s.cap_requests(f.acme).await.unwrap(), 0);
    assert_eq!(
        logged_paths(&s, f.globex).await,
        ["/Users/8", "/Users/9", "/Users/10"]
    );
    // Trimming by the policy's 30 days drops the old one.
    assert_eq!(s.trim_requests(f.acme, &now).await.unwrap(), 1);
    assert_eq!(
        logged_paths(&s, f.acme).await,
        ["/Users/4", "/Users/5", "/Users/6", "/Users/7"]
    );
    assert_eq!(logged_paths(&s, f.globex).await.len(), 3);
}

/// The paths of a tenant's request log, oldest first.
async fn logged_paths(s: &std::sync::Arc<dyn scim_store::Store>, tenant: i64) -> Vec<String> {
    let query = RequestQuery {
        limit: 100,
        ..Default::default()
    };
    let logged = s.requests(tenant, &query).await.unwrap();
    logged.into_iter().map(|r| r.path).collect()
}
