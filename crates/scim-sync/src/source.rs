//! Sources of truth: CSV and JSON Lines files, or another SCIM server. Each gives the
//! desired users and groups as SCIM resources, every row with its line number; rows that
//! cannot be mapped are reported and skipped (or stop the run, with `strict`).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use scim_client::{Client, ListParams, Paging};
use scim_mapping::{Fields, Kind, Mapping, Record, Resource, ScimPath, Section};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::SyncError;

/// Which attribute pairs source and target users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MatchKey {
    /// `externalId`: the source's own id of the user.
    #[serde(rename = "externalId")]
    ExternalId,
    /// `userName`, compared ignoring case.
    #[serde(rename = "userName")]
    UserName,
}

impl MatchKey {
    /// The attribute's name.
    pub fn attr(self) -> &'static str {
        match self {
            MatchKey::ExternalId => "externalId",
            MatchKey::UserName => "userName",
        }
    }

    /// The key of a resource, normalised (`userName` is compared ignoring case).
    pub fn of(self, resource: &Value) -> Option<String> {
        let v = resource.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(self.attr()))
                .map(|(_, v)| v)
        })?;
        let s = match v {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(match self {
            MatchKey::UserName => s.to_lowercase(),
            MatchKey::ExternalId => s,
        })
    }
}

/// Where the source is.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// CSV (`.csv`) or JSON Lines (`.jsonl`, `.ndjson`, `.json`) files.
    Files {
        /// The users file.
        users: Option<PathBuf>,
        /// The groups file.
        groups: Option<PathBuf>,
    },
    /// Another SCIM server: all its users and groups.
    Scim {
        /// A client of the source server.
        client: Client,
        /// How to page through its lists (`None`: cursors when offered).
        paging: Option<Paging>,
    },
}

/// A source row that was not used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The file (or server) it came from.
    pub source: String,
    /// Its line (1-based).
    pub line: u64,
    /// Why it was not used.
    pub reason: String,
}

/// One desired user.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredUser {
    /// The file (or server) it came from.
    pub source: String,
    /// Its line (1-based).
    pub line: u64,
    /// Its match key.
    pub key: String,
    /// The user as it should be on the target.
    pub resource: Value,
}

/// One desired group, its members named by user key.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredGroup {
    /// Its line (1-based).
    pub line: u64,
    /// Its `displayName`.
    pub name: String,
    /// The group as it should be on the target (without members).
    pub resource: Value,
    /// Its members' match keys.
    pub members: Vec<String>,
}

/// Where the source's rows go, one at a time (the plan workspace: [`crate::workspace`]),
/// so that the source is never held in memory as a whole.
pub trait Sink {
    /// The source has users at all (a groups-only run deactivates nobody).
    fn has_users(&mut self);
    /// A mapped user; `false` when a user with the same key came earlier (the row is then
    /// reported as skipped by the reader).
    fn user(&mut self, u: DesiredUser) -> Result<bool, SyncError>;
    /// A mapped group; `false` when a group of the same name came earlier.
    fn group(&mut self, g: DesiredGroup) -> Result<bool, SyncError>;
    /// A row that was not used.
    fn skipped(&mut self, s: Skipped) -> Result<(), SyncError>;
    /// A source server's user id and the key its user got (for its groups' members).
    fn source_id(&mut self, id: &str, key: &str) -> Result<(), SyncError>;
    /// The key of a source server's user, by its id.
    fn key_of_source_id(&mut self, id: &str) -> Result<Option<String>, SyncError>;
}

/// How rows become resources.
pub struct Reader<'a> {
    /// The mapping file (`None`: columns are SCIM attribute paths).
    pub mapping: Option<&'a Mapping>,
    /// Which attribute pairs users.
    pub key: MatchKey,
    /// Stop at the first row that cannot be mapped (default: skip it and report it).
    pub strict: bool,
}

fn file_kind(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "csv" => "csv",
        _ => "jsonl",
    }
}

/// A file's row: (line, record), or why it is not one.
type Row = Result<(u64, Record), Skipped>;

/// Reads a file's rows one at a time, handing each to `f`.
fn for_each_row(
    path: &Path,
    mut f: impl FnMut(Row) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let name = path.display().to_string();
    let open_err = |e: std::io::Error| SyncError::Source(format!("{name}: {e}"));
    if file_kind(path) == "csv" {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::Headers)
            .from_path(path)
            .map_err(|e| SyncError::Source(format!("{name}: {e}")))?;
        let headers = rdr
            .headers()
            .map_err(|e| SyncError::Source(format!("{name}: header line: {e}")))?
            .clone();
        let mut r = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut r) {
                Ok(false) => break,
                Ok(true) => {
                    let line = r.position().map(|p| p.line()).unwrap_or(0);
                    let mut out = Record::new();
                    for (h, v) in headers.iter().zip(r.iter()) {
                        out.insert(h, Value::String(v.to_string()));
                    }
                    f(Ok((line, out)))?;
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                    f(Err(Skipped {
                        source: name.clone(),
                        line,
                        reason: format!("not a CSV row: {e}"),
                    }))?;
                    if io {
                        return Err(SyncError::Source(format!("{name}: {e}")));
                    }
                }
            }
        }
    } else {
        let file = std::fs::File::open(path).map_err(open_err)?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let n = i as u64 + 1;
            let line = line.map_err(open_err)?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&line) {
                Ok(Value::Object(m)) => f(Ok((n, Record(m))))?,
                Ok(_) => f(Err(Skipped {
                    source: name.clone(),
                    line: n,
                    reason: "not a JSON object".into(),
                }))?,
                Err(e) => f(Err(Skipped {
                    source: name.clone(),
                    line: n,
                    reason: format!("not JSON: {e}"),
                }))?,
            }
        }
    }
    Ok(())
}

/// Without a mapping file: each column names a SCIM attribute path (`userName`,
/// `name.givenName`, `emails[type eq "work"].value`, extension URNs); empty cells set
/// nothing; `active` and `primary` text becomes a boolean. A JSON Lines object is taken as
/// the resource itself.
fn direct(kind: Kind, rec: &Record) -> Result<Value, String> {
    let mut out = Map::new();
    let mut schemas = vec![Value::String(kind.core_schema().into())];
    for (k, v) in &rec.0 {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let v = match v {
            Value::String(s) if s.is_empty() => continue,
            Value::Null => continue,
            v => v.clone(),
        };
        let path = ScimPath::parse(k).map_err(|e| format!("column '{k}': {e}"))?;
        let lname = path
            .sub
            .as_deref()
            .unwrap_or(&path.attr)
            .to_ascii_lowercase();
        let v = match (&v, lname.as_str()) {
            (Value::String(s), "active" | "primary") => {
                match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "y" => Value::Bool(true),
                    "false" | "no" | "0" | "n" => Value::Bool(false),
                    _ => return Err(format!("{k}: '{s}' is not a boolean")),
                }
            }
            _ => v,
        };
        if let Some(urn) = &path.urn
            && !schemas.iter().any(|s| s == urn.as_str())
        {
            schemas.push(Value::String(urn.clone()));
        }
        path.set(&mut out, v);
    }
    if let Some(Value::Array(given)) = rec.0.get("schemas") {
        for s in given {
            if !schemas.contains(s) {
                schemas.push(s.clone());
            }
        }
    }
    let mut res = Map::new();
    res.insert("schemas".into(), Value::Array(schemas));
    res.extend(out);
    Ok(Value::Object(res))
}

fn map_with(
    section: Option<&Section>,
    kind: Kind,
    input: &dyn Fields,
    rec: Option<&Record>,
) -> Result<Value, String> {
    match (section, rec) {
        (Some(s), _) => s.to_resource(input).map_err(|e| e.to_string()),
        (None, Some(r)) => direct(kind, r),
        (None, None) => Err("no mapping".into()),
    }
}

/// Member keys named by a group's `members`: text (`a;b`), a list of texts, or a list of
/// `{"value": key}`.
fn member_keys(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s
            .split([';', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn take_ci(res: &mut Value, name: &str) -> Option<Value> {
    let obj = res.as_object_mut()?;
    let key = obj.keys().find(|k| k.eq_ignore_ascii_case(name))?.clone();
    obj.remove(&key)
}

fn str_ci(res: &Value, name: &str) -> Option<String> {
    res.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_string)
}

impl Reader<'_> {
    fn skip(&self, out: &mut (dyn Sink + Send), s: Skipped) -> Result<(), SyncError> {
        if self.strict {
            return Err(SyncError::Source(format!(
                "{}:{}: {}",
                s.source, s.line, s.reason
            )));
        }
        tracing::warn!(source = %s.source, line = s.line, reason = %s.reason, "source row skipped");
        out.skipped(s)
    }

    /// Hands a mapped user to the sink; its key when the sink took it.
    fn add_user(
        &self,
        out: &mut (dyn Sink + Send),
        source: &str,
        line: u64,
        res: Result<Value, String>,
    ) -> Result<Option<String>, SyncError> {
        let skipped = |reason: String| Skipped {
            source: source.into(),
            line,
            reason,
        };
        let res = match res {
            Ok(r) => r,
            Err(reason) => return self.skip(out, skipped(reason)).map(|_| None),
        };
        let Some(key) = self.key.of(&res) else {
            let reason = format!("no {} (the match key)", self.key.attr());
            return self.skip(out, skipped(reason)).map(|_| None);
        };
        if str_ci(&res, "userName").is_none_or(|u| u.trim().is_empty()) {
            return self.skip(out, skipped("no userName".into())).map(|_| None);
        }
        let taken = out.user(DesiredUser {
            source: source.to_string(),
            line,
            key: key.clone(),
            resource: res,
        })?;
        if !taken {
            let reason = format!(
                "{} '{key}' appears twice; the first row is used",
                self.key.attr()
            );
            return self.skip(out, skipped(reason)).map(|_| None);
        }
        Ok(Some(key))
    }

    fn add_group(
        &self,
        out: &mut (dyn Sink + Send),
        source: &str,
        line: u64,
        res: Result<Value, String>,
        extra_members: Option<Vec<String>>,
    ) -> Result<(), SyncError> {
        let skipped = |reason: String| Skipped {
            source: source.into(),
            line,
            reason,
        };
        let mut res = match res {
            Ok(r) => r,
            Err(reason) => return self.skip(out, skipped(reason)),
        };
        let mut members = member_keys(take_ci(&mut res, "members"));
        if members.is_empty() {
            members = extra_members.unwrap_or_default();
        }
        let Some(name) = str_ci(&res, "displayName").filter(|n| !n.trim().is_empty()) else {
            return self.skip(out, skipped("no displayName".into()));
        };
        let taken = out.group(DesiredGroup {
            line,
            name: name.clone(),
            resource: res,
            members,
        })?;
        if !taken {
            return self.skip(out, skipped(format!("group '{name}' appears twice")));
        }
        Ok(())
    }

    /// Reads the whole source, row by row, into `out`.
    pub async fn read(
        &self,
        spec: &SourceSpec,
        out: &mut (dyn Sink + Send),
    ) -> Result<(), SyncError> {
        let user_map = self.mapping.and_then(|m| m.section(Kind::User));
        let group_map = self.mapping.and_then(|m| m.section(Kind::Group));
        match spec {
            SourceSpec::Files { users, groups } => {
                if let Some(p) = users {
                    out.has_users();
                    let name = p.display().to_string();
                    for_each_row(p, |row| match row {
                        Err(s) => self.skip(out, s),
                        Ok((line, rec)) => {
                            let res = map_with(user_map, Kind::User, &rec, Some(&rec));
                            self.add_user(out, &name, line, res).map(drop)
                        }
                    })?;
                }
                if let Some(p) = groups {
                    let name = p.display().to_string();
                    for_each_row(p, |row| match row {
                        Err(s) => self.skip(out, s),
                        Ok((line, mut rec)) => {
                            // Without a mapping, `members` is a list of keys, not a path.
                            let members = if group_map.is_none() {
                                Some(member_keys(rec.0.remove("members")))
                            } else {
                                None
                            };
                            let res = map_with(group_map, Kind::Group, &rec, Some(&rec));
                            self.add_group(out, &name, line, res, members)
                        }
                    })?;
                }
            }
            SourceSpec::Scim { client, paging } => {
                out.has_users();
                let source = client.base_url().to_string();
                let paging = match paging {
                    Some(p) => *p,
                    None => match client.service_provider_config().await {
                        Ok(spc) if spc.cursor => Paging::Cursor,
                        _ => Paging::Index,
                    },
                };
                let params = ListParams {
                    count: Some(200),
                    ..ListParams::default()
                };
                let mut pager = client.pager("/Users", params.clone(), paging);
                let mut n = 0u64;
                while let Some(page) = pager.next_page().await.map_err(SyncError::SourceServer)? {
                    for src in page {
                        n += 1;
                        let source_id = str_ci(&src, "id");
                        let res = match user_map {
                            Some(s) => s.to_resource(&Resource(&src)).map_err(|e| e.to_string()),
                            None => Ok(copy_resource(&src, self.key)),
                        };
                        let key = self.add_user(out, &source, n, res)?;
                        if let (Some(id), Some(key)) = (source_id, key) {
                            out.source_id(&id, &key)?;
                        }
                    }
                }
                let mut pager = client.pager("/Groups", params, paging);
                let mut n = 0u64;
                while let Some(page) = pager.next_page().await.map_err(SyncError::SourceServer)? {
                    for src in page {
                        n += 1;
                        let mut members = Vec::new();
                        for id in src
                            .get("members")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m.get("value").and_then(Value::as_str))
                        {
                            if let Some(k) = out.key_of_source_id(id)? {
                                members.push(k);
                            }
                        }
                        let res = match group_map {
                            Some(s) => s.to_resource(&Resource(&src)).map_err(|e| e.to_string()),
                            None => {
                                let mut c = copy_resource(&src, MatchKey::UserName);
                                take_ci(&mut c, "members");
                                Ok(c)
                            }
                        };
                        self.add_group(out, &source, n, res, Some(members))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A resource of another server as a desired resource: without `id`, `meta`, `groups` and
/// other server-computed values; with the source id as `externalId` when it has none (so a
/// copy can be matched again on the next run).
fn copy_resource(src: &Value, key: MatchKey) -> Value {
    let mut c = src.clone();
    let id = str_ci(src, "id");
    for k in ["id", "meta", "groups", "password"] {
        take_ci(&mut c, k);
    }
    if key == MatchKey::ExternalId
        && str_ci(&c, "externalId").is_none()
        && let (Some(id), Some(o)) = (id, c.as_object_mut())
    {
        o.insert("externalId".into(), Value::String(id));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_columns_are_paths() {
        let mut r = Record::new();
        r.insert("userName", json!("a@x"));
        r.insert("emails[type eq \"work\"].value", json!("a@x"));
        r.insert("active", json!("No"));
        r.insert("title", json!(""));
        r.insert(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            json!("R"),
        );
        let v = direct(Kind::User, &r);
        assert_eq!(
            v,
            Ok(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "a@x",
                "emails": [{"type": "work", "value": "a@x"}],
                "active": false,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R"}
            }))
        );
        r.insert("active", json!("perhaps"));
        assert!(direct(Kind::User, &r).is_err());
    }

    #[test]
    fn keys_and_members() {
        assert_eq!(
            MatchKey::UserName.of(&json!({"UserName": "A@X"})),
            Some("a@x".into())
        );
        assert_eq!(MatchKey::ExternalId.of(&json!({"externalId": ""})), None);
        assert_eq!(member_keys(Some(json!("a; b,,c"))), vec!["a", "b", "c"]);
        assert_eq!(
            member_keys(Some(json!([{"value": "x"}, "y", 3]))),
            vec!["x", "y", "3"]
        );
        let c = copy_resource(
            &json!({"id": "9", "userName": "u", "meta": {}, "groups": []}),
            MatchKey::ExternalId,
        );
        assert_eq!(c, json!({"userName": "u", "externalId": "9"}));
    }
}
