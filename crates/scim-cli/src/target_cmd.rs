//! `scim target …` and `scim reconcile`: connector targets (scim-targets), and their hook
//! into `scim serve`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use scim_core::schema::SchemaRegistry;
use scim_delivery::Feed;
use scim_store::{AnyStore, Store, TargetStates, Tenant};
use scim_targets::reconcile::{Drift, reconcile};
use scim_targets::{
    Applier, Configured, RetryPolicy, RunMode, Stopped, TenantBinding, load_dir, retry_parked,
};
use tokio::sync::watch;

use crate::config::{FileConfig, StoreOptions};

#[derive(Debug, Args)]
pub struct TargetsDir {
    /// The directory of target files (`*.toml`, one target each).
    #[arg(long, env = "SCIM_TARGETS_DIR")]
    pub targets_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Each target's position, lag, failures and parked events, per tenant.
    List {
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Load every target file and check it against its database; print what is wrong
    /// (file:line: reason) and fail, or say that all is well.
    Check {
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Apply pending events to a target (until caught up, or forever with --follow).
    Run {
        /// The target's name (its file's name in --targets-dir, without `.toml`).
        name: String,
        /// Only this tenant (default: every tenant the target is bound to).
        #[arg(long)]
        tenant: Option<String>,
        /// Keep running and apply new events as they are committed.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// The events a target parked for a tenant, with their errors.
    Parked {
        /// The target's name (its file's name in --targets-dir, without `.toml`).
        name: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Apply parked events again after a fix (each resource's in order).
    Retry {
        /// The target's name (its file's name in --targets-dir, without `.toml`).
        name: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// Only the resource of the parked event at this position.
        #[arg(long)]
        position: Option<i64>,
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Forget a parked event without applying it.
    Drop {
        /// The target's name (its file's name in --targets-dir, without `.toml`).
        name: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        /// The parked event's position (from `scim target parked`).
        #[arg(long)]
        position: i64,
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Resume a target paused after repeated failures (it goes on from its place).
    Resume {
        /// The target's name (its file's name in --targets-dir, without `.toml`).
        name: String,
        /// The tenant's name.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        dir: TargetsDir,
        #[command(flatten)]
        store: StoreOptions,
    },
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The tenant's name.
    #[arg(long)]
    pub tenant: String,
    /// The target's name (from its file in --targets-dir).
    #[arg(long)]
    pub target: String,
    /// Fix every difference through the target's normal write path.
    #[arg(long)]
    pub repair: bool,
    #[command(flatten)]
    pub dir: TargetsDir,
    #[command(flatten)]
    pub store: StoreOptions,
}

struct Opened {
    store: Arc<dyn Store>,
    states: Arc<dyn TargetStates>,
    registry: Arc<SchemaRegistry>,
    targets: Vec<Configured>,
    public_url: String,
}

async fn open(dir: &Path, store: &StoreOptions) -> Result<Opened> {
    let file = FileConfig::load(store.config.as_deref())?;
    let (registry, any) = store.open_existing(&file).await?;
    let targets = load_dir(dir, &registry).await.map_err(|e| anyhow!("{e}"))?;
    let public_url = file
        .public_url
        .clone()
        .unwrap_or_else(|| "http://localhost".to_string());
    Ok(Opened {
        store: any.shared(),
        states: any.target_states(),
        registry,
        targets,
        public_url,
    })
}

impl Opened {
    fn target(&self, name: &str) -> Result<&Configured> {
        self.targets
            .iter()
            .find(|t| t.target.name() == name)
            .ok_or_else(|| {
                anyhow!(
                    "no target named '{name}' in the targets directory (see `scim target list`)"
                )
            })
    }

    async fn tenant(&self, c: &Configured, name: &str) -> Result<Tenant> {
        if !c.tenant.covers(name) {
            bail!(
                "the target '{}' is not bound to the tenant '{name}'",
                c.target.name()
            );
        }
        self.store
            .tenant(name)
            .await?
            .ok_or_else(|| anyhow!("no tenant named '{name}' (see `scim tenant list`)"))
    }

    async fn tenants(&self, c: &Configured) -> Result<Vec<Tenant>> {
        Ok(self
            .store
            .list_tenants()
            .await?
            .into_iter()
            .filter(|t| c.tenant.covers(&t.name))
            .collect())
    }

    fn feed(&self) -> Feed {
        Feed::new(self.store.clone(), self.registry.clone(), &self.public_url)
    }
}

pub async fn run(cmd: TargetCommand) -> Result<()> {
    match cmd {
        TargetCommand::List { dir, store } => {
            let o = open(&dir.targets_dir, &store).await?;
            println!(
                "{:<20} {:<5} {:<16} {:>9} {:>9} {:>7} {:>8} {:>6} {:<8} LAST ERROR",
                "NAME", "KIND", "TENANT", "POSITION", "HEAD", "LAG", "FAILURES", "PARKED", "STATE"
            );
            for c in &o.targets {
                for t in o.tenants(c).await? {
                    let status = o.states.target_status(c.target.name(), t.id).await?;
                    let mut position = status.as_ref().map_or(0, |s| s.position);
                    if c.target.keeps_position()
                        && let Ok(Some(p)) = c.target.position(&t.name).await
                    {
                        position = p;
                    }
                    let head = o.store.change_head(t.id).await?;
                    let parked = o.states.parked_events(c.target.name(), t.id).await?.len();
                    let state = match &status {
                        Some(s) if s.paused.is_some() => "paused",
                        Some(s) if s.failures > 0 => "retrying",
                        _ => "ok",
                    };
                    println!(
                        "{:<20} {:<5} {:<16} {:>9} {:>9} {:>7} {:>8} {:>6} {:<8} {}",
                        c.target.name(),
                        c.kind,
                        t.name,
                        position,
                        head,
                        (head - position).max(0),
                        status.as_ref().map_or(0, |s| s.failures),
                        parked,
                        state,
                        status
                            .as_ref()
                            .and_then(|s| s.last_error.clone())
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        TargetCommand::Check { dir, store } => {
            let o = open(&dir.targets_dir, &store).await?;
            for c in &o.targets {
                println!(
                    "{}: target '{}' ({}) is valid",
                    c.file.display(),
                    c.target.name(),
                    c.kind
                );
            }
        }
        TargetCommand::Run {
            name,
            tenant,
            follow,
            dir,
            store,
        } => {
            let o = open(&dir.targets_dir, &store).await?;
            let c = o.target(&name)?;
            let tenants = match &tenant {
                Some(t) => vec![o.tenant(c, t).await?],
                None => o.tenants(c).await?,
            };
            let (stop, stop_rx) = watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop.send(true);
            });
            let mode = if follow {
                RunMode::Forever
            } else {
                RunMode::UntilCaughtUp
            };
            let mut tasks = Vec::new();
            for t in tenants {
                let applier = Applier::new(
                    c.target.clone(),
                    o.states.clone(),
                    o.feed(),
                    t.clone(),
                    RetryPolicy::default(),
                );
                let rx = stop_rx.clone();
                tasks.push(tokio::spawn(async move {
                    (t.name.clone(), applier.run(mode, rx).await)
                }));
            }
            let mut failed = false;
            for task in tasks {
                let (tenant, result) = task.await?;
                match result {
                    Ok((stopped, p)) => {
                        println!(
                            "{name} {tenant}: applied {}, already applied {}, parked {}; at position {}{}",
                            p.applied,
                            p.already_applied,
                            p.parked,
                            p.position,
                            match stopped {
                                Stopped::Paused =>
                                    " (paused after repeated failures: see `scim target list`)",
                                _ => "",
                            }
                        );
                        failed |= stopped == Stopped::Paused;
                    }
                    Err(e) => {
                        eprintln!("{name} {tenant}: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                bail!("the target did not apply every event");
            }
        }
        TargetCommand::Parked {
            name,
            tenant,
            dir,
            store,
        } => {
            let o = open(&dir.targets_dir, &store).await?;
            let c = o.target(&name)?;
            let t = o.tenant(c, &tenant).await?;
            println!(
                "{:>9} {:<38} {:<24} ERROR",
                "POSITION", "RESOURCE", "PARKED AT"
            );
            for p in o.states.parked_events(&name, t.id).await? {
                println!(
                    "{:>9} {:<38} {:<24} {}",
                    p.position, p.resource_id, p.parked_at, p.error
                );
            }
        }
        TargetCommand::Retry {
            name,
            tenant,
            position,
            dir,
            store,
        } => {
            let o = open(&dir.targets_dir, &store).await?;
            let c = o.target(&name)?;
            let t = o.tenant(c, &tenant).await?;
            let r = retry_parked(c.target.as_ref(), o.states.as_ref(), &t, position).await?;
            for p in &r.applied {
                println!("applied parked event {p}");
            }
            for (p, e) in &r.still_parked {
                println!("still parked {p}: {e}");
            }
            if !r.still_parked.is_empty() {
                bail!("{} events are still parked", r.still_parked.len());
            }
        }
        TargetCommand::Drop {
            name,
            tenant,
            position,
            dir,
            store,
        } => {
            let o = open(&dir.targets_dir, &store).await?;
            let c = o.target(&name)?;
            let t = o.tenant(c, &tenant).await?;
            if !o.states.unpark_event(&name, t.id, position).await? {
                bail!("there is no parked event at position {position} (see `scim target parked`)");
            }
            println!("dropped parked event {position}");
        }
        TargetCommand::Resume {
            name,
            tenant,
            dir,
            store,
        } => {
            let o = open(&dir.targets_dir, &store).await?;
            let c = o.target(&name)?;
            let t = o.tenant(c, &tenant).await?;
            let Some(mut s) = o.states.target_status(&name, t.id).await? else {
                bail!("the target '{name}' has not run for the tenant '{tenant}' yet");
            };
            s.paused = None;
            s.failures = 0;
            o.states.save_target_status(&s).await?;
            println!("resumed {name} for {tenant} at position {}", s.position);
        }
    }
    Ok(())
}

pub async fn reconcile_cmd(args: ReconcileArgs) -> Result<()> {
    let o = open(&args.dir.targets_dir, &args.store).await?;
    let c = o.target(&args.target)?;
    let t = o.tenant(c, &args.tenant).await?;
    let sum = reconcile(
        c.target.as_ref(),
        o.states.as_ref(),
        &t,
        args.repair,
        |d| match d {
            Drift::Missing { id } => println!("missing   {id}"),
            Drift::Extra { id } => println!("extra     {id}"),
            Drift::Different { id, columns } => {
                for (col, want, got) in columns {
                    println!(
                        "different {id} {col}: scim says {}, the target has {}",
                        want.as_deref().map_or("NULL".into(), |v| format!("'{v}'")),
                        got.as_deref().map_or("NULL".into(), |v| format!("'{v}'"))
                    );
                }
            }
        },
    )
    .await?;
    println!(
        "{} users in scim, {} rows in the target: {} missing, {} extra, {} different{}",
        sum.scim_users,
        sum.target_rows,
        sum.missing,
        sum.extra,
        sum.different,
        if args.repair {
            format!("; {} repaired", sum.repaired)
        } else {
            String::new()
        }
    );
    if sum.drifted() > 0 && !args.repair {
        std::process::exit(2);
    }
    Ok(())
}

/// Targets applied inside `scim serve`: one applier per target and bound tenant, started
/// for tenants created later too; they stop when `closing` turns true.
pub async fn spawn_in_serve(
    dir: Option<&Path>,
    any: &AnyStore,
    feed: Feed,
    registry: &SchemaRegistry,
    closing: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let targets = load_dir(dir, registry)
        .await
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("loading the targets in {}", dir.display()))?;
    let store = any.shared();
    let states = any.target_states();
    let mut handles = Vec::new();
    for c in targets {
        tracing::info!(target_name = c.target.name(), kind = %c.kind, file = %c.file.display(), "target loaded");
        let (store, states, feed, closing) =
            (store.clone(), states.clone(), feed.clone(), closing.clone());
        handles.push(tokio::spawn(supervise(c, store, states, feed, closing)));
    }
    Ok(handles)
}

async fn supervise(
    c: Configured,
    store: Arc<dyn Store>,
    states: Arc<dyn TargetStates>,
    feed: Feed,
    mut closing: watch::Receiver<bool>,
) {
    let mut running: HashSet<i64> = HashSet::new();
    let mut tasks = Vec::new();
    loop {
        match store.list_tenants().await {
            Ok(tenants) => {
                for t in tenants {
                    if !c.tenant.covers(&t.name) || !running.insert(t.id) {
                        continue;
                    }
                    let (target, states, feed, closing) = (
                        c.target.clone(),
                        states.clone(),
                        feed.clone(),
                        closing.clone(),
                    );
                    tasks.push(tokio::spawn(async move {
                        let applier =
                            Applier::new(target.clone(), states, feed, t.clone(), RetryPolicy::default());
                        loop {
                            match applier.run(RunMode::Forever, closing.clone()).await {
                                Ok(_) => return,
                                Err(e) => {
                                    tracing::error!(target_name = target.name(), tenant = %t.name, error = %e, "target stopped; restarting in 10 s");
                                    let closed = *closing.borrow();
                                    if closed {
                                        return;
                                    }
                                    tokio::time::sleep(Duration::from_secs(10)).await;
                                }
                            }
                        }
                    }));
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing tenants for targets failed"),
        }
        if matches!(c.tenant, TenantBinding::One(_)) && !running.is_empty() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
            () = scim_targets::closed(&mut closing) => break,
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}
