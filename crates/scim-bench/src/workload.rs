//! Workloads: what each sends, and the closed loop that runs C workers for T seconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::Workload;
use crate::client::{Client, Expect, Req};
use crate::seed::{
    BULK_SCHEMA, PATCH_SCHEMA, Seeded, add_members_body, remove_member_body, user_doc, user_name,
};

/// Members added by one request of "add members" (`--add-size`).
pub const MEMBERS_PER_ADD: usize = 100;

/// The measured outcome of one workload.
#[derive(Debug)]
pub struct Outcome {
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    /// Latencies of every completed request (successful or not), in microseconds.
    pub hist: Histogram<u64>,
    pub elapsed: Duration,
    /// The workload ran out of distinct items (pool users, members) before its time was up.
    pub exhausted: bool,
}

impl Outcome {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// A latency histogram from 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).context("cannot create a histogram")
}

/// A small, fast pseudo-random generator (SplitMix64); one per worker.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Produces the requests of one workload. `next` is called by worker `w` for its `seq`-th
/// request; `None` means the workload has run out of distinct items.
pub struct Generator {
    workload: Workload,
    base: String,
    seeded: Arc<Seeded>,
    bulk_size: usize,
    /// Next unused index into the member pool (add) or the removal order (remove).
    cursor: Arc<AtomicUsize>,
    /// Members to remove, in order: those the add workload added first, then the original ones.
    removal: Arc<Vec<String>>,
    /// Appended to the URL of the group PATCHes (`?excludedAttributes=members`), or empty.
    group_patch_query: String,
    /// Members added by one request of add-members.
    add_size: usize,
}

impl Generator {
    pub fn new(
        workload: Workload,
        base: &str,
        seeded: Arc<Seeded>,
        bulk_size: usize,
        added_from_pool: usize,
    ) -> Generator {
        let removal = if workload == Workload::RemoveMember {
            let added = seeded.pool_ids().iter().take(added_from_pool);
            added.chain(seeded.member_ids().iter()).cloned().collect()
        } else {
            Vec::new()
        };
        Generator {
            workload,
            base: base.to_string(),
            seeded,
            bulk_size,
            cursor: Arc::new(AtomicUsize::new(0)),
            removal: Arc::new(removal),
            group_patch_query: String::new(),
            add_size: MEMBERS_PER_ADD,
        }
    }

    /// Adds this many members per request of add-members.
    pub fn with_add_size(mut self, n: usize) -> Generator {
        self.add_size = n.max(1);
        self
    }

    /// Sends the group PATCHes with this query string (without `?`).
    pub fn with_group_patch_query(mut self, query: &str) -> Generator {
        let q = query.trim_start_matches('?');
        self.group_patch_query = if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        };
        self
    }

    /// Pool users handed out so far by "add 100 members".
    pub fn used(&self) -> usize {
        self.cursor.load(Ordering::Relaxed)
    }

    fn random_user(&self, rng: &mut Rng) -> Option<(usize, &str)> {
        let n = self.seeded.read_users.min(self.seeded.users.len());
        let i = rng.below(n);
        self.seeded.users.get(i).map(|id| (i, id.as_str()))
    }

    pub fn next(&self, worker: usize, seq: u64, rng: &mut Rng) -> Option<Req> {
        let base = &self.base;
        let run = &self.seeded.run;
        match self.workload {
            Workload::GetById => {
                let (_, id) = self.random_user(rng)?;
                Some(Req::get(format!("{base}/Users/{id}")))
            }
            Workload::FilterUserName => {
                let (i, _) = self.random_user(rng)?;
                let filter = format!("userName eq \"{}\"", user_name(run, i));
                Some(Req::get(format!(
                    "{base}/Users?filter={}",
                    encode_query(&filter)
                )))
            }
            Workload::ListPage => {
                let n = self.seeded.read_users.min(self.seeded.users.len());
                let start = 1 + rng.below(n.saturating_sub(99).max(1));
                Some(Req::get(format!(
                    "{base}/Users?startIndex={start}&count=100"
                )))
            }
            Workload::Create => {
                let name = format!("bench-{run}-c{worker}-{seq}@example.com");
                Some(Req::with_body(
                    Method::POST,
                    format!("{base}/Users"),
                    user_doc(&name, worker * 1_000_000 + seq as usize).to_string(),
                ))
            }
            Workload::PatchReplace => {
                let (_, id) = self.random_user(rng)?;
                let body = json!({
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "replace", "path": "displayName",
                                    "value": format!("Renamed {worker}-{seq}")}],
                })
                .to_string();
                Some(Req::with_body(
                    Method::PATCH,
                    format!("{base}/Users/{id}"),
                    body,
                ))
            }
            Workload::AddMembers => {
                let group = self.seeded.group.as_deref()?;
                let pool = self.seeded.pool_ids();
                let start = self.cursor.fetch_add(self.add_size, Ordering::Relaxed);
                let chunk = pool.get(start..(start + self.add_size).min(pool.len()))?;
                if chunk.is_empty() {
                    return None;
                }
                Some(Req::with_body(
                    Method::PATCH,
                    format!("{base}/Groups/{group}{}", self.group_patch_query),
                    add_members_body(chunk),
                ))
            }
            Workload::RemoveMember => {
                let group = self.seeded.group.as_deref()?;
                let k = self.cursor.fetch_add(1, Ordering::Relaxed);
                let id = self.removal.get(k)?;
                Some(Req::with_body(
                    Method::PATCH,
                    format!("{base}/Groups/{group}{}", self.group_patch_query),
                    remove_member_body(id),
                ))
            }
            Workload::GetGroup => {
                let group = self.seeded.group.as_deref()?;
                Some(Req::get(format!(
                    "{base}/Groups/{group}?excludedAttributes=members"
                )))
            }
            Workload::GetGroupFull => {
                let group = self.seeded.group.as_deref()?;
                Some(Req::get(format!("{base}/Groups/{group}")))
            }
            Workload::ListGroups => Some(Req::get(format!("{base}/Groups?count=100"))),
            Workload::Bulk => {
                let ops: Vec<Value> = (0..self.bulk_size)
                    .map(|k| {
                        let name = format!("bench-{run}-b{worker}-{seq}-{k}@example.com");
                        json!({"method": "POST", "path": "/Users", "bulkId": format!("b{k}"),
                               "data": user_doc(&name, k)})
                    })
                    .collect();
                let body = json!({"schemas": [BULK_SCHEMA], "Operations": ops}).to_string();
                let mut req = Req::with_body(Method::POST, format!("{base}/Bulk"), body);
                req.expect = Expect::BulkAllOk;
                Some(req)
            }
        }
    }
}

/// What a worker asks for its next request.
pub trait Source: Send + Sync + 'static {
    fn next(&self, worker: usize, seq: u64, rng: &mut Rng) -> Option<Req>;
}

impl Source for Generator {
    fn next(&self, worker: usize, seq: u64, rng: &mut Rng) -> Option<Req> {
        Generator::next(self, worker, seq, rng)
    }
}

/// The same GET, again and again (the ceiling).
pub struct Fixed(pub String);

impl Source for Fixed {
    fn next(&self, _: usize, _: u64, _: &mut Rng) -> Option<Req> {
        Some(Req::get(self.0.clone()))
    }
}

struct WorkerResult {
    requests: u64,
    errors: BTreeMap<String, u64>,
    hist: Histogram<u64>,
    exhausted: bool,
}

/// Runs `source` on one worker per client, each sending its next request as soon as the last
/// one is answered, until `duration` has passed (requests in flight then are completed and
/// counted) or the source runs out.
pub async fn closed_loop<S: Source>(
    clients: &[Client],
    duration: Duration,
    source: Arc<S>,
) -> Result<Outcome> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (w, client) in clients.iter().enumerate() {
        let client = client.clone();
        let source = source.clone();
        let hist = new_histogram()?;
        tasks.spawn(async move {
            let mut rng = Rng::new(w as u64 + 1);
            let mut out = WorkerResult {
                requests: 0,
                errors: BTreeMap::new(),
                hist,
                exhausted: false,
            };
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let Some(req) = source.next(w, seq, &mut rng) else {
                    out.exhausted = true;
                    break;
                };
                seq += 1;
                let t0 = Instant::now();
                let result = client.send(&req).await;
                let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                out.hist.saturating_record(us.max(1));
                out.requests += 1;
                if let Err(kind) = result {
                    *out.errors.entry(kind).or_insert(0) += 1;
                }
            }
            out
        });
    }
    let mut total = Outcome {
        requests: 0,
        errors: BTreeMap::new(),
        hist: new_histogram()?,
        elapsed: Duration::ZERO,
        exhausted: false,
    };
    while let Some(r) = tasks.join_next().await {
        let r = r.context("a load worker failed")?;
        total.requests += r.requests;
        for (k, v) in r.errors {
            *total.errors.entry(k).or_insert(0) += v;
        }
        total
            .hist
            .add(&r.hist)
            .context("cannot merge latency histograms")?;
        total.exhausted |= r.exhausted;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded() -> Arc<Seeded> {
        Arc::new(Seeded {
            run: "r".into(),
            users: (0..10).map(|i| format!("id{i}")).collect(),
            read_users: 4,
            group: Some("g".into()),
            group_members: 4,
            pool: 3,
            groups: Vec::new(),
            groups_members: 0,
            seconds: 0.0,
            method: String::new(),
        })
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query("userName eq \"a@b.c\""),
            "userName%20eq%20%22a%40b.c%22"
        );
    }

    #[test]
    fn rng_stays_in_range_and_varies() {
        let mut r = Rng::new(1);
        let xs: Vec<usize> = (0..100).map(|_| r.below(7)).collect();
        assert!(xs.iter().all(|x| *x < 7));
        assert!(xs.iter().any(|x| *x != xs[0]));
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn add_members_uses_the_pool_once_then_stops() {
        let g = Generator::new(Workload::AddMembers, "http://x", seeded(), 1000, 0);
        let mut rng = Rng::new(1);
        let req = g
            .next(0, 0, &mut rng)
            .unwrap_or_else(|| panic!("no request"));
        let body = req.body.unwrap_or_default();
        // The pool is users 4, 5, 6: all three in the first request (fewer than 100 left).
        assert!(body.contains("id4") && body.contains("id6") && !body.contains("id3"));
        assert!(!body.contains("id7"));
        assert!(g.next(0, 1, &mut rng).is_none());
    }

    #[test]
    fn removals_take_added_members_first_and_are_distinct() {
        let g = Generator::new(Workload::RemoveMember, "http://x", seeded(), 1000, 2)
            .with_group_patch_query("excludedAttributes=members");
        let mut rng = Rng::new(1);
        let reqs: Vec<Req> = (0..6).filter_map(|s| g.next(0, s, &mut rng)).collect();
        assert!(
            reqs[0]
                .url
                .ends_with("/Groups/g?excludedAttributes=members")
        );
        let bodies: Vec<String> = reqs.into_iter().filter_map(|r| r.body).collect();
        assert_eq!(bodies.len(), 6);
        assert!(bodies[0].contains("id4") && bodies[1].contains("id5"));
        assert!(bodies[2].contains("id0") && bodies[5].contains("id3"));
        assert!(g.next(0, 6, &mut rng).is_none());
    }

    #[test]
    fn reads_stay_within_the_read_users() {
        let g = Generator::new(Workload::GetById, "http://x", seeded(), 1000, 0);
        let mut rng = Rng::new(3);
        for s in 0..50 {
            let url = g.next(0, s, &mut rng).map(|r| r.url).unwrap_or_default();
            let id: usize = url
                .trim_start_matches("http://x/Users/id")
                .parse()
                .unwrap_or(99);
            assert!(id < 4, "{url}");
        }
    }
}
