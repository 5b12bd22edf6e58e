//! `scim sync`: provisions a SCIM server from CSV / JSON Lines files or another SCIM server
//! (the library is `scim-sync`; this file is flags and printing).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use scim_client::{Client, ClientConfig, Paging};
use scim_mapping::Mapping;
use scim_sync::{LeaverPolicy, Limit, MatchKey, PlanOptions, SourceSpec, SyncError, SyncOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyArg {
    #[value(name = "externalId")]
    ExternalId,
    #[value(name = "userName")]
    UserName,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LeaversArg {
    Deactivate,
    Delete,
    Ignore,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PagingArg {
    Auto,
    Cursor,
    Index,
}

/// Flags of `scim sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The target's SCIM base URL (e.g. http://127.0.0.1:8080/scim/v2/acme).
    #[arg(long)]
    to: String,
    /// The target's bearer token.
    #[arg(long, env = "SCIM_TOKEN", hide_env_values = true)]
    token: String,
    /// Users: a CSV file (`.csv`) or JSON Lines (`.jsonl`), one user per row.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Groups: CSV or JSON Lines, with their members by match key (`a;b;c` or a list).
    #[arg(long)]
    groups: Option<PathBuf>,
    /// Copy from another SCIM server (all its users and groups) instead of files.
    #[arg(long, conflicts_with_all = ["users", "groups"])]
    from_scim: Option<String>,
    /// The source server's bearer token.
    #[arg(long, env = "SCIM_FROM_TOKEN", hide_env_values = true)]
    from_token: Option<String>,
    /// A TOML mapping file from source fields to SCIM attributes. Without one, CSV column
    /// names are SCIM attribute paths, and JSON Lines objects (or another server's
    /// resources) are taken as SCIM resources unchanged.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// The attribute that pairs source and target users.
    #[arg(long, value_enum, default_value = "externalId")]
    match_key: KeyArg,
    /// What happens to target users missing from the source.
    #[arg(long, value_enum, default_value = "deactivate")]
    leavers: LeaversArg,
    /// Also delete target groups the source does not have.
    #[arg(long)]
    delete_groups: bool,
    /// Refuse plans that deactivate or delete more than this (a count, or a percentage of
    /// the target's managed users).
    #[arg(long, default_value = "10%")]
    max_deletes: String,
    /// Allow up to N deactivations and deletes in this run, above --max-deletes.
    #[arg(long)]
    allow_deletes: Option<usize>,
    /// Deactivate leavers even when some source rows were skipped.
    #[arg(long)]
    allow_partial: bool,
    /// Stop at the first source row that cannot be mapped (default: report and skip it).
    #[arg(long)]
    strict: bool,
    /// Print the plan and stop.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan as JSON (on stdout) instead of text.
    #[arg(long)]
    plan_json: bool,
    /// The state file that makes an interrupted run resumable (removed when a run completes).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Client-side rate limit (requests, e.g. 50/s or 600/m).
    #[arg(long, default_value = "50/s")]
    rate: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Members per membership PATCH.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Never use Bulk, even when the target supports it.
    #[arg(long)]
    no_bulk: bool,
    /// How to page through lists.
    #[arg(long, value_enum, default_value = "auto")]
    paging: PagingArg,
}

fn client(url: &str, token: &str, rate: Option<(f64, u32)>) -> Result<Client> {
    let mut cfg = ClientConfig::new(url, Some(token.to_string()));
    cfg.rate = rate;
    Client::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn run(args: SyncArgs) -> Result<()> {
    let per_minute = crate::limits::parse_rate(&args.rate)?;
    let per_second = f64::from(per_minute) / 60.0;
    // A burst of a fifth of a second: the pace is the rate, not bursts of it.
    let rate = Some((per_second, ((per_second / 5.0).ceil() as u32).max(1)));
    let target = client(&args.to, &args.token, rate)?;
    let mapping = match &args.mapping {
        Some(p) => Some(Mapping::load(p)?),
        None => None,
    };
    let paging = match args.paging {
        PagingArg::Auto => None,
        PagingArg::Cursor => Some(Paging::Cursor),
        PagingArg::Index => Some(Paging::Index),
    };
    let source = match &args.from_scim {
        Some(url) => {
            let token = args
                .from_token
                .as_deref()
                .context("--from-scim needs --from-token (or SCIM_FROM_TOKEN)")?;
            SourceSpec::Scim {
                client: client(url, token, rate)?,
                paging,
            }
        }
        None => {
            if args.users.is_none() && args.groups.is_none() {
                bail!("nothing to sync: give --users and/or --groups, or --from-scim");
            }
            SourceSpec::Files {
                users: args.users.clone(),
                groups: args.groups.clone(),
            }
        }
    };
    let opts = SyncOptions {
        plan: PlanOptions {
            key: match args.match_key {
                KeyArg::ExternalId => MatchKey::ExternalId,
                KeyArg::UserName => MatchKey::UserName,
            },
            leavers: match args.leavers {
                LeaversArg::Deactivate => LeaverPolicy::Deactivate,
                LeaversArg::Delete => LeaverPolicy::Delete,
                LeaversArg::Ignore => LeaverPolicy::Ignore,
            },
            delete_groups: args.delete_groups,
            allow_partial: args.allow_partial,
        },
        limit: Limit::parse(&args.max_deletes)
            .map_err(|e| anyhow::anyhow!("--max-deletes: {e}"))?,
        allow_deletes: args.allow_deletes,
        dry_run: args.dry_run,
        strict: args.strict,
        state_file: args.state.clone(),
        concurrency: args.concurrency.max(1),
        batch: args.batch.max(1),
        bulk: !args.no_bulk,
        paging,
        progress: true,
        workspace_dir: None,
    };
    // The plan first, printed before any write.
    let prepared = scim_sync::prepare(&target, &source, mapping.as_ref(), &opts).await?;
    print_plan(&prepared, args.plan_json)?;
    if args.dry_run {
        // A dry run says what the real run would do, refusal included.
        if let Err(reason) = prepared.guard(&opts) {
            bail!("a real run would be refused: {reason}");
        }
        return Ok(());
    }
    let nothing = prepared.is_empty();
    // Applied even when empty: that also removes a finished run's state file.
    match prepared.apply(&target, &opts).await {
        Ok(_) if nothing => {
            eprintln!("Nothing to do.");
            Ok(())
        }
        Ok(report) => {
            if args.plan_json {
                eprintln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
            if !report.failures.is_empty() {
                bail!("{} actions failed (see above)", report.failures.len());
            }
            Ok(())
        }
        Err(SyncError::Guard { reason, .. }) => bail!("refused: {reason}"),
        Err(e) => Err(e.into()),
    }
}

/// The plan, streamed from its workspace: JSON (`--plan-json`) or the summary.
fn print_plan(prepared: &scim_sync::Prepared, json: bool) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        prepared.write_json(&mut out)?;
    } else {
        out.write_all(prepared.render(20)?.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
