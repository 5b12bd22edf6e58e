//! `scim-bench delivery`: how fast committed writes reach the application, and what delivery
//! costs the writes (issue 9). Three phases of the create workload (a closed loop on
//! `--connections` connections): without any consumer; with the consumers of `--consumers`
//! following the tenant (a webhook endpoint to a receiver inside this process that answers
//! 204 at once, and/or a long-polling feed reader), after one warm-up create has reached
//! them; and without them again. For every user created in the middle phase it measures the
//! time from the client receiving the create's 2xx to the event reaching each consumer, and
//! with `--server-pid` the server's and this process's CPU per create; it compares the creates/s of the middle
//! phase with the mean of the other two (target: at most 10% slower). With `--rounds R` the
//! two last phases repeat R times (without, then R times with and without), each phase with
//! consumers is compared with its two neighbours, and the median of the R slowdowns is
//! reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Req};
use crate::seed::user_doc;
use crate::workload::new_histogram;

/// A consumer of the tenant's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Consumer {
    /// A webhook endpoint to a receiver in this process.
    Webhook,
    /// A long-polling reader of the feed.
    Feed,
}

impl std::fmt::Display for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Consumer::Webhook => "webhook",
            Consumer::Feed => "feed",
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// SCIM base URL of the tenant (for `scim`: http://HOST:PORT/scim/v2/TENANT).
    #[arg(long)]
    pub url: String,
    /// The tenant's SCIM bearer token.
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The management API's base URL (http://HOST:PORT/admin/v1).
    #[arg(long)]
    pub admin_url: String,
    /// An admin token (`scim admin-token create`).
    #[arg(long, env = "SCIM_BENCH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// The tenant's name.
    #[arg(long)]
    pub tenant: String,
    /// Concurrent keep-alive connections of the create workload.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// Seconds of each of the three phases.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Events per webhook request (the endpoint's `batchMax`; 1: one event per request, the
    /// default of an endpoint).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub batch: u64,
    /// Who follows the tenant in the middle phase: `webhook`, `feed`, or both (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [Consumer::Webhook, Consumer::Feed])]
    pub consumers: Vec<Consumer>,
    /// Seconds to wait, after the middle phase, for the last events to arrive.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout: u64,
    /// The server's process id (a local server): each phase also reports the server's CPU
    /// time per create, and this process's (the clients, the receiver, the feed reader).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Phases with consumers, each between two without: the slowdown of each is taken
    /// against its neighbours and the median reported, so that a machine whose speed
    /// drifts over minutes (a shared VM) weighs less than in one comparison.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub rounds: u64,
}

/// When each created user's event first arrived, by user id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// What the receivers read of an event, a batch (`scim.batch`, its events in
/// `data.events`) or a feed page (`events`): the type and the resource's id, borrowed from
/// the body. The rest (the resource) is skipped unparsed, so that the harness, which
/// shares the server's machine, spends little of it on measuring.
#[derive(serde::Deserialize)]
struct Arrived<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    data: ArrivedData<'a>,
}

#[derive(serde::Deserialize, Default)]
struct ArrivedData<'a> {
    #[serde(default, borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    events: Vec<Arrived<'a>>,
}

/// A feed page, as the reader reads it.
#[derive(serde::Deserialize)]
struct ArrivedPage<'a> {
    #[serde(borrow)]
    events: Vec<Arrived<'a>>,
    next: i64,
}

fn note_arrivals(arrivals: &Arrivals, events: &[Arrived<'_>], at: Instant) {
    let Ok(mut map) = arrivals.lock() else {
        return;
    };
    for e in events {
        if e.kind == "scim.batch" {
            for inner in &e.data.events {
                if inner.kind == "user.created"
                    && let Some(id) = &inner.data.id
                {
                    map.entry(id.to_string()).or_insert(at);
                }
            }
        } else if e.kind == "user.created"
            && let Some(id) = &e.data.id
        {
            map.entry(id.to_string()).or_insert(at);
        }
    }
}

/// The webhook receiver: one event, or a batch (`scim.batch`) of them, per request.
async fn receive(
    State((arrivals, requests)): State<(Arrivals, Arc<AtomicU64>)>,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    requests.fetch_add(1, Ordering::Relaxed);
    let Ok(doc) = serde_json::from_slice::<Arrived<'_>>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    note_arrivals(&arrivals, std::slice::from_ref(&doc), at);
    StatusCode::NO_CONTENT
}

/// The outcome of one phase of creates.
struct Phase {
    created: u64,
    errors: u64,
    secs: f64,
    /// CPU µs per create of the server and of this process, when the server is local.
    server_us: Option<f64>,
    bench_us: Option<f64>,
    /// CPU µs per create of the whole machine (the database server's work included).
    machine_us: Option<f64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.created as f64 / self.secs.max(0.001)
    }

    fn show(&self) {
        let cpu = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        println!(
            "  {:.0} creates/s ({} errors); CPU µs per create: server {}, scim-bench {}, machine {}",
            self.rate(),
            self.errors,
            cpu(self.server_us),
            cpu(self.bench_us),
            cpu(self.machine_us)
        );
    }

    fn json(&self) -> Value {
        json!({"creates_per_s": self.rate(), "errors": self.errors,
            "server_cpu_us_per_create": self.server_us, "bench_cpu_us_per_create": self.bench_us,
            "machine_cpu_us_per_create": self.machine_us})
    }
}

/// The create workload for `duration`; with `acks`, the time each created user's 2xx arrived.
async fn creates(
    client: &Client,
    args: &DeliveryArgs,
    phase: &str,
    acks: Option<Arrivals>,
) -> Result<Phase> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let server_cpu = args.server_pid.and_then(crate::cpu::cpu_time);
    let own_cpu = crate::cpu::cpu_time(std::process::id());
    let machine_cpu = crate::cpu::machine_cpu_time();
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..args.connections {
        let (client, url, acks, errors) = (
            client.clone(),
            format!("{}/Users", args.url),
            acks.clone(),
            errors.clone(),
        );
        let prefix = format!("dlv-{stamp}-{phase}-{w}");
        workers.push(tokio::spawn(async move {
            let mut created = 0u64;
            let mut i = 0usize;
            while Instant::now() < deadline {
                i += 1;
                let name = format!("{prefix}-{i}@example.com");
                let body = user_doc(&name, i).to_string();
                match client
                    .exchange(&Req::with_body(Method::POST, url.clone(), body))
                    .await
                {
                    Ok(v) => {
                        let at = Instant::now();
                        created += 1;
                        if let (Some(acks), Some(id)) = (&acks, v.get("id").and_then(Value::as_str))
                            && let Ok(mut map) = acks.lock()
                        {
                            map.insert(id.to_string(), at);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            created
        }));
    }
    let mut created = 0;
    for w in workers {
        created += w.await.map_err(|e| anyhow!("{e}"))?;
    }
    let per_create = |before: Option<Duration>, pid: Option<u32>| {
        let used = pid.and_then(crate::cpu::cpu_time)?.checked_sub(before?)?;
        Some(used.as_secs_f64() * 1e6 / created.max(1) as f64)
    };
    Ok(Phase {
        created,
        errors: errors.load(Ordering::Relaxed),
        secs: started.elapsed().as_secs_f64(),
        server_us: per_create(server_cpu, args.server_pid),
        bench_us: per_create(own_cpu, Some(std::process::id())),
        machine_us: crate::cpu::machine_cpu_time()
            .and_then(|after| after.checked_sub(machine_cpu?))
            .map(|used| used.as_secs_f64() * 1e6 / created.max(1) as f64),
    })
}

/// A plain JSON client for the management API.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// A request's body, unparsed (an error unless 2xx).
    async fn text(&self, method: Method, path: &str, body: Option<Value>) -> Result<String> {
        let mut b = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let resp = b.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {text}");
        }
        Ok(text)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let text = self.text(method.clone(), path, body).await?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON"))
    }
}

/// The tenant's head: where a feed reader that wants only new events starts.
async fn feed_head(admin: &Admin, tenant: &str) -> Result<i64> {
    let first = admin
        .call(
            Method::GET,
            &format!("/tenants/{tenant}/events?after=0&limit=1"),
            None,
        )
        .await?;
    Ok(first.get("head").and_then(Value::as_i64).unwrap_or(0))
}

/// Follows the tenant's feed with long polls from `after` until `stop`.
async fn follow_feed(
    admin: Arc<Admin>,
    tenant: String,
    mut after: i64,
    arrivals: Arrivals,
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicU64>,
) -> Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/tenants/{tenant}/events?after={after}&limit=1000&wait=1");
        let body = admin.text(Method::GET, &path, None).await?;
        let at = Instant::now();
        polls.fetch_add(1, Ordering::Relaxed);
        let page: ArrivedPage<'_> =
            serde_json::from_str(&body).context("the feed answered something else than a page")?;
        note_arrivals(&arrivals, &page.events, at);
        after = page.next;
    }
    Ok(())
}

/// Latencies (µs) from each create's 2xx to its event's arrival, and how many never arrived.
fn latencies(
    acks: &HashMap<String, Instant>,
    arrivals: &Arrivals,
) -> Result<(hdrhistogram::Histogram<u64>, u64)> {
    let arrivals = arrivals.lock().map_err(|_| anyhow!("poisoned"))?;
    let mut hist = new_histogram()?;
    let mut missing = 0;
    for (id, ack) in acks {
        match arrivals.get(id) {
            // An event may arrive before the client has read its create's answer: 0.
            Some(at) => hist.record(at.saturating_duration_since(*ack).as_micros().max(1) as u64)?,
            None => missing += 1,
        }
    }
    Ok((hist, missing))
}

fn all_arrived(acks: &HashMap<String, Instant>, arrivals: &Arrivals) -> bool {
    arrivals
        .lock()
        .map(|a| acks.keys().all(|id| a.contains_key(id)))
        .unwrap_or(false)
}

fn summary(name: &str, hist: &hdrhistogram::Histogram<u64>, missing: u64) -> Value {
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name}: {} events, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, never arrived {missing}",
        hist.len(),
        ms(0.5),
        ms(0.99),
        hist.max() as f64 / 1000.0
    );
    json!({"events": hist.len(), "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": hist.max() as f64 / 1000.0, "missing": missing})
}

/// What the consumers share across rounds: the receiver, its arrivals, and the counters.
struct Consumers {
    admin: Arc<Admin>,
    port: u16,
    use_hook: bool,
    use_feed: bool,
    hooks: Arrivals,
    feed: Arrivals,
    hook_requests: Arc<AtomicU64>,
    feed_polls: Arc<AtomicU64>,
}

/// One phase with consumers: its creates, the acks of its users, and what the consumers did.
struct Delivering {
    phase: Phase,
    acks: HashMap<String, Instant>,
    requests: u64,
    polls: u64,
    /// Seconds from the end of the load until every event had arrived (or the timeout).
    drained: f64,
}

impl Consumers {
    fn arrived(&self, acked: &HashMap<String, Instant>) -> bool {
        (!self.use_hook || all_arrived(acked, &self.hooks))
            && (!self.use_feed || all_arrived(acked, &self.feed))
    }

    /// Attaches the consumers (a webhook endpoint from now, a feed reader from the head),
    /// delivers one warm-up create end to end, runs the creates, waits for their events,
    /// and detaches the consumers again.
    async fn round(&self, client: &Client, args: &DeliveryArgs, tag: &str) -> Result<Delivering> {
        let mut hook_id = None;
        if self.use_hook {
            let created = self
                .admin
                .call(
                    Method::POST,
                    &format!("/tenants/{}/webhooks", args.tenant),
                    Some(
                        json!({"url": format!("http://127.0.0.1:{}/hook", self.port),
                        "batchMax": args.batch, "description": "scim-bench delivery"}),
                    ),
                )
                .await?;
            hook_id = Some(
                created
                    .pointer("/webhook/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("no webhook id in {created}"))?
                    .to_string(),
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        // The head is read before the warm-up's first create, which the reader must see.
        let head = if self.use_feed {
            feed_head(&self.admin, &args.tenant).await?
        } else {
            0
        };
        let reader = self.use_feed.then(|| {
            tokio::spawn(follow_feed(
                self.admin.clone(),
                args.tenant.clone(),
                head,
                self.feed.clone(),
                stop.clone(),
                self.feed_polls.clone(),
            ))
        });
        // Warm-up: one create delivered end to end before the clock starts (the endpoint's
        // worker and the reader are running).
        let warm: Arrivals = Arc::default();
        let one = DeliveryArgs {
            connections: 1,
            duration: 1,
            ..args.clone()
        };
        creates(client, &one, &format!("w{tag}"), Some(warm.clone())).await?;
        let warm = warm.lock().map_err(|_| anyhow!("poisoned"))?.clone();
        let warm_deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < warm_deadline && !self.arrived(&warm) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !self.arrived(&warm) {
            let missing = |used: bool, a: &Arrivals| match (used, a.lock()) {
                (true, Ok(a)) => warm.keys().filter(|id| !a.contains_key(*id)).count(),
                _ => 0,
            };
            println!(
                "  warm-up: of {} events, {} never reached the webhook receiver, {} the feed reader",
                warm.len(),
                missing(self.use_hook, &self.hooks),
                missing(self.use_feed, &self.feed)
            );
        }
        let (requests_before, polls_before) = (
            self.hook_requests.load(Ordering::Relaxed),
            self.feed_polls.load(Ordering::Relaxed),
        );
        let acks: Arrivals = Arc::default();
        let phase = creates(client, args, &format!("b{tag}"), Some(acks.clone())).await?;
        let load_end = Instant::now();
        let requests = self.hook_requests.load(Ordering::Relaxed) - requests_before;
        let polls = self.feed_polls.load(Ordering::Relaxed) - polls_before;
        let acks = acks.lock().map_err(|_| anyhow!("poisoned"))?.clone();
        let drain_deadline = load_end + Duration::from_secs(args.drain_timeout);
        while Instant::now() < drain_deadline && !self.arrived(&acks) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drained = load_end.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        if let Some(id) = &hook_id {
            self.admin
                .call(
                    Method::DELETE,
                    &format!("/tenants/{}/webhooks/{id}", args.tenant),
                    None,
                )
                .await?;
        }
        if let Some(reader) = reader {
            match reader.await {
                Ok(Err(e)) => eprintln!("feed reader: {e}"),
                Err(e) => eprintln!("feed reader: {e}"),
                Ok(Ok(())) => {}
            }
        }
        Ok(Delivering {
            phase,
            acks,
            requests,
            polls,
            drained,
        })
    }
}

/// How much slower the creates of a phase with consumers were than the mean of the phases
/// without them on either side, in percent.
fn slowdown(before: &Phase, during: &Phase, after: &Phase) -> f64 {
    let baseline = (before.rate() + after.rate()) / 2.0;
    100.0 * (1.0 - during.rate() / baseline.max(0.001))
}

/// The median of a non-empty list (the mean of the middle two for an even length).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub async fn run(args: &DeliveryArgs) -> Result<()> {
    let conns = usize::try_from(args.connections).unwrap_or(usize::MAX);
    let client = Client::new(&args.token, Duration::from_secs(30), conns)?;
    let admin = Arc::new(Admin {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?,
        base: args.admin_url.trim_end_matches('/').to_string(),
        token: args.admin_token.clone(),
    });
    let consumer_names: Vec<String> = args.consumers.iter().map(ToString::to_string).collect();
    // The receiver, for every round; webhook requests received and feed reads answered
    // (events per wake-up of each).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let consumers = Consumers {
        admin: admin.clone(),
        port: listener.local_addr()?.port(),
        use_hook: args.consumers.contains(&Consumer::Webhook),
        use_feed: args.consumers.contains(&Consumer::Feed),
        hooks: Arrivals::default(),
        feed: Arrivals::default(),
        hook_requests: Arc::new(AtomicU64::new(0)),
        feed_polls: Arc::new(AtomicU64::new(0)),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state((consumers.hooks.clone(), consumers.hook_requests.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Without consumers, then (with, without) once per round.
    let mut number = 1;
    println!(
        "phase {number}: creates without consumers ({} s, {} connections)",
        args.duration, args.connections
    );
    let first = creates(&client, args, "a0", None).await?;
    first.show();
    let mut without = vec![first];
    let mut with = Vec::new();
    for round in 1..=args.rounds {
        number += 1;
        println!(
            "phase {number}: creates while {} follow the tenant (webhook batchMax {})",
            consumer_names.join(" and "),
            args.batch
        );
        let d = consumers.round(&client, args, &round.to_string()).await?;
        d.phase.show();
        let per = |n: u64| d.phase.created as f64 / n.max(1) as f64;
        println!(
            "  webhook requests {} ({:.1} events each), feed reads {} ({:.1} events each)",
            d.requests,
            per(d.requests),
            d.polls,
            per(d.polls)
        );
        with.push(d);
        number += 1;
        println!("phase {number}: creates without consumers again");
        let after = creates(&client, args, &format!("a{round}"), None).await?;
        after.show();
        without.push(after);
    }
    server.abort();

    // Latencies over every phase with consumers.
    let mut acked = HashMap::new();
    for d in &with {
        acked.extend(d.acks.iter().map(|(k, v)| (k.clone(), *v)));
    }
    let drained = with.iter().map(|d| d.drained).fold(0.0, f64::max);
    let (hook_hist, hook_missing) = latencies(&acked, &consumers.hooks)?;
    let (feed_hist, feed_missing) = latencies(&acked, &consumers.feed)?;
    println!(
        "from a create's 2xx to its event (after the load stopped, the rest arrived within {drained:.2} s):"
    );
    let (requests, polls) = with
        .iter()
        .fold((0, 0), |(r, p), d| (r + d.requests, p + d.polls));
    let mut doc = json!({
        "connections": args.connections,
        "duration_s": args.duration,
        "batch": args.batch,
        "rounds": args.rounds,
        "consumers": consumer_names,
        "drained_after_load_s": drained,
        "webhook_requests": requests,
        "feed_reads": polls,
    });
    let (mut missing_hook, mut missing_feed) = (0, 0);
    if consumers.use_hook {
        doc["webhook"] = summary("  webhook receiver", &hook_hist, hook_missing);
        missing_hook = hook_missing;
    }
    if consumers.use_feed {
        doc["feed"] = summary("  feed reader (long poll)", &feed_hist, feed_missing);
        missing_feed = feed_missing;
    }
    let slowdowns: Vec<f64> = with
        .iter()
        .enumerate()
        .map(|(i, d)| slowdown(&without[i], &d.phase, &without[i + 1]))
        .collect();
    if let ([before, after], [d]) = (without.as_slice(), with.as_slice()) {
        let baseline = (before.rate() + after.rate()) / 2.0;
        println!(
            "creates/s: {:.0} without consumers (mean of {:.0} and {:.0}), {:.0} while delivering: {:.1}% slower (target <= 10%)",
            baseline,
            before.rate(),
            after.rate(),
            d.phase.rate(),
            slowdowns[0]
        );
        doc["phases"] =
            json!({"before": before.json(), "delivering": d.phase.json(), "after": after.json()});
    } else {
        let list: Vec<String> = slowdowns.iter().map(|s| format!("{s:.1}%")).collect();
        println!(
            "creates/s while delivering, against the phases on either side: {} slower; median {:.1}% (target <= 10%)",
            list.join(", "),
            median(&slowdowns)
        );
        doc["phases"] = json!({
            "without": without.iter().map(Phase::json).collect::<Vec<_>>(),
            "delivering": with.iter().map(|d| d.phase.json()).collect::<Vec<_>>(),
        });
        doc["slowdowns_percent"] = json!(slowdowns);
    }
    doc["slowdown_percent"] = json!(median(&slowdowns));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    if missing_hook > 0 || missing_feed > 0 {
        bail!(
            "events missing after {} s: webhook {missing_hook}, feed {missing_feed}",
            args.drain_timeout
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(rate: u64) -> Phase {
        Phase {
            created: rate * 10,
            errors: 0,
            secs: 10.0,
            server_us: None,
            bench_us: None,
            machine_us: None,
        }
    }

    #[test]
    fn each_round_is_compared_with_its_neighbours_and_the_median_taken() {
        let s = slowdown(&phase(1000), &phase(900), &phase(1200));
        assert!((s - 100.0 * (1.0 - 900.0 / 1100.0)).abs() < 1e-9, "{s}");
        assert_eq!(median(&[30.0, 10.0, 20.0]), 20.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.5]), 7.5);
    }

    fn arrived(arrivals: &Arrivals) -> Vec<String> {
        let mut ids: Vec<String> = arrivals.lock().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    }

    #[test]
    fn receivers_note_user_creations_of_events_batches_and_pages() {
        let at = Instant::now();
        let arrivals: Arrivals = Arc::default();
        let one = r#"{"id":"evt_1","type":"user.created","data":{"id":"u1","resource":{"userName":"a\"b","emails":[{"value":"x"}]}}}"#;
        let doc: Arrived<'_> = serde_json::from_str(one).unwrap();
        note_arrivals(&arrivals, std::slice::from_ref(&doc), at);
        let batch = format!(
            r#"{{"type":"scim.batch","timestamp":"t","data":{{"events":[{one},{}]}}}}"#,
            r#"{"type":"user.updated","data":{"id":"u9"}}"#
        );
        let doc: Arrived<'_> = serde_json::from_str(&batch).unwrap();
        note_arrivals(&arrivals, std::slice::from_ref(&doc), at);
        let page =
            r#"{"events":[{"type":"user.created","data":{"id":"u\u0032"}}],"next":7,"head":9}"#;
        let page: ArrivedPage<'_> = serde_json::from_str(page).unwrap();
        assert_eq!(page.next, 7);
        note_arrivals(&arrivals, &page.events, at);
        assert_eq!(arrived(&arrivals), ["u1", "u2"]);
    }
}
