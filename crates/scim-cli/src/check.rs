//! `scim check`: the conformance checker (`scim-check`) against any SCIM server.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use scim_check::Focus;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    Entra,
    Okta,
    All,
}

/// Flags of `scim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The SCIM base URL to check (e.g. `https://app.example.com/scim/v2`).
    url: String,
    /// A bearer token of that server (the checker creates and deletes its own users and
    /// groups, named scimcheck-…).
    #[arg(long, env = "SCIM_TOKEN", hide_env_values = true)]
    token: String,
    /// Whose failures make the exit code non-zero.
    #[arg(long, value_enum, default_value = "all")]
    provider: ProviderArg,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write JUnit XML to this file (for CI).
    #[arg(long)]
    junit: Option<PathBuf>,
}

pub async fn run(args: CheckArgs) -> Result<()> {
    let report = scim_check::run(&args.url, &args.token)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, report.junit())?;
    }
    let focus = match args.provider {
        ProviderArg::Entra => Focus::Entra,
        ProviderArg::Okta => Focus::Okta,
        ProviderArg::All => Focus::All,
    };
    if report.failed_for(focus) {
        let who = match args.provider {
            ProviderArg::Entra => "Entra ID relies on",
            ProviderArg::Okta => "Okta relies on",
            ProviderArg::All => "identity providers or the RFC rely on",
        };
        let n = report
            .results
            .iter()
            .filter(|r| r.status == scim_check::Status::Fail && r.affects(focus))
            .count();
        bail!("{n} checks that {who} failed");
    }
    Ok(())
}
