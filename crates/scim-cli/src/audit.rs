//! `scim audit …`: an auditor's questions over a tenant's change log (see
//! `scim_store::audit`), as a table, JSON or CSV.

use std::sync::Arc;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use scim_store::audit::{self, ChangeQuery, MAX_LIMIT, OPERATIONS, Point};
use scim_store::{Store, StoreError, Tenant};
use serde_json::{Value, json};

use crate::admin::open;
use crate::config::AdminTarget;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// A group's members at an instant, direct and through nested groups.
    Members {
        /// The group's id.
        #[arg(long)]
        group: String,
        /// The instant (RFC 3339, e.g. 2026-03-14T09:00:00Z) [default: now].
        #[arg(long)]
        at: Option<String>,
        /// Only the direct members.
        #[arg(long)]
        direct: bool,
        #[command(flatten)]
        common: Common,
    },
    /// The users that could sign in at an instant: they existed and `active` was not
    /// false. A user whose `active` was never set is listed, its ACTIVE shown as `(unset)`
    /// (an empty field in CSV, null in JSON).
    Active {
        /// The instant (RFC 3339, e.g. 2026-03-14T09:00:00Z) [default: now].
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// The changes of users' `active` in a period.
    ActiveChanges {
        /// The start (exclusive) [default: the tenant's creation].
        #[arg(long)]
        from: Option<String>,
        /// The end (inclusive) [default: now].
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A resource as it was at an instant.
    State {
        /// The resource's id.
        #[arg(long)]
        id: String,
        /// The instant (RFC 3339, e.g. 2026-03-14T09:00:00Z) [default: now].
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Every change of a resource: time, token, request id, attributes with old and new
    /// values, members added and removed.
    History {
        /// The resource's id.
        #[arg(long)]
        id: String,
        /// Most records shown.
        #[arg(long, default_value_t = MAX_LIMIT)]
        limit: u32,
        #[command(flatten)]
        common: Common,
    },
    /// The changes in a period, by resource type, operation and token.
    Changes {
        /// The start (exclusive; RFC 3339) [default: the tenant's creation].
        #[arg(long)]
        from: Option<String>,
        /// The end (inclusive; RFC 3339) [default: now].
        #[arg(long)]
        to: Option<String>,
        /// `User`, `Group`, or a custom resource type.
        #[arg(long = "type")]
        resource_type: Option<String>,
        /// create, replace, patch, delete or restore.
        #[arg(long)]
        operation: Option<String>,
        /// The name of the token the changes were made with.
        #[arg(long)]
        token: Option<String>,
        /// Most records shown.
        #[arg(long, default_value_t = MAX_LIMIT)]
        limit: u32,
        #[command(flatten)]
        common: Common,
    },
    /// How the tenant differs between two instants: resources created, deleted, updated
    /// (with the attributes), memberships begun and ended.
    Diff {
        /// The first instant (RFC 3339).
        #[arg(long)]
        from: String,
        /// The second instant (RFC 3339) [default: now].
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// The tenant's name.
    #[arg(long)]
    tenant: String,
    /// How to print the answer.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    store: AdminTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// An answer: rows for a table or CSV, and the JSON document.
#[derive(Default)]
struct Answer {
    /// A line above a table (which instant it describes).
    title: String,
    columns: Vec<&'static str>,
    /// The rows as CSV writes them (an absent value is an empty field).
    rows: Vec<Vec<String>>,
    /// The rows as the table shows them, where they differ from `rows` (an absent value
    /// is spelled out there, never a blank cell).
    table_rows: Option<Vec<Vec<String>>>,
    json: Value,
}

/// How the table shows a user's `active` that was never set: RFC 7643 leaves an absent
/// `active` to the service provider, and this server counts it as active (not `false`).
const UNSET: &str = "(unset)";

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print(answer: Answer, format: Format) {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answer.json).unwrap_or_default()
        ),
        Format::Csv => {
            println!("{}", answer.columns.join(","));
            for row in &answer.rows {
                let line: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
                println!("{}", line.join(","));
            }
        }
        Format::Table => {
            println!("{}", answer.title);
            let rows = answer.table_rows.unwrap_or(answer.rows);
            let mut widths: Vec<usize> = answer.columns.iter().map(|c| c.len()).collect();
            for row in &rows {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count().min(60));
                }
            }
            let line = |cells: Vec<String>| {
                let parts: Vec<String> = cells
                    .into_iter()
                    .zip(&widths)
                    .map(|(c, w)| {
                        let c: String = if c.chars().count() > 60 {
                            c.chars().take(59).chain(['…']).collect()
                        } else {
                            c
                        };
                        format!("{c:<w$}")
                    })
                    .collect();
                println!("{}", parts.join("  ").trim_end());
            };
            line(answer.columns.iter().map(|c| c.to_uppercase()).collect());
            let n = rows.len();
            for row in rows {
                line(row);
            }
            println!("({n} rows)");
        }
    }
}

/// RFC 4180: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn point(
    s: &Arc<dyn Store>,
    tenant: &Tenant,
    flag: &str,
    value: Option<&str>,
    default: Option<Point>,
) -> Result<Point> {
    match (value, default) {
        (Some(text), _) => match s.audit_point(tenant, text).await {
            Ok(p) => Ok(p),
            Err(StoreError::Scim(e)) => bail!("--{flag}: {}", e.detail),
            Err(e) => Err(e.into()),
        },
        (None, Some(p)) => Ok(p),
        (None, None) => Ok(Point {
            at: audit::now_instant(),
            seq: s.change_head(tenant.id).await?,
        }),
    }
}

fn start(tenant: &Tenant) -> Point {
    Point {
        at: tenant.created.clone(),
        seq: 0,
    }
}

fn record_rows(records: &[Value]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for r in records {
        let what = match (
            r.get("changes"),
            r.get("membersAdded"),
            r.get("membersRemoved"),
        ) {
            (Some(Value::Array(c)), _, _) => c
                .iter()
                .map(|c| format!("{}: {} -> {}", cell(&c["attribute"]), c["old"], c["new"]))
                .collect::<Vec<_>>()
                .join("; "),
            (_, Some(Value::Array(m)), _) => format!("+{} members", m.len()),
            (_, _, Some(Value::Array(m))) => format!("-{} members", m.len()),
            _ => String::new(),
        };
        rows.push(vec![
            cell(&r["position"]),
            cell(&r["at"]),
            cell(&r["resourceType"]),
            cell(&r["id"]),
            cell(&r["operation"]),
            cell(&r["actor"]["token"]),
            cell(&r["actor"]["requestId"]),
            what,
        ]);
    }
    rows
}

const RECORD_COLUMNS: [&str; 8] = [
    "position",
    "at",
    "type",
    "id",
    "operation",
    "token",
    "request_id",
    "changes",
];

pub async fn run(cmd: AuditCommand) -> Result<()> {
    let common = match &cmd {
        AuditCommand::Members { common, .. }
        | AuditCommand::Active { common, .. }
        | AuditCommand::ActiveChanges { common, .. }
        | AuditCommand::State { common, .. }
        | AuditCommand::History { common, .. }
        | AuditCommand::Changes { common, .. }
        | AuditCommand::Diff { common, .. } => common,
    };
    let s = open(&common.store).await?;
    let Some(tenant) = s.tenant(&common.tenant).await? else {
        bail!(
            "no tenant named '{}' (see `scim tenant list`)",
            common.tenant
        );
    };
    let format = common.format;
    let answer = match &cmd {
        AuditCommand::Members {
            group, at, direct, ..
        } => {
            let at = point(&s, &tenant, "at", at.as_deref(), None).await?;
            let Some(list) = s.audit_members(tenant.id, group, at.seq, !direct).await? else {
                bail!(
                    "group '{group}' did not exist in tenant '{}' at {}",
                    tenant.name,
                    at.at
                );
            };
            Answer {
                title: format!("members of {group} at {} (position {})", at.at, at.seq),
                columns: vec!["value", "type", "direct", "via"],
                rows: list
                    .iter()
                    .map(|m| {
                        vec![
                            m.value.clone(),
                            m.kind.clone().unwrap_or_default(),
                            m.direct.to_string(),
                            m.via.join(" "),
                        ]
                    })
                    .collect(),
                json: json!({"at": at.at, "position": at.seq, "group": group, "members": list}),
                ..Default::default()
            }
        }
        AuditCommand::Active { at, .. } => {
            let at = point(&s, &tenant, "at", at.as_deref(), None).await?;
            let users = s.audit_active_users(tenant.id, at.seq).await?;
            Answer {
                title: format!("active users at {} (position {})", at.at, at.seq),
                columns: vec!["id", "user_name", "active"],
                rows: users
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.clone(),
                            u.user_name.clone().unwrap_or_default(),
                            u.active.map(|a| a.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect(),
                table_rows: Some(
                    users
                        .iter()
                        .map(|u| {
                            vec![
                                u.id.clone(),
                                u.user_name.clone().unwrap_or_default(),
                                u.active
                                    .map_or_else(|| UNSET.to_string(), |a| a.to_string()),
                            ]
                        })
                        .collect(),
                ),
                json: json!({"at": at.at, "position": at.seq, "users": users}),
            }
        }
        AuditCommand::ActiveChanges { from, to, .. } => {
            let from = point(&s, &tenant, "from", from.as_deref(), Some(start(&tenant))).await?;
            let to = point(&s, &tenant, "to", to.as_deref(), None).await?;
            let changes = s
                .audit_active_changes(tenant.id, from.seq, to.seq.max(from.seq))
                .await?;
            Answer {
                title: format!("changes of `active` after {} up to {}", from.at, to.at),
                columns: vec![
                    "position",
                    "at",
                    "id",
                    "user_name",
                    "operation",
                    "old",
                    "new",
                    "token",
                ],
                rows: changes
                    .iter()
                    .map(|c| {
                        vec![
                            c.seq.to_string(),
                            c.at.clone(),
                            c.id.clone(),
                            c.user_name.clone().unwrap_or_default(),
                            c.operation.clone(),
                            cell(&c.old),
                            cell(&c.new),
                            c.token.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
                json: json!({"from": from, "to": to, "changes": changes}),
                ..Default::default()
            }
        }
        AuditCommand::State { id, at, .. } => {
            let at = point(&s, &tenant, "at", at.as_deref(), None).await?;
            let Some(r) = s.audit_state(tenant.id, id, at.seq).await? else {
                bail!(
                    "'{id}' did not exist in tenant '{}' at {}",
                    tenant.name,
                    at.at
                );
            };
            let rt = r.resource_type.clone();
            let doc = Value::Object(r.into_json(&format!("{rt}s"), None));
            let rows = doc
                .as_object()
                .map(|m| m.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect())
                .unwrap_or_default();
            Answer {
                title: format!("{rt} {id} at {} (position {})", at.at, at.seq),
                columns: vec!["attribute", "value"],
                rows,
                json: json!({"at": at.at, "position": at.seq, "resource": doc}),
                ..Default::default()
            }
        }
        AuditCommand::History { id, limit, .. } => {
            let records = s
                .audit_history(tenant.id, id, 0, (*limit).clamp(1, MAX_LIMIT))
                .await?;
            let json: Vec<Value> = records.iter().map(audit::record_json).collect();
            Answer {
                title: format!("history of {id}"),
                columns: RECORD_COLUMNS.to_vec(),
                rows: record_rows(&json),
                json: json!({"id": id, "changes": json}),
                ..Default::default()
            }
        }
        AuditCommand::Changes {
            from,
            to,
            resource_type,
            operation,
            token,
            limit,
            ..
        } => {
            if let Some(op) = operation
                && !OPERATIONS.contains(&op.as_str())
            {
                bail!(
                    "--operation is one of {}, not '{op}'",
                    OPERATIONS.join(", ")
                );
            }
            let from = point(&s, &tenant, "from", from.as_deref(), Some(start(&tenant))).await?;
            let to = point(&s, &tenant, "to", to.as_deref(), None).await?;
            let q = ChangeQuery {
                from: from.seq,
                to: to.seq,
                resource_type: resource_type.clone(),
                operation: operation.clone(),
                token: token.clone(),
                limit: (*limit).clamp(1, MAX_LIMIT),
            };
            let records = s.audit_changes(tenant.id, q).await?;
            let json: Vec<Value> = records.iter().map(audit::record_json).collect();
            Answer {
                title: format!("changes after {} up to {}", from.at, to.at),
                columns: RECORD_COLUMNS.to_vec(),
                rows: record_rows(&json),
                json: json!({"from": from, "to": to, "changes": json}),
                ..Default::default()
            }
        }
        AuditCommand::Diff { from, to, .. } => {
            let from = point(&s, &tenant, "from", Some(from), None).await?;
            let to = point(&s, &tenant, "to", to.as_deref(), None).await?;
            if from.seq > to.seq {
                bail!("--from ({}) is after --to ({})", from.at, to.at);
            }
            let d = s.audit_diff(tenant.id, from.seq, to.seq).await?;
            let mut rows = Vec::new();
            for (what, list) in [
                ("created", &d.created),
                ("deleted", &d.deleted),
                ("updated", &d.updated),
            ] {
                for r in list {
                    let changes: Vec<String> = r
                        .changes
                        .iter()
                        .map(|c| format!("{}: {} -> {}", c.attribute, c.old, c.new))
                        .collect();
                    rows.push(vec![
                        what.to_string(),
                        r.resource_type.clone(),
                        r.id.clone(),
                        r.display.clone().unwrap_or_default(),
                        changes.join("; "),
                    ]);
                }
            }
            for (what, list) in [
                ("member added", &d.members_added),
                ("member removed", &d.members_removed),
            ] {
                for m in list {
                    rows.push(vec![
                        what.to_string(),
                        "Group".into(),
                        m.group.clone(),
                        String::new(),
                        format!("{} ({})", m.value, m.kind.clone().unwrap_or_default()),
                    ]);
                }
            }
            Answer {
                title: format!("tenant '{}' from {} to {}", tenant.name, from.at, to.at),
                columns: vec!["change", "type", "id", "display", "detail"],
                rows,
                json: json!({"from": from, "to": to, "diff": d}),
                ..Default::default()
            }
        }
    };
    print(answer, format);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
