//! `scim-bench entra-cycle`: a provisioning cycle as Microsoft Entra ID sends it
//! (/work/shared/docs/IDP-COMPAT.md § Entra), for N users and G groups, timed phase by
//! phase. Entra's request shapes: matching by `userName eq` / `displayName eq` (groups with
//! `excludedAttributes=members`), creates with both schema URNs, `meta.resourceType`, empty
//! `roles` and explicit nulls, string booleans, capitalised PATCH ops, members added and
//! removed by small PATCHes (`{"op":"Add","path":"members","value":[{"$ref":null,…}]}`)
//! sent without `attributes`/`excludedAttributes`.
//!
//! The initial cycle: test connection, then for each user a match (miss) and a create, for
//! each group a match (miss) and a create, then every membership. Group 0 ("All staff")
//! holds every user; groups 1..G-1 split the users between them. The incremental cycle that
//! follows changes `--delta-percent` of the users: a match (hit) and an attribute update
//! each, their removal from "All staff", and the deactivation of a tenth of them.
//!
//! Pacing: Microsoft documents no concurrency for a provisioning job, applies no rate limit
//! to non-gallery applications, and asks SCIM applications to sustain 25 requests/s per job;
//! `--connections` sets the concurrency and `--rate` caps the requests per second (unset:
//! as fast as the server answers). 429 and 503 answers are retried after `Retry-After`, as
//! Entra does.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use hdrhistogram::Histogram;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::{Client, Req};
use crate::report::{millis, thousands};
use crate::seed::{GROUP_SCHEMA, PATCH_SCHEMA, USER_SCHEMA, run_id};
use crate::workload::{encode_query, new_histogram};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ADSCIM_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

#[derive(Debug, Clone, Args)]
pub struct CycleArgs {
    /// SCIM base URL.
    #[arg(long, env = "SCIM_BENCH_URL")]
    pub url: String,
    /// Bearer token.
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Users in scope.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub users: u64,
    /// Groups in scope (group 0 holds every user; the others split the users between them).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub groups: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// Members added per PATCH.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub members_per_patch: u64,
    /// Most requests per second over all connections (Microsoft asks SCIM applications to
    /// sustain 25 per provisioning job). Default: unpaced.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Percentage of the users changed in the incremental cycle.
    #[arg(long, default_value_t = 1.0)]
    pub delta_percent: f64,
    /// Send JSON booleans instead of Entra's "True"/"False" strings.
    #[arg(long)]
    pub json_booleans: bool,
    /// Send plain RFC 7643/7644 bodies instead of Entra's (JSON booleans, lower-case PATCH
    /// ops, no explicit nulls, empty lists, `meta`, `$ref: null` or Microsoft group schema):
    /// the same cycle for servers that refuse Entra's quirks, to time them anyway.
    #[arg(long)]
    pub plain: bool,
    /// Stop after this many seconds (the report says how far the cycle got).
    #[arg(long, default_value_t = 3600)]
    pub time_limit: u64,
    /// Timeout of one request, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// A label for this run (server name).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One phase's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    /// Units of work planned and done (users, groups, PATCHes).
    pub planned: usize,
    pub done: usize,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct CycleReport {
    label: String,
    url: String,
    users: u64,
    groups: u64,
    memberships: usize,
    connections: u64,
    rate: Option<f64>,
    completed: bool,
    seconds: f64,
    initial_seconds: f64,
    incremental_seconds: f64,
    phases: Vec<Phase>,
}

/// What the requests of one unit of work recorded.
#[derive(Default)]
struct Samples {
    requests: u64,
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

type Work = Pin<Box<dyn Future<Output = Samples> + Send>>;

/// Shared by every phase: connections, pacing, the deadline.
struct Runner {
    clients: Vec<Client>,
    base: String,
    pace: Option<Mutex<Instant>>,
    interval: Duration,
    deadline: Instant,
    stopped: AtomicBool,
}

impl Runner {
    /// Waits for the next request slot under `--rate`.
    async fn pace(&self) {
        let Some(next) = &self.pace else {
            return;
        };
        let at = {
            let Ok(mut next) = next.lock() else {
                return;
            };
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// Sends one request (paced), recording it; the answer's JSON if it succeeded.
    async fn send(&self, client: &Client, req: Req, samples: &mut Samples) -> Option<Value> {
        self.pace().await;
        let t0 = Instant::now();
        let result = client.exchange(&req).await;
        samples.requests += 1;
        samples
            .latencies_us
            .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
        match result {
            Ok(v) => Some(v),
            Err(f) => {
                *samples.errors.entry(f.class).or_insert(0) += 1;
                None
            }
        }
    }

    /// Runs `units` units of work on every connection; `work(i, client)` is unit `i`.
    async fn phase(
        self: &Arc<Self>,
        name: &str,
        units: usize,
        work: Arc<dyn Fn(usize, Client) -> Work + Send + Sync>,
    ) -> Result<Phase> {
        let start = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for client in &self.clients {
            let (client, next, done, work, runner) = (
                client.clone(),
                next.clone(),
                done.clone(),
                work.clone(),
                self.clone(),
            );
            tasks.spawn(async move {
                let mut all = Samples::default();
                loop {
                    if Instant::now() >= runner.deadline {
                        runner.stopped.store(true, Ordering::Relaxed);
                        return all;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= units {
                        return all;
                    }
                    let s = work(i, client.clone()).await;
                    all.requests += s.requests;
                    all.latencies_us.extend(s.latencies_us);
                    for (k, v) in s.errors {
                        *all.errors.entry(k).or_insert(0) += v;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let progress = {
            let (done, name) = (done.clone(), name.to_string());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    eprintln!(
                        "  {name}: {}/{units}, {:.0} s",
                        done.load(Ordering::Relaxed),
                        start.elapsed().as_secs_f64()
                    );
                }
            })
        };
        let mut hist: Histogram<u64> = new_histogram()?;
        let (mut requests, mut errors) = (0u64, BTreeMap::new());
        while let Some(r) = tasks.join_next().await {
            let s = r.context("a cycle worker failed")?;
            requests += s.requests;
            for us in s.latencies_us {
                hist.saturating_record(us.max(1));
            }
            for (k, v) in s.errors {
                *errors.entry(k).or_insert(0) += v;
            }
        }
        progress.abort();
        let ms = |q: f64| {
            if requests == 0 {
                0.0
            } else {
                hist.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let phase = Phase {
            name: name.to_string(),
            planned: units,
            done: done.load(Ordering::Relaxed).min(units),
            requests,
            errors,
            seconds: start.elapsed().as_secs_f64(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        };
        eprintln!(
            "  {name}: {} of {} in {:.1} s ({} requests, {} errors)",
            phase.done,
            units,
            phase.seconds,
            requests,
            phase.errors.values().sum::<u64>()
        );
        Ok(phase)
    }
}

/// How bodies are shaped: as Entra sends them, or plain (`--plain`).
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Booleans as "True"/"False" strings.
    strings: bool,
    /// No Entra quirks at all.
    plain: bool,
}

impl Shape {
    /// A PATCH op name: capitalised as Entra sends it, lower case when plain.
    fn op(self, name: &'static str) -> String {
        if self.plain {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        }
    }

    /// A boolean value.
    fn boolean(self, b: bool) -> Value {
        match (self.strings, b) {
            (true, true) => json!("True"),
            (true, false) => json!("False"),
            (false, b) => json!(b),
        }
    }
}

/// A create body for user `i`: Entra's, or without its quirks when plain.
fn entra_user(run: &str, i: usize, shape: Shape) -> Value {
    let mut user = entra_user_quirky(run, i, shape.strings);
    if shape.plain
        && let Some(o) = user.as_object_mut()
    {
        for quirk in ["meta", "title", "addresses", "roles"] {
            o.remove(quirk);
        }
    }
    user
}

/// An Entra create body for user `i`.
fn entra_user_quirky(run: &str, i: usize, strings: bool) -> Value {
    let upn = user_name(run, i);
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": format!("{run}-object-{i:07}"),
        "userName": upn,
        "active": if strings { json!("True") } else { json!(true) },
        "displayName": format!("Given{i} Family{i}"),
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("Given{i} Family{i}"), "familyName": format!("Family{i}"), "givenName": format!("Given{i}")},
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "title": null,
        "addresses": null,
        "roles": [],
        ENTERPRISE: {"department": format!("Dept{}", i % 50), "employeeNumber": format!("{i}")},
    })
}

fn user_name(run: &str, i: usize) -> String {
    format!("cycle-{run}-{i:07}@contoso.example")
}

fn group_name(run: &str, g: usize) -> String {
    if g == 0 {
        format!("cycle-{run} All staff")
    } else {
        format!("cycle-{run} Team {g:05}")
    }
}

fn patch(ops: Value) -> String {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops}).to_string()
}

/// The id in a create's answer.
fn id_of(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

/// The members of each group: group 0 holds every user, group g ≥ 1 the users
/// `i % (G-1) == g-1`; each list cut into PATCHes of `per_patch` members.
fn membership_patches(users: usize, groups: usize, per_patch: usize) -> Vec<(usize, Vec<usize>)> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for i in 0..users {
        members[0].push(i);
        if groups > 1 {
            members[1 + i % (groups - 1)].push(i);
        }
    }
    let mut out = Vec::new();
    for (g, list) in members.into_iter().enumerate() {
        for chunk in list.chunks(per_patch.max(1)) {
            out.push((g, chunk.to_vec()));
        }
    }
    out
}

pub async fn run(args: &CycleArgs) -> Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let timeout = Duration::from_secs(args.timeout);
    let clients = (0..args.connections)
        .map(|_| Client::new(&args.token, timeout, 1))
        .collect::<Result<Vec<_>>>()?;
    let interval = args
        .rate
        .filter(|r| *r > 0.0)
        .map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
    let start = Instant::now();
    let runner = Arc::new(Runner {
        clients,
        base: base.clone(),
        pace: args.rate.filter(|r| *r > 0.0).map(|_| Mutex::new(start)),
        interval,
        deadline: start + Duration::from_secs(args.time_limit),
        stopped: AtomicBool::new(false),
    });
    let run = run_id();
    let users = usize::try_from(args.users).unwrap_or(usize::MAX);
    let groups = usize::try_from(args.groups).unwrap_or(usize::MAX);
    let shape = Shape {
        strings: !(args.json_booleans || args.plain),
        plain: args.plain,
    };
    let f = shape.boolean(false);
    eprintln!(
        "entra cycle (run {run}): {users} users, {groups} groups, {} connections{}",
        args.connections,
        args.rate
            .map_or(String::new(), |r| format!(", at most {r} req/s"))
    );
    let mut phases = Vec::new();

    // Test connection: a userName that does not exist.
    let probe: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let r = runner.clone();
        Arc::new(move |_, client| {
            let r = r.clone();
            Box::pin(async move {
                let mut s = Samples::default();
                let filter = format!("userName eq \"{}\"", run_id());
                let url = format!("{}/Users?filter={}", r.base, encode_query(&filter));
                r.send(&client, Req::get(url), &mut s).await;
                s
            })
        })
    };
    phases.push(runner.phase("test connection", 1, probe).await?);

    // Users: match (a miss), then create.
    let user_ids: Arc<Vec<Mutex<Option<String>>>> =
        Arc::new((0..users).map(|_| Mutex::new(None)).collect());
    let create_users: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, ids, run) = (runner.clone(), user_ids.clone(), run.clone());
        Arc::new(move |i, client| {
            let (r, ids, run) = (r.clone(), ids.clone(), run.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let filter = format!("userName eq \"{}\"", user_name(&run, i));
                let url = format!("{}/Users?filter={}", r.base, encode_query(&filter));
                r.send(&client, Req::get(url), &mut s).await;
                let body = entra_user(&run, i, shape).to_string();
                let req = Req::with_body(Method::POST, format!("{}/Users", r.base), body);
                if let Some(id) = r.send(&client, req, &mut s).await.as_ref().and_then(id_of)
                    && let Some(slot) = ids.get(i)
                    && let Ok(mut slot) = slot.lock()
                {
                    *slot = Some(id);
                }
                s
            })
        })
    };
    phases.push(
        runner
            .phase("users: match, create", users, create_users)
            .await?,
    );

    // Groups: match (a miss, members excluded), then create with no members.
    let group_ids: Arc<Vec<Mutex<Option<String>>>> =
        Arc::new((0..groups).map(|_| Mutex::new(None)).collect());
    let create_groups: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, ids, run) = (runner.clone(), group_ids.clone(), run.clone());
        Arc::new(move |g, client| {
            let (r, ids, run) = (r.clone(), ids.clone(), run.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let filter = format!("displayName eq \"{}\"", group_name(&run, g));
                let url = format!(
                    "{}/Groups?excludedAttributes=members&filter={}",
                    r.base,
                    encode_query(&filter)
                );
                r.send(&client, Req::get(url), &mut s).await;
                let schemas = if shape.plain {
                    json!([GROUP_SCHEMA])
                } else {
                    json!([GROUP_SCHEMA, ADSCIM_GROUP])
                };
                let body = json!({
                    "schemas": schemas,
                    "displayName": group_name(&run, g),
                    "externalId": format!("{run}-group-{g:05}"),
                    "members": [],
                })
                .to_string();
                let req = Req::with_body(Method::POST, format!("{}/Groups", r.base), body);
                if let Some(id) = r.send(&client, req, &mut s).await.as_ref().and_then(id_of)
                    && let Some(slot) = ids.get(g)
                    && let Ok(mut slot) = slot.lock()
                {
                    *slot = Some(id);
                }
                s
            })
        })
    };
    phases.push(
        runner
            .phase("groups: match, create", groups, create_groups)
            .await?,
    );

    let id = |ids: &[Mutex<Option<String>>], i: usize| -> Option<String> {
        ids.get(i)?.lock().ok()?.clone()
    };
    let snapshot = |ids: &Arc<Vec<Mutex<Option<String>>>>, n: usize| -> Arc<Vec<Option<String>>> {
        Arc::new((0..n).map(|i| id(ids, i)).collect())
    };
    let users_by_index = snapshot(&user_ids, users);
    let groups_by_index = snapshot(&group_ids, groups);

    // Memberships: small Add PATCHes, group by group.
    let per_patch = usize::try_from(args.members_per_patch).unwrap_or(1);
    let patches = Arc::new(membership_patches(users, groups, per_patch));
    let memberships = users + if groups > 1 { users } else { 0 };
    let add_members: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, patches, uids, gids) = (
            runner.clone(),
            patches.clone(),
            users_by_index.clone(),
            groups_by_index.clone(),
        );
        Arc::new(move |k, client| {
            let (r, patches, uids, gids) = (r.clone(), patches.clone(), uids.clone(), gids.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let Some((g, members)) = patches.get(k) else {
                    return s;
                };
                let Some(Some(group)) = gids.get(*g) else {
                    return s;
                };
                let value: Vec<Value> = members
                    .iter()
                    .filter_map(|i| uids.get(*i).cloned().flatten())
                    .map(|id| {
                        if shape.plain {
                            json!({"value": id})
                        } else {
                            json!({"$ref": null, "value": id})
                        }
                    })
                    .collect();
                if value.is_empty() {
                    return s;
                }
                let body =
                    patch(json!([{"op": shape.op("Add"), "path": "members", "value": value}]));
                let req = Req::with_body(Method::PATCH, format!("{}/Groups/{group}", r.base), body);
                r.send(&client, req, &mut s).await;
                s
            })
        })
    };
    phases.push(
        runner
            .phase("memberships: add", patches.len(), add_members)
            .await?,
    );
    let initial_seconds = start.elapsed().as_secs_f64();

    // Incremental cycle: a few users changed.
    let incremental = Instant::now();
    let delta = ((users as f64) * args.delta_percent / 100.0).round() as usize;
    let delta = delta.min(users);
    let changed: Arc<Vec<usize>> = Arc::new(
        (0..delta)
            .map(|k| (k * users / delta.max(1)).min(users - 1))
            .collect(),
    );
    let update_users: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, uids, changed, run) = (
            runner.clone(),
            users_by_index.clone(),
            changed.clone(),
            run.clone(),
        );
        Arc::new(move |k, client| {
            let (r, uids, changed, run) = (r.clone(), uids.clone(), changed.clone(), run.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let Some(&i) = changed.get(k) else {
                    return s;
                };
                let filter = format!("userName eq \"{}\"", user_name(&run, i));
                let url = format!("{}/Users?filter={}", r.base, encode_query(&filter));
                r.send(&client, Req::get(url), &mut s).await;
                let Some(Some(id)) = uids.get(i) else {
                    return s;
                };
                let body = patch(json!([
                    {"op": shape.op("Replace"), "path": "displayName", "value": format!("Given{i} Renamed")},
                    {"op": shape.op("Add"), "path": "title", "value": "Engineer"},
                    {"op": shape.op("Replace"), "path": format!("{ENTERPRISE}:department"), "value": "Moved"},
                ]));
                let req = Req::with_body(Method::PATCH, format!("{}/Users/{id}", r.base), body);
                r.send(&client, req, &mut s).await;
                s
            })
        })
    };
    phases.push(
        runner
            .phase("incremental: match, update users", delta, update_users)
            .await?,
    );
    let remove_members: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, uids, gids, changed) = (
            runner.clone(),
            users_by_index.clone(),
            groups_by_index.clone(),
            changed.clone(),
        );
        Arc::new(move |k, client| {
            let (r, uids, gids, changed) = (r.clone(), uids.clone(), gids.clone(), changed.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let (Some(&i), Some(Some(all))) = (changed.get(k), gids.first()) else {
                    return s;
                };
                let Some(Some(id)) = uids.get(i) else {
                    return s;
                };
                let body = patch(
                    json!([{"op": shape.op("Remove"), "path": "members", "value": [{"value": id}]}]),
                );
                let req = Req::with_body(Method::PATCH, format!("{}/Groups/{all}", r.base), body);
                r.send(&client, req, &mut s).await;
                s
            })
        })
    };
    phases.push(
        runner
            .phase("incremental: remove from All staff", delta, remove_members)
            .await?,
    );
    let deactivate: Arc<dyn Fn(usize, Client) -> Work + Send + Sync> = {
        let (r, uids, changed, f) = (
            runner.clone(),
            users_by_index.clone(),
            changed.clone(),
            f.clone(),
        );
        Arc::new(move |k, client| {
            let (r, uids, changed, f) = (r.clone(), uids.clone(), changed.clone(), f.clone());
            Box::pin(async move {
                let mut s = Samples::default();
                let Some(Some(id)) = changed.get(k * 10).and_then(|i| uids.get(*i)) else {
                    return s;
                };
                let body =
                    patch(json!([{"op": shape.op("Replace"), "path": "active", "value": f}]));
                let req = Req::with_body(Method::PATCH, format!("{}/Users/{id}", r.base), body);
                r.send(&client, req, &mut s).await;
                s
            })
        })
    };
    phases.push(
        runner
            .phase("incremental: deactivate", delta.div_ceil(10), deactivate)
            .await?,
    );
    let incremental_seconds = incremental.elapsed().as_secs_f64();
    let seconds = start.elapsed().as_secs_f64();
    let completed =
        !runner.stopped.load(Ordering::Relaxed) && phases.iter().all(|p| p.done == p.planned);

    let label = if args.label.is_empty() {
        base.clone()
    } else {
        args.label.clone()
    };
    println!();
    println!(
        "## {label}: Entra provisioning cycle, {users} users, {groups} groups ({memberships} memberships), {} connections{}",
        args.connections,
        args.rate
            .map_or(String::new(), |r| format!(", at most {r} req/s"))
    );
    println!();
    print!("{}", table(&phases));
    println!();
    println!(
        "Initial cycle: {:.1} s; incremental cycle ({}% of the users): {:.1} s; total {:.1} s{}.",
        initial_seconds,
        args.delta_percent,
        incremental_seconds,
        seconds,
        if completed {
            String::new()
        } else {
            format!(
                " (NOT COMPLETED: stopped at the {} s time limit or with units left undone)",
                args.time_limit
            )
        }
    );
    if let Some(path) = &args.json {
        let report = CycleReport {
            label,
            url: base,
            users: args.users,
            groups: args.groups,
            memberships,
            connections: args.connections,
            rate: args.rate,
            completed,
            seconds,
            initial_seconds,
            incremental_seconds,
            phases,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The phases as a Markdown table.
fn table(phases: &[Phase]) -> String {
    let mut out = String::from(
        "| phase | done | requests | seconds | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for p in phases {
        let errors = if p.errors.is_empty() {
            "0".to_string()
        } else {
            p.errors
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rate = if p.seconds > 0.0 {
            p.requests as f64 / p.seconds
        } else {
            0.0
        };
        out.push_str(&format!(
            "| {} | {}/{} | {} | {:.1} | {} | {} | {} | {} |\n",
            p.name,
            thousands(p.done as f64, 0),
            thousands(p.planned as f64, 0),
            thousands(p.requests as f64, 0),
            p.seconds,
            thousands(rate, 0),
            millis(p.p50_ms),
            millis(p.p99_ms),
            errors
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_is_in_all_staff_and_in_one_team() {
        let patches = membership_patches(10, 4, 3);
        let mut per_group = [0usize; 4];
        for (g, members) in &patches {
            assert!(members.len() <= 3);
            per_group[*g] += members.len();
        }
        assert_eq!(per_group, [10, 4, 3, 3]);
        // Group 0 first: Entra works group by group.
        assert_eq!(patches[0].0, 0);
        assert_eq!(membership_patches(5, 1, 1).len(), 5);
    }

    #[test]
    fn entra_bodies_carry_entra_quirks() {
        let entra = Shape {
            strings: true,
            plain: false,
        };
        let u = entra_user("r", 7, entra);
        assert_eq!(u["active"], "True");
        assert_eq!(u["schemas"][1], ENTERPRISE);
        assert!(u["title"].is_null() && u["roles"] == json!([]));
        let plain = Shape {
            strings: false,
            plain: true,
        };
        let p = entra_user("r", 7, plain);
        assert_eq!(p["active"], true);
        assert!(p.get("title").is_none() && p.get("meta").is_none());
        assert_eq!(
            (entra.op("Add"), plain.op("Add")),
            ("Add".into(), "add".into())
        );
    }
}
