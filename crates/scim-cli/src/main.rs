//! `scim`: run the SCIM server and administer its tenants and tokens.

mod admin;
mod admin_token;
mod config;
mod errors;
mod limits;
mod serve;
mod serve_hints;
mod store_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// scim: a SCIM 2.0 identity provisioning server.
///
/// Identity providers (Okta, Microsoft Entra ID, OneLogin, Google, JumpCloud) push users and
/// groups into `scim`; each customer connection is a tenant with its own base URL and tokens.
#[derive(Debug, Parser)]
#[command(name = "scim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the SCIM server (creates a default tenant and token on first start).
    Serve(serve::ServeArgs),
    /// Create, update, list and delete tenants.
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Create, list, rotate and revoke bearer tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Create, list and revoke administration tokens (for the management API, /admin/v1).
    #[command(subcommand, name = "admin-token")]
    AdminToken(admin_token::AdminTokenCommand),
    /// Restore a soft-deleted user or group within its tenant's retention window.
    Restore(admin::RestoreArgs),
    /// Apply pending database migrations and exit.
    Migrate(admin::StoreArgs),
    /// Copy a whole database between SQLite and PostgreSQL.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A sentence, not a protocol code or a debug dump.
            eprintln!("error: {}", errors::sentence(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Tenant(cmd) => admin::tenant(cmd).await,
            Command::Token(cmd) => admin::token(cmd).await,
            Command::AdminToken(cmd) => admin_token::run(cmd).await,
            Command::Restore(args) => admin::restore(args).await,
            Command::Migrate(args) => admin::migrate(args).await,
            Command::Store(cmd) => store_cmd::run(cmd).await,
        }
    })
}
