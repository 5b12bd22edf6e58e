//! `scim`: run the SCIM server and administer its tenants and tokens.

mod admin;
mod admin_token;
mod audit;
mod backup;
mod check;
mod config;
mod delivery;
mod errors;
mod limits;
mod metrics;
mod remote;
mod requests;
mod retention;
mod role_rule;
mod serve;
mod serve_hints;
mod store_cmd;
mod sync;
mod target_cmd;
mod tls;

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
    Serve(Box<serve::ServeArgs>),
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
    /// Webhook endpoints of tenants: add (prints the signing secret once), list, show,
    /// pause, resume, replay, deliveries, rotate-secret, remove.
    #[command(subcommand)]
    Webhook(delivery::WebhookCommand),
    /// NATS JetStream publishers of tenants' events: add, list, show, pause, resume,
    /// replay, deliveries, remove.
    #[command(subcommand)]
    Nats(delivery::NatsCommand),
    /// Copy a whole database between SQLite and PostgreSQL.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Provision a SCIM server from CSV / JSON Lines files or another SCIM server.
    Sync(Box<sync::SyncArgs>),
    /// Check any SCIM server against what Entra ID, Okta and others actually send.
    Check(check::CheckArgs),
    /// Connector targets: scim's changes applied to an application's database or API.
    #[command(subcommand)]
    Target(target_cmd::TargetCommand),
    /// Compare a tenant's users with a target's rows; with --repair, fix the differences.
    Reconcile(target_cmd::ReconcileArgs),
    /// Point-in-time audit: group members, active users, states, histories, changes and
    /// diffs at any instant (table, JSON or CSV).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Write an online, consistent copy of the embedded database to a file.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data directory (no server running).
    #[command(name = "restore-backup")]
    RestoreBackup(backup::RestoreBackupArgs),
    /// Add, list and remove group-to-role rules of a tenant.
    #[command(subcommand, name = "role-rule")]
    RoleRule(role_rule::RoleRuleCommand),
    /// Retention policies of tenants (change records, deleted users' personal data, the
    /// request log): show, set, and run now.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// A tenant's request log: what its identity provider sent and what it was answered
    /// (--failed, --since, --follow).
    Requests(Box<requests::RequestsArgs>),
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
            Command::Serve(args) => serve::run(*args).await,
            Command::Tenant(cmd) => admin::tenant(cmd).await,
            Command::Token(cmd) => admin::token(cmd).await,
            Command::AdminToken(cmd) => admin_token::run(cmd).await,
            Command::Restore(args) => admin::restore(args).await,
            Command::Migrate(args) => admin::migrate(args).await,
            Command::Store(cmd) => store_cmd::run(cmd).await,
            Command::Sync(args) => sync::run(*args).await,
            Command::Check(args) => check::run(args).await,
            Command::Target(cmd) => target_cmd::run(cmd).await,
            Command::Reconcile(args) => target_cmd::reconcile_cmd(args).await,
            Command::Webhook(cmd) => delivery::webhook(cmd).await,
            Command::Nats(cmd) => delivery::nats(cmd).await,
            Command::Audit(cmd) => audit::run(cmd).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::RestoreBackup(args) => backup::restore(args).await,
            Command::RoleRule(cmd) => role_rule::run(cmd).await,
            Command::Retention(cmd) => retention::run(cmd).await,
            Command::Requests(args) => requests::run(*args).await,
        }
    })
}
