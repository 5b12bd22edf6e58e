//! `scim backup` and `scim restore-backup`: online copies of the embedded (SQLite)
//! database. For PostgreSQL, use its own tools (README, "Operating scim").

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use scim_store::DatabaseUrl;
use scim_store::sqlite::backup::{self, BackupReport};

use crate::config::{FileConfig, StoreOptions};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (it must not exist). Safe while servers run: the copy is one
    /// consistent snapshot, holding every write acknowledged before it began.
    #[arg(long)]
    pub to: PathBuf,
    #[command(flatten)]
    pub store: StoreOptions,
}

#[derive(Debug, Args)]
pub struct RestoreBackupArgs {
    /// A file written by `scim backup`.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreOptions,
}

fn sqlite_path(store: &StoreOptions, what: &str) -> Result<PathBuf> {
    let file = FileConfig::load(store.config.as_deref())?;
    let url = if what == "backup" {
        store.existing_url(&file)?
    } else {
        store.database_url(&file)?
    };
    match url {
        DatabaseUrl::Sqlite(path) => Ok(path),
        DatabaseUrl::Postgres(_) => bail!(
            "`scim {what}` is for the embedded SQLite database; back up PostgreSQL with its own \
             tools: pg_dump --format=custom (a consistent snapshot while servers run) and \
             pg_restore, or continuous archiving (see README, \"Operating scim\")"
        ),
    }
}

fn show(r: &BackupReport) {
    println!(
        "{} bytes, {} tenants, {} resources, {} change records; integrity check ok",
        r.bytes, r.tenants, r.resources, r.changes
    );
}

pub async fn backup(args: BackupArgs) -> Result<()> {
    let from = sqlite_path(&args.store, "backup")?;
    eprintln!(
        "scim: backing up {}",
        std::path::absolute(&from)
            .unwrap_or_else(|_| from.clone())
            .display()
    );
    if args.to.exists() {
        bail!(
            "{} exists already; `scim backup` writes a new file and never overwrites one: \
             choose another name or remove it first",
            args.to.display()
        );
    }
    let to = args.to.clone();
    let report = tokio::task::spawn_blocking(move || backup::backup(&from, &to)).await??;
    println!("backed up to {}", args.to.display());
    show(&report);
    Ok(())
}

pub async fn restore(args: RestoreBackupArgs) -> Result<()> {
    let to = sqlite_path(&args.store, "restore-backup")?;
    let (file, target) = (args.file.clone(), to.clone());
    let report = tokio::task::spawn_blocking(move || backup::restore(&file, &target)).await??;
    println!("restored {} as {}", args.file.display(), to.display());
    show(&report);
    Ok(())
}
