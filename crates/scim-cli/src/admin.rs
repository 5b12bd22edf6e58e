//! Administration commands: tenants, tokens, restore, migrate.

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use scim_store::{
    Actor, AnyStore, DeleteMode, JwtSettings, Store, TenantUpdate, TokenScope, TokenSpec,
};

use crate::limits::{
    parse_duration, parse_optional_count, parse_optional_rate, parse_rate, show_rate,
};

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
        /// Requests the tenant may send on average: N or N/s (per second), N/m (per
        /// minute) [default: the server's, see `scim serve --rate-limit`].
        #[arg(long)]
        rate_limit: Option<String>,
        /// Requests the tenant may send at once above its rate (also the most operations
        /// of one Bulk request) [default: the server's].
        #[arg(long)]
        burst: Option<u32>,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Change a tenant's delete mode, retention, rate limit or JWT mode.
    Update(TenantUpdateArgs),
    /// List tenants.
    List(StoreArgs),
    /// Delete a tenant and everything in it.
    Delete {
        name: String,
        #[command(flatten)]
        store: StoreOptions,
    },
}

/// `scim tenant update`: only what is given changes.
#[derive(Debug, Args)]
pub struct TenantUpdateArgs {
    pub name: String,
    /// `hard` or `soft`.
    #[arg(long)]
    pub delete_mode: Option<String>,
    #[arg(long)]
    pub retention_days: Option<i64>,
    /// N, N/s or N/m; `default` for the server's default.
    #[arg(long)]
    pub rate_limit: Option<String>,
    /// A number; `default` for the server's default.
    #[arg(long)]
    pub burst: Option<String>,
    /// JWT mode: the `iss` tokens must carry (with --jwt-audience, --jwt-tenant-claim and
    /// one of --jwt-jwks-url, --jwt-key-file).
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// JWT mode: an `aud` tokens must carry.
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// JWT mode: where the signing keys are published (JWKS).
    #[arg(long)]
    pub jwt_jwks_url: Option<String>,
    /// JWT mode: a file with the PEM public key tokens are signed with.
    #[arg(long)]
    pub jwt_key_file: Option<std::path::PathBuf>,
    /// JWT mode: the claim that names the tenant.
    #[arg(long)]
    pub jwt_tenant_claim: Option<String>,
    /// JWT mode: the value that claim must have [default: the tenant's name].
    #[arg(long)]
    pub jwt_tenant_value: Option<String>,
    /// Turn JWT mode off.
    #[arg(long, conflicts_with_all = ["jwt_issuer", "jwt_audience", "jwt_jwks_url", "jwt_key_file"])]
    pub no_jwt: bool,
    #[command(flatten)]
    pub store: StoreOptions,
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
        /// Expiry as an RFC 3339 time in the future (e.g. 2027-01-01T00:00:00Z); none by
        /// default.
        #[arg(long)]
        expires: Option<String>,
        /// `write` (what an identity provider needs) or `read` (SCIM reads only, for an
        /// application or an auditor).
        #[arg(long, default_value = "write")]
        scope: String,
        #[command(flatten)]
        store: StoreOptions,
    },
    /// Replace a token by a new one (same name and scope), printed once; the old one keeps
    /// working until the end of the overlap, so the identity provider can be updated.
    Rotate {
        #[arg(long)]
        tenant: String,
        id: String,
        /// How long the old token keeps working (`24h`, `30m`, `0` for not at all).
        #[arg(long, default_value = "24h")]
        overlap: String,
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
            rate_limit,
            burst,
            store,
        } => {
            let Some(mode) = DeleteMode::parse(&delete_mode) else {
                bail!("--delete-mode must be 'hard' or 'soft'");
            };
            let rate = rate_limit.as_deref().map(parse_rate).transpose()?;
            if burst == Some(0) {
                bail!("--burst must be at least 1");
            }
            let s = open(&store).await?;
            let t = s.create_tenant(&name, mode, retention_days).await?;
            if rate.is_some() || burst.is_some() {
                let update = TenantUpdate {
                    rate_per_minute: rate.map(Some),
                    rate_burst: burst.map(Some),
                    ..TenantUpdate::default()
                };
                s.update_tenant(&name, update).await?;
            }
            println!(
                "created tenant '{}' (base URL path /scim/v2/{})",
                t.name, t.name
            );
            println!("next: scim token create --tenant {} --name <idp>", t.name);
        }
        TenantCommand::Update(args) => update_tenant(args).await?,
        TenantCommand::List(args) => {
            let s = open(&args.store).await?;
            println!(
                "{:<24} {:<6} {:<10} {:<10} {:<8} {:<4} CREATED",
                "NAME", "DELETE", "RETENTION", "RATE", "BURST", "JWT"
            );
            for t in s.list_tenants().await? {
                let settings = s.tenant_settings(t.id).await?;
                println!(
                    "{:<24} {:<6} {:<10} {:<10} {:<8} {:<4} {}",
                    t.name,
                    t.delete_mode.as_str(),
                    format!("{}d", t.retention_days),
                    settings
                        .rate_per_minute
                        .map_or_else(|| "default".into(), show_rate),
                    settings
                        .rate_burst
                        .map_or_else(|| "default".into(), |b| b.to_string()),
                    if settings.jwt.is_some() { "on" } else { "-" },
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
            scope,
            store,
        } => {
            let Some(scope) = TokenScope::parse(&scope) else {
                bail!("--scope must be 'write' or 'read'");
            };
            let s = open(&store).await?;
            let id = tenant_id(&s, &tenant).await?;
            let spec = TokenSpec {
                name,
                expires,
                scope,
            };
            let (info, text) = s.create_token_with(id, spec).await?;
            println!("token id: {}", info.id);
            println!("scope: {}", info.scope.as_str());
            println!("token (shown once, store it now): {text}");
        }
        TokenCommand::Rotate {
            tenant,
            id,
            overlap,
            store,
        } => {
            let overlap = parse_duration(&overlap)?;
            let s = open(&store).await?;
            let tid = tenant_id(&s, &tenant).await?;
            let seconds = i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX);
            let r = s.rotate_token(tid, &id, seconds).await?;
            println!(
                "new token id: {} (scope {})",
                r.new.id,
                r.new.scope.as_str()
            );
            println!("new token (shown once, store it now): {}", r.text);
            match (&r.old.revoked, &r.old.expires) {
                (Some(at), _) => println!("old token {} revoked at {at}", r.old.id),
                (None, Some(end)) => {
                    println!("old token {} keeps working until {end}", r.old.id)
                }
                (None, None) => {}
            }
        }
        TokenCommand::List { tenant, store } => {
            let s = open(&store).await?;
            let id = tenant_id(&s, &tenant).await?;
            println!(
                "{:<18} {:<16} {:<6} {:<25} {:<25} {:<25} REVOKED",
                "ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"
            );
            for t in s.list_tokens(id).await? {
                println!(
                    "{:<18} {:<16} {:<6} {:<25} {:<25} {:<25} {}",
                    t.id,
                    t.name,
                    t.scope.as_str(),
                    t.created,
                    t.expires.as_deref().unwrap_or("-"),
                    t.last_used.as_deref().unwrap_or("-"),
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

async fn update_tenant(a: TenantUpdateArgs) -> Result<()> {
    let delete_mode = match a.delete_mode.as_deref() {
        None => None,
        Some(m) => match DeleteMode::parse(m) {
            Some(m) => Some(m),
            None => bail!("--delete-mode must be 'hard' or 'soft'"),
        },
    };
    let jwt_given = a.jwt_issuer.is_some()
        || a.jwt_audience.is_some()
        || a.jwt_jwks_url.is_some()
        || a.jwt_key_file.is_some()
        || a.jwt_tenant_claim.is_some()
        || a.jwt_tenant_value.is_some();
    let s = open(&a.store).await?;
    let jwt = if a.no_jwt {
        Some(None)
    } else if jwt_given {
        // Start from the tenant's current JWT settings: a flag changes only its part.
        let Some(t) = s.tenant(&a.name).await? else {
            bail!("no tenant named '{}'", a.name);
        };
        let current = s.tenant_settings(t.id).await?.jwt;
        let static_key = match &a.jwt_key_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read the key file {}: {e}", path.display())
            })?),
            None => None,
        };
        let (jwks_url, static_key) = match (a.jwt_jwks_url.clone(), static_key) {
            (Some(url), None) => (Some(url), None),
            (None, Some(key)) => (None, Some(key)),
            (Some(_), Some(_)) => bail!("give --jwt-jwks-url or --jwt-key-file, not both"),
            (None, None) => (
                current.as_ref().and_then(|c| c.jwks_url.clone()),
                current.as_ref().and_then(|c| c.static_key.clone()),
            ),
        };
        let pick = |given: &Option<String>, old: Option<&String>, what: &str| {
            given
                .clone()
                .or_else(|| old.cloned())
                .ok_or_else(|| anyhow::anyhow!("JWT mode needs --jwt-{what}"))
        };
        Some(Some(JwtSettings {
            issuer: pick(&a.jwt_issuer, current.as_ref().map(|c| &c.issuer), "issuer")?,
            audience: pick(
                &a.jwt_audience,
                current.as_ref().map(|c| &c.audience),
                "audience",
            )?,
            jwks_url,
            static_key,
            tenant_claim: pick(
                &a.jwt_tenant_claim,
                current.as_ref().map(|c| &c.tenant_claim),
                "tenant-claim",
            )?,
            tenant_value: a
                .jwt_tenant_value
                .clone()
                .or_else(|| current.as_ref().and_then(|c| c.tenant_value.clone())),
        }))
    } else {
        None
    };
    let update = TenantUpdate {
        delete_mode,
        retention_days: a.retention_days,
        rate_per_minute: a
            .rate_limit
            .as_deref()
            .map(parse_optional_rate)
            .transpose()?,
        rate_burst: a.burst.as_deref().map(parse_optional_count).transpose()?,
        jwt,
    };
    let Some((t, settings)) = s.update_tenant(&a.name, update).await? else {
        bail!("no tenant named '{}' (see `scim tenant list`)", a.name);
    };
    println!(
        "tenant '{}': delete mode {}, retention {}d, rate {}, burst {}, JWT mode {}",
        t.name,
        t.delete_mode.as_str(),
        t.retention_days,
        settings
            .rate_per_minute
            .map_or_else(|| "default".into(), show_rate),
        settings
            .rate_burst
            .map_or_else(|| "default".into(), |b| b.to_string()),
        if settings.jwt.is_some() { "on" } else { "off" }
    );
    println!("running servers apply the change within 5 seconds");
    Ok(())
}
