//! `scim-bench fairness`: one normal and one abusive tenant on the same server. The normal
//! tenant sends a steady, identity-provider-like pace (an open loop of creates, PATCHes
//! and GETs); its p99 is measured alone ("idle"), then while the abusive tenant floods the
//! server (closed loop on many connections, far over its rate limit) or sends huge
//! requests. Target (issue 11): the normal tenant's p99 under abuse within 2x of idle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Req};
use crate::seed::{PATCH_SCHEMA, user_doc};
use crate::workload::{Rng, new_histogram};

/// Which tenants this process drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Both: the abusers run on this process's runtime, beside the normal tenant's thread.
    Both,
    /// The normal tenant only: its idle phase, then its phase under abuse, while another
    /// process started at the same time with `--part abusive` sends the abuse.
    Normal,
    /// The abusive tenant only, during the other process's second phase: it waits out the
    /// idle phase, abuses for the second phase (and the 2 s of warm-up before it), stops.
    /// Run at a low priority (`nice`), it stands for a client on another machine: on a
    /// two-core machine its CPU would otherwise compete with the server and the normal
    /// tenant's client, which is not what the target measures.
    Abusive,
}

/// How the abusive tenant misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Abuse {
    /// Small writes and reads as fast as its connections allow (10x its limit and more).
    Flood,
    /// PATCHes adding 1,000 emails each (the largest the limits allow), as fast as allowed.
    Huge,
}

#[derive(Debug, Clone, Args)]
pub struct FairnessArgs {
    /// SCIM base URL of the normal tenant.
    #[arg(long)]
    pub normal_url: String,
    #[arg(long, hide_env_values = true, env = "SCIM_BENCH_NORMAL_TOKEN")]
    pub normal_token: String,
    /// SCIM base URL of the abusive tenant.
    #[arg(long)]
    pub abusive_url: String,
    #[arg(long, hide_env_values = true, env = "SCIM_BENCH_ABUSIVE_TOKEN")]
    pub abusive_token: String,
    /// The normal tenant's requests per second (open loop).
    #[arg(long, default_value_t = 20)]
    pub normal_rate: u64,
    /// The abusive tenant's connections (closed loop).
    #[arg(long, default_value_t = 64)]
    pub abusive_connections: u64,
    #[arg(long, value_enum, default_value = "flood")]
    pub abuse: Abuse,
    /// Seconds of each phase (idle, then abuse).
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Which tenants this process drives (see [`Part`]).
    #[arg(long, value_enum, default_value = "both")]
    pub part: Part,
}

/// The abusers' warm-up before the normal tenant's second phase.
const WARM_UP: Duration = Duration::from_secs(2);

/// Latencies of one phase of the normal tenant, and what its requests got.
struct Phase {
    hist: hdrhistogram::Histogram<u64>,
    /// The same latencies by kind of request (`create`, `patch`, `get`): a write slowed by
    /// the single writer and a read slowed by the CPU show apart.
    by_kind: BTreeMap<&'static str, hdrhistogram::Histogram<u64>>,
    statuses: BTreeMap<String, u64>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The normal tenant: `rate` requests a second for `duration`, each on its own task (an
/// open loop: a slow server does not slow the offered load down).
async fn normal_phase(
    client: &Client,
    base: &str,
    rate: u64,
    duration: Duration,
    run: &str,
) -> Result<Phase> {
    // One user to PATCH and GET.
    let user = client
        .json(&Req::with_body(
            Method::POST,
            format!("{base}/Users"),
            user_doc(&format!("fair-{run}@example.com"), 0).to_string(),
        ))
        .await?;
    let id = user["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no id"))?
        .to_string();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while started.elapsed() < duration {
        ticker.tick().await;
        i += 1;
        let kind = ["create", "patch", "get"][i % 3];
        let req = match i % 3 {
            0 => Req::with_body(
                Method::POST,
                format!("{base}/Users"),
                user_doc(&format!("fair-{run}-{i}@example.com"), i).to_string(),
            ),
            1 => Req::with_body(
                Method::PATCH,
                format!("{base}/Users/{id}?excludedAttributes=emails"),
                json!({"schemas": [PATCH_SCHEMA], "Operations": [
                    {"op": "replace", "path": "title", "value": format!("t{i}")}]})
                .to_string(),
            ),
            _ => Req::get(format!("{base}/Users/{id}")),
        };
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = client.send(&req).await;
            (kind, t.elapsed(), r)
        }));
    }
    let mut phase = Phase {
        hist: new_histogram()?,
        by_kind: BTreeMap::new(),
        statuses: BTreeMap::new(),
    };
    for t in tasks {
        let (kind, elapsed, r) = t.await.map_err(|e| anyhow!("{e}"))?;
        let us = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = phase.hist.record(us);
        if !phase.by_kind.contains_key(kind) {
            phase.by_kind.insert(kind, new_histogram()?);
        }
        if let Some(h) = phase.by_kind.get_mut(kind) {
            let _ = h.record(us);
        }
        *phase
            .statuses
            .entry(r.err().unwrap_or_else(|| "2xx".into()))
            .or_default() += 1;
    }
    Ok(phase)
}

/// [`normal_phase`] on a runtime of its own (one thread, its own connections), so that
/// the normal tenant's requests are sent and timed without waiting behind the abusive
/// tenant's tasks in this process: 64 of them answered 429 at once each build a 50 KB
/// body next, and a normal request's answer then waited for them, which the server did
/// not cause (its GETs' p99 went from 1.3 to 5.7 ms with the server 89% idle).
async fn normal_phase_apart(
    token: String,
    base: String,
    rate: u64,
    duration: Duration,
    run: String,
) -> Result<Phase> {
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let client = Client::new(&token, Duration::from_secs(60), 64)?;
            normal_phase(&client, &base, rate, duration, &run).await
        })
    })
    .await
    .map_err(|e| anyhow!("the normal tenant's thread: {e}"))?
}

/// A PATCH replacing the user's emails with 1,000 new ones (unique to `i`), written
/// directly: building it as a `Value` cost the harness ~0.5 ms of CPU per request.
fn huge_patch(i: u64) -> String {
    use std::fmt::Write;
    let mut body = String::with_capacity(60_000);
    body.push_str(r#"{"schemas":[""#);
    body.push_str(PATCH_SCHEMA);
    body.push_str(r#""],"Operations":[{"op":"replace","path":"emails","value":["#);
    for k in 0..1000 {
        if k > 0 {
            body.push(',');
        }
        let _ = write!(body, r#"{{"value":"h{k}-{i}@example.com","type":"work"}}"#);
    }
    body.push_str("]}]}");
    body
}

/// The abusive tenant, until `stop`: what it got, by status.
async fn abuse(
    client: Client,
    base: String,
    kind: Abuse,
    stop: Arc<AtomicBool>,
    worker: u64,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    // Distinct names in every run against the same server.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut rng = Rng::new(worker + 7 + u64::from(nanos));
    // A user of its own to PATCH.
    let target = client
        .json(&Req::with_body(
            Method::POST,
            format!("{base}/Users"),
            user_doc(&format!("abuse-{worker}-{}@example.com", rng.next_u64()), 0).to_string(),
        ))
        .await
        .ok()
        .and_then(|u| u["id"].as_str().map(str::to_string));
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let req = match (kind, &target) {
            (Abuse::Huge, Some(id)) => Req::with_body(
                Method::PATCH,
                format!("{base}/Users/{id}?attributes=id"),
                huge_patch(i),
            ),
            _ if i.is_multiple_of(2) => Req::get(format!("{base}/Users?count=10")),
            _ => Req::with_body(
                Method::POST,
                format!("{base}/Users"),
                user_doc(
                    &format!("flood-{worker}-{i}-{}@example.com", rng.next_u64()),
                    1,
                )
                .to_string(),
            ),
        };
        let r = client.send(&req).await;
        let key = r.err().unwrap_or_else(|| "2xx".into());
        if key == "429" {
            // A well-behaved client would wait; an abusive one retries at once.
            tokio::task::yield_now().await;
        }
        *out.entry(key).or_default() += 1;
    }
    out
}

/// The abusive tenant's connections, each a task sending until stopped.
struct Abusers {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<BTreeMap<String, u64>>>,
}

impl Abusers {
    fn start(args: &FairnessArgs, client: &Client, connections: u64) -> Abusers {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..connections)
            .map(|w| {
                tokio::spawn(abuse(
                    client.clone(),
                    args.abusive_url.trim_end_matches('/').to_string(),
                    args.abuse,
                    stop.clone(),
                    w,
                ))
            })
            .collect();
        Abusers { stop, workers }
    }

    /// Stops them; what they got, by status.
    async fn stop(self) -> Result<BTreeMap<String, u64>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
        for w in self.workers {
            for (k, v) in w.await.map_err(|e| anyhow!("{e}"))? {
                *statuses.entry(k).or_default() += v;
            }
        }
        Ok(statuses)
    }
}

/// `--part abusive`: the abusers alone, during the other process's second phase.
async fn abuse_apart(args: &FairnessArgs, abusive: Client, duration: Duration) -> Result<()> {
    eprintln!(
        "abusive part: waiting {} s (the normal tenant's idle phase), then {:?} on {} connections",
        args.duration, args.abuse, args.abusive_connections
    );
    tokio::time::sleep(duration).await;
    let abusers = Abusers::start(args, &abusive, args.abusive_connections);
    let started = Instant::now();
    // The warm-up, the normal tenant's phase, and a little more: its last requests are
    // still under abuse.
    tokio::time::sleep(WARM_UP + duration + Duration::from_millis(500)).await;
    let statuses = abusers.stop().await?;
    let (line, abusive) = abusive_report(statuses, started.elapsed().as_secs_f64());
    println!("{line}");
    if let Some(path) = &args.json {
        let doc = json!({
            "abuse": format!("{:?}", args.abuse),
            "abusive_connections": args.abusive_connections,
            "abusive": abusive,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

/// What the abusive tenant got in `secs`: the line to print and its JSON.
fn abusive_report(statuses: BTreeMap<String, u64>, secs: f64) -> (String, Value) {
    let total: u64 = statuses.values().sum();
    let rate = total as f64 / secs.max(0.001);
    (
        format!("abusive tenant: {total} requests ({rate:.0}/s) {statuses:?}"),
        json!({"requests": total, "per_second": rate, "statuses": statuses}),
    )
}

fn summary(name: &str, p: &Phase) -> Value {
    let by_kind: BTreeMap<&str, Value> = p
        .by_kind
        .iter()
        .map(|(k, h)| {
            let v = json!({"requests": h.len(), "p50_ms": ms(h.value_at_quantile(0.5)),
                "p99_ms": ms(h.value_at_quantile(0.99))});
            (*k, v)
        })
        .collect();
    json!({
        "phase": name,
        "requests": p.hist.len(),
        "p50_ms": ms(p.hist.value_at_quantile(0.5)),
        "p99_ms": ms(p.hist.value_at_quantile(0.99)),
        "max_ms": ms(p.hist.max()),
        "by_kind": by_kind,
        "statuses": p.statuses,
    })
}

/// `create 1.2/3.4, patch …` (p50/p99 ms by kind of request).
fn kinds_line(p: &Phase) -> String {
    p.by_kind
        .iter()
        .map(|(k, h)| {
            format!(
                "{k} {:.2}/{:.2}",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(args: &FairnessArgs) -> Result<()> {
    let timeout = Duration::from_secs(60);
    let abusive = Client::new(
        &args.abusive_token,
        timeout,
        to_usize(args.abusive_connections),
    )?;
    let duration = Duration::from_secs(args.duration);
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let base = args.normal_url.trim_end_matches('/').to_string();
    if args.part == Part::Abusive {
        return abuse_apart(args, abusive, duration).await;
    }
    eprintln!(
        "idle: the normal tenant alone, {} req/s for {} s",
        args.normal_rate, args.duration
    );
    let idle = normal_phase_apart(
        args.normal_token.clone(),
        base.clone(),
        args.normal_rate,
        duration,
        format!("{run_id}a"),
    )
    .await?;
    eprintln!(
        "abuse: {:?} on {} connections{}, the normal tenant at the same pace",
        args.abuse,
        args.abusive_connections,
        if args.part == Part::Both {
            ""
        } else {
            " (from another process)"
        }
    );
    let connections = match args.part {
        Part::Both => args.abusive_connections,
        // Another process abuses.
        Part::Normal | Part::Abusive => 0,
    };
    let abusers = Abusers::start(args, &abusive, connections);
    // Let the abuse reach its steady state first.
    tokio::time::sleep(WARM_UP).await;
    let started = Instant::now();
    let busy = normal_phase_apart(
        args.normal_token.clone(),
        base.clone(),
        args.normal_rate,
        duration,
        format!("{run_id}b"),
    )
    .await?;
    let abuse_secs = started.elapsed().as_secs_f64();
    let (line, abusive) = abusive_report(abusers.stop().await?, abuse_secs);
    if args.part == Part::Normal {
        println!("(the abusive tenant ran from another process: see its own output)");
    }
    let idle_p99 = ms(idle.hist.value_at_quantile(0.99));
    let busy_p99 = ms(busy.hist.value_at_quantile(0.99));
    println!(
        "normal tenant p99: idle {idle_p99:.2} ms, under abuse {busy_p99:.2} ms (ratio {:.2}; target <= 2)",
        busy_p99 / idle_p99.max(0.001)
    );
    println!(
        "normal tenant p50: idle {:.2} ms, under abuse {:.2} ms; its statuses under abuse: {:?}",
        ms(idle.hist.value_at_quantile(0.5)),
        ms(busy.hist.value_at_quantile(0.5)),
        busy.statuses
    );
    println!(
        "normal tenant p50/p99 ms by request: idle {}; under abuse {}",
        kinds_line(&idle),
        kinds_line(&busy)
    );
    if args.part == Part::Both {
        println!("{line}");
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "abuse": format!("{:?}", args.abuse),
            "normal_rate": args.normal_rate,
            "abusive_connections": args.abusive_connections,
            "idle": summary("idle", &idle),
            "under_abuse": summary("under_abuse", &busy),
            "p99_ratio": busy_p99 / idle_p99.max(0.001),
            "abusive": abusive,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_huge_patch_is_a_patch_of_a_thousand_distinct_emails() {
        let v: Value = serde_json::from_str(&huge_patch(7)).unwrap();
        assert_eq!(v["schemas"][0], PATCH_SCHEMA);
        let emails = v["Operations"][0]["value"].as_array().unwrap();
        assert_eq!(emails.len(), 1000);
        assert_eq!(
            emails[999],
            json!({"value": "h999-7@example.com", "type": "work"})
        );
        assert_ne!(huge_patch(7), huge_patch(8));
    }
}
