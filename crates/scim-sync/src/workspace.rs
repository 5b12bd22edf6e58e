//! The plan workspace: a temporary SQLite file that holds the source (mapped and
//! validated), the target as read, and the plan computed from them, so that a run's memory
//! does not grow with the directory's size. Source rows are streamed into it, the target
//! is paged into it, the plan is computed by joins (and [`crate::plan::diff`] row by row),
//! and the apply phases read their writes back from it a page at a time. The file lives in
//! a temporary directory that is removed when the workspace is dropped (a completed run, a
//! failed one, or a run cut short).
//!
//! What stays in memory: counts, the set of attribute names the source produces, a page of
//! rows at a time, and SQLite's page cache (bounded, [`CACHE_KIB`]).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use scim_client::PatchOp;
use serde_json::{Map, Value};

use crate::SyncError;
use crate::plan::{
    Create, GroupCreate, Leaver, LeaverPolicy, MemberRef, Membership, Plan, PlanOptions, Update,
    diff, get_ci, is_active, text,
};
use crate::source::{DesiredGroup, DesiredUser, MatchKey, Sink, Skipped};
use crate::validate::Schemas;

/// SQLite's page cache of the workspace, in KiB: the bound on what the workspace keeps in
/// memory whatever the source's size.
pub const CACHE_KIB: i64 = 8 * 1024;

const SCHEMA: &str = "
CREATE TABLE seen_user (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE du (n INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, line INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE dg (n INTEGER PRIMARY KEY, lname TEXT NOT NULL UNIQUE, name TEXT NOT NULL, line INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE dm (lname TEXT NOT NULL, key TEXT NOT NULL, pos INTEGER NOT NULL, raw TEXT NOT NULL, PRIMARY KEY (lname, key)) WITHOUT ROWID;
CREATE TABLE skipped (n INTEGER PRIMARY KEY, source TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE sid (id TEXT PRIMARY KEY, key TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE tu (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, key TEXT, doc TEXT NOT NULL, active INTEGER NOT NULL, user_name TEXT NOT NULL);
CREATE TABLE tk (key TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX tk_id ON tk (id);
CREATE TABLE tg (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, lname TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE tgn (lname TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE tm (gid TEXT NOT NULL, uid TEXT NOT NULL, PRIMARY KEY (gid, uid)) WITHOUT ROWID;
CREATE TABLE p_create (n INTEGER PRIMARY KEY, key TEXT NOT NULL, line INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE p_update (n INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, ops TEXT NOT NULL);
CREATE TABLE p_group_create (n INTEGER PRIMARY KEY, name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE p_member (n INTEGER PRIMARY KEY, lname TEXT NOT NULL, grp TEXT NOT NULL, gid TEXT, op TEXT NOT NULL, key TEXT NOT NULL, id TEXT);
CREATE TABLE p_leaver (n INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, user_name TEXT NOT NULL);
CREATE INDEX p_leaver_id ON p_leaver (id);
CREATE TABLE created_user (key TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE created_group (lname TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
";

fn db_err(e: rusqlite::Error) -> SyncError {
    SyncError::Workspace(e.to_string())
}

fn json_err(e: serde_json::Error) -> SyncError {
    SyncError::Workspace(format!("a stored document: {e}"))
}

/// How many items of each kind a plan holds (everything the summary, the delete guard
/// and the progress lines need).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Users to create.
    pub creates: usize,
    /// Users to update.
    pub updates: usize,
    /// Groups to create.
    pub group_creates: usize,
    /// Groups to update.
    pub group_updates: usize,
    /// Groups whose members change.
    pub memberships: usize,
    /// Memberships added.
    pub member_adds: usize,
    /// Memberships removed.
    pub member_removes: usize,
    /// Users to deactivate.
    pub deactivations: usize,
    /// Users (and groups) to delete.
    pub deletes: usize,
    /// Source rows not used.
    pub skipped: usize,
    /// Distinct member keys that name no source user.
    pub unknown_members: usize,
    /// Users the target holds with a match key.
    pub managed_users: usize,
    /// Why leavers were held back, when they were.
    pub leavers_held: Option<String>,
}

impl PlanCounts {
    /// True when applying the plan writes nothing.
    pub fn is_empty(&self) -> bool {
        self.creates == 0
            && self.updates == 0
            && self.group_creates == 0
            && self.group_updates == 0
            && self.memberships == 0
            && self.deactivations == 0
            && self.deletes == 0
    }
}

/// The workspace file and its connection (behind a mutex: never held across an await).
pub struct Workspace {
    conn: Mutex<Connection>,
    key: MatchKey,
    // Declared last: the directory is removed after the connection is closed.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("dir", &self._dir.path())
            .finish()
    }
}

/// The source as loaded: what the plan and the target's read need to know of it.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The source had users at all (a groups-only run deactivates nobody).
    pub has_users: bool,
    /// The source had groups at all.
    pub has_groups: bool,
    /// Top-level attribute names the source's users carry.
    pub user_attrs: BTreeSet<String>,
    /// Top-level attribute names the source's groups carry.
    pub group_attrs: BTreeSet<String>,
}

/// Receives the source's rows into the workspace, validating them against the target's
/// schemas on the way (see [`crate::validate`]).
pub struct Loader<'a> {
    ws: &'a Workspace,
    schemas: Option<&'a Schemas>,
    unknown: BTreeSet<String>,
    loaded: Loaded,
}

impl Workspace {
    /// Creates an empty workspace in a new temporary directory under `dir` (the system's
    /// temporary directory when `None`).
    pub fn create(dir: Option<&Path>, key: MatchKey) -> Result<Workspace, SyncError> {
        let parent = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        remove_stale(&parent);
        let prefix = format!("{PREFIX}{}-", std::process::id());
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .map_err(|e| SyncError::Workspace(format!("temporary directory: {e}")))?;
        let conn = Connection::open(tmp.path().join("plan.db")).map_err(db_err)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE; \
             PRAGMA cache_size = -{CACHE_KIB}; {SCHEMA} BEGIN;"
        ))
        .map_err(db_err)?;
        Ok(Workspace {
            conn: Mutex::new(conn),
            key,
            _dir: tmp,
        })
    }

    /// The directory holding the workspace file (removed on drop).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves nothing half-written that matters: the
        // workspace is thrown away with the run.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A loader of source rows, validating against `schemas` when given.
    pub fn loader<'a>(&'a self, schemas: Option<&'a Schemas>) -> Loader<'a> {
        Loader {
            ws: self,
            schemas: schemas.filter(|s| !s.is_empty()),
            unknown: BTreeSet::new(),
            loaded: Loaded::default(),
        }
    }

    /// Adds a page of the target's users.
    pub fn add_target_users(&self, page: &[Value]) -> Result<(), SyncError> {
        let conn = self.conn();
        let mut ins = conn
            .prepare_cached(
                "INSERT OR REPLACE INTO tu (id, key, doc, active, user_name) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?;
        let mut key_ins = conn
            .prepare_cached("INSERT OR REPLACE INTO tk (key, id) VALUES (?1, ?2)")
            .map_err(db_err)?;
        for u in page {
            let Some(id) = u.get("id").and_then(Value::as_str) else {
                continue;
            };
            let key = self.key.of(u);
            ins.execute(params![
                id,
                key,
                u.to_string(),
                is_active(u),
                text(u, "userName")
            ])
            .map_err(db_err)?;
            if let Some(k) = key {
                key_ins.execute(params![k, id]).map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Adds a page of the target's groups (their members to a table of their own).
    pub fn add_target_groups(&self, page: Vec<Value>) -> Result<(), SyncError> {
        let conn = self.conn();
        let mut ins = conn
            .prepare_cached(
                "INSERT OR REPLACE INTO tg (id, lname, name, doc) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db_err)?;
        let mut by_name = conn
            .prepare_cached("INSERT OR REPLACE INTO tgn (lname, id) VALUES (?1, ?2)")
            .map_err(db_err)?;
        let mut member = conn
            .prepare_cached("INSERT OR IGNORE INTO tm (gid, uid) VALUES (?1, ?2)")
            .map_err(db_err)?;
        for mut g in page {
            let Some(id) = g.get("id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let members = g.as_object_mut().and_then(|o| {
                let k = o
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("members"))?
                    .clone();
                o.remove(&k)
            });
            for m in members
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(uid) = m.get("value").and_then(Value::as_str) {
                    member.execute(params![id, uid]).map_err(db_err)?;
                }
            }
            let name = text(&g, "displayName");
            let lname = name.to_lowercase();
            ins.execute(params![id, lname, name, g.to_string()])
                .map_err(db_err)?;
            by_name.execute(params![lname, id]).map_err(db_err)?;
        }
        Ok(())
    }

    /// Whether the target's list showed a user with this id.
    pub fn has_target_user(&self, id: &str) -> Result<bool, SyncError> {
        self.conn()
            .query_row("SELECT 1 FROM tu WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(db_err)
    }

    /// A user an interrupted run created (from the state file): the listed user gets its
    /// match key when the target did not return it.
    pub fn journal_key(&self, id: &str, key: &str) -> Result<(), SyncError> {
        let conn = self.conn();
        let doc: Option<String> = conn
            .query_row(
                "SELECT doc FROM tu WHERE id = ?1 AND key IS NULL",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        if let Some(doc) = doc {
            let mut v: Value = serde_json::from_str(&doc).map_err(json_err)?;
            if let Some(o) = v.as_object_mut() {
                o.entry(self.key.attr())
                    .or_insert(Value::String(key.to_string()));
            }
            conn.execute(
                "UPDATE tu SET key = ?2, doc = ?3 WHERE id = ?1",
                params![id, key, v.to_string()],
            )
            .map_err(db_err)?;
            conn.execute(
                "INSERT OR REPLACE INTO tk (key, id) VALUES (?1, ?2)",
                params![key, id],
            )
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// Computes the plan into the workspace; returns its counts.
    pub fn plan(&self, opts: &PlanOptions, has_users: bool) -> Result<PlanCounts, SyncError> {
        let conn = self.conn();
        let mut counts = PlanCounts {
            managed_users: count(&conn, "SELECT count(*) FROM tk")?,
            skipped: count(&conn, "SELECT count(*) FROM skipped")?,
            ..PlanCounts::default()
        };
        // Users: creates and updates, in source order.
        {
            let mut rows = conn
                .prepare(
                    "SELECT du.key, du.line, du.doc, tk.id, tu.doc FROM du \
                     LEFT JOIN tk ON tk.key = du.key LEFT JOIN tu ON tu.id = tk.id ORDER BY du.n",
                )
                .map_err(db_err)?;
            let mut rows = rows.query([]).map_err(db_err)?;
            let mut create = conn
                .prepare("INSERT INTO p_create (key, line, doc) VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            let mut update = conn
                .prepare("INSERT INTO p_update (kind, key, id, ops) VALUES ('user', ?1, ?2, ?3)")
                .map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                let key: String = r.get(0).map_err(db_err)?;
                let id: Option<String> = r.get(3).map_err(db_err)?;
                let cur: Option<String> = r.get(4).map_err(db_err)?;
                match (id, cur) {
                    (Some(id), Some(cur)) => {
                        let d: Value =
                            serde_json::from_str(&r.get::<_, String>(2).map_err(db_err)?)
                                .map_err(json_err)?;
                        let c: Value = serde_json::from_str(&cur).map_err(json_err)?;
                        let mut ops = diff(&d, &c);
                        let says_active =
                            d.as_object().is_some_and(|o| get_ci(o, "active").is_some());
                        if !says_active && !is_active(&c) {
                            // Back in the source: reactivate.
                            ops.push(PatchOp::replace("active", Value::Bool(true)));
                        }
                        if !ops.is_empty() {
                            update
                                .execute(params![key, id, ops_json(&ops)])
                                .map_err(db_err)?;
                            counts.updates += 1;
                        }
                    }
                    _ => {
                        let line: i64 = r.get(1).map_err(db_err)?;
                        let doc: String = r.get(2).map_err(db_err)?;
                        create.execute(params![key, line, doc]).map_err(db_err)?;
                        counts.creates += 1;
                    }
                }
            }
        }
        // Leavers: managed target users the source does not have.
        if has_users && opts.leavers != LeaverPolicy::Ignore {
            if counts.skipped > 0 && !opts.allow_partial {
                counts.leavers_held = Some(format!(
                    "{} source rows were skipped; a skipped row may be a user who has not left (fix the rows, or pass --allow-partial)",
                    counts.skipped
                ));
            } else {
                let (kind, all) = match opts.leavers {
                    LeaverPolicy::Delete => ("delete", true),
                    _ => ("deactivate", false),
                };
                let n = conn
                    .execute(
                        "INSERT INTO p_leaver (kind, key, id, user_name) \
                         SELECT ?1, tk.key, tk.id, tu.user_name FROM tk JOIN tu ON tu.id = tk.id \
                         WHERE NOT EXISTS (SELECT 1 FROM du WHERE du.key = tk.key) \
                         AND (?2 OR tu.active) ORDER BY tk.key",
                        params![kind, all],
                    )
                    .map_err(db_err)?;
                if all {
                    counts.deletes = n;
                } else {
                    counts.deactivations = n;
                }
            }
        }
        // Groups, matched by displayName (ignoring case), and their members.
        {
            let mut groups = conn
                .prepare(
                    "SELECT dg.lname, dg.name, dg.doc, tgn.id, tg.doc, tg.name FROM dg \
                     LEFT JOIN tgn ON tgn.lname = dg.lname LEFT JOIN tg ON tg.id = tgn.id ORDER BY dg.n",
                )
                .map_err(db_err)?;
            let mut groups = groups.query([]).map_err(db_err)?;
            let mut adds_new = conn
                .prepare(
                    "INSERT INTO p_member (lname, grp, gid, op, key, id) \
                     SELECT ?1, ?2, NULL, 'add', dm.key, tk.id FROM dm JOIN du ON du.key = dm.key \
                     LEFT JOIN tk ON tk.key = dm.key WHERE dm.lname = ?1 ORDER BY dm.pos",
                )
                .map_err(db_err)?;
            let mut adds = conn
                .prepare(
                    "INSERT INTO p_member (lname, grp, gid, op, key, id) \
                     SELECT ?1, ?2, ?3, 'add', dm.key, tk.id FROM dm JOIN du ON du.key = dm.key \
                     LEFT JOIN tk ON tk.key = dm.key WHERE dm.lname = ?1 \
                     AND (tk.id IS NULL OR NOT EXISTS (SELECT 1 FROM tm WHERE tm.gid = ?3 AND tm.uid = tk.id)) \
                     ORDER BY dm.pos",
                )
                .map_err(db_err)?;
            // Only managed users are removed; other members (groups, users the source
            // does not manage) are left alone.
            let mut removes = conn
                .prepare(
                    "INSERT INTO p_member (lname, grp, gid, op, key, id) \
                     SELECT ?1, ?2, ?3, 'remove', tk.key, tm.uid FROM tm \
                     JOIN tu ON tu.id = tm.uid JOIN tk ON tk.id = tm.uid WHERE tm.gid = ?3 \
                     AND (NOT EXISTS (SELECT 1 FROM dm WHERE dm.lname = ?1 AND dm.key = tk.key) \
                          OR EXISTS (SELECT 1 FROM p_leaver WHERE p_leaver.id = tm.uid)) \
                     ORDER BY tk.key",
                )
                .map_err(db_err)?;
            let mut group_create = conn
                .prepare("INSERT INTO p_group_create (name, doc) VALUES (?1, ?2)")
                .map_err(db_err)?;
            let mut group_update = conn
                .prepare("INSERT INTO p_update (kind, key, id, ops) VALUES ('group', ?1, ?2, ?3)")
                .map_err(db_err)?;
            while let Some(r) = groups.next().map_err(db_err)? {
                let lname: String = r.get(0).map_err(db_err)?;
                let name: String = r.get(1).map_err(db_err)?;
                let doc: String = r.get(2).map_err(db_err)?;
                let gid: Option<String> = r.get(3).map_err(db_err)?;
                let cur: Option<String> = r.get(4).map_err(db_err)?;
                let changed = match (gid, cur) {
                    (Some(gid), Some(cur)) => {
                        let a = adds.execute(params![lname, name, gid]).map_err(db_err)?;
                        let rm = removes.execute(params![lname, name, gid]).map_err(db_err)?;
                        counts.member_adds += a;
                        counts.member_removes += rm;
                        let cur_name: String = r.get(5).map_err(db_err)?;
                        let d: Value = serde_json::from_str(&doc).map_err(json_err)?;
                        let c: Value = serde_json::from_str(&cur).map_err(json_err)?;
                        let mut ops = diff(&d, &c);
                        ops.retain(|o| {
                            o.path.as_deref() != Some("displayName")
                                || !cur_name.eq_ignore_ascii_case(&name)
                        });
                        if !ops.is_empty() {
                            group_update
                                .execute(params![name, gid, ops_json(&ops)])
                                .map_err(db_err)?;
                            counts.group_updates += 1;
                        }
                        a + rm > 0
                    }
                    _ => {
                        group_create.execute(params![name, doc]).map_err(db_err)?;
                        counts.group_creates += 1;
                        let a = adds_new.execute(params![lname, name]).map_err(db_err)?;
                        counts.member_adds += a;
                        a > 0
                    }
                };
                if changed {
                    counts.memberships += 1;
                }
            }
        }
        counts.unknown_members = count(
            &conn,
            "SELECT count(DISTINCT raw) FROM dm WHERE NOT EXISTS (SELECT 1 FROM du WHERE du.key = dm.key)",
        )?;
        if opts.delete_groups {
            counts.deletes += conn
                .execute(
                    "INSERT INTO p_leaver (kind, key, id, user_name) \
                     SELECT 'delete', 'group:' || tg.name, tg.id, tg.name FROM tg \
                     WHERE NOT EXISTS (SELECT 1 FROM dg WHERE dg.lname = tg.lname) ORDER BY tg.n",
                    [],
                )
                .map_err(db_err)?;
        }
        Ok(counts)
    }

    /// The first `limit` items of each kind, for the summary (all of them when `None`).
    pub fn items(&self, counts: &PlanCounts, limit: Option<usize>) -> Result<Plan, SyncError> {
        let conn = self.conn();
        let lim = limit.map(|l| l as i64).unwrap_or(-1);
        let mut plan = Plan {
            managed_users: counts.managed_users,
            leavers_held: counts.leavers_held.clone(),
            ..Plan::default()
        };
        let mut st = conn
            .prepare("SELECT key, line, doc FROM p_create ORDER BY n LIMIT ?1")
            .map_err(db_err)?;
        let mut rows = st.query([lim]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            plan.creates.push(Create {
                key: r.get(0).map_err(db_err)?,
                line: r.get::<_, i64>(1).map_err(db_err)? as u64,
                resource: serde_json::from_str(&r.get::<_, String>(2).map_err(db_err)?)
                    .map_err(json_err)?,
            });
        }
        for (kind, out) in [
            ("user", &mut plan.updates),
            ("group", &mut plan.group_updates),
        ] {
            let mut st = conn
                .prepare("SELECT key, id, ops FROM p_update WHERE kind = ?1 ORDER BY n LIMIT ?2")
                .map_err(db_err)?;
            let mut rows = st.query(params![kind, lim]).map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(Update {
                    key: r.get(0).map_err(db_err)?,
                    id: r.get(1).map_err(db_err)?,
                    operations: ops_from_json(&r.get::<_, String>(2).map_err(db_err)?)?,
                });
            }
        }
        let mut st = conn
            .prepare("SELECT name, doc FROM p_group_create ORDER BY n LIMIT ?1")
            .map_err(db_err)?;
        let mut rows = st.query([lim]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            plan.group_creates.push(GroupCreate {
                name: r.get(0).map_err(db_err)?,
                resource: serde_json::from_str(&r.get::<_, String>(1).map_err(db_err)?)
                    .map_err(json_err)?,
            });
        }
        // Memberships: the first `limit` groups, each with all of its member changes.
        let mut st = conn
            .prepare("SELECT lname, grp, gid FROM p_member GROUP BY lname ORDER BY min(n) LIMIT ?1")
            .map_err(db_err)?;
        let mut members = conn
            .prepare("SELECT op, key, id FROM p_member WHERE lname = ?1 ORDER BY n")
            .map_err(db_err)?;
        let mut rows = st.query([lim]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let lname: String = r.get(0).map_err(db_err)?;
            let mut m = Membership {
                group: r.get(1).map_err(db_err)?,
                group_id: r.get(2).map_err(db_err)?,
                add: Vec::new(),
                remove: Vec::new(),
            };
            let mut ms = members.query([&lname]).map_err(db_err)?;
            while let Some(x) = ms.next().map_err(db_err)? {
                let op: String = x.get(0).map_err(db_err)?;
                let r = MemberRef {
                    key: x.get(1).map_err(db_err)?,
                    id: x.get(2).map_err(db_err)?,
                };
                if op == "add" {
                    m.add.push(r);
                } else {
                    m.remove.push(r);
                }
            }
            plan.memberships.push(m);
        }
        for (kind, out) in [
            ("deactivate", &mut plan.deactivations),
            ("delete", &mut plan.deletes),
        ] {
            let mut st = conn
                .prepare(
                    "SELECT key, id, user_name FROM p_leaver WHERE kind = ?1 ORDER BY n LIMIT ?2",
                )
                .map_err(db_err)?;
            let mut rows = st.query(params![kind, lim]).map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                out.push(Leaver {
                    key: r.get(0).map_err(db_err)?,
                    id: r.get(1).map_err(db_err)?,
                    user_name: r.get(2).map_err(db_err)?,
                });
            }
        }
        let mut st = conn
            .prepare("SELECT source, line, reason FROM skipped ORDER BY n LIMIT ?1")
            .map_err(db_err)?;
        let mut rows = st.query([lim]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            plan.skipped.push(Skipped {
                source: r.get(0).map_err(db_err)?,
                line: r.get::<_, i64>(1).map_err(db_err)? as u64,
                reason: r.get(2).map_err(db_err)?,
            });
        }
        let mut st = conn
            .prepare(
                "SELECT DISTINCT raw FROM dm WHERE NOT EXISTS (SELECT 1 FROM du WHERE du.key = dm.key) \
                 ORDER BY raw LIMIT ?1",
            )
            .map_err(db_err)?;
        let mut rows = st.query([lim]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            plan.unknown_members.push(r.get(0).map_err(db_err)?);
        }
        Ok(plan)
    }

    /// Writes the plan as JSON (the same document as [`Plan`]'s serialisation, one item
    /// per line), reading it a page at a time.
    pub fn write_json(
        &self,
        counts: &PlanCounts,
        w: &mut dyn std::io::Write,
    ) -> Result<(), SyncError> {
        let io = |e: std::io::Error| SyncError::Workspace(format!("writing the plan: {e}"));
        let conn = self.conn();
        let list = |w: &mut dyn std::io::Write,
                    name: &str,
                    sql: &str,
                    args: &[&dyn rusqlite::ToSql],
                    item: &dyn Fn(&rusqlite::Row<'_>) -> Result<Value, SyncError>|
         -> Result<(), SyncError> {
            write!(w, "  \"{name}\": [").map_err(io)?;
            let mut st = conn.prepare(sql).map_err(db_err)?;
            let mut rows = st.query(args).map_err(db_err)?;
            let mut first = true;
            while let Some(r) = rows.next().map_err(db_err)? {
                write!(w, "{}\n    {}", if first { "" } else { "," }, item(r)?).map_err(io)?;
                first = false;
            }
            writeln!(w, "{}],", if first { "" } else { "\n  " }).map_err(io)?;
            Ok(())
        };
        let s = |r: &rusqlite::Row<'_>, i: usize| r.get::<_, String>(i).map_err(db_err);
        let doc = |r: &rusqlite::Row<'_>, i: usize| -> Result<Value, SyncError> {
            serde_json::from_str(&r.get::<_, String>(i).map_err(db_err)?).map_err(json_err)
        };
        writeln!(w, "{{").map_err(io)?;
        list(
            w,
            "creates",
            "SELECT key, line, doc FROM p_create ORDER BY n",
            &[],
            &|r| {
                Ok(
                    serde_json::json!({"key": s(r, 0)?, "line": r.get::<_, i64>(1).map_err(db_err)?, "resource": doc(r, 2)?}),
                )
            },
        )?;
        for (name, kind) in [
            ("updates", "user"),
            ("group_creates", ""),
            ("group_updates", "group"),
        ] {
            if name == "group_creates" {
                list(
                    w,
                    name,
                    "SELECT name, doc FROM p_group_create ORDER BY n",
                    &[],
                    &|r| Ok(serde_json::json!({"name": s(r, 0)?, "resource": doc(r, 1)?})),
                )?;
                continue;
            }
            list(
                w,
                name,
                "SELECT key, id, ops FROM p_update WHERE kind = ?1 ORDER BY n",
                &[&kind],
                &|r| {
                    Ok(
                        serde_json::json!({"key": s(r, 0)?, "id": s(r, 1)?, "operations": doc(r, 2)?}),
                    )
                },
            )?;
        }
        // Memberships: one object per group, its members streamed.
        write!(w, "  \"memberships\": [").map_err(io)?;
        {
            let mut st = conn
                .prepare("SELECT lname, grp, gid, op, key, id FROM p_member ORDER BY n")
                .map_err(db_err)?;
            let mut rows = st.query([]).map_err(db_err)?;
            let mut cur: Option<String> = None;
            let mut in_remove = false;
            let mut first_member = true;
            let mut first_group = true;
            let close = |w: &mut dyn std::io::Write, in_remove: bool| -> std::io::Result<()> {
                if in_remove {
                    write!(w, "]}}")
                } else {
                    write!(w, "], \"remove\": []}}")
                }
            };
            while let Some(r) = rows.next().map_err(db_err)? {
                let lname = s(r, 0)?;
                let op = s(r, 3)?;
                if cur.as_deref() != Some(lname.as_str()) {
                    if cur.is_some() {
                        close(w, in_remove).map_err(io)?;
                    }
                    let mut head = Map::new();
                    head.insert("group".into(), Value::String(s(r, 1)?));
                    if let Some(gid) = r.get::<_, Option<String>>(2).map_err(db_err)? {
                        head.insert("group_id".into(), Value::String(gid));
                    }
                    let head = Value::Object(head).to_string();
                    write!(
                        w,
                        "{}\n    {}, \"add\": [",
                        if first_group { "" } else { "," },
                        &head[..head.len() - 1]
                    )
                    .map_err(io)?;
                    first_group = false;
                    first_member = true;
                    in_remove = false;
                    cur = Some(lname);
                }
                if op == "remove" && !in_remove {
                    write!(w, "], \"remove\": [").map_err(io)?;
                    in_remove = true;
                    first_member = true;
                }
                let mut m = Map::new();
                m.insert("key".into(), Value::String(s(r, 4)?));
                if let Some(id) = r.get::<_, Option<String>>(5).map_err(db_err)? {
                    m.insert("id".into(), Value::String(id));
                }
                write!(
                    w,
                    "{}{}",
                    if first_member { "" } else { ", " },
                    Value::Object(m)
                )
                .map_err(io)?;
                first_member = false;
            }
            if cur.is_some() {
                close(w, in_remove).map_err(io)?;
                write!(w, "\n  ").map_err(io)?;
            }
        }
        writeln!(w, "],").map_err(io)?;
        for (name, kind) in [("deactivations", "deactivate"), ("deletes", "delete")] {
            list(
                w,
                name,
                "SELECT key, id, user_name FROM p_leaver WHERE kind = ?1 ORDER BY n",
                &[&kind],
                &|r| Ok(serde_json::json!({"key": s(r, 0)?, "id": s(r, 1)?, "userName": s(r, 2)?})),
            )?;
        }
        list(
            w,
            "skipped",
            "SELECT source, line, reason FROM skipped ORDER BY n",
            &[],
            &|r| {
                Ok(
                    serde_json::json!({"source": s(r, 0)?, "line": r.get::<_, i64>(1).map_err(db_err)?, "reason": s(r, 2)?}),
                )
            },
        )?;
        list(
            w,
            "unknown_members",
            "SELECT DISTINCT raw FROM dm WHERE NOT EXISTS (SELECT 1 FROM du WHERE du.key = dm.key) ORDER BY raw",
            &[],
            &|r| Ok(Value::String(s(r, 0)?)),
        )?;
        write!(w, "  \"managed_users\": {}", counts.managed_users).map_err(io)?;
        if let Some(h) = &counts.leavers_held {
            write!(w, ",\n  \"leavers_held\": {}", Value::String(h.clone())).map_err(io)?;
        }
        writeln!(w, "\n}}").map_err(io)?;
        Ok(())
    }

    /// Records a user this run created (the membership phase resolves its id here).
    pub fn created_user(&self, key: &str, id: &str) -> Result<(), SyncError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO created_user (key, id) VALUES (?1, ?2)",
                params![key, id],
            )
            .map(drop)
            .map_err(db_err)
    }

    /// Records a group this run created.
    pub fn created_group(&self, name: &str, id: &str) -> Result<(), SyncError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO created_group (lname, id) VALUES (?1, ?2)",
                params![name.to_lowercase(), id],
            )
            .map(drop)
            .map_err(db_err)
    }

    /// A page of a phase's rows after row `after`, as `(n, row)`.
    pub(crate) fn page(
        &self,
        phase: Phase,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Row)>, SyncError> {
        let conn = self.conn();
        let (sql, arg): (&str, &str) = match phase {
            Phase::Creates => (
                "SELECT n, key, doc, NULL FROM p_create WHERE n > ?1 ORDER BY n LIMIT ?2",
                "",
            ),
            Phase::UserUpdates => (
                "SELECT n, key, ops, id FROM p_update WHERE n > ?1 AND kind = ?3 ORDER BY n LIMIT ?2",
                "user",
            ),
            Phase::GroupCreates => (
                "SELECT n, name, doc, NULL FROM p_group_create WHERE n > ?1 ORDER BY n LIMIT ?2",
                "",
            ),
            Phase::GroupUpdates => (
                "SELECT n, key, ops, id FROM p_update WHERE n > ?1 AND kind = ?3 ORDER BY n LIMIT ?2",
                "group",
            ),
            Phase::Members(add) => (
                "SELECT m.n, m.grp, COALESCE(m.gid, cg.id), COALESCE(m.id, cu.id) FROM p_member m \
                 LEFT JOIN created_group cg ON cg.lname = m.lname LEFT JOIN created_user cu ON cu.key = m.key \
                 WHERE m.n > ?1 AND m.op = ?3 AND COALESCE(m.gid, cg.id) IS NOT NULL \
                 AND COALESCE(m.id, cu.id) IS NOT NULL ORDER BY m.n LIMIT ?2",
                if add { "add" } else { "remove" },
            ),
            Phase::Leavers(delete) => (
                "SELECT n, key, id, NULL FROM p_leaver WHERE n > ?1 AND kind = ?3 ORDER BY n LIMIT ?2",
                if delete { "delete" } else { "deactivate" },
            ),
        };
        let mut st = conn.prepare_cached(sql).map_err(db_err)?;
        let n_params = st.parameter_count();
        let mut rows = if n_params == 3 {
            st.query(params![after, limit as i64, arg])
        } else {
            st.query(params![after, limit as i64])
        }
        .map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_err)? {
            out.push((
                r.get(0).map_err(db_err)?,
                Row {
                    a: r.get(1).map_err(db_err)?,
                    b: r.get(2).map_err(db_err)?,
                    c: r.get(3).map_err(db_err)?,
                },
            ));
        }
        Ok(out)
    }

    /// How many rows a phase has (members: those whose user and group ids are known now).
    pub(crate) fn phase_total(&self, phase: Phase) -> Result<usize, SyncError> {
        let conn = self.conn();
        let sql = match phase {
            Phase::Members(add) => format!(
                "SELECT count(*) FROM p_member m \
                 LEFT JOIN created_group cg ON cg.lname = m.lname LEFT JOIN created_user cu ON cu.key = m.key \
                 WHERE m.op = '{}' AND COALESCE(m.gid, cg.id) IS NOT NULL AND COALESCE(m.id, cu.id) IS NOT NULL",
                if add { "add" } else { "remove" }
            ),
            _ => return Err(SyncError::Workspace("no total for this phase".into())),
        };
        count(&conn, &sql)
    }
}

/// The phases whose writes are read back from the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Creates,
    UserUpdates,
    GroupCreates,
    GroupUpdates,
    /// `true`: additions; `false`: removals.
    Members(bool),
    /// `true`: deletes; `false`: deactivations.
    Leavers(bool),
}

/// One row of a phase: (key, document or id, id) — see [`Workspace::page`].
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub a: String,
    pub b: Option<String>,
    pub c: Option<String>,
}

const PREFIX: &str = "scim-sync-plan-";

/// Removes the workspaces of runs that were killed (SIGKILL leaves no chance to clean up):
/// directories named after a process that no longer exists. Only where `/proc` tells.
fn remove_stale(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn count(conn: &Connection, sql: &str) -> Result<usize, SyncError> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as usize)
        .map_err(db_err)
}

fn ops_json(ops: &[PatchOp]) -> String {
    Value::Array(ops.iter().map(PatchOp::to_json).collect()).to_string()
}

/// PATCH operations back from their JSON (as [`ops_json`] wrote them).
pub(crate) fn ops_from_json(s: &str) -> Result<Vec<PatchOp>, SyncError> {
    let v: Vec<Value> = serde_json::from_str(s).map_err(json_err)?;
    Ok(v.into_iter()
        .map(|o| PatchOp {
            op: match o.get("op").and_then(Value::as_str) {
                Some("add") => "add",
                Some("remove") => "remove",
                _ => "replace",
            },
            path: o.get("path").and_then(Value::as_str).map(str::to_string),
            value: o.get("value").cloned(),
        })
        .collect())
}

impl Loader<'_> {
    /// Ends loading: an attribute the target's schemas do not know is an error for the
    /// whole run (a mapping or column mistake, the same for every row).
    pub fn finish(self) -> Result<Loaded, SyncError> {
        if !self.unknown.is_empty() {
            return Err(SyncError::Mapping(format!(
                "the target's /Schemas have no attribute {}",
                self.unknown.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(self.loaded)
    }
}

impl Sink for Loader<'_> {
    fn has_users(&mut self) {
        self.loaded.has_users = true;
    }

    fn user(&mut self, u: DesiredUser) -> Result<bool, SyncError> {
        let conn = self.ws.conn();
        let fresh = conn
            .prepare_cached("INSERT OR IGNORE INTO seen_user (key) VALUES (?1)")
            .and_then(|mut s| s.execute([&u.key]))
            .map_err(db_err)?
            == 1;
        if !fresh {
            return Ok(false);
        }
        if let Some(o) = u.resource.as_object() {
            for k in o.keys() {
                if !self.loaded.user_attrs.contains(k) {
                    self.loaded.user_attrs.insert(k.clone());
                }
            }
        }
        if let Some(s) = self.schemas {
            s.unknown_user(&u.resource, &mut self.unknown);
            if let Some(reason) = s.user_type_error(&u.resource) {
                conn.prepare_cached(
                    "INSERT INTO skipped (source, line, reason) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        u.source,
                        u.line as i64,
                        format!("user '{}': {reason}", u.key)
                    ])
                })
                .map_err(db_err)?;
                return Ok(true);
            }
        }
        conn.prepare_cached("INSERT INTO du (key, line, doc) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![u.key, u.line as i64, u.resource.to_string()]))
            .map_err(db_err)?;
        Ok(true)
    }

    fn group(&mut self, g: DesiredGroup) -> Result<bool, SyncError> {
        let key = self.ws.key;
        let conn = self.ws.conn();
        let lname = g.name.to_lowercase();
        let fresh = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO dg (lname, name, line, doc) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    lname,
                    g.name,
                    g.line as i64,
                    g.resource.to_string()
                ])
            })
            .map_err(db_err)?
            == 1;
        if !fresh {
            return Ok(false);
        }
        self.loaded.has_groups = true;
        if let Some(o) = g.resource.as_object() {
            for k in o.keys() {
                if !self.loaded.group_attrs.contains(k) {
                    self.loaded.group_attrs.insert(k.clone());
                }
            }
        }
        if let Some(s) = self.schemas {
            s.unknown_group(&g.resource, &mut self.unknown);
        }
        let mut ins = conn
            .prepare_cached(
                "INSERT OR IGNORE INTO dm (lname, key, pos, raw) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db_err)?;
        for (i, m) in g.members.iter().enumerate() {
            let k = match key {
                MatchKey::UserName => m.to_lowercase(),
                MatchKey::ExternalId => m.clone(),
            };
            ins.execute(params![lname, k, i as i64, m])
                .map_err(db_err)?;
        }
        Ok(true)
    }

    fn skipped(&mut self, s: Skipped) -> Result<(), SyncError> {
        self.ws
            .conn()
            .prepare_cached("INSERT INTO skipped (source, line, reason) VALUES (?1, ?2, ?3)")
            .and_then(|mut st| st.execute(params![s.source, s.line as i64, s.reason]))
            .map(drop)
            .map_err(db_err)
    }

    fn source_id(&mut self, id: &str, key: &str) -> Result<(), SyncError> {
        self.ws
            .conn()
            .prepare_cached("INSERT OR REPLACE INTO sid (id, key) VALUES (?1, ?2)")
            .and_then(|mut st| st.execute(params![id, key]))
            .map(drop)
            .map_err(db_err)
    }

    fn key_of_source_id(&mut self, id: &str) -> Result<Option<String>, SyncError> {
        self.ws
            .conn()
            .prepare_cached("SELECT key FROM sid WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .map_err(db_err)
    }
}
