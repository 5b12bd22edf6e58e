//! `scim admin-token`: the credentials of the management API (/admin/v1).

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::admin::{open, to_the_minute};
use crate::config::AdminTarget;

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create an administration token for the management API; it is printed once.
    Create {
        /// What the token is for (e.g. `billing-app`), shown by `scim admin-token list`.
        #[arg(long)]
        name: String,
        /// Expiry as an RFC 3339 time (e.g. 2027-01-01T00:00:00Z); none by default.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// List administration tokens (never their secrets), with when each was last used
    /// (to the minute).
    List {
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Revoke an administration token by its id (from `scim admin-token list`); a running
    /// server refuses it within 5 seconds.
    Revoke {
        /// The token's id.
        id: String,
        #[command(flatten)]
        target: AdminTarget,
    },
}

pub async fn run(cmd: AdminTokenCommand) -> Result<()> {
    match cmd {
        AdminTokenCommand::Create {
            name,
            expires,
            target,
        } => {
            let s = open(&target).await?;
            let (info, text) = s.create_admin_token(&name, expires).await?;
            println!("admin token id: {}", info.id);
            println!("admin token (shown once, store it now): {text}");
            println!("use it as `Authorization: Bearer …` on /admin/v1 (never on a SCIM URL)");
        }
        AdminTokenCommand::List { target } => {
            let s = open(&target).await?;
            println!(
                "{:<18} {:<24} {:<26} {:<26} {:<25} REVOKED",
                "ID", "NAME", "CREATED", "EXPIRES", "LAST USED"
            );
            for t in s.list_admin_tokens().await? {
                println!(
                    "{:<18} {:<24} {:<26} {:<26} {:<25} {}",
                    t.id,
                    t.name,
                    t.created,
                    t.expires.as_deref().unwrap_or("-"),
                    t.last_used
                        .as_deref()
                        .map_or_else(|| "never".to_string(), to_the_minute),
                    t.revoked.as_deref().unwrap_or("-")
                );
            }
        }
        AdminTokenCommand::Revoke { id, target } => {
            let s = open(&target).await?;
            if !s.revoke_admin_token(&id).await? {
                bail!(
                    "there is no active admin token with id '{id}' (see `scim admin-token list`)"
                );
            }
            println!("revoked admin token {id}");
        }
    }
    Ok(())
}
