//! `scim store copy`: move a deployment between SQLite and PostgreSQL (any direction).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use scim_core::schema::SchemaRegistry;
use scim_store::DatabaseUrl;
use scim_store::postgres::PgOptions;

use crate::config::open_url;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every tenant, token, resource (soft-deleted ones too), membership and change
    /// record from one database to another, keeping ids, versions and times. Safe to run
    /// again (existing rows are brought up to date); the row counts of every table are
    /// verified at the end. Stop the servers writing to the source first.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The source: sqlite://PATH or postgres://user@host:port/database.
    #[arg(long)]
    pub from: String,
    /// The target: sqlite://PATH (created if missing) or postgres://… (an existing database;
    /// its tables are created if needed).
    #[arg(long)]
    pub to: String,
}

pub async fn run(cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Copy(args) => copy(args).await,
    }
}

async fn copy(args: CopyArgs) -> Result<()> {
    let from = DatabaseUrl::parse(&args.from).context("--from")?;
    let to = DatabaseUrl::parse(&args.to).context("--to")?;
    if let DatabaseUrl::Sqlite(path) = &from
        && !path.exists()
    {
        bail!("--from: there is no SQLite database at {}", path.display());
    }
    // Copying moves stored rows as they are: the schemas only shape the (copied) index.
    let registry = SchemaRegistry::builtin()?;
    let options = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let source = open_url(&from, &registry, &options)
        .await
        .context("--from")?;
    let target = open_url(&to, &registry, &options).await.context("--to")?;
    println!("copying {} -> {}", source.describe(), target.describe());
    let report = scim_store::copy::copy(&source, &target).await?;
    println!("{:<12} {:>10} {:>10}", "TABLE", "SOURCE", "TARGET");
    for t in &report.tables {
        println!("{:<12} {:>10} {:>10}", t.table, t.source, t.target);
    }
    println!("copy complete: every table's row count matches");
    Ok(())
}
