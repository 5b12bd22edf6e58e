//! `scim role-rule add|list|remove`: a tenant's group-to-role rules, through the same
//! management layer as the API (`scim_admin::ops::Manager`; each change is audited).

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Subcommand;
use scim_admin::ops::{RoleMatch, RoleRuleCreate};

use crate::config::AdminTarget;

#[derive(Debug, Subcommand)]
pub enum RoleRuleCommand {
    /// Give a role to the members (direct or through nested groups) of a group, to every
    /// active user, or to the users whose attributes match a SCIM filter.
    Add {
        #[arg(long)]
        tenant: String,
        /// The application role, e.g. `admin`.
        #[arg(long)]
        role: String,
        /// The group by its displayName (case-insensitive).
        #[arg(long, group = "what", value_name = "NAME")]
        group_display_name: Option<String>,
        /// The group by its externalId (the identity provider's id for it).
        #[arg(long, group = "what", value_name = "EXTERNAL_ID")]
        group_external_id: Option<String>,
        /// The group by its id.
        #[arg(long, group = "what", value_name = "ID")]
        group_id: Option<String>,
        /// Every active user.
        #[arg(long, group = "what")]
        default: bool,
        /// Users matching a SCIM filter on their attributes, e.g.
        /// 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Finance"'.
        #[arg(long, group = "what", value_name = "FILTER")]
        user_filter: Option<String>,
        /// The group's name or id is a pattern: `*` any characters, `?` exactly one.
        #[arg(long)]
        pattern: bool,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// List a tenant's role rules.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        target: AdminTarget,
    },
    /// Remove a role rule by its id (from `scim role-rule list`).
    Remove {
        #[arg(long)]
        tenant: String,
        id: String,
        #[command(flatten)]
        target: AdminTarget,
    },
}

use crate::admin::cli_caller as caller;

async fn manager(target: &AdminTarget) -> Result<scim_admin::Manager> {
    let registry = Arc::new(target.registry()?);
    // Base URLs are not part of role rules' answers: no public URL is needed.
    Ok(scim_admin::Manager::new(crate::admin::open(target).await?, "").with_registry(registry))
}

pub async fn run(cmd: RoleRuleCommand) -> Result<()> {
    match cmd {
        RoleRuleCommand::Add {
            tenant,
            role,
            group_display_name,
            group_external_id,
            group_id,
            default,
            user_filter,
            pattern,
            target,
        } => {
            let (matches, value) =
                match (group_display_name, group_external_id, group_id, user_filter) {
                    (Some(v), None, None, None) => (RoleMatch::GroupDisplayName, Some(v)),
                    (None, Some(v), None, None) => (RoleMatch::GroupExternalId, Some(v)),
                    (None, None, Some(v), None) => (RoleMatch::GroupId, Some(v)),
                    (None, None, None, Some(v)) => (RoleMatch::UserFilter, Some(v)),
                    (None, None, None, None) if default => (RoleMatch::Default, None),
                    _ => bail!(
                        "give one of --group-display-name, --group-external-id, --group-id, \
                     --user-filter, --default"
                    ),
                };
            let m = manager(&target).await?;
            let req = RoleRuleCreate {
                role,
                matches,
                value,
                pattern,
            };
            let made = m.add_role_rule(&caller(), &tenant, req, None).await?;
            let Some(rule) = made.new_value() else {
                bail!("unexpected replay of a role rule");
            };
            println!("added role rule {} (role '{}')", rule.id, rule.role);
        }
        RoleRuleCommand::List { tenant, target } => {
            let m = manager(&target).await?;
            println!("{:<20} {:<20} {:<20} VALUE", "ID", "ROLE", "MATCH");
            for r in m.list_role_rules(&tenant).await?.rules {
                let matches = serde_json::to_value(r.matches)?;
                let value = r.value.as_deref().unwrap_or("-");
                println!(
                    "{:<20} {:<20} {:<20} {value}{}",
                    r.id,
                    r.role,
                    matches.as_str().unwrap_or("-"),
                    if r.pattern { " (pattern)" } else { "" }
                );
            }
        }
        RoleRuleCommand::Remove { tenant, id, target } => {
            let m = manager(&target).await?;
            let r = m.remove_role_rule(&caller(), &tenant, &id).await?;
            println!("removed role rule {} (role '{}')", r.id, r.role);
        }
    }
    Ok(())
}
