//! Administration commands: tenants, tokens, restore, migrate.

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use scim_store::{Actor, AnyStore, DeleteMode, JwtSettings, Store, TenantContents, TokenScope};

use crate::limits::{
    parse_duration, parse_optional_count, parse_optional_rate, parse_rate, show_rate,
};

use crate::config::{AdminTarget, FileConfig, StoreOptions};
use scim_admin::Manager;
use scim_admin::ops::{Caller, TenantCreate, TenantPatch, TokenCreate, TokenRotate};

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub store: StoreOptions,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (one identity provider connection); prints its SCIM base URL.
    Create {
        /// The tenant's name, used in its base URL `/scim/v2/{name}`: 1-64 letters, digits,
        /// '-' or '_'. Names are case-insensitive (`Acme` and `acme` are one tenant).
        name: String,
        /// What DELETE does: `hard` removes, `soft` hides and keeps for restoring.
        #[arg(long, default_value = "hard", value_parser = ["hard", "soft"])]
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
        target: AdminTarget,
    },
    /// Change a tenant's delete mode, retention, rate limit or JWT mode (only what is
    /// given changes).
    Update(TenantUpdateArgs),
    /// List tenants with their settings.
    List {
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Delete a tenant and everything in it (users, groups, tokens, change history), for
    /// good. Says what it holds first, and asks for confirmation: type the tenant's name
    /// on a terminal, or pass --yes.
    Delete {
        /// The tenant to delete.
        name: String,
        /// Delete without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        target: AdminTarget,
    },
}

/// `scim tenant update`: only what is given changes.
#[derive(Debug, Args)]
pub struct TenantUpdateArgs {
    /// The tenant to change.
    pub name: String,
    /// What DELETE does: `hard` removes, `soft` hides and keeps for restoring.
    #[arg(long, value_parser = ["hard", "soft"])]
    pub delete_mode: Option<String>,
    /// Days a soft-deleted resource stays restorable (0 to 36500).
    #[arg(long)]
    pub retention_days: Option<i64>,
    /// Requests the tenant may send on average: N, N/s or N/m; `default` for the server's
    /// default.
    #[arg(long)]
    pub rate_limit: Option<String>,
    /// Requests the tenant may send at once above its rate: a number; `default` for the
    /// server's default.
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
    pub target: AdminTarget,
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
        #[arg(long, default_value = "write", value_parser = ["write", "read"])]
        scope: String,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Replace a token by a new one (same name and scope), printed once; the old one keeps
    /// working until the end of the overlap, so the identity provider can be updated.
    Rotate {
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// The id of the token to replace (from `scim token list`).
        id: String,
        /// How long the old token keeps working (`24h`, `30m`, `0` for not at all).
        #[arg(long, default_value = "24h")]
        overlap: String,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// List a tenant's tokens (never their secrets): scope, creation, expiry, last use
    /// (to the minute) and revocation.
    List {
        /// The tenant whose tokens to list.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Revoke a token by its id (from `scim token list`): the server it is revoked through
    /// (`--server`) refuses it at once, every other running server within 5 seconds.
    Revoke {
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// The id of the token to revoke.
        id: String,
        #[command(flatten)]
        target: AdminTarget,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The tenant (its delete mode must be `soft`, see `scim tenant update`).
    #[arg(long)]
    pub tenant: String,
    /// The id of the soft-deleted user or group (see --list).
    #[arg(required_unless_present = "list")]
    pub id: Option<String>,
    /// List the tenant's soft-deleted resources (newest first) instead of restoring one.
    #[arg(long, conflicts_with = "id")]
    pub list: bool,
    #[command(flatten)]
    pub target: AdminTarget,
}

pub(crate) async fn open(target: &AdminTarget) -> Result<Arc<dyn Store>> {
    Ok(target.open().await?.shared())
}

/// A last-use time as it is recorded, to the minute: `2026-12-03T12:07:00.000Z` is shown
/// as `2026-12-03T12:07Z`, so that it does not look earlier than a creation in that minute.
pub(crate) fn to_the_minute(at: &str) -> String {
    match at.get(..16) {
        Some(minute) if at.len() > 16 => format!("{minute}Z"),
        _ => at.to_string(),
    }
}

/// Who runs a command, as the management audit log records it (`cli:<user>`).
pub(crate) fn cli_caller() -> Caller {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Caller::cli(&user)
}

/// The management layer the API uses: the commands' writes go through it, validated and
/// recorded in the same audit log. (Base URLs are printed from the target's public URL.)
fn manager(store: &Arc<dyn Store>) -> Manager {
    Manager::new(store.clone(), "")
}

async fn tenant_id(store: &Arc<dyn Store>, name: &str) -> Result<i64> {
    match store.tenant(name).await? {
        Some(t) => Ok(t.id),
        None => {
            bail!("there is no tenant named '{name}' in this database (see `scim tenant list`)")
        }
    }
}

/// "3 users, 1 group" and the like.
pub(crate) fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a tenant holds, in words.
fn contents_sentence(c: &TenantContents) -> String {
    let mut parts = vec![
        plural(c.count("User"), "user", "users"),
        plural(c.count("Group"), "group", "groups"),
    ];
    for (kind, n) in &c.resources {
        if kind != "User" && kind != "Group" {
            parts.push(format!("{n} {kind}"));
        }
    }
    parts.push(plural(
        c.deleted,
        "soft-deleted resource",
        "soft-deleted resources",
    ));
    parts.push(tokens_phrase(c.tokens, c.active_tokens));
    parts.push(plural(c.changes, "change record", "change records"));
    parts.join(", ")
}

/// "3 tokens (1 active)": every token a tenant delete removes, revoked and expired ones
/// included, and how many of them still work.
pub(crate) fn tokens_phrase(total: i64, active: i64) -> String {
    format!("{} ({active} active)", plural(total, "token", "tokens"))
}

/// What a tenant delete removed, as `scim tenant delete` says it afterwards (from the
/// management operation's own counts, with or without `--server`).
pub(crate) fn deleted_sentence(d: &scim_admin::ops::TenantDeleted) -> String {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    format!(
        "deleted tenant '{}': {}, {} (soft-deleted ones included), {}, {}",
        d.name,
        plural(n(d.users), "user", "users"),
        plural(n(d.groups), "group", "groups"),
        tokens_phrase(n(d.tokens), n(d.active_tokens)),
        plural(n(d.events), "change record", "change records")
    )
}

/// Asks on the terminal for the tenant's name; `false` unless it is typed exactly.
fn confirmed_on_terminal(name: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!(
            "tenant '{name}' was not deleted: pass --yes to delete it (standard input is not \
             a terminal to ask on)"
        );
    }
    eprint!("This cannot be undone. Type the tenant's name ({name}) to delete it: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == name)
}

/// One line of `scim tenant list`.
pub(crate) struct TenantRow {
    pub name: String,
    pub delete_mode: &'static str,
    pub retention_days: i64,
    pub rate_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub jwt: bool,
    pub created: String,
}

/// `scim tenant create`'s answer (local and remote).
pub(crate) fn print_tenant_created(name: &str, base_url_line: &str) {
    println!("created tenant '{name}'");
    println!("{base_url_line}");
    println!("next: scim token create --tenant {name} --name <idp>");
}

/// `scim tenant list`'s table, with a note on names that differ only by letter case.
pub(crate) fn print_tenants(tenants: &[TenantRow]) {
    println!(
        "{:<24} {:<6} {:<10} {:<10} {:<8} {:<4} CREATED",
        "NAME", "DELETE", "RETENTION", "RATE", "BURST", "JWT"
    );
    for t in tenants {
        println!(
            "{:<24} {:<6} {:<10} {:<10} {:<8} {:<4} {}",
            t.name,
            t.delete_mode,
            format!("{}d", t.retention_days),
            t.rate_per_minute
                .map_or_else(|| "default".into(), show_rate),
            t.burst.map_or_else(|| "default".into(), |b| b.to_string()),
            if t.jwt { "on" } else { "-" },
            t.created
        );
    }
    if tenants.is_empty() {
        println!("(no tenants: `scim serve` creates 'default' on its first start)");
    }
    // Tenants from before names were case-insensitive (migration 0008).
    let mut by_folded: std::collections::BTreeMap<String, Vec<&str>> =
        std::collections::BTreeMap::new();
    for t in tenants {
        by_folded
            .entry(t.name.to_ascii_lowercase())
            .or_default()
            .push(&t.name);
    }
    for names in by_folded.values().filter(|n| n.len() > 1) {
        println!(
            "note: tenants {} differ only by letter case (created before tenant names \
             became case-insensitive); each is reached by its exact name only. Move \
             the connections to one of them and delete the others.",
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Says what a tenant holds and asks for confirmation unless `yes`; an error if refused.
pub(crate) fn confirm_tenant_delete(name: &str, what: &str, yes: bool) -> Result<()> {
    println!("tenant '{name}' holds {what}");
    if !yes && !confirmed_on_terminal(name)? {
        bail!("tenant '{name}' was not deleted: the name typed was not '{name}'");
    }
    Ok(())
}

/// `scim token create`'s answer (local and remote).
pub(crate) fn print_token_created(base_url_line: &str, made: &scim_admin::ops::TokenCreated) {
    println!("{base_url_line}");
    println!("token id: {}", made.token.id);
    println!("scope: {}", scope_name(made.token.scope));
    if let Some(expires) = &made.token.expires {
        println!("expires: {expires}");
    }
    println!(
        "token (shown once, store it now): {}",
        made.secret.as_deref().unwrap_or_default()
    );
}

pub(crate) fn scope_name(scope: scim_admin::ops::Scope) -> &'static str {
    match scope {
        scim_admin::ops::Scope::Write => "write",
        scim_admin::ops::Scope::Read => "read",
    }
}

/// `scim token rotate`'s answer (local and remote).
pub(crate) fn print_token_rotated(r: &scim_admin::ops::TokenRotated) {
    let scope = scope_name(r.token.scope);
    println!("new token id: {} (scope {scope})", r.token.id);
    println!("new token (shown once, store it now): {}", r.secret);
    match (&r.old_token.revoked, &r.old_token.expires) {
        (Some(at), _) => println!("old token {} revoked at {at}", r.old_token.id),
        (None, Some(end)) => println!("old token {} keeps working until {end}", r.old_token.id),
        (None, None) => {}
    }
}

/// The header of `scim token list`.
pub(crate) fn print_token_header() {
    println!(
        "{:<18} {:<16} {:<6} {:<25} {:<25} {:<25} REVOKED",
        "ID", "NAME", "SCOPE", "CREATED", "EXPIRES", "LAST USED"
    );
}

/// One line of `scim token list`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn print_token_row(
    id: &str,
    name: &str,
    scope: &str,
    created: &str,
    expires: Option<&str>,
    last_used: Option<&str>,
    revoked: Option<&str>,
) {
    println!(
        "{:<18} {:<16} {:<6} {:<25} {:<25} {:<25} {}",
        id,
        name,
        scope,
        created,
        expires.unwrap_or("-"),
        last_used.map_or_else(|| "never".to_string(), to_the_minute),
        revoked.unwrap_or("-")
    );
}

pub(crate) fn print_already_revoked(id: &str, name: &str, at: &str) {
    println!("token {id} ('{name}') was already revoked at {at}: nothing changed");
}

pub(crate) fn print_revoked(id: &str, name: &str) {
    println!(
        "revoked token {id} ('{name}'): it no longer works (within 5 seconds on other \
         server instances)"
    );
}

pub async fn tenant(cmd: TenantCommand) -> Result<()> {
    if let Some(remote) = crate::remote::Remote::of(cmd.target())? {
        return crate::remote::tenant(&remote, cmd).await;
    }
    match cmd {
        TenantCommand::Create {
            name,
            delete_mode,
            retention_days,
            rate_limit,
            burst,
            target,
        } => {
            let Some(mode) = DeleteMode::parse(&delete_mode) else {
                bail!("--delete-mode must be 'hard' or 'soft'");
            };
            let rate = rate_limit.as_deref().map(parse_rate).transpose()?;
            if burst == Some(0) {
                bail!("--burst must be at least 1");
            }
            let s = open(&target).await?;
            // One transaction with its settings, audited: as `POST /admin/v1/tenants`.
            let req = TenantCreate {
                delete_mode: Some(mode.into()),
                retention_days: Some(retention_days),
                rate_limit_per_minute: rate,
                rate_burst: burst,
                ..TenantCreate::named(&name)
            };
            let Some(t) = manager(&s)
                .create_tenant(&cli_caller(), req, None)
                .await?
                .new_value()
            else {
                bail!("unexpected replay of a tenant creation");
            };
            print_tenant_created(&t.name, &target.base_url_line(&t.name));
        }
        TenantCommand::Update(args) => update_tenant(args).await?,
        TenantCommand::List { target } => {
            let s = open(&target).await?;
            let mut rows = Vec::new();
            for t in s.list_tenants().await? {
                let settings = s.tenant_settings(t.id).await?;
                rows.push(TenantRow {
                    name: t.name,
                    delete_mode: t.delete_mode.as_str(),
                    retention_days: t.retention_days,
                    rate_per_minute: settings.rate_per_minute,
                    burst: settings.rate_burst,
                    jwt: settings.jwt.is_some(),
                    created: t.created,
                });
            }
            print_tenants(&rows);
        }
        TenantCommand::Delete { name, yes, target } => {
            let s = open(&target).await?;
            let Some(t) = s.tenant(&name).await? else {
                bail!(
                    "there is no tenant named '{name}' in this database (see `scim tenant list`)"
                );
            };
            let contents = s.tenant_contents(t.id).await?;
            let what = contents_sentence(&contents);
            confirm_tenant_delete(&t.name, &what, yes)?;
            match manager(&s).delete_tenant(&cli_caller(), &t.name).await {
                Ok(d) => println!("{}", deleted_sentence(&d)),
                Err(e) if e.code == "tenant_not_found" => {
                    bail!("tenant '{}' was deleted by someone else meanwhile", t.name);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

pub async fn token(cmd: TokenCommand) -> Result<()> {
    if let Some(remote) = crate::remote::Remote::of(cmd.target())? {
        return crate::remote::token(&remote, cmd).await;
    }
    match cmd {
        TokenCommand::Create {
            tenant,
            name,
            expires,
            scope,
            target,
        } => {
            let Some(scope) = TokenScope::parse(&scope) else {
                bail!("--scope must be 'write' or 'read'");
            };
            let s = open(&target).await?;
            tenant_id(&s, &tenant).await?;
            let req = TokenCreate {
                expires,
                scope: Some(scope.into()),
                ..TokenCreate::named(&name)
            };
            let Some(made) = manager(&s)
                .create_token(&cli_caller(), &tenant, req, None)
                .await?
                .new_value()
            else {
                bail!("unexpected replay of a token creation");
            };
            print_token_created(&target.base_url_line(&tenant), &made);
        }
        TokenCommand::Rotate {
            tenant,
            id,
            overlap,
            target,
        } => {
            let overlap = parse_duration(&overlap)?;
            let s = open(&target).await?;
            tenant_id(&s, &tenant).await?;
            let seconds = i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX);
            let req = TokenRotate {
                overlap_seconds: Some(seconds),
                old_token_valid_until: None,
            };
            let r = manager(&s)
                .rotate_token(&cli_caller(), &tenant, &id, req)
                .await?;
            print_token_rotated(&r);
        }
        TokenCommand::List { tenant, target } => {
            let s = open(&target).await?;
            let id = tenant_id(&s, &tenant).await?;
            print_token_header();
            for t in s.list_tokens(id).await? {
                print_token_row(
                    &t.id,
                    &t.name,
                    t.scope.as_str(),
                    &t.created,
                    t.expires.as_deref(),
                    t.last_used.as_deref(),
                    t.revoked.as_deref(),
                );
            }
        }
        TokenCommand::Revoke { tenant, id, target } => {
            let s = open(&target).await?;
            let tid = tenant_id(&s, &tenant).await?;
            let tokens = s.list_tokens(tid).await?;
            let Some(t) = tokens.iter().find(|t| t.id == id) else {
                bail!(
                    "tenant '{tenant}' has no token with id '{id}' (see `scim token list \
                     --tenant {tenant}`)"
                );
            };
            if let Some(at) = &t.revoked {
                print_already_revoked(&id, &t.name, at);
                return Ok(());
            }
            if let Err(e) = manager(&s).revoke_token(&cli_caller(), &tenant, &id).await {
                if e.status.is_client_error() {
                    bail!("token {id} could not be revoked: it was revoked or deleted meanwhile");
                }
                return Err(e.into());
            }
            print_revoked(&id, &t.name);
        }
    }
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> Result<()> {
    let s = open(&args.target).await?;
    let tid = tenant_id(&s, &args.tenant).await?;
    let Some(id) = args.id.filter(|_| !args.list) else {
        let deleted = s.deleted_resources(tid, 1000).await?;
        println!(
            "{:<38} {:<8} {:<28} {:<25} {:<25} GROUPS",
            "ID", "TYPE", "NAME", "DELETED", "RESTORABLE UNTIL"
        );
        for d in &deleted {
            println!(
                "{:<38} {:<8} {:<28} {:<25} {:<25} {}",
                d.id,
                d.resource_type,
                d.display.as_deref().unwrap_or("-"),
                d.deleted,
                d.restorable_until.as_deref().unwrap_or("-"),
                d.groups
            );
        }
        if deleted.is_empty() {
            println!("(no soft-deleted resources in tenant '{}')", args.tenant);
        }
        return Ok(());
    };
    let actor = Actor {
        token_name: Some("admin:restore".into()),
        ..Actor::default()
    };
    let r = s.restore(tid, &id, &actor).await?;
    println!(
        "restored {} '{}' (version {})",
        r.resource_type, r.id, r.version
    );
    let groups = s.groups_of(tid, vec![id.clone()]).await?;
    let direct: Vec<String> = groups
        .get(&id)
        .into_iter()
        .flatten()
        .filter(|g| g.direct)
        .map(|g| g.display.clone().unwrap_or_else(|| g.group_id.clone()))
        .collect();
    if !direct.is_empty() {
        println!("member again of: {}", direct.join(", "));
    }
    Ok(())
}

async fn open_any(store: &StoreOptions) -> Result<AnyStore> {
    let file = FileConfig::load(store.config.as_deref())?;
    Ok(store.open(&file).await?.1)
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
    let jwt_given = jwt_given(&a);
    let s = open(&a.target).await?;
    let jwt = if a.no_jwt {
        Some(None)
    } else if jwt_given {
        // Start from the tenant's current JWT settings: a flag changes only its part.
        let Some(t) = s.tenant(&a.name).await? else {
            bail!(
                "there is no tenant named '{}' in this database (see `scim tenant list`)",
                a.name
            );
        };
        let current = s.tenant_settings(t.id).await?.jwt;
        Some(Some(merge_jwt(&a, current)?))
    } else {
        None
    };
    // Validated, written and audited as `PATCH /admin/v1/tenants/{name}`.
    let patch = TenantPatch {
        delete_mode: delete_mode.map(Into::into),
        retention_days: a.retention_days,
        rate_limit_per_minute: a
            .rate_limit
            .as_deref()
            .map(parse_optional_rate)
            .transpose()?,
        rate_burst: a.burst.as_deref().map(parse_optional_count).transpose()?,
        jwt: jwt.map(|j| j.map(Into::into)),
    };
    let t = match manager(&s)
        .update_tenant(&cli_caller(), &a.name, patch)
        .await
    {
        Ok(t) => t,
        Err(e) if e.code == "tenant_not_found" => bail!(
            "there is no tenant named '{}' in this database (see `scim tenant list`)",
            a.name
        ),
        Err(e) => return Err(e.into()),
    };
    print_tenant_updated(&t);
    Ok(())
}

/// `scim tenant update`'s answer (local and remote).
pub(crate) fn print_tenant_updated(t: &scim_admin::ops::TenantView) {
    let mode = DeleteMode::from(t.delete_mode);
    println!(
        "tenant '{}': delete mode {}, retention {}d, rate {}, burst {}, JWT mode {}",
        t.name,
        mode.as_str(),
        t.retention_days,
        t.rate_limit_per_minute
            .map_or_else(|| "default".into(), show_rate),
        t.rate_burst
            .map_or_else(|| "default".into(), |b| b.to_string()),
        if t.jwt.is_some() { "on" } else { "off" }
    );
    println!("running servers apply the change within 5 seconds");
}

/// Whether `tenant update` was given a JWT setting (other than --no-jwt).
pub(crate) fn jwt_given(a: &TenantUpdateArgs) -> bool {
    a.jwt_issuer.is_some()
        || a.jwt_audience.is_some()
        || a.jwt_jwks_url.is_some()
        || a.jwt_key_file.is_some()
        || a.jwt_tenant_claim.is_some()
        || a.jwt_tenant_value.is_some()
}

/// The JWT settings `tenant update` asks for: the tenant's current ones with the parts
/// given changed (local and remote).
pub(crate) fn merge_jwt(a: &TenantUpdateArgs, current: Option<JwtSettings>) -> Result<JwtSettings> {
    let static_key = match &a.jwt_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the key file {}: {e}", path.display()))?,
        ),
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
    Ok(JwtSettings {
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
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_use_is_shown_to_the_minute() {
        assert_eq!(
            super::to_the_minute("2026-12-03T12:07:00.000Z"),
            "2026-12-03T12:07Z"
        );
        assert_eq!(super::to_the_minute("never"), "never");
    }
}
