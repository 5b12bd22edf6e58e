//! Applying a plan: phase by phase (user creates, user updates, group creates and updates,
//! memberships, then deactivations and deletes), concurrent within a limit, in Bulk
//! requests when the target supports them, with progress lines and a final report.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::StreamExt;
use scim_client::Method;
use scim_client::{Client, ClientError, PatchOp, patch};
use serde::Serialize;
use serde_json::{Value, json};

use crate::SyncError;
use crate::state::Journal;
use crate::workspace::{Phase, PlanCounts, Row, Workspace, ops_from_json};

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
        total: usize,
        writes: impl Iterator<Item = Write_>,
        mut on_success: impl FnMut(&mut Journal, &Write_, &Value) -> Result<(), SyncError>,
    ) -> Result<usize, SyncError> {
        if total == 0 {
            return Ok(0);
        }
        let mut progress = Progress::new(self.opts.progress, action, total);
        let mut ok = 0usize;
        let mut stop: Option<ClientError> = None;
        if let Some((max_ops, max_payload)) = self.opts.bulk {
            let chunks = BulkChunks::new(writes, max_ops.clamp(1, 1000), max_payload);
            let client = self.client.clone();
            let mut results = futures_util::stream::iter(chunks.map(|mut chunk| {
                let client = client.clone();
                async move {
                    // The bodies move into the request (what follows needs keys and weights).
                    let ops: Vec<Value> = chunk
                        .iter_mut()
                        .enumerate()
                        .map(|(i, w)| {
                            let mut op = json!({"method": w.method.as_str(), "path": w.path, "bulkId": format!("b{i}")});
                            if let (Some(b), Some(o)) = (w.body.take(), op.as_object_mut()) {
                                o.insert("data".into(), b);
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
            let mut results = futures_util::stream::iter(writes.map(|w| {
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

    /// Applies the plan kept in the workspace (`counts`: its numbers).
    pub async fn apply(&mut self, ws: &Workspace, counts: &PlanCounts) -> Result<(), SyncError> {
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
        let result = self.apply_phases(ws, counts).await;
        let s = self.client.stats();
        self.report.requests =
            s.requests.load(std::sync::atomic::Ordering::Relaxed) - stats_before.0;
        self.report.retries = s.retries.load(std::sync::atomic::Ordering::Relaxed) - stats_before.1;
        self.report.throttled =
            s.throttled.load(std::sync::atomic::Ordering::Relaxed) - stats_before.2;
        self.report.seconds = start.elapsed().as_secs_f64();
        result
    }

    async fn apply_phases(&mut self, ws: &Workspace, counts: &PlanCounts) -> Result<(), SyncError> {
        let err = Mutex::new(None);
        let failed = |err: &Mutex<Option<SyncError>>| {
            err.lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .map_or(Ok(()), Err)
        };
        let doc = |text: Option<String>| -> Result<Value, SyncError> {
            serde_json::from_str(text.as_deref().unwrap_or("null"))
                .map_err(|e| SyncError::Workspace(format!("a stored document: {e}")))
        };
        let patch_body = |text: Option<String>| -> Result<Value, SyncError> {
            Ok(patch::body(&ops_from_json(
                text.as_deref().unwrap_or("[]"),
            )?))
        };
        // 1. User creates.
        let writes = rows(ws, Phase::Creates, &err).map_while(|r| {
            ok_or_record(
                &err,
                doc(r.b).map(|body| Write_ {
                    key: r.a,
                    method: Method::POST,
                    path: "/Users".into(),
                    body: Some(body),
                    weight: 1,
                }),
            )
        });
        self.report.created = self
            .phase("create users", counts.creates, writes, |j, w, body| {
                if let Some(id) = id_of(body) {
                    j.created_user(&w.key, &id)?;
                    ws.created_user(&w.key, &id)?;
                }
                Ok(())
            })
            .await?;
        failed(&err)?;
        // 2. User updates.
        let writes = rows(ws, Phase::UserUpdates, &err).map_while(|r| {
            let id = r.c.unwrap_or_default();
            ok_or_record(
                &err,
                patch_body(r.b).map(|body| Write_ {
                    key: r.a,
                    method: Method::PATCH,
                    path: format!("/Users/{id}"),
                    body: Some(body),
                    weight: 1,
                }),
            )
        });
        self.report.updated = self
            .phase("update users", counts.updates, writes, |_, _, _| Ok(()))
            .await?;
        failed(&err)?;
        // 3. Group creates (without members) and updates.
        let writes = rows(ws, Phase::GroupCreates, &err).map_while(|r| {
            ok_or_record(
                &err,
                doc(r.b).map(|body| Write_ {
                    key: r.a,
                    method: Method::POST,
                    path: "/Groups".into(),
                    body: Some(body),
                    weight: 1,
                }),
            )
        });
        self.report.groups_created = self
            .phase(
                "create groups",
                counts.group_creates,
                writes,
                |j, w, body| {
                    if let Some(id) = id_of(body) {
                        j.created_group(&w.key, &id)?;
                        ws.created_group(&w.key, &id)?;
                    }
                    Ok(())
                },
            )
            .await?;
        failed(&err)?;
        let writes = rows(ws, Phase::GroupUpdates, &err).map_while(|r| {
            let id = r.c.unwrap_or_default();
            ok_or_record(
                &err,
                patch_body(r.b).map(|body| Write_ {
                    key: r.a,
                    method: Method::PATCH,
                    path: format!("/Groups/{id}"),
                    body: Some(body),
                    weight: 1,
                }),
            )
        });
        self.report.groups_updated = self
            .phase("update groups", counts.group_updates, writes, |_, _, _| {
                Ok(())
            })
            .await?;
        failed(&err)?;
        // 4. Memberships, in batches (a group whose create failed is left out: reported there).
        let batch = self.opts.batch.max(1);
        for add in [true, false] {
            let total = ws.phase_total(Phase::Members(add))?;
            let writes = MemberBatches {
                rows: rows(ws, Phase::Members(add), &err).peekable(),
                batch,
                add,
            };
            let action = if add { "add members" } else { "remove members" };
            let done = self.phase(action, total, writes, |_, _, _| Ok(())).await?;
            if add {
                self.report.members_added = done;
            } else {
                self.report.members_removed = done;
            }
            failed(&err)?;
        }
        // 5. Leavers.
        let writes = rows(ws, Phase::Leavers(false), &err).map(|r| Write_ {
            key: r.a,
            method: Method::PATCH,
            path: format!("/Users/{}", r.b.unwrap_or_default()),
            body: Some(patch::body(&[PatchOp::replace(
                "active",
                Value::Bool(false),
            )])),
            weight: 1,
        });
        self.report.deactivated = self
            .phase(
                "deactivate users",
                counts.deactivations,
                writes,
                |_, _, _| Ok(()),
            )
            .await?;
        failed(&err)?;
        let writes = rows(ws, Phase::Leavers(true), &err).map(|r| {
            let id = r.b.unwrap_or_default();
            Write_ {
                path: if r.a.starts_with("group:") {
                    format!("/Groups/{id}")
                } else {
                    format!("/Users/{id}")
                },
                key: r.a,
                method: Method::DELETE,
                body: None,
                weight: 1,
            }
        });
        self.report.deleted = self
            .phase("delete", counts.deletes, writes, |_, _, _| Ok(()))
            .await?;
        failed(&err)?;
        Ok(())
    }
}

/// Rows of a phase read back from the workspace a page at a time; a read error is put in
/// `err` and ends the rows.
fn rows<'a>(
    ws: &'a Workspace,
    phase: Phase,
    err: &'a Mutex<Option<SyncError>>,
) -> impl Iterator<Item = Row> + 'a {
    const PAGE: usize = 500;
    let mut after = 0i64;
    let mut buf = std::collections::VecDeque::new();
    let mut done = false;
    std::iter::from_fn(move || {
        if buf.is_empty() && !done {
            match ws.page(phase, after, PAGE) {
                Ok(page) => {
                    done = page.len() < PAGE;
                    if let Some((n, _)) = page.last() {
                        after = *n;
                    }
                    buf.extend(page.into_iter().map(|(_, r)| r));
                }
                Err(e) => {
                    *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    done = true;
                }
            }
        }
        buf.pop_front()
    })
}

fn ok_or_record<T>(err: &Mutex<Option<SyncError>>, r: Result<T, SyncError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            None
        }
    }
}

/// Membership rows (group name, group id, user id) as PATCHes of up to `batch` members
/// of one group each.
struct MemberBatches<I: Iterator<Item = Row>> {
    rows: std::iter::Peekable<I>,
    batch: usize,
    add: bool,
}

impl<I: Iterator<Item = Row>> Iterator for MemberBatches<I> {
    type Item = Write_;

    fn next(&mut self) -> Option<Write_> {
        let first = self.rows.next()?;
        let gid = first.b.clone().unwrap_or_default();
        let mut ids = vec![first.c.unwrap_or_default()];
        while ids.len() < self.batch {
            match self.rows.peek() {
                Some(r) if r.a == first.a && r.b.as_deref() == Some(gid.as_str()) => {
                    if let Some(r) = self.rows.next() {
                        ids.push(r.c.unwrap_or_default());
                    }
                }
                _ => break,
            }
        }
        let ops = if self.add {
            vec![PatchOp::add_members(ids.iter().map(String::as_str))]
        } else {
            ids.iter().map(|id| PatchOp::remove_member(id)).collect()
        };
        Some(Write_ {
            key: first.a,
            method: Method::PATCH,
            path: format!("/Groups/{gid}"),
            body: Some(patch::body(&ops)),
            weight: ids.len(),
        })
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
/// `maxOperations`, at most 1000) and 90% of `max_payload`, as they are pulled.
struct BulkChunks<I: Iterator<Item = Write_>> {
    writes: I,
    next: Option<(Write_, usize)>,
    max_ops: usize,
    budget: usize,
}

impl<I: Iterator<Item = Write_>> BulkChunks<I> {
    fn new(writes: I, max_ops: usize, max_payload: usize) -> BulkChunks<I> {
        BulkChunks {
            writes,
            next: None,
            max_ops,
            budget: max_payload.saturating_mul(9) / 10,
        }
    }
}

fn bulk_size(w: &Write_) -> usize {
    w.body.as_ref().map(|b| b.to_string().len()).unwrap_or(0) + w.path.len() + 80
}

impl<I: Iterator<Item = Write_>> Iterator for BulkChunks<I> {
    type Item = Vec<Write_>;

    fn next(&mut self) -> Option<Vec<Write_>> {
        let mut cur = Vec::new();
        let mut size = 200usize;
        loop {
            let (w, s) = match self.next.take() {
                Some(x) => x,
                None => match self.writes.next() {
                    Some(w) => {
                        let s = bulk_size(&w);
                        (w, s)
                    }
                    None => break,
                },
            };
            if !cur.is_empty() && (cur.len() >= self.max_ops || size + s > self.budget) {
                self.next = Some((w, s));
                break;
            }
            size += s;
            cur.push(w);
        }
        (!cur.is_empty()).then_some(cur)
    }
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
            BulkChunks::new(writes.into_iter(), 3, 1 << 20)
                .map(|c| c.len())
                .collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let big: Vec<_> = (0..4).map(|_| w(400)).collect();
        assert_eq!(BulkChunks::new(big.into_iter(), 100, 1200).count(), 4);
        assert_eq!(bulk_status(Some(&json!("201"))), Some(201));
        assert_eq!(bulk_status(Some(&json!({"code": 409}))), Some(409));
    }
}
