//! Event delivery in the `scim` binary: the engine inside `scim serve` (its flags and
//! config keys), and the `scim webhook …` / `scim nats …` commands.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use scim_delivery::Feed;
use scim_delivery::push::{
    DeliveryEngine, DestinationSpec, DestinationView, Destinations, EngineOptions, HttpOptions,
    Start,
};
use scim_store::delivery::{Destination, DestinationKind};
use scim_store::{Store, Tenant};
use serde::Deserialize;

use crate::admin::open;
use crate::config::{AdminTarget, FileConfig};
use crate::limits::parse_duration;

/// `scim serve`'s delivery flags.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Let webhook endpoints be on private, loopback or link-local addresses (refused by
    /// default, so that a tenant's administrator cannot make the server probe its network).
    #[arg(long, env = "SCIM_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Publish every tenant's events to this NATS JetStream server
    /// (`scim.events.{tenant}.{type}` on stream SCIM_EVENTS).
    #[arg(long, env = "SCIM_NATS_URL")]
    pub nats_url: Option<String>,
    /// Seconds a webhook delivery may take before it counts as failed [default: 10].
    #[arg(long, env = "SCIM_WEBHOOK_TIMEOUT")]
    pub webhook_timeout: Option<u64>,
    /// How long an instance's hold on a destination lasts without renewal; after a crash,
    /// delivery resumes (here or on another instance) this long after [default: 30s].
    #[arg(long, env = "SCIM_DELIVERY_LEASE")]
    pub delivery_lease: Option<String>,
    /// Wait after a delivery's first failure; it doubles with each failure [default: 1s].
    #[arg(long, env = "SCIM_RETRY_BASE")]
    pub retry_base: Option<String>,
    /// Longest wait between attempts [default: 1h].
    #[arg(long, env = "SCIM_RETRY_MAX")]
    pub retry_max: Option<String>,
    /// A destination failing this long without a success is paused, its place kept
    /// [default: 3d].
    #[arg(long, env = "SCIM_PAUSE_AFTER")]
    pub pause_after: Option<String>,
    /// The shortest time between two reads of a tenant's change log at its head by the
    /// event feed and the deliverers (at most 1s): under a steady stream of changes,
    /// events go out in fewer, larger batches, each up to this much later; 0 reads after
    /// every commit [default: 20ms on PostgreSQL, 0 on SQLite].
    #[arg(long, env = "SCIM_DELIVERY_BATCH_WINDOW")]
    pub delivery_batch_window: Option<String>,
    /// Do not deliver webhooks or publish to NATS from this instance.
    #[arg(long, env = "SCIM_NO_DELIVERY")]
    pub no_delivery: bool,
}

/// The `[delivery]` table of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFile {
    pub allow_private_webhooks: Option<bool>,
    pub nats_url: Option<String>,
    pub webhook_timeout: Option<u64>,
    pub lease: Option<String>,
    pub retry_base: Option<String>,
    pub retry_max: Option<String>,
    pub pause_after: Option<String>,
    pub batch_window: Option<String>,
    pub enabled: Option<bool>,
}

impl DeliveryArgs {
    /// Whether private webhook receivers are allowed (flag or config).
    pub fn allow_private(&self, file: &FileConfig) -> bool {
        self.allow_private_webhooks
            || file
                .delivery
                .as_ref()
                .and_then(|d| d.allow_private_webhooks)
                .unwrap_or(false)
    }

    /// The batching window given (flag or config), if any; checked.
    pub fn batch_window(&self, file: &FileConfig) -> Result<Option<Duration>> {
        let key = file.delivery.as_ref().and_then(|d| d.batch_window.clone());
        let Some(text) = self.delivery_batch_window.clone().or(key) else {
            return Ok(None);
        };
        let window = parse_duration(&text)?;
        anyhow::ensure!(
            window <= scim_delivery::feed::MAX_BATCH_WINDOW,
            "--delivery-batch-window must be at most 1s (got {text})"
        );
        Ok(Some(window))
    }

    fn options(&self, file: &FileConfig) -> Result<Option<EngineOptions>> {
        let f = file.delivery.clone().unwrap_or_default();
        if self.no_delivery || f.enabled == Some(false) {
            return Ok(None);
        }
        let mut o = EngineOptions::default();
        let dur = |flag: &Option<String>, key: &Option<String>| -> Result<Option<Duration>> {
            flag.as_ref()
                .or(key.as_ref())
                .map(|t| parse_duration(t))
                .transpose()
        };
        if let Some(d) = dur(&self.delivery_lease, &f.lease)? {
            anyhow::ensure!(
                d >= Duration::from_secs(1),
                "--delivery-lease must be at least 1s"
            );
            o.lease_ttl = d;
        }
        if let Some(d) = dur(&self.retry_base, &f.retry_base)? {
            o.retry.base = d.max(Duration::from_millis(10));
        }
        if let Some(d) = dur(&self.retry_max, &f.retry_max)? {
            o.retry.max = d.max(o.retry.base);
        }
        if let Some(d) = dur(&self.pause_after, &f.pause_after)? {
            o.retry.pause_after = d;
        }
        if let Some(s) = self.webhook_timeout.or(f.webhook_timeout) {
            anyhow::ensure!(s > 0, "--webhook-timeout must be at least 1 second");
            o.http = HttpOptions {
                timeout: Duration::from_secs(s),
                ..o.http
            };
        }
        o.http.allow_private = self.allow_private(file);
        o.nats_url = self.nats_url.clone().or(f.nats_url);
        if let Some(url) = &o.nats_url {
            scim_delivery::push::nats::check_url(url).map_err(anyhow::Error::msg)?;
        }
        Ok(Some(o))
    }
}

/// Starts the delivery engine of `scim serve` (unless turned off); it stops once
/// `shutdown` turns true.
pub fn spawn(
    args: &DeliveryArgs,
    file: &FileConfig,
    feed: Feed,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(options) = args.options(file)? else {
        tracing::info!("event delivery is off on this instance");
        return Ok(None);
    };
    let engine = DeliveryEngine::new(feed, options)?;
    Ok(Some(engine.spawn(shutdown)))
}

/// `scim webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook endpoint; its signing secret (`whsec_…`) is printed once.
    Add {
        #[command(flatten)]
        target: Target,
        /// The receiver's URL (https://…).
        #[arg(long)]
        url: String,
        /// Event types and patterns, comma-separated (e.g. `user.*,group.members_*`) [default: all].
        #[arg(long)]
        events: Option<String>,
        /// Events per POST (a `scim.batch` body); 1 sends one event per request [default: 1].
        #[arg(long)]
        batch: Option<i64>,
        /// Where delivery starts: `now` (only changes made from now on), `beginning` (every
        /// event kept) or a position.
        #[arg(long, default_value = "now")]
        from: String,
        /// A note for operators.
        #[arg(long)]
        description: Option<String>,
        /// Allow a private, loopback or link-local address (the server must allow them too:
        /// `scim serve --allow-private-webhooks`).
        #[arg(long)]
        allow_private: bool,
        #[command(flatten)]
        store: AdminTarget,
    },
    #[command(flatten)]
    Common(Common),
    /// Replace the signing secret; the old one keeps signing beside it for `--overlap`.
    RotateSecret {
        /// The webhook's id (`wh_…`, from `list`).
        id: String,
        /// How long both secrets sign (e.g. 24h, 0 for none).
        #[arg(long, default_value = "24h")]
        overlap: String,
        #[command(flatten)]
        store: AdminTarget,
    },
}

/// `scim nats …`
#[derive(Debug, Subcommand)]
pub enum NatsCommand {
    /// Publish a tenant's events to a NATS JetStream server (`scim.events.{tenant}.{type}`).
    Add {
        #[command(flatten)]
        target: Target,
        /// The NATS server (nats://host:4222).
        #[arg(long)]
        url: String,
        /// Event types and patterns, comma-separated [default: all].
        #[arg(long)]
        events: Option<String>,
        /// Where publishing starts: `now`, `beginning` or a position. A stream is usually a
        /// consumer's copy of the whole history, so it starts at the beginning; a webhook
        /// starts now.
        #[arg(long, default_value = "beginning")]
        from: String,
        /// A note for operators.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        store: AdminTarget,
    },
    #[command(flatten)]
    Common(Common),
}

/// Which tenant(s) a new destination is for.
#[derive(Debug, Args)]
pub struct Target {
    /// The tenant.
    #[arg(long, required_unless_present = "all_tenants")]
    pub tenant: Option<String>,
    /// Every tenant that exists now (one destination each; tenants created later need
    /// their own).
    #[arg(long, conflicts_with = "tenant")]
    pub all_tenants: bool,
}

/// Commands both kinds share.
#[derive(Debug, Subcommand)]
pub enum Common {
    /// List destinations with their state, position and lag.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// JSON, one object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// Show one destination (JSON).
    Show {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// Remove a destination.
    Remove {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// Stop delivering (the position is kept).
    Pause {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// Deliver again from the position kept (clears the failures).
    Resume {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// Send every event after a position again, and carry on from there.
    Replay {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        /// The position to resend after (0: everything kept).
        #[arg(long)]
        from: i64,
        #[command(flatten)]
        store: AdminTarget,
    },
    /// The latest delivery attempts, newest first.
    Deliveries {
        /// The destination's id (`wh_…` or `nats_…`, from `list`).
        id: String,
        /// How many attempts.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// JSON, one object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: AdminTarget,
    },
}

fn start_of(text: &str) -> Result<Start> {
    Ok(match text.trim() {
        "now" => Start::Now,
        "beginning" => Start::Beginning,
        n => match n.parse::<i64>() {
            Ok(p) if p >= 0 => Start::After(p),
            _ => bail!("--from is `now`, `beginning` or a position (0 or more), not '{text}'"),
        },
    })
}

async fn targets(store: &Arc<dyn Store>, target: &Target) -> Result<Vec<Tenant>> {
    if target.all_tenants {
        return Ok(store.list_tenants().await?);
    }
    let name = target.tenant.as_deref().unwrap_or_default();
    match store.tenant(name).await? {
        Some(t) => Ok(vec![t]),
        None => bail!("no tenant named '{name}' (see `scim tenant list`)"),
    }
}

/// Who runs the command, as the management audit log records it: the same `cli:<user>`
/// as `scim tenant` and `scim token` (every change goes through the management layer).
fn cli_actor() -> scim_store::manage::AuditActor {
    crate::admin::cli_caller().audit()
}

fn print_view(v: &DestinationView) {
    let extra = match (&v.paused_reason, &v.last_error) {
        (Some(r), _) => format!("paused ({r})"),
        (None, Some(e)) if v.failures > 0 => format!("failing: {e}"),
        _ => String::new(),
    };
    println!(
        "{:<22} {:<10} {:<7} {:>9} {:>7}  {}  {}",
        v.id, v.tenant, v.state, v.position, v.lag, v.url, extra
    );
}

fn header() {
    println!(
        "{:<22} {:<10} {:<7} {:>9} {:>7}  URL  NOTE (paused or last error)",
        "ID", "TENANT", "STATE", "POSITION", "LAG"
    );
}

pub async fn webhook(cmd: WebhookCommand) -> Result<()> {
    match cmd {
        WebhookCommand::Add {
            target,
            url,
            events,
            batch,
            from,
            description,
            allow_private,
            store,
        } => {
            let s = open(&store).await?;
            let m = Destinations::new(s.clone(), allow_private);
            let actor = cli_actor();
            for t in targets(&s, &target).await? {
                let spec = DestinationSpec {
                    url: url.clone(),
                    event_types: events.clone(),
                    description: description.clone(),
                    batch_max: batch,
                    start: start_of(&from)?,
                };
                let (view, secret) = m.create_webhook(&t, spec, &actor).await?;
                println!(
                    "webhook {} for tenant '{}' -> {}",
                    view.id, t.name, view.url
                );
                println!(
                    "  events: {}, starting after position {}",
                    view.event_types, view.position
                );
                println!("  signing secret (shown once, store it now): {secret}");
            }
            Ok(())
        }
        WebhookCommand::Common(c) => common(DestinationKind::Webhook, c).await,
        WebhookCommand::RotateSecret { id, overlap, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, DestinationKind::Webhook, &id).await?;
            let overlap = parse_duration(&overlap)?;
            let (view, secret) = Destinations::new(s, true)
                .rotate_secret(&t, &d, overlap, &cli_actor())
                .await?;
            println!("new signing secret for {} (shown once): {secret}", view.id);
            match view.previous_secret_expires {
                Some(until) => println!("the previous secret also signs until {until}"),
                None => println!("the previous secret no longer signs"),
            }
            Ok(())
        }
    }
}

pub async fn nats(cmd: NatsCommand) -> Result<()> {
    match cmd {
        NatsCommand::Add {
            target,
            url,
            events,
            from,
            description,
            store,
        } => {
            let s = open(&store).await?;
            let m = Destinations::new(s.clone(), true);
            let actor = cli_actor();
            for t in targets(&s, &target).await? {
                let spec = DestinationSpec {
                    url: url.clone(),
                    event_types: events.clone(),
                    description: description.clone(),
                    batch_max: None,
                    start: start_of(&from)?,
                };
                let view = m.create_nats(&t, spec, &actor).await?;
                println!(
                    "NATS publisher {} for tenant '{}' -> {} (subjects scim.events.{}.*), starting after position {}",
                    view.id, t.name, view.url, t.name, view.position
                );
            }
            Ok(())
        }
        NatsCommand::Common(c) => common(DestinationKind::Nats, c).await,
    }
}

async fn find(
    s: &Arc<dyn Store>,
    kind: DestinationKind,
    id: &str,
) -> Result<(Tenant, Destination)> {
    let what = match kind {
        DestinationKind::Webhook => "webhook",
        DestinationKind::Nats => "NATS publisher",
    };
    let Some(d) = s.destination(id).await?.filter(|d| d.kind == kind) else {
        bail!(
            "there is no {what} with id '{id}' (see `scim {} list`)",
            kind.as_str()
        );
    };
    let Some(t) = s.tenant_by_id(d.tenant_id).await? else {
        bail!("the {what} '{id}' belongs to a deleted tenant");
    };
    Ok((t, d))
}

async fn common(kind: DestinationKind, cmd: Common) -> Result<()> {
    match cmd {
        Common::List {
            tenant,
            json,
            store,
        } => {
            let s = open(&store).await?;
            let m = Destinations::new(s.clone(), true);
            let tenants = match tenant {
                Some(name) => match s.tenant(&name).await? {
                    Some(t) => vec![t],
                    None => bail!("no tenant named '{name}' (see `scim tenant list`)"),
                },
                None => s.list_tenants().await?,
            };
            if !json {
                header();
            }
            for t in tenants {
                for v in m.list(&t, kind).await? {
                    if json {
                        println!("{}", serde_json::to_string(&v)?);
                    } else {
                        print_view(&v);
                    }
                }
            }
        }
        Common::Show { id, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, kind, &id).await?;
            let v = Destinations::new(s, true).view(&t, d).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Common::Remove { id, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, kind, &id).await?;
            Destinations::new(s, true)
                .delete(&t, &d, &cli_actor())
                .await?;
            println!("removed {id}");
        }
        Common::Pause { id, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, kind, &id).await?;
            let v = Destinations::new(s, true)
                .pause(&t, &d, &cli_actor())
                .await?;
            println!("paused {} at position {}", v.id, v.position);
        }
        Common::Resume { id, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, kind, &id).await?;
            let v = Destinations::new(s, true)
                .resume(&t, &d, &cli_actor())
                .await?;
            println!(
                "resumed {} after position {} ({} behind)",
                v.id, v.position, v.lag
            );
        }
        Common::Replay { id, from, store } => {
            let s = open(&store).await?;
            let (t, d) = find(&s, kind, &id).await?;
            let v = Destinations::new(s, true)
                .replay(&t, &d, from, &cli_actor())
                .await?;
            println!("{} resends every event after position {}", v.id, v.position);
        }
        Common::Deliveries {
            id,
            limit,
            json,
            store,
        } => {
            let s = open(&store).await?;
            let (_, d) = find(&s, kind, &id).await?;
            let list = Destinations::new(s, true).attempts(&d, None, limit).await?;
            if !json {
                println!(
                    "{:<24} {:<10} {:>6} {:>8} {:>6}  {:<32} ERROR",
                    "AT", "OUTCOME", "STATUS", "LATENCY", "EVENTS", "ID"
                );
            }
            for a in list {
                if json {
                    println!("{}", serde_json::to_string(&a)?);
                } else {
                    println!(
                        "{:<24} {:<10} {:>6} {:>6}ms {:>6}  {:<32} {}",
                        a.at,
                        a.outcome,
                        a.status.map_or("-".into(), |s| s.to_string()),
                        a.latency_ms,
                        a.events,
                        a.event_id,
                        a.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        delivery: DeliveryArgs,
    }

    fn args(flags: &[&str]) -> DeliveryArgs {
        use clap::Parser;
        let argv = std::iter::once("scim").chain(flags.iter().copied());
        Cli::try_parse_from(argv).unwrap().delivery
    }

    fn file(window: Option<&str>) -> FileConfig {
        FileConfig {
            delivery: Some(DeliveryFile {
                batch_window: window.map(str::to_string),
                ..DeliveryFile::default()
            }),
            ..FileConfig::default()
        }
    }

    #[test]
    fn the_batch_window_comes_from_the_flag_then_the_config_file() {
        let none = file(None);
        assert_eq!(args(&[]).batch_window(&none).unwrap(), None);
        let flag = args(&["--delivery-batch-window", "20ms"]);
        assert_eq!(
            flag.batch_window(&none).unwrap(),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            flag.batch_window(&file(Some("5ms"))).unwrap(),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            args(&[]).batch_window(&file(Some("0"))).unwrap(),
            Some(Duration::ZERO)
        );
        let too_long = args(&["--delivery-batch-window", "2s"]).batch_window(&none);
        assert!(too_long.unwrap_err().to_string().contains("at most 1s"));
        assert!(
            args(&["--delivery-batch-window", "soon"])
                .batch_window(&none)
                .is_err()
        );
    }
}
