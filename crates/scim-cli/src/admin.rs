//! Administration commands: tenants, tokens, restore, migrate.

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use scim_store::{Actor, AnyStore, DeleteMode, Store};

use crate::config::{FileConfig, StoreOptions};

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub store: StoreOptions,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its base URL path.
    Create {
        /// URL-safe name (letters, digits, '-', '_'), used in the base URL.
        name: String,
        /// What DELETE does: `hard` removes, `soft` hides and keeps for restoring.
        #[arg(long, default_value = "hard")]
        delete_mode: String,
        /// Days a soft-deleted resource stays restorable.
        #[arg(long, default_value_t = 30)]
        retention_days: i64,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// List tenants.
    List(StoreArgs),
    /// Delete a tenant and everything in it.
    Delete {
        name: String,
        #[command(flatten)]
        store: StoreOptions,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token for a tenant; the token is printed once.
    Create {
        /// The tenant the token works for (and only that tenant).
        #[arg(long)]
        tenant: String,
        /// A name for the token, recorded with every change it makes (e.g. `okta`).
        #[arg(long)]
        name: String,
        /// Expiry as an RFC 3339 time (e.g. 2027-01-01T00:00:00Z); none by default.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Revoke a token by its id (from `scim token list`).
    Revoke {
        #[arg(long)]
        tenant: String,
        id: String,
        #[command(flatten)]
        store: StoreOptions,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[arg(long)]
    pub tenant: String,
    /// The id of the soft-deleted resource.
    pub id: String,
    #[command(flatten)]
    pub store: StoreOptions,
}

async fn open_any(store: &StoreOptions) -> Result<AnyStore> {
    let file = FileConfig::load(store.config.as_deref())?;
    Ok(store.open(&file).await?.1)
}

pub(crate) async fn open(store: &StoreOptions) -> Result<Arc<dyn Store>> {
    Ok(open_any(store).await?.shared())
}

async fn tenant_id(store: &Arc<dyn Store>, name: &str) -> Result<i64> {
    match store.tenant(name).await? {
        Some(t) => Ok(t.id),
        None => bail!("no tenant named '{name}' (see `scim tenant list`)"),
    }
}

pub async fn tenant(cmd: TenantCommand) -> Result<()> {
    match cmd {
        TenantCommand::Create {
            name,
            delete_mode,
            retention_days,
            store,
        } => {
            let Some(mode) = DeleteMode::parse(&delete_mode) else {
                bail!("--delete-mode must be 'hard' or 'soft'");
            };
            let s = open(&store).await?;
            let t = s.create_tenant(&name, mode, retention_days).await?;
            println!(
                "created tenant '{}' (base URL path /scim/v2/{})",
                t.name, t.name
            );
            println!("next: scim token create --tenant {} --name <idp>", t.name);
        }
        TenantCommand::List(args) => {
            let s = open(&args.store).await?;
            println!("{:<24} {:<6} {:<10} CREATED", "NAME", "DELETE", "RETENTION");
            for t in s.list_tenants().await? {
                println!(
                    "{:<24} {:<6} {:<10} {}",
                    t.name,
                    t.delete_mode.as_str(),
                    format!("{}d", t.retention_days),
                    t.created
                );
            }
        }
        TenantCommand::Delete { name, store } => {
            let s = open(&store).await?;
            if !s.delete_tenant(&name).await? {
                bail!("no tenant named '{name}'");
            }
            println!("deleted tenant '{name}' and all its data");
        }
    }
    Ok(())
}

pub async fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            tenant,
            name,
            expires,
            store,
        } => {
            if let Some(e) = &expires
                && scim_core::value::parse_datetime(e).is_none()
            {
                bail!("--expires must be an RFC 3339 time such as 2027-01-01T00:00:00Z");
            }
            let s = open(&store).await?;
            let id = tenant_id(&s, &tenant).await?;
            let (info, text) = s.create_token(id, &name, expires).await?;
            println!("token id: {}", info.id);
            println!("token (shown once, store it now): {text}");
        }
        TokenCommand::List { tenant, store } => {
            let s = open(&store).await?;
            let id = tenant_id(&s, &tenant).await?;
            println!(
                "{:<18} {:<20} {:<26} {:<26} REVOKED",
                "ID", "NAME", "CREATED", "EXPIRES"
            );
            for t in s.list_tokens(id).await? {
                println!(
                    "{:<18} {:<20} {:<26} {:<26} {}",
                    t.id,
                    t.name,
                    t.created,
                    t.expires.as_deref().unwrap_or("-"),
                    t.revoked.as_deref().unwrap_or("-")
                );
            }
        }
        TokenCommand::Revoke { tenant, id, store } => {
            let s = open(&store).await?;
            let tid = tenant_id(&s, &tenant).await?;
            if !s.revoke_token(tid, &id).await? {
                bail!("tenant '{tenant}' has no active token with id '{id}'");
            }
            println!("revoked token {id}");
        }
    }
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> Result<()> {
    let s = open(&args.store).await?;
    let tid = tenant_id(&s, &args.tenant).await?;
    let actor = Actor {
        token_name: Some("admin:restore".into()),
        ..Actor::default()
    };
    let r = s.restore(tid, &args.id, &actor).await?;
    println!(
        "restored {} '{}' (version {})",
        r.resource_type, r.id, r.version
    );
    Ok(())
}

pub async fn migrate(args: StoreArgs) -> Result<()> {
    // Opening the store applies pending migrations.
    let s = open_any(&args.store).await?;
    println!("database {} is up to date", s.describe());
    Ok(())
}
