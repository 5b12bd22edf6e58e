//! `scim-sync`: provisions any SCIM server from a source of truth.
//!
//! A run reads the source ([`source`]), checks it against the target's `/Schemas`
//! ([`validate`]), reads the target, computes a [`plan::Plan`] — creates, PATCHes carrying
//! only what differs, deactivations or deletes of leavers, group creates, membership
//! changes — refuses plans that would deactivate too many users ([`plan::guard`]), and
//! applies it ([`apply`]). Killed at any point and run again, it recomputes the plan from
//! the target and finishes the job; the state file ([`state`]) remembers what it created.

#![warn(missing_docs)]

pub mod apply;
pub mod plan;
pub mod source;
pub mod state;
pub mod validate;

use std::collections::HashMap;
use std::path::PathBuf;

use scim_client::{Client, ClientError, ListParams, Paging};
use scim_mapping::Mapping;
use serde_json::Value;

pub use apply::{ApplyOptions, Report};
pub use plan::{Current, LeaverPolicy, Limit, Plan, PlanOptions};
pub use source::{Desired, MatchKey, Reader, SourceSpec};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The source could not be read.
    #[error("source: {0}")]
    Source(String),
    /// The source SCIM server failed.
    #[error("source server: {0}")]
    SourceServer(ClientError),
    /// The target failed.
    #[error("target: {0}")]
    Target(ClientError),
    /// A record could not be mapped (with `strict`), or the mapping is invalid.
    #[error("mapping: {0}")]
    Mapping(String),
    /// The delete guard refused the plan (the plan is included, for printing).
    #[error("refused: {reason}")]
    Guard {
        /// Why it was refused.
        reason: String,
        /// The plan refused.
        plan: Box<Plan>,
    },
    /// The state file could not be read or written.
    #[error("state file {0}")]
    State(String),
    /// The target stopped answering properly mid-run; running again resumes.
    #[error("stopped: {0}; run the same command again to resume")]
    Stopped(String),
}

/// Everything a run needs besides the client and the source.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How to match and what to do with leavers.
    pub plan: PlanOptions,
    /// The delete guard: the most deactivations and deletes a plan may carry.
    pub limit: Limit,
    /// Allow up to this many deactivations and deletes in this run, above `limit`.
    pub allow_deletes: Option<usize>,
    /// Compute the plan, write nothing.
    pub dry_run: bool,
    /// Stop at the first record that cannot be mapped (default: report and skip it).
    pub strict: bool,
    /// The state file that makes an interrupted run resumable.
    pub state_file: Option<PathBuf>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Members per membership PATCH.
    pub batch: usize,
    /// Use Bulk when the target supports it.
    pub bulk: bool,
    /// How to page through the target's lists (`None`: cursors when offered).
    pub paging: Option<Paging>,
    /// Progress lines on standard error.
    pub progress: bool,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            plan: PlanOptions {
                key: MatchKey::ExternalId,
                leavers: LeaverPolicy::Deactivate,
                delete_groups: false,
                allow_partial: false,
            },
            limit: Limit::Percent(10.0),
            allow_deletes: None,
            dry_run: false,
            strict: false,
            state_file: None,
            concurrency: 8,
            batch: 100,
            bulk: true,
            paging: None,
            progress: false,
        }
    }
}

/// What a run did: its plan and, unless it was a dry run, the report.
#[derive(Debug)]
pub struct Outcome {
    /// The plan computed.
    pub plan: Plan,
    /// What applying it did (`None` for a dry run).
    pub report: Option<Report>,
}

/// Reads the target's users and groups (group members included).
pub async fn read_target(
    client: &Client,
    paging: Paging,
    page_size: u64,
    journal: &state::Journal,
    key: MatchKey,
) -> Result<Current, SyncError> {
    let params = ListParams {
        count: Some(page_size.max(1)),
        ..ListParams::default()
    };
    let users = client
        .pager("/Users", params.clone(), paging)
        .collect_all()
        .await
        .map_err(SyncError::Target)?;
    let groups = client
        .pager("/Groups", params, paging)
        .collect_all()
        .await
        .map_err(SyncError::Target)?;
    let mut current = Current::default();
    let mut ids = HashMap::new();
    for u in users {
        if let Some(id) = u.get("id").and_then(Value::as_str) {
            ids.insert(id.to_string(), current.users.len());
            current.users.push(plan::CurrentUser {
                id: id.to_string(),
                resource: u.clone(),
            });
        }
    }
    // Users an interrupted run created that the list did not show with their key.
    let key_attr = key.attr();
    for (key, id) in &journal.users {
        if let Some(i) = ids.get(id) {
            if let Some(o) = current
                .users
                .get_mut(*i)
                .and_then(|u| u.resource.as_object_mut())
            {
                o.entry(key_attr).or_insert(Value::String(key.clone()));
            }
            continue;
        }
        if let Ok(mut u) = client.get(&format!("/Users/{id}")).await {
            if let Some(o) = u.as_object_mut() {
                // A target that does not return the match key: the journal knows it.
                o.entry(key_attr).or_insert(Value::String(key.clone()));
            }
            current.users.push(plan::CurrentUser {
                id: id.clone(),
                resource: u,
            });
        }
    }
    for g in groups {
        let Some(id) = g.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let members = g
            .get("members")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        current.groups.push(plan::CurrentGroup {
            id,
            resource: g,
            members,
        });
    }
    Ok(current)
}

/// A computed plan, ready to be applied.
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    spc: scim_client::ServiceProviderConfig,
    journal: state::Journal,
}

/// Reads the source, validates it against the target's schemas, reads the target and
/// computes the plan. Writes nothing (the state file is opened, not written).
pub async fn prepare(
    target: &Client,
    source: &SourceSpec,
    mapping: Option<&Mapping>,
    opts: &SyncOptions,
) -> Result<Prepared, SyncError> {
    let reader = Reader {
        mapping,
        key: opts.plan.key,
        strict: opts.strict,
    };
    let mut desired = reader.read(source).await?;
    let spc = target
        .service_provider_config()
        .await
        .map_err(SyncError::Target)?;
    match target.schemas().await {
        Ok(docs) => validate::validate(&validate::Schemas::from_documents(&docs), &mut desired)?,
        Err(e) => tracing::warn!("the target's /Schemas could not be read ({e}); not validated"),
    }
    let journal = match &opts.state_file {
        Some(p) => state::Journal::open(p)?,
        None => state::Journal::none(),
    };
    let paging = opts.paging.unwrap_or(if spc.cursor {
        Paging::Cursor
    } else {
        Paging::Index
    });
    // Pages as large as the target allows (up to 1000): reading is most of a no-change run.
    let page_size = spc.max_page_size.unwrap_or(200).clamp(1, 1000) as u64;
    let current = read_target(target, paging, page_size, &journal, opts.plan.key).await?;
    let plan = plan::plan(desired, &current, &opts.plan);
    Ok(Prepared { plan, spc, journal })
}

impl Prepared {
    /// The delete guard's verdict on this plan: `Err` with the reason when a run with
    /// these options would be refused.
    pub fn guard(&self, opts: &SyncOptions) -> Result<(), String> {
        plan::guard(&self.plan, opts.limit, opts.allow_deletes)
    }

    /// Checks the delete guard, then applies the plan.
    pub async fn apply(self, target: &Client, opts: &SyncOptions) -> Result<Report, SyncError> {
        let Prepared {
            plan,
            spc,
            mut journal,
        } = self;
        if let Err(reason) = plan::guard(&plan, opts.limit, opts.allow_deletes) {
            return Err(SyncError::Guard {
                reason,
                plan: Box::new(plan),
            });
        }
        let apply_opts = ApplyOptions {
            concurrency: opts.concurrency,
            batch: opts.batch,
            bulk: if opts.bulk { spc.bulk } else { None },
            progress: opts.progress,
        };
        let mut applier = apply::Applier {
            client: target,
            opts: &apply_opts,
            journal: &mut journal,
            report: Report::default(),
        };
        applier.apply(plan).await?;
        let report = applier.report;
        journal.finish()?;
        Ok(report)
    }
}

/// One run: read, validate, plan, guard, apply (unless `dry_run`).
pub async fn run(
    target: &Client,
    source: &SourceSpec,
    mapping: Option<&Mapping>,
    opts: &SyncOptions,
) -> Result<Outcome, SyncError> {
    let prepared = prepare(target, source, mapping, opts).await?;
    if opts.dry_run {
        return Ok(Outcome {
            plan: prepared.plan,
            report: None,
        });
    }
    let plan = prepared.plan.clone();
    let report = prepared.apply(target, opts).await?;
    Ok(Outcome {
        plan,
        report: Some(report),
    })
}
