//! `scim-sync`: provisions any SCIM server from a source of truth.
//!
//! A run reads the source ([`source`]) row by row into a plan workspace ([`workspace`], a
//! temporary SQLite file), checking each row against the target's `/Schemas`
//! ([`validate`]); pages the target into the workspace; computes the plan there —
//! creates, PATCHes carrying only what differs, deactivations or deletes of leavers,
//! group creates, membership changes — refuses plans that would deactivate too many
//! users ([`plan::guard_counts`]), and applies it ([`apply`]), reading its writes back a
//! page at a time. Memory does not grow with the source: what a run holds is counts, a
//! page of rows, and the workspace's bounded page cache. Killed at any point and run
//! again, it recomputes the plan from the target and finishes the job; the state file
//! ([`state`]) remembers what it created.

#![warn(missing_docs)]

pub mod apply;
pub mod plan;
pub mod source;
pub mod state;
pub mod validate;
pub mod workspace;

use std::path::PathBuf;

use scim_client::{Client, ClientError, ListParams, Paging};
use scim_mapping::Mapping;
use serde_json::Value;

pub use apply::{ApplyOptions, Report};
pub use plan::{LeaverPolicy, Limit, Plan, PlanOptions};
pub use source::{MatchKey, Reader, SourceSpec};
pub use workspace::{PlanCounts, Workspace};

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
    /// The plan workspace (a temporary file) could not be written or read.
    #[error("plan workspace: {0}")]
    Workspace(String),
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
    /// Where the plan workspace's temporary directory goes (`None`: the system's
    /// temporary directory). It is removed when the run ends.
    pub workspace_dir: Option<PathBuf>,
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
            workspace_dir: None,
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

/// The most groups asked for per page (each carries its members).
const GROUP_PAGE: u64 = 50;

/// The attributes to ask the target for: those the source produces, the match key and
/// what planning reads (`active`, `userName`, `displayName`, and a group's `members`).
fn projection(produced: &std::collections::BTreeSet<String>, always: &[&str]) -> String {
    let mut names: Vec<String> = always.iter().map(|s| s.to_string()).collect();
    for p in produced {
        // Only names that are attribute names or schema URNs: anything else is left to
        // the full resource (a server may refuse a malformed `attributes`).
        let plain = p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-$".contains(c));
        let urn = p.len() > 4 && p[..4].eq_ignore_ascii_case("urn:") && !p.contains([',', ' ']);
        let skip = !(plain || urn)
            || ["schemas", "id", "meta", "members", "password", "groups"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(p));
        if !skip && !names.iter().any(|n| n.eq_ignore_ascii_case(p)) {
            names.push(p.clone());
        }
    }
    names.join(",")
}

/// Walks a list on a task of its own, one page ahead of its reader: the next page is
/// read while the last one goes into the workspace. The walk ends at the first error
/// (handed on), or when the reader goes away.
fn prefetch(
    mut pager: scim_client::Pager,
) -> tokio::sync::mpsc::Receiver<Result<Vec<Value>, ClientError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let page = pager.next_page().await.transpose();
            let Some(page) = page else { break };
            let failed = page.is_err();
            if tx.send(page).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Pages the target's users and groups (group members included) into the workspace,
/// asking only for the attributes planning compares.
async fn read_target(
    client: &Client,
    ws: &Workspace,
    loaded: &workspace::Loaded,
    paging: Paging,
    page_size: u64,
    journal: &mut state::Journal,
    opts: &PlanOptions,
) -> Result<(), SyncError> {
    let key = opts.key;
    let params = |attributes: String| ListParams {
        count: Some(page_size.max(1)),
        attributes: Some(attributes),
        ..ListParams::default()
    };
    let users = params(projection(
        &loaded.user_attrs,
        &[key.attr(), "userName", "active"],
    ));
    let mut pages = prefetch(client.pager("/Users", users, paging));
    while let Some(page) = pages.recv().await {
        ws.add_target_users(&page.map_err(SyncError::Target)?)?;
    }
    // Users an interrupted run created that the list did not show with their key.
    for (k, id) in std::mem::take(&mut journal.users) {
        if ws.has_target_user(&id)? {
            ws.journal_key(&id, &k)?;
            continue;
        }
        if let Ok(mut u) = client.get(&format!("/Users/{id}")).await {
            if let Some(o) = u.as_object_mut() {
                // A target that does not return the match key: the journal knows it.
                o.entry(key.attr()).or_insert(Value::String(k.clone()));
            }
            ws.add_target_users(std::slice::from_ref(&u))?;
        }
    }
    if !loaded.has_groups && !opts.delete_groups {
        // Nothing to plan about groups: no need to read them.
        return Ok(());
    }
    // Smaller pages of groups: a page carries its groups' members.
    let mut groups = params(projection(&loaded.group_attrs, &["displayName", "members"]));
    groups.count = Some(page_size.clamp(1, GROUP_PAGE));
    let mut pages = prefetch(client.pager("/Groups", groups, paging));
    while let Some(page) = pages.recv().await {
        ws.add_target_groups(page.map_err(SyncError::Target)?)?;
    }
    Ok(())
}

/// A computed plan, kept in its workspace, ready to be applied.
pub struct Prepared {
    ws: Workspace,
    counts: PlanCounts,
    spc: scim_client::ServiceProviderConfig,
    journal: state::Journal,
}

/// Reads the source into a plan workspace, validating it against the target's schemas,
/// pages the target into it and computes the plan there. Writes nothing to the target
/// (the state file is opened, not written).
pub async fn prepare(
    target: &Client,
    source: &SourceSpec,
    mapping: Option<&Mapping>,
    opts: &SyncOptions,
) -> Result<Prepared, SyncError> {
    let spc = target
        .service_provider_config()
        .await
        .map_err(SyncError::Target)?;
    let schemas = match target.schemas().await {
        Ok(docs) => Some(validate::Schemas::from_documents(&docs)),
        Err(e) => {
            tracing::warn!("the target's /Schemas could not be read ({e}); not validated");
            None
        }
    };
    let ws = Workspace::create(opts.workspace_dir.as_deref(), opts.plan.key)?;
    let reader = Reader {
        mapping,
        key: opts.plan.key,
        strict: opts.strict,
    };
    let mut loader = ws.loader(schemas.as_ref());
    reader.read(source, &mut loader).await?;
    let loaded = loader.finish()?;
    let mut journal = match &opts.state_file {
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
    read_target(
        target,
        &ws,
        &loaded,
        paging,
        page_size,
        &mut journal,
        &opts.plan,
    )
    .await?;
    let counts = ws.plan(&opts.plan, loaded.has_users)?;
    Ok(Prepared {
        ws,
        counts,
        spc,
        journal,
    })
}

impl Prepared {
    /// How many items of each kind the plan holds.
    pub fn counts(&self) -> &PlanCounts {
        &self.counts
    }

    /// True when applying the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The readable summary (counts, then the first `limit` items of each kind), read
    /// from the workspace without loading the plan.
    pub fn render(&self, limit: usize) -> Result<String, SyncError> {
        let head = self.ws.items(&self.counts, Some(limit.max(3)))?;
        Ok(plan::render(&head, &self.counts, limit))
    }

    /// Writes the plan as JSON (the document [`Plan`] serialises to), streamed from the
    /// workspace.
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> Result<(), SyncError> {
        self.ws.write_json(&self.counts, w)
    }

    /// The whole plan in memory (for small plans, and for tests; large runs print and
    /// apply it from the workspace instead).
    pub fn plan(&self) -> Result<Plan, SyncError> {
        self.ws.items(&self.counts, None)
    }

    /// The delete guard's verdict on this plan: `Err` with the reason when a run with
    /// these options would be refused.
    pub fn guard(&self, opts: &SyncOptions) -> Result<(), String> {
        plan::guard_counts(&self.counts, opts.limit, opts.allow_deletes)
    }

    /// Checks the delete guard, then applies the plan. The workspace is removed when this
    /// returns, whatever the outcome.
    pub async fn apply(self, target: &Client, opts: &SyncOptions) -> Result<Report, SyncError> {
        if let Err(reason) = self.guard(opts) {
            let plan = self.plan()?;
            return Err(SyncError::Guard {
                reason,
                plan: Box::new(plan),
            });
        }
        let Prepared {
            ws,
            counts,
            spc,
            mut journal,
        } = self;
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
        applier.apply(&ws, &counts).await?;
        let report = applier.report;
        journal.finish()?;
        Ok(report)
    }
}

/// One run: read, validate, plan, guard, apply (unless `dry_run`). The outcome holds the
/// whole plan in memory; for large sources, use [`prepare`] and [`Prepared::apply`],
/// which keep it in the workspace.
pub async fn run(
    target: &Client,
    source: &SourceSpec,
    mapping: Option<&Mapping>,
    opts: &SyncOptions,
) -> Result<Outcome, SyncError> {
    let prepared = prepare(target, source, mapping, opts).await?;
    let plan = prepared.plan()?;
    if opts.dry_run {
        return Ok(Outcome { plan, report: None });
    }
    let report = prepared.apply(target, opts).await?;
    Ok(Outcome {
        plan,
        report: Some(report),
    })
}
