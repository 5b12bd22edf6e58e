//! Metrics of `scim serve`: the Prometheus recorder (always installed: recording costs a
//! few atomic additions per request) and, with `--metrics-listen`, a listener of its own
//! for scrapers. What is recorded and who may read it: `scim_server::metrics`.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use scim_server::metrics::MetricsConfig;
use scim_store::Store;

/// `scim serve`'s metrics flags.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Also serve `GET /metrics` here, without authentication (bind it to an address only
    /// the monitoring network reaches, e.g. 127.0.0.1:9464). On the main listener
    /// `/metrics` needs an administration token.
    #[arg(long, env = "SCIM_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Most tenants with a `tenant` label of their own; later ones are counted as
    /// `_other`, and 0 counts every tenant as `_all` [default: 100].
    #[arg(long, env = "SCIM_METRICS_TENANT_LABELS")]
    pub metrics_tenant_labels: Option<usize>,
}

/// Installs the recorder and starts the metrics listener, if any, until `closing`.
pub async fn start(
    args: &MetricsArgs,
    file: &crate::config::FileConfig,
    store: Arc<dyn Store>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut config = MetricsConfig::default();
    if let Some(n) = args.metrics_tenant_labels.or(file.metrics_tenant_labels) {
        config.tenant_labels = n;
    }
    scim_server::metrics::install(&config)?;
    let Some(addr) = args
        .metrics_listen
        .as_ref()
        .or(file.metrics_listen.as_ref())
    else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
    let local = listener.local_addr()?;
    tracing::info!(metrics_listen = %local, "serving /metrics without authentication");
    let app = scim_server::metrics::router(store);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        if let Err(e) = scim_server::serve_app(listener, app, Default::default(), shutdown).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(())
}
