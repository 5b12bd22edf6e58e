//! Seeding: users (by Bulk when the server advertises it, else concurrent POSTs), one big
//! group, and its members added by PATCHes of at most 1,000 members.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Client, RETRIES, Req, backoff, is_transient};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const BULK_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// Most members added by one seeding PATCH.
pub const MEMBERS_PER_PATCH: usize = 1000;

/// What the server advertises in /ServiceProviderConfig that seeding and Bulk need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    pub bulk: bool,
    pub bulk_max_operations: usize,
    pub bulk_max_payload: usize,
}

impl Capabilities {
    pub fn from_config(spc: &Value) -> Capabilities {
        let bulk = spc.get("bulk");
        let num = |k: &str| {
            bulk.and_then(|b| b.get(k))
                .and_then(Value::as_u64)
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        Capabilities {
            bulk: bulk
                .and_then(|b| b.get("supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            bulk_max_operations: num("maxOperations"),
            bulk_max_payload: num("maxPayloadSize"),
        }
    }

    /// Operations per Bulk request: at most `wanted`, `maxOperations`, and what fits in
    /// `maxPayloadSize` (with a margin) given the size of one operation.
    pub fn bulk_batch(&self, wanted: usize, op_bytes: usize) -> usize {
        let mut n = wanted.max(1);
        if self.bulk_max_operations > 0 {
            n = n.min(self.bulk_max_operations);
        }
        if self.bulk_max_payload > 0 {
            let fit = (self.bulk_max_payload * 9 / 10).saturating_sub(200) / op_bytes.max(1);
            n = n.min(fit.max(1));
        }
        n
    }
}

/// The userName of seeded user `i` of run `run`.
pub fn user_name(run: &str, i: usize) -> String {
    format!("bench-{run}-{i:07}@example.com")
}

/// A realistic user document (what an identity provider sends on create).
pub fn user_doc(user_name: &str, i: usize) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "displayName": format!("Given{i} Family{i}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

/// A Bulk request creating the users named by `names`, user `i` with bulkId `u{i}`.
pub fn bulk_create_body(names: &[(usize, String)]) -> String {
    let ops: Vec<Value> = names
        .iter()
        .map(|(i, name)| {
            json!({
                "method": "POST",
                "path": "/Users",
                "bulkId": format!("u{i}"),
                "data": user_doc(name, *i),
            })
        })
        .collect();
    json!({"schemas": [BULK_SCHEMA], "Operations": ops}).to_string()
}

/// The outcome of one Bulk operation: the created id, or the status and answer of its failure.
pub type OpResult = Result<String, (String, String)>;

/// The outcome of each operation of a Bulk response, by user index (bulkId `u{i}`).
pub fn bulk_results(resp: &Value) -> Result<HashMap<usize, OpResult>> {
    let ops = resp
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the Bulk response has no Operations"))?;
    let mut out = HashMap::new();
    for op in ops {
        let status = match op.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        let Some(i) = op
            .get("bulkId")
            .and_then(Value::as_str)
            .and_then(|b| b.strip_prefix('u'))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if !status.starts_with('2') {
            let detail = op.get("response").map(Value::to_string).unwrap_or_default();
            out.insert(i, Err((status, detail)));
            continue;
        }
        let id = op
            .get("location")
            .and_then(Value::as_str)
            .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
            .or_else(|| {
                op.get("response")
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str)
            })
            .ok_or_else(|| anyhow!("a Bulk operation answer has neither location nor id"))?;
        out.insert(i, Ok(id.to_string()));
    }
    Ok(out)
}

/// A PATCH adding members to a group.
pub fn add_members_body(ids: &[String]) -> String {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": members}],
    })
    .to_string()
}

/// A PATCH removing one member of a group.
pub fn remove_member_body(id: &str) -> String {
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}],
    })
    .to_string()
}

/// What seeding produced.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Distinguishes the userNames of this run from any earlier one on the same server.
    pub run: String,
    /// Ids of users `0..len`, whose userNames are `user_name(run, i)`.
    pub users: Vec<String>,
    /// Users `0..read_users` are the ones the user workloads read and patch.
    pub read_users: usize,
    /// The big group, if one was seeded.
    pub group: Option<String>,
    /// Users `0..group_members` are the group's initial members.
    pub group_members: usize,
    /// Users `group_members..group_members + pool` are not in the group: "add 100 members"
    /// takes them.
    pub pool: usize,
    /// Groups besides the big one (for list-groups), each holding the first
    /// `groups_members` users.
    pub groups: Vec<String>,
    pub groups_members: usize,
    pub seconds: f64,
    pub method: String,
}

impl Seeded {
    pub fn pool_ids(&self) -> &[String] {
        let end = (self.group_members + self.pool).min(self.users.len());
        self.users.get(self.group_members..end).unwrap_or(&[])
    }

    pub fn member_ids(&self) -> &[String] {
        self.users.get(..self.group_members).unwrap_or(&[])
    }
}

pub struct SeedPlan {
    pub read_users: usize,
    pub group: bool,
    pub group_members: usize,
    pub pool: usize,
    /// Groups to create besides the big one, and the members of each.
    pub groups: usize,
    pub groups_members: usize,
    pub concurrency: Option<usize>,
    pub use_bulk: bool,
}

impl SeedPlan {
    /// Users to create: enough for the read workloads, the groups and the pool.
    pub fn total_users(&self) -> usize {
        let groups = if self.groups > 0 {
            self.groups_members
        } else {
            0
        };
        if self.group {
            self.read_users
                .max(self.group_members + self.pool)
                .max(groups)
        } else {
            self.read_users.max(groups)
        }
    }
}

/// Prints progress every few seconds until dropped.
struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(what: &'static str, done: Arc<AtomicU64>, total: u64) -> Progress {
        let start = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3));
            tick.tick().await;
            loop {
                tick.tick().await;
                let d = done.load(Ordering::Relaxed);
                let s = start.elapsed().as_secs_f64();
                eprintln!(
                    "  seeding {what}: {d}/{total} ({:.1}%), {:.0}/s",
                    100.0 * d as f64 / total.max(1) as f64,
                    d as f64 / s.max(1e-9)
                );
            }
        });
        Progress { task }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads /ServiceProviderConfig.
pub async fn capabilities(client: &Client, base: &str) -> Result<Capabilities> {
    let spc = client
        .json(&Req::get(format!("{base}/ServiceProviderConfig")))
        .await
        .context("reading /ServiceProviderConfig")?;
    Ok(Capabilities::from_config(&spc))
}

/// A short run id from the clock, so repeated runs against one server do not collide.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut x = (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    format!("{:08x}", x & 0xffff_ffff)
}

pub async fn seed(
    client: &Client,
    base: &str,
    caps: &Capabilities,
    plan: &SeedPlan,
) -> Result<Seeded> {
    let run = run_id();
    let total = plan.total_users();
    let start = Instant::now();
    let use_bulk = plan.use_bulk && caps.bulk;
    eprintln!(
        "seeding {total} users (run {run}) with {}",
        if use_bulk { "Bulk" } else { "POST" }
    );
    let (users, method) = if use_bulk {
        let concurrency = plan.concurrency.unwrap_or(4);
        let op_bytes = bulk_create_body(&[(total, user_name(&run, total))]).len() + 16;
        let batch = caps.bulk_batch(1000, op_bytes);
        let users = seed_users_bulk(client, base, &run, total, batch, concurrency).await?;
        (
            users,
            format!("Bulk, {batch} users per request, {concurrency} in flight"),
        )
    } else {
        let concurrency = plan.concurrency.unwrap_or(32);
        let users = seed_users_post(client, base, &run, total, concurrency).await?;
        (users, format!("POST, {concurrency} in flight"))
    };
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "  {total} users in {secs:.1} s ({:.0}/s)",
        total as f64 / secs.max(1e-9)
    );
    let mut group = None;
    if plan.group {
        let id = create_group(client, base, &format!("bench-{run}-big-group")).await?;
        let t = Instant::now();
        add_members_seed(
            client,
            base,
            &id,
            users.get(..plan.group_members).unwrap_or(&[]),
        )
        .await?;
        eprintln!(
            "  group of {} members in {:.1} s",
            plan.group_members,
            t.elapsed().as_secs_f64()
        );
        group = Some(id);
    }
    let mut groups = Vec::with_capacity(plan.groups);
    for g in 0..plan.groups {
        let id = create_group(client, base, &format!("bench-{run}-group-{g:05}")).await?;
        add_members_seed(
            client,
            base,
            &id,
            users.get(..plan.groups_members).unwrap_or(&[]),
        )
        .await?;
        groups.push(id);
    }
    if plan.groups > 0 {
        eprintln!(
            "  {} more groups of {} members",
            plan.groups, plan.groups_members
        );
    }
    Ok(Seeded {
        run,
        users,
        read_users: plan.read_users,
        group,
        group_members: if plan.group { plan.group_members } else { 0 },
        pool: if plan.group { plan.pool } else { 0 },
        groups,
        groups_members: plan.groups_members,
        seconds: start.elapsed().as_secs_f64(),
        method,
    })
}

/// Creates an empty group; returns its id.
async fn create_group(client: &Client, base: &str, name: &str) -> Result<String> {
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name}).to_string();
    let created = client
        .json(&Req::with_body(
            Method::POST,
            format!("{base}/Groups"),
            body,
        ))
        .await
        .with_context(|| format!("creating the group {name}"))?;
    Ok(created
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the created group has no id"))?
        .to_string())
}

async fn seed_users_bulk(
    client: &Client,
    base: &str,
    run: &str,
    total: usize,
    batch: usize,
    concurrency: usize,
) -> Result<Vec<String>> {
    let batches = total.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let results: Arc<Mutex<Vec<Vec<String>>>> = Arc::new(Mutex::new(vec![Vec::new(); batches]));
    let _progress = Progress::start("users", done.clone(), total as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(batches).max(1) {
        let (client, base, run) = (client.clone(), base.to_string(), run.to_string());
        let (next, done, results) = (next.clone(), done.clone(), results.clone());
        tasks.spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<(), anyhow::Error>(());
                }
                let range = b * batch..((b + 1) * batch).min(total);
                let ids = bulk_create_users(&client, &base, &run, range).await?;
                done.fetch_add(ids.len() as u64, Ordering::Relaxed);
                if let Some(slot) = results.lock().await.get_mut(b) {
                    *slot = ids;
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a seeding task failed")??;
    }
    let results = std::mem::take(&mut *results.lock().await);
    Ok(results.into_iter().flatten().collect())
}

/// Creates users `range` with one Bulk request; operations that fail with 503 or 429 are sent
/// again (in a smaller Bulk), up to `RETRIES` times. Returns their ids in order.
async fn bulk_create_users(
    client: &Client,
    base: &str,
    run: &str,
    range: std::ops::Range<usize>,
) -> Result<Vec<String>> {
    let mut ids: HashMap<usize, String> = HashMap::new();
    let mut pending: Vec<usize> = range.clone().collect();
    let mut attempt = 0u32;
    while !pending.is_empty() {
        let names: Vec<(usize, String)> = pending.iter().map(|&i| (i, user_name(run, i))).collect();
        let req = Req::with_body(
            Method::POST,
            format!("{base}/Bulk"),
            bulk_create_body(&names),
        );
        let resp = client
            .json(&req)
            .await
            .with_context(|| format!("seeding users {}..{}", range.start, range.end))?;
        let mut results = bulk_results(&resp)?;
        let mut again = Vec::new();
        for &i in &pending {
            match results.remove(&i) {
                Some(Ok(id)) => {
                    ids.insert(i, id);
                }
                Some(Err((status, _)))
                    if status.parse().is_ok_and(is_transient) && attempt < RETRIES =>
                {
                    again.push(i);
                }
                Some(Err((status, detail))) => {
                    bail!("a Bulk create failed with status {status}: {detail}")
                }
                None => bail!("the Bulk response lacks bulkId u{i}"),
            }
        }
        if !again.is_empty() {
            attempt += 1;
            tokio::time::sleep(backoff(attempt, None)).await;
        }
        pending = again;
    }
    range
        .map(|i| ids.remove(&i).ok_or_else(|| anyhow!("no id for user {i}")))
        .collect()
}

async fn seed_users_post(
    client: &Client,
    base: &str,
    run: &str,
    total: usize,
    concurrency: usize,
) -> Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let _progress = Progress::start("users", done.clone(), total as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total).max(1) {
        let (client, base, run) = (client.clone(), base.to_string(), run.to_string());
        let (next, done) = (next.clone(), done.clone());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(mine);
                }
                let body = user_doc(&user_name(&run, i), i).to_string();
                let created = client
                    .json(&Req::with_body(Method::POST, format!("{base}/Users"), body))
                    .await
                    .with_context(|| format!("seeding user {i}"))?;
                let id = created
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("a created user has no id"))?;
                mine.push((i, id.to_string()));
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut ids = vec![String::new(); total];
    while let Some(r) = tasks.join_next().await {
        for (i, id) in r.context("a seeding task failed")?? {
            if let Some(slot) = ids.get_mut(i) {
                *slot = id;
            }
        }
    }
    Ok(ids)
}

/// Adds members one PATCH of at most 1,000 at a time (one in flight: some servers apply a
/// PATCH as read-modify-write of the whole group and would lose concurrent updates).
async fn add_members_seed(client: &Client, base: &str, group: &str, ids: &[String]) -> Result<()> {
    let done = Arc::new(AtomicU64::new(0));
    let _progress = Progress::start("group members", done.clone(), ids.len() as u64);
    for chunk in ids.chunks(MEMBERS_PER_PATCH) {
        // The answer is not needed: ask for it without the members (servers that honour
        // `excludedAttributes` on PATCH, RFC 7644 §3.5.2, then need not render them all).
        let req = Req::with_body(
            Method::PATCH,
            format!("{base}/Groups/{group}?excludedAttributes=members"),
            add_members_body(chunk),
        );
        client
            .json(&req)
            .await
            .context("adding members to the big group")?;
        done.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_batch_size() {
        let caps = Capabilities::from_config(&json!({
            "bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576}
        }));
        assert!(caps.bulk);
        assert_eq!(caps.bulk_batch(1000, 400), 1000);
        // 1 MiB at 2,000 bytes an operation: the payload limit wins.
        assert_eq!(caps.bulk_batch(1000, 2000), 471);
        let none = Capabilities::from_config(&json!({}));
        assert!(!none.bulk);
        assert_eq!(none.bulk_batch(1000, 400), 1000);
    }

    #[test]
    fn bulk_results_by_user_index() {
        let resp = json!({"Operations": [
            {"bulkId": "u11", "status": "201", "location": "http://x/Users/b"},
            {"bulkId": "u10", "status": "201", "location": "http://x/Users/a"},
            {"bulkId": "u12", "status": "503", "response": {"status": "503"}},
        ]});
        let r = bulk_results(&resp).unwrap_or_default();
        assert_eq!(r.get(&10), Some(&Ok("a".to_string())));
        assert_eq!(r.get(&11), Some(&Ok("b".to_string())));
        assert!(matches!(r.get(&12), Some(Err((s, _))) if s == "503"));
        assert!(bulk_results(&json!({})).is_err());
        let body: Value =
            serde_json::from_str(&bulk_create_body(&[(7, "n".into())])).unwrap_or_default();
        assert_eq!(body["Operations"][0]["bulkId"], "u7");
    }

    #[test]
    fn plan_counts_users_for_group_and_pool() {
        let plan = SeedPlan {
            read_users: 10_000,
            group: true,
            group_members: 100_000,
            pool: 50_000,
            groups: 0,
            groups_members: 0,
            concurrency: None,
            use_bulk: true,
        };
        assert_eq!(plan.total_users(), 150_000);
        let plan = SeedPlan {
            group: false,
            ..plan
        };
        assert_eq!(plan.total_users(), 10_000);
    }

    #[test]
    fn patch_bodies() {
        let b: Value = serde_json::from_str(&remove_member_body("abc")).unwrap_or_default();
        assert_eq!(b["Operations"][0]["path"], "members[value eq \"abc\"]");
        let b: Value =
            serde_json::from_str(&add_members_body(&["a".into(), "b".into()])).unwrap_or_default();
        assert_eq!(b["Operations"][0]["value"][1]["value"], "b");
    }
}
