//! Applying a plan: phase by phase (user creates, user updates, group creates and updates,
//! memberships, then deactivations and deletes), concurrent within a limit, in Bulk
//! requests when the target supports them, with progress lines and a final report.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use futures_util::StreamExt;
use scim_client::Method;
use scim_client::{Client, ClientError, PatchOp, patch};
use serde::Serialize;
use serde_json::{Value, json};

use crate::SyncError;
use crate::plan::{MemberRef, Plan};
use crate::state::Journal;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Members per membership PATCH.
    pub batch: usize,
    /// Use Bulk when the target advertises it (`Some((maxOperations, maxPayloadSize))`).
    pub bulk: Option<(usize, usize)>,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// One action that failed, with the server's error.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The phase it belongs to (`create users`, `deactivate users`, …).
    pub action: String,
    /// The resource's match key (or group name).
    pub key: String,
    /// The HTTP status, when the server answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The SCIM error's `scimType`, when there was one.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// The error's detail.
    pub error: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Users created.
    pub created: usize,
    /// Users updated.
    pub updated: usize,
    /// Groups created.
    pub groups_created: usize,
    /// Groups updated.
    pub groups_updated: usize,
    /// Memberships added.
    pub members_added: usize,
    /// Memberships removed.
    pub members_removed: usize,
    /// Users deactivated (leavers).
    pub deactivated: usize,
    /// Users or groups deleted.
    pub deleted: usize,
    /// The actions that failed.
    pub failures: Vec<Failure>,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
    /// Answers `429 Too Many Requests`.
    pub throttled: u64,
    /// Bulk requests sent.
    pub bulk_requests: usize,
    /// How long the run took.
    pub seconds: f64,
}

impl Report {
    /// The report as the text `scim sync` prints.
    pub fn render(&self) -> String {
        let mut s = format!(
            "Done in {:.1}s: {} created, {} updated, {} deactivated, {} deleted; {} groups created, {} updated; {} members added, {} removed; {} requests ({} Bulk), {} retried, {} answered 429.\n",
            self.seconds,
            self.created,
            self.updated,
            self.deactivated,
            self.deleted,
            self.groups_created,
            self.groups_updated,
            self.members_added,
            self.members_removed,
            self.requests,
            self.bulk_requests,
            self.retries,
            self.throttled
        );
        if !self.failures.is_empty() {
            s.push_str(&format!("{} failures:\n", self.failures.len()));
            for f in self.failures.iter().take(50) {
                s.push_str(&format!("  {} {}: {}\n", f.action, f.key, f.error));
            }
        }
        s
    }
}

/// One write of a phase.
#[derive(Debug, Clone)]
struct Write_ {
    key: String,
    method: Method,
    path: String,
    body: Option<Value>,
    /// How many plan items this write completes (members in a membership batch).
    weight: usize,
}

struct Progress {
    on: bool,
    tty: bool,
    phase: &'static str,
    total: usize,
    done: usize,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(on: bool, phase: &'static str, total: usize) -> Progress {
        let now = Instant::now();
        Progress {
            on,
            tty: std::io::stderr().is_terminal(),
            phase,
            total,
            done: 0,
            start: now,
            last: now,
        }
    }

    fn tick(&mut self, n: usize) {
        self.done += n;
        if !self.on {
            return;
        }
        let now = Instant::now();
        let finished = self.done >= self.total;
        if !finished && now.duration_since(self.last).as_millis() < 1000 {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let eta = if rate > 0.0 {
            (self.total.saturating_sub(self.done)) as f64 / rate
        } else {
            0.0
        };
        let line = format!(
            "{}: {}/{} ({:.0}/s, ETA {:.0}s)",
            self.phase, self.done, self.total, rate, eta
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            if finished {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

fn failure(action: &str, key: &str, e: &ClientError) -> Failure {
    Failure {
        action: action.into(),
        key: key.into(),
        status: e.status(),
        scim_type: e
            .scim()
            .and_then(|s| s.scim_type)
            .map(|t| t.as_str().to_string()),
        error: e.to_string(),
    }
}

/// Errors that stop the run (the target is not answering as a SCIM server should); a
/// SCIM 4xx about one resource is recorded and the run goes on.
fn fatal(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. }
        | ClientError::NotScim { .. }
        | ClientError::Protocol { .. } => true,
        ClientError::Scim { error, .. } => {
            error.status == 401 || error.status == 403 || e.is_transient() || error.status >= 500
        }
    }
}

fn id_of(body: &Value) -> Option<String> {
    body.get("id").and_then(Value::as_str).map(str::to_string)
}

/// Applies a plan's phases to the target, recording what it created in the journal.
pub struct Applier<'a> {
    /// The target's client.
    pub client: &'a Client,
    /// How to apply (concurrency, batches, Bulk).
    pub opts: &'a ApplyOptions,
    /// The record of created resources that makes a run resumable.
    pub journal: &'a mut Journal,
    /// What was done so far.
    pub report: Report,
}

impl Applier<'_> {
    /// Runs a phase's writes; successes come back with their answer bodies.
    async fn phase(
        &mut self,
        action: &'static str,
        writes: Vec<Write_>,
        mut on_success: impl FnMut(&mut Journal, &Write_, &Value) -> Result<(), SyncError>,
    ) -> Result<usize, SyncError> {
        if writes.is_empty() {
            return Ok(0);
        }
        let total: usize = writes.iter().map(|w| w.weight).sum();
        let mut progress = Progress::new(self.opts.progress, action, total);
        let mut ok = 0usize;
        let mut stop: Option<ClientError> = None;
        if let Some((max_ops, max_payload)) = self.opts.bulk {
            let chunks = bulk_chunks(&writes, max_ops.clamp(1, 1000), max_payload);
            let client = self.client.clone();
            let mut results = futures_util::stream::iter(chunks.into_iter().map(|chunk| {
                let client = client.clone();
                async move {
                    let ops: Vec<Value> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, w)| {
                            let mut op = json!({"method": w.method.as_str(), "path": w.path, "bulkId": format!("b{i}")});
                            if let (Some(b), Some(o)) = (&w.body, op.as_object_mut()) {
                                o.insert("data".into(), b.clone());
                            }
                            op
                        })
                        .collect();
                    let r = client.bulk(ops, None).await;
                    (chunk, r)
                }
            }))
            .buffer_unordered(self.opts.concurrency.max(1));
            while let Some((chunk, r)) = results.next().await {
                self.report.bulk_requests += 1;
                match r {
                    Err(e) if fatal(&e) => {
                        stop = Some(e);
                        break;
                    }
                    Err(e) => {
                        for w in &chunk {
                            self.report.failures.push(failure(action, &w.key, &e));
                        }
                    }
                    Ok(resp) => {
                        let ops = resp
                            .get("Operations")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        for (i, w) in chunk.iter().enumerate() {
                            let bid = format!("b{i}");
                            let op = ops
                                .iter()
                                .find(|o| {
                                    o.get("bulkId").and_then(Value::as_str) == Some(bid.as_str())
                                })
                                .or_else(|| ops.get(i));
                            let status = op.and_then(|o| bulk_status(o.get("status")));
                            match (op, status) {
                                (Some(o), Some(s)) if (200..300).contains(&s) => {
                                    let mut body =
                                        o.get("response").cloned().unwrap_or(Value::Null);
                                    if id_of(&body).is_none()
                                        && let Some(loc) = o.get("location").and_then(Value::as_str)
                                    {
                                        let id = loc
                                            .trim_end_matches('/')
                                            .rsplit('/')
                                            .next()
                                            .unwrap_or("");
                                        body = json!({"id": id});
                                    }
                                    on_success(self.journal, w, &body)?;
                                    ok += w.weight;
                                }
                                (o, s) => {
                                    let detail = o
                                        .and_then(|o| o.get("response"))
                                        .and_then(|r| r.get("detail"))
                                        .and_then(Value::as_str)
                                        .unwrap_or("no detail")
                                        .to_string();
                                    self.report.failures.push(Failure {
                                        action: action.into(),
                                        key: w.key.clone(),
                                        status: s,
                                        scim_type: o
                                            .and_then(|o| o.get("response"))
                                            .and_then(|r| r.get("scimType"))
                                            .and_then(Value::as_str)
                                            .map(str::to_string),
                                        error: format!(
                                            "Bulk {} {}: {} {detail}",
                                            w.method,
                                            w.path,
                                            s.map(|s| s.to_string())
                                                .unwrap_or_else(|| "no status".into())
                                        ),
                                    });
                                }
                            }
                        }
                    }
                }
                progress.tick(chunk.iter().map(|w| w.weight).sum());
            }
        } else {
            let client = self.client.clone();
            let mut results = futures_util::stream::iter(writes.into_iter().map(|w| {
                let client = client.clone();
                async move {
                    let r = client
                        .call(w.method.clone(), &w.path, &[], w.body.as_ref())
                        .await;
                    (w, r)
                }
            }))
            .buffer_unordered(self.opts.concurrency.max(1));
            while let Some((w, r)) = results.next().await {
                match r {
                    Ok(resp) => {
                        on_success(self.journal, &w, &resp.body)?;
                        ok += w.weight;
                    }
                    Err(e) if fatal(&e) => {
                        stop = Some(e);
                        break;
                    }
                    Err(e) => self.report.failures.push(failure(action, &w.key, &e)),
                }
                progress.tick(w.weight);
            }
        }
        if let Some(e) = stop {
            return Err(SyncError::Stopped(format!("{action}: {e}")));
        }
        Ok(ok)
    }

    /// Applies the plan.
    pub async fn apply(&mut self, plan: Plan) -> Result<(), SyncError> {
        let start = Instant::now();
        let stats_before = (
            self.client
                .stats()
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
            self.client
                .stats()
                .retries
                .load(std::sync::atomic::Ordering::Relaxed),
            self.client
                .stats()
                .throttled
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let result = self.apply_phases(plan).await;
        let s = self.client.stats();
        self.report.requests =
            s.requests.load(std::sync::atomic::Ordering::Relaxed) - stats_before.0;
        self.report.retries = s.retries.load(std::sync::atomic::Ordering::Relaxed) - stats_before.1;
        self.report.throttled =
            s.throttled.load(std::sync::atomic::Ordering::Relaxed) - stats_before.2;
        self.report.seconds = start.elapsed().as_secs_f64();
        result
    }

    async fn apply_phases(&mut self, plan: Plan) -> Result<(), SyncError> {
        // 1. User creates.
        let mut new_ids: HashMap<String, String> = HashMap::new();
        let writes = plan
            .creates
            .iter()
            .map(|c| Write_ {
                key: c.key.clone(),
                method: Method::POST,
                path: "/Users".into(),
                body: Some(c.resource.clone()),
                weight: 1,
            })
            .collect();
        self.report.created = self
            .phase("create users", writes, |j, w, body| {
                if let Some(id) = id_of(body) {
                    j.created_user(&w.key, &id)?;
                    new_ids.insert(w.key.clone(), id);
                }
                Ok(())
            })
            .await?;
        // 2. User updates.
        let writes = plan
            .updates
            .iter()
            .map(|u| Write_ {
                key: u.key.clone(),
                method: Method::PATCH,
                path: format!("/Users/{}", u.id),
                body: Some(patch::body(&u.operations)),
                weight: 1,
            })
            .collect();
        self.report.updated = self.phase("update users", writes, |_, _, _| Ok(())).await?;
        // 3. Group creates (without members) and updates.
        let mut group_ids: HashMap<String, String> = HashMap::new();
        let writes = plan
            .group_creates
            .iter()
            .map(|g| Write_ {
                key: g.name.clone(),
                method: Method::POST,
                path: "/Groups".into(),
                body: Some(g.resource.clone()),
                weight: 1,
            })
            .collect();
        self.report.groups_created = self
            .phase("create groups", writes, |j, w, body| {
                if let Some(id) = id_of(body) {
                    j.created_group(&w.key, &id)?;
                    group_ids.insert(w.key.to_lowercase(), id);
                }
                Ok(())
            })
            .await?;
        let writes = plan
            .group_updates
            .iter()
            .map(|u| Write_ {
                key: u.key.clone(),
                method: Method::PATCH,
                path: format!("/Groups/{}", u.id),
                body: Some(patch::body(&u.operations)),
                weight: 1,
            })
            .collect();
        self.report.groups_updated = self
            .phase("update groups", writes, |_, _, _| Ok(()))
            .await?;
        // 4. Memberships, in batches.
        let resolve = |m: &MemberRef| m.id.clone().or_else(|| new_ids.get(&m.key).cloned());
        let mut adds = Vec::new();
        let mut removes = Vec::new();
        let batch = self.opts.batch.max(1);
        for m in &plan.memberships {
            let Some(gid) = m
                .group_id
                .clone()
                .or_else(|| group_ids.get(&m.group.to_lowercase()).cloned())
            else {
                continue; // The group's create failed: reported there.
            };
            let add_ids: Vec<String> = m.add.iter().filter_map(resolve).collect();
            for chunk in add_ids.chunks(batch) {
                adds.push(Write_ {
                    key: m.group.clone(),
                    method: Method::PATCH,
                    path: format!("/Groups/{gid}"),
                    body: Some(patch::body(&[PatchOp::add_members(
                        chunk.iter().map(String::as_str),
                    )])),
                    weight: chunk.len(),
                });
            }
            let remove_ids: Vec<String> = m.remove.iter().filter_map(resolve).collect();
            for chunk in remove_ids.chunks(batch) {
                let ops: Vec<PatchOp> = chunk.iter().map(|id| PatchOp::remove_member(id)).collect();
                removes.push(Write_ {
                    key: m.group.clone(),
                    method: Method::PATCH,
                    path: format!("/Groups/{gid}"),
                    body: Some(patch::body(&ops)),
                    weight: chunk.len(),
                });
            }
        }
        self.report.members_added = self.phase("add members", adds, |_, _, _| Ok(())).await?;
        self.report.members_removed = self
            .phase("remove members", removes, |_, _, _| Ok(()))
            .await?;
        // 5. Leavers.
        let writes = plan
            .deactivations
            .iter()
            .map(|l| Write_ {
                key: l.key.clone(),
                method: Method::PATCH,
                path: format!("/Users/{}", l.id),
                body: Some(patch::body(&[PatchOp::replace(
                    "active",
                    Value::Bool(false),
                )])),
                weight: 1,
            })
            .collect();
        self.report.deactivated = self
            .phase("deactivate users", writes, |_, _, _| Ok(()))
            .await?;
        let writes = plan
            .deletes
            .iter()
            .map(|l| Write_ {
                key: l.key.clone(),
                method: Method::DELETE,
                path: if l.key.starts_with("group:") {
                    format!("/Groups/{}", l.id)
                } else {
                    format!("/Users/{}", l.id)
                },
                body: None,
                weight: 1,
            })
            .collect();
        self.report.deleted = self.phase("delete", writes, |_, _, _| Ok(())).await?;
        Ok(())
    }
}

fn bulk_status(v: Option<&Value>) -> Option<u16> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::Object(o) => bulk_status(o.get("code")),
        _ => None,
    }
}

/// Splits writes into Bulk requests within `max_ops` operations (the target's
/// `maxOperations`, at most 1000) and 90% of `max_payload`.
fn bulk_chunks(writes: &[Write_], max_ops: usize, max_payload: usize) -> Vec<Vec<Write_>> {
    let budget = max_payload.saturating_mul(9) / 10;
    let mut chunks = Vec::new();
    let mut cur: Vec<Write_> = Vec::new();
    let mut size = 200usize;
    for w in writes {
        let s = w.body.as_ref().map(|b| b.to_string().len()).unwrap_or(0) + w.path.len() + 80;
        if !cur.is_empty() && (cur.len() >= max_ops || size + s > budget) {
            chunks.push(std::mem::take(&mut cur));
            size = 200;
        }
        size += s;
        cur.push(w.clone());
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_both_limits() {
        let w = |n: usize| Write_ {
            key: "k".into(),
            method: Method::POST,
            path: "/Users".into(),
            body: Some(json!({"userName": "x".repeat(n)})),
            weight: 1,
        };
        let writes: Vec<_> = (0..10).map(|_| w(10)).collect();
        assert_eq!(
            bulk_chunks(&writes, 3, 1 << 20)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let big: Vec<_> = (0..4).map(|_| w(400)).collect();
        assert_eq!(bulk_chunks(&big, 100, 1200).len(), 4);
        assert_eq!(bulk_status(Some(&json!("201"))), Some(201));
        assert_eq!(bulk_status(Some(&json!({"code": 409}))), Some(409));
    }
}
