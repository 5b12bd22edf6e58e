//! `scim retention …`: what a tenant keeps (change records, deleted users' personal data,
//! the request log) and a pass of the retention job on demand (`scim_store::retention`;
//! `scim serve` runs it every 5 minutes).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use scim_store::retention::{self, PolicyUpdate, RetentionPolicy};
use scim_store::{Store, StoreError};

use crate::admin::open;
use crate::config::AdminTarget;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show a tenant's retention policy.
    Show {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Change a tenant's retention policy (only what is given changes).
    Set(SetArgs),
    /// Apply every tenant's policy now (or one tenant's) and say what was done.
    Run {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        target: AdminTarget,
    },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[arg(long)]
    tenant: String,
    /// Days change records are kept, or `forever`.
    #[arg(long)]
    changes_days: Option<String>,
    /// Days after a user's deletion (and purge) its change records keep their attribute
    /// values, or `never` to keep them forever.
    #[arg(long)]
    redact_days: Option<String>,
    /// Days request log entries are kept.
    #[arg(long)]
    requests_days: Option<i64>,
    /// Most request log entries kept.
    #[arg(long)]
    requests_max: Option<i64>,
    #[command(flatten)]
    target: AdminTarget,
}

fn days_or(flag: &str, word: &str, v: Option<&str>) -> Result<Option<Option<i64>>> {
    match v {
        None => Ok(None),
        Some(w) if w.eq_ignore_ascii_case(word) => Ok(Some(None)),
        Some(n) => match n.parse::<i64>() {
            Ok(d) => Ok(Some(Some(d))),
            Err(_) => bail!("--{flag} must be a number of days or '{word}', not '{n}'"),
        },
    }
}

fn describe(p: &RetentionPolicy) -> String {
    let days = |d: Option<i64>, none: &str| d.map_or(none.to_string(), |d| format!("{d} days"));
    format!(
        "change records kept:        {}\n\
         deleted users redacted:     {}\n\
         request log kept:           {} days, at most {} entries",
        days(p.changes_days, "forever"),
        p.redact_days
            .map_or("never".to_string(), |d| format!("{d} days after deletion")),
        p.requests_days,
        p.requests_max
    )
}

async fn tenant(s: &std::sync::Arc<dyn Store>, name: &str) -> Result<scim_store::Tenant> {
    match s.tenant(name).await? {
        Some(t) => Ok(t),
        None => bail!("no tenant named '{name}' (see `scim tenant list`)"),
    }
}

pub async fn run(cmd: RetentionCommand) -> Result<()> {
    match cmd {
        RetentionCommand::Show {
            tenant: name,
            target,
        } => {
            let s = open(&target).await?;
            let t = tenant(&s, &name).await?;
            let p = s.retention_policy(t.id).await?;
            println!(
                "tenant {}: soft-deleted resources restorable for {} days\n{}",
                t.name,
                t.retention_days,
                describe(&p)
            );
        }
        RetentionCommand::Set(a) => {
            let update = PolicyUpdate {
                changes_days: days_or("changes-days", "forever", a.changes_days.as_deref())?,
                redact_days: days_or("redact-days", "never", a.redact_days.as_deref())?,
                requests_days: a.requests_days,
                requests_max: a.requests_max,
            };
            let s = open(&a.target).await?;
            let t = tenant(&s, &a.tenant).await?;
            let p = match s.set_retention_policy(t.id, &update).await {
                Ok(p) => p,
                Err(StoreError::Scim(e)) => bail!("{}", e.detail),
                Err(e) => return Err(e.into()),
            };
            println!("tenant {}:\n{}", t.name, describe(&p));
        }
        RetentionCommand::Run {
            tenant: name,
            target,
        } => {
            let s = open(&target).await?;
            let tenants = match name {
                Some(n) => vec![tenant(&s, &n).await?],
                None => s.list_tenants().await?,
            };
            let report =
                retention::pass_over(&s, &tenants, &scim_store::audit::now_instant()).await;
            for (name, r) in &report.by_tenant {
                println!(
                    "{name}: {} purged, {} change records pruned ({} audit rows), {} deleted \
                     users redacted ({} records), {} request log entries trimmed",
                    r.purged,
                    r.changes_pruned,
                    r.audit_rows_pruned,
                    r.redacted_users,
                    r.redacted_records,
                    r.requests_trimmed
                );
            }
            println!(
                "{} tenants checked, {} changed",
                report.tenants,
                report.by_tenant.len()
            );
        }
    }
    Ok(())
}
