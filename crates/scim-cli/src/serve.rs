//! `scim serve`.

use anyhow::{Context, Result};
use clap::Args;
use std::time::Duration;

use scim_server::ServerConfig;
use scim_store::{DeleteMode, Store};

use crate::config::{FileConfig, StoreOptions};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SCIM_LISTEN")]
    pub listen: Option<String>,
    /// The URL clients use to reach this server (used in `meta.location`, `$ref` and
    /// printed base URLs). Defaults to http://{listen}.
    #[arg(long, env = "SCIM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: `text` (readable) or `json` (one object per line).
    #[arg(long, env = "SCIM_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Requests a tenant may send on average unless its own setting says otherwise
    /// (`scim tenant update --rate-limit`): N or N/s, N/m [default: 50/s].
    #[arg(long, env = "SCIM_RATE_LIMIT")]
    pub rate_limit: Option<String>,
    /// Requests a tenant may send at once above its rate, and the most operations of one
    /// Bulk request [default: 1000].
    #[arg(long, env = "SCIM_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// Most connections open at once [default: 10000, lowered to fit the open-file limit].
    #[arg(long, env = "SCIM_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's head; an idle keep-alive connection is
    /// closed after as long [default: 10].
    #[arg(long, env = "SCIM_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Writes one tenant may have queued or running at once; more wait their turn
    /// [default: 16].
    #[arg(long, env = "SCIM_TENANT_MAX_WRITES")]
    pub tenant_max_writes: Option<usize>,
    /// Share of the database writer's time one tenant may use when others are waiting, in
    /// percent [default: 50].
    #[arg(long, env = "SCIM_TENANT_WRITER_SHARE")]
    pub tenant_writer_share: Option<u32>,
    /// A PATCH of a group sent without `attributes`/`excludedAttributes` (how Entra ID and
    /// Okta send membership changes) is answered 200 with the whole group when the group has
    /// at most this many members, else 204 No Content with its new ETag [default: 100].
    #[arg(long, env = "SCIM_PATCH_RESPONSE_MAX_MEMBERS")]
    pub patch_response_max_members: Option<u64>,
    /// Most group members in one page of a list: a page of groups ends early (itemsPerPage
    /// says where) rather than go over; a single larger group is streamed [default: 10000].
    #[arg(long, env = "SCIM_PAGE_MAX_MEMBERS")]
    pub page_max_members: Option<u64>,
    /// A directory of connector target files (`*.toml`; README, "Provisioning into your
    /// application's database"), applied while serving.
    #[arg(long, env = "SCIM_TARGETS_DIR")]
    pub targets_dir: Option<std::path::PathBuf>,
    /// Do not keep the request log (`scim requests`): tenants' SCIM requests are then only
    /// in this process's log lines.
    #[arg(long, env = "SCIM_NO_REQUEST_LOG")]
    pub no_request_log: bool,
    /// Seconds between passes of the retention job (purges, pruning, redaction, request
    /// log trimming; `scim retention`) [default: 300].
    #[arg(long, env = "SCIM_RETENTION_INTERVAL", value_parser = clap::value_parser!(u64).range(1..))]
    pub retention_interval: Option<u64>,
    #[command(flatten)]
    pub store: StoreOptions,
    #[command(flatten)]
    pub delivery: crate::delivery::DeliveryArgs,
    #[command(flatten)]
    pub metrics: crate::metrics::MetricsArgs,
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

const DEFAULT_TENANT: &str = "default";

/// Starts logging to standard error. Lines are written by a background thread, so a
/// request never waits on a `write` to a terminal, a pipe or a file (one system call per
/// request was a sixth of the server's CPU on small reads); when that thread falls behind,
/// requests wait rather than lines being dropped. Keep the guard until exit: dropping it
/// writes what is still queued.
fn init_logging(format: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only when standard error is a terminal.
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("scim-log-writer")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(stderr_is_terminal);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// On the first start (no tenant at all), creates the default tenant and a token and prints
/// them. Several instances may start at once on a new PostgreSQL database: the one whose
/// tenant is created prints the token, the others find the tenant taken and carry on.
async fn bootstrap(store: &dyn Store, config: &ServerConfig, args: &ServeArgs) -> Result<()> {
    let tenants = store.list_tenants().await?;
    if !tenants.is_empty() {
        let names: Vec<String> = tenants.into_iter().map(|t| t.name).collect();
        println!();
        for line in crate::serve_hints::restart_hint(&names, &store_flags(args)) {
            println!("{line}");
        }
        println!();
        return Ok(());
    }
    let tenant = match store
        .create_tenant(DEFAULT_TENANT, DeleteMode::Hard, 30)
        .await
    {
        Ok(t) => t,
        // Another instance won the race.
        Err(_) if store.tenant(DEFAULT_TENANT).await?.is_some() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let (_, token) = store.create_token(tenant.id, "bootstrap", None).await?;
    println!();
    println!("  First start: created tenant '{}'.", tenant.name);
    println!("  SCIM base URL: {}", config.base_url(&tenant.name));
    println!("  Bearer token (shown once, store it now): {token}");
    println!();
    println!(
        "  Try: curl -H 'Authorization: Bearer {token}' {}/Users",
        config.base_url(&tenant.name)
    );
    println!();
    Ok(())
}

/// The flags an administration command needs to act on this server's store, as given to
/// `scim serve` (none for the defaults).
fn store_flags(args: &ServeArgs) -> String {
    let mut flags = String::new();
    if let Some(config) = &args.store.config {
        flags.push_str(&format!(" --config {}", config.display()));
    }
    if args.store.database_url.is_some() {
        flags.push_str(" --database-url <the server's database URL>");
    } else if let Some(dir) = &args.store.data_dir {
        flags.push_str(&format!(" --data-dir {}", dir.display()));
    }
    flags
}

/// Raises the soft open-file limit to the hard one where allowed (each connection is a
/// file descriptor) and returns the limit in force.
fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(open_file_limit = limit, "open-file limit");
            Some(limit)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            None
        }
    }
}

/// The server's settings from flags, environment and config file.
fn server_config(args: &ServeArgs, file: &FileConfig, public_url: &str) -> Result<ServerConfig> {
    let mut config = ServerConfig {
        public_url: public_url.to_string(),
        ..ServerConfig::default()
    };
    if let Some(rate) = args.rate_limit.as_deref().or(file.rate_limit.as_deref()) {
        config.throttle.default_rate_per_minute = crate::limits::parse_rate(rate)?;
    }
    if let Some(burst) = args.rate_burst.or(file.rate_burst) {
        anyhow::ensure!(burst > 0, "--rate-burst must be at least 1");
        config.throttle.default_burst = burst;
    }
    if let Some(secs) = args.header_read_timeout.or(file.header_read_timeout) {
        anyhow::ensure!(secs > 0, "--header-read-timeout must be at least 1 second");
        config.connections.header_read_timeout = std::time::Duration::from_secs(secs);
    }
    let wanted = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(config.connections.max_connections);
    config.connections.max_connections = match raise_open_file_limit() {
        // Leave room for the database files, connections to PostgreSQL and logs.
        Some(limit) if (wanted as u64) + 64 > limit => {
            let fit = usize::try_from(limit.saturating_sub(64))
                .unwrap_or(wanted)
                .max(1);
            tracing::warn!(
                wanted,
                allowed = fit,
                open_file_limit = limit,
                "the open-file limit is too low for --max-connections: using fewer"
            );
            fit
        }
        _ => wanted,
    };
    if let Some(n) = args
        .patch_response_max_members
        .or(file.patch_response_max_members)
    {
        config.patch_response_max_members = n;
    }
    if let Some(n) = args.page_max_members.or(file.page_max_members) {
        config.page_max_members = n.max(1);
    }
    config.request_log = !args.no_request_log;
    Ok(config)
}

/// The per-tenant write limits.
fn fairness_of(args: &ServeArgs, file: &FileConfig) -> scim_store::Fairness {
    let mut f = scim_store::Fairness::default();
    if let Some(n) = args.tenant_max_writes.or(file.tenant_max_writes) {
        f.max_writes = n.max(1);
    }
    if let Some(p) = args.tenant_writer_share.or(file.tenant_writer_share) {
        f.writer_share = f64::from(p.clamp(1, 100)) / 100.0;
    }
    f
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let file = FileConfig::load(args.store.config.as_deref())?;
    let _log_writer = init_logging(crate::serve_hints::log_format(
        args.log_format.as_deref().or(file.log_format.as_deref()),
    )?);
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let public_url = match args.public_url.clone().or_else(|| file.public_url.clone()) {
        Some(url) => url,
        None => {
            let (mut url, warning) = crate::serve_hints::default_public_url(local);
            if crate::tls::enabled(&args.tls, &file) {
                url = url.replacen("http://", "https://", 1);
            }
            if let Some(warning) = warning {
                tracing::warn!("{warning}");
            }
            url
        }
    };
    let (registry, store) = args.store.open(&file).await?;
    let database = store.describe();
    let fairness = fairness_of(&args, &file);
    let config = server_config(&args, &file, public_url.trim_end_matches('/'))?;
    // Delivery's own threads, at a lower priority than the requests' (scim_delivery::runtime).
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let background = scim_delivery::BackgroundRuntime::start(workers)
        .context("cannot start delivery's threads")?;
    // The store, the event feed, the head poller (commits of other processes: another
    // instance, an admin command) and the routers, as an embedding application has them.
    let mut builder = scim_service::ScimService::builder();
    if let Some(window) = args.delivery.batch_window(&file)? {
        builder = builder.delivery_batch_window(window);
    }
    let service = builder
        .store(store, registry)
        .delivery_runtime(background.handle().clone())
        .server_config(config)
        .fairness(fairness.clone())
        .allow_private_webhooks(args.delivery.allow_private(&file))
        .open()
        .await?;
    let config = service.config();
    bootstrap(service.store().as_ref(), config, &args).await?;
    let tls = crate::tls::acceptor(&args.tls, &file, service.closing())?;
    crate::metrics::start(
        &args.metrics,
        &file,
        service.store().clone(),
        service.closing(),
    )
    .await?;
    tracing::info!(
        listen = %local,
        public_url = %config.public_url,
        database = %database,
        max_connections = config.connections.max_connections,
        default_rate_per_minute = config.throttle.default_rate_per_minute,
        tenant_max_writes = fairness.max_writes,
        "scim is serving"
    );
    // On standard output too, after the first-start block: one line that says the server is
    // ready and where (logs go to standard error).
    println!(
        "scim is serving {}/scim/v2/{{tenant}} (listening on {local})",
        config.public_url
    );
    let feed = service.feed().clone();
    // Webhooks and NATS, woken by the store's commit signal (crates/scim-cli/src/delivery.rs).
    let delivery = crate::delivery::spawn(&args.delivery, &file, feed.clone(), service.closing())?;
    let targets = crate::target_cmd::spawn_in_serve(
        args.targets_dir.as_deref(),
        service.any_store(),
        feed,
        service.registry(),
        service.closing(),
    )
    .await?;
    // Retention and the audit index, every 5 minutes (scim_store::retention).
    let every = Duration::from_secs(args.retention_interval.unwrap_or(300));
    let maintenance = scim_store::retention::spawn(service.store().clone(), every);
    let limits = config.connections.clone();
    let app = service.router_with(service.admin_token_router());
    let closing = service.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Long polls answer with what they have instead of holding up the shutdown.
        closing.shutdown();
    };
    match tls {
        Some(tls) => scim_server::serve_app_tls(listener, app, limits, tls, shutdown).await?,
        None => scim_server::serve_app(listener, app, limits, shutdown).await?,
    }
    // The request log gathers entries for a moment: write the last ones now.
    service.close_request_log(Duration::from_secs(5)).await;
    if let Some(d) = delivery {
        let _ = d.await;
    }
    for t in targets {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    maintenance.abort();
    drop(background);
    Ok(())
}
