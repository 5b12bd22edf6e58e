//! `scim requests`: a tenant's request log (`scim_store::requests`) — what an identity
//! provider sent and what it was answered — as a table or JSON, optionally followed.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use scim_store::StoreError;
use scim_store::requests::{LoggedRequest, MAX_REQUESTS, RequestQuery};

use crate::admin::open;
use crate::config::AdminTarget;

#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    /// Only failed requests (status 400 and above).
    #[arg(long)]
    failed: bool,
    /// Only requests answered with this status.
    #[arg(long)]
    status: Option<u16>,
    /// Only requests at or after this instant (RFC 3339, e.g. 2026-03-14T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Most entries shown (the newest).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Show the request and response bodies of failed requests.
    #[arg(long)]
    bodies: bool,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Keep printing new entries as they are logged (Ctrl-C to stop).
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    target: AdminTarget,
}

fn print(r: &LoggedRequest, a: &RequestsArgs) {
    if a.json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let why = match (&r.scim_type, &r.detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (None, Some(d)) => d.clone(),
        _ => String::new(),
    };
    println!(
        "{}  {:<6} {} {}  {:>6.1}ms  token={} req={} ua={}  {}",
        r.at,
        r.method,
        r.status,
        r.path,
        r.duration_us as f64 / 1000.0,
        r.token_name.as_deref().unwrap_or("-"),
        r.request_id.as_deref().unwrap_or("-"),
        r.user_agent.as_deref().unwrap_or("-"),
        why
    );
    if a.bodies {
        if let Some(b) = &r.request_body {
            println!("    request:  {b}");
        }
        if let Some(b) = &r.response_body {
            println!("    response: {b}");
        }
    }
}

pub async fn run(a: RequestsArgs) -> Result<()> {
    let since = match &a.since {
        Some(text) => match scim_store::audit::parse_instant(text) {
            Ok(at) => Some(at),
            Err(StoreError::Scim(e)) => bail!("--since: {}", e.detail),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if a.limit == 0 || a.limit > MAX_REQUESTS {
        bail!("--limit must be 1 to {MAX_REQUESTS}");
    }
    let s = open(&a.target).await?;
    let Some(tenant) = s.tenant(&a.tenant).await? else {
        bail!("no tenant named '{}' (see `scim tenant list`)", a.tenant);
    };
    let mut q = RequestQuery {
        failed: a.failed,
        status: a.status,
        since,
        after: None,
        limit: a.limit,
    };
    let first = s.requests(tenant.id, &q).await?;
    if first.is_empty() && !a.json && !a.follow {
        println!("no requests logged for tenant '{}' that match", tenant.name);
    }
    for r in &first {
        print(r, &a);
    }
    if !a.follow {
        return Ok(());
    }
    // Entries after the last one shown; with none shown, after the newest logged.
    q.after = match first.last() {
        Some(r) => Some(r.id),
        None => {
            let newest = RequestQuery {
                limit: 1,
                ..RequestQuery::default()
            };
            Some(
                s.requests(tenant.id, &newest)
                    .await?
                    .last()
                    .map_or(0, |r| r.id),
            )
        }
    };
    q.limit = MAX_REQUESTS;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for r in s.requests(tenant.id, &q).await? {
            q.after = Some(r.id);
            print(&r, &a);
        }
    }
}
