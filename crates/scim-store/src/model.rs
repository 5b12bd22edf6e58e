//! The data the store keeps and the operations it performs, independent of the backend.

use serde_json::{Map, Value};

/// A tenant: one customer connection, with its own base URL, tokens and directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The store's internal id of the tenant.
    pub id: i64,
    /// The URL-safe name used in the tenant's base URL (`/scim/v2/{name}`).
    pub name: String,
    /// Random and fixed at creation: tells this tenant apart from an earlier or later
    /// tenant of the same name (event ids include it, so they never repeat).
    pub uid: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// What DELETE does to its resources.
    pub delete_mode: DeleteMode,
    /// How long soft-deleted resources stay restorable, in days.
    pub retention_days: i64,
}

/// What DELETE does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Remove the resource for good (its change records stay).
    Hard,
    /// Hide the resource; an admin can restore it within the retention window.
    Soft,
}

impl DeleteMode {
    /// `hard` or `soft`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteMode::Hard => "hard",
            DeleteMode::Soft => "soft",
        }
    }
    /// Reads `hard` or `soft`.
    pub fn parse(s: &str) -> Option<DeleteMode> {
        match s {
            "hard" => Some(DeleteMode::Hard),
            "soft" => Some(DeleteMode::Soft),
            _ => None,
        }
    }
}

/// A bearer token's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's id (the part of the bearer token between `scim_` and the secret).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: i64,
    /// Recorded with every change it makes.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it stops working (`None`: never).
    pub expires: Option<String>,
    /// When it was revoked (`None`: not revoked).
    pub revoked: Option<String>,
    /// What it may do.
    pub scope: crate::TokenScope,
    /// When the token was last used, to the minute (recorded at most once a minute per
    /// token and instance; `None` if never).
    pub last_used: Option<String>,
}

/// Who is making a write, for the change record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The token's id.
    pub token_id: Option<String>,
    /// The token's name.
    pub token_name: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

/// A resource as stored: the canonical attributes (no `id`, no `meta`, no externally kept
/// members) and the store-managed metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// `User`, `Group`, or a custom resource type's name.
    pub resource_type: String,
    /// The resource's id (a UUIDv7).
    pub id: String,
    /// Increases by one on every write; the ETag is `W/"{version}"`.
    pub version: i64,
    /// `meta.created` (RFC 3339).
    pub created: String,
    /// `meta.lastModified` (RFC 3339).
    pub last_modified: String,
    /// The canonical attributes.
    pub data: Map<String, Value>,
    /// The members of a group, when they were asked for.
    pub members: Option<Vec<Member>>,
    /// The groups the resource belongs to (directly or through nested groups), when they
    /// were asked for.
    pub groups: Option<Vec<GroupMembership>>,
}

/// A group that a resource belongs to, directly or through nested groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembership {
    /// The group's id.
    pub group_id: String,
    /// The group's `displayName`.
    pub display: Option<String>,
    /// Whether the resource is a member of the group itself (not through a nested group).
    pub direct: bool,
}

/// What a read loads besides the resource itself, in the same snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    /// The members of a group (skip them when `members` is not returned: they are
    /// proportional to the group).
    pub members: bool,
    /// The groups a resource belongs to (a user's `groups`).
    pub groups: bool,
}

impl Include {
    /// The resource alone.
    pub const NOTHING: Include = Include {
        members: false,
        groups: false,
    };
    /// The resource and its members.
    pub const MEMBERS: Include = Include {
        members: true,
        groups: false,
    };
}

impl StoredResource {
    /// The weak entity tag of this version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// Whether an `If-Match` / `If-None-Match` header value names this version: `*`, or a
    /// comma-separated list of tags compared weakly (`W/"3"`, `"3"` and `3` are the same).
    pub fn matches_etag(&self, header: &str) -> bool {
        let current = self.version.to_string();
        header
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current)
    }
}

/// One member of a group, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id.
    pub value: String,
    /// `User` or `Group`: the member's resource type; `None` for an id that is not a
    /// resource of the tenant (accepted as sent, see [`MemberRef`]).
    pub kind: Option<String>,
    /// The display text the client sent, else the member's current display name.
    pub display: Option<String>,
}

/// The members of a group, read in chunks from the same snapshot as the group itself while
/// the answer is being sent, so that a reader holds a few chunks in memory instead of the
/// whole list. Dropping the stream ends the read.
#[derive(Debug)]
pub struct MemberStream {
    pub(crate) chunks: tokio::sync::mpsc::Receiver<Result<Vec<Member>, crate::StoreError>>,
    /// Chunks taken from the channel by [`MemberStream::fill`] and not handed out yet.
    pub(crate) buffered: std::collections::VecDeque<Vec<Member>>,
}

impl MemberStream {
    /// The next chunk of members (in member id order), `None` after the last one. An error
    /// ends the stream.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<Member>, crate::StoreError>> {
        match self.buffered.pop_front() {
            Some(chunk) => Some(Ok(chunk)),
            None => self.chunks.recv().await,
        }
    }

    /// Reads ahead until more than `limit` members are buffered or the stream has ended;
    /// `true` when every member is buffered (at most `limit` of them).
    pub async fn fill(&mut self, limit: usize) -> Result<bool, crate::StoreError> {
        let mut n: usize = self.buffered.iter().map(Vec::len).sum();
        while n <= limit {
            match self.chunks.recv().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    n += chunk.len();
                    self.buffered.push_back(chunk);
                }
                None => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The members buffered by [`MemberStream::fill`], in order.
    pub fn take_buffered(&mut self) -> Vec<Member> {
        self.buffered.drain(..).flatten().collect()
    }
}

impl Member {
    /// The member as a `members` element: `value`, `$ref` (for users and groups, with the
    /// tenant's base URL), `display`, `type`.
    pub fn to_json(&self, base_url: Option<&str>) -> Value {
        let mut el = Map::new();
        el.insert("value".into(), Value::String(self.value.clone()));
        let endpoint = match self.kind.as_deref() {
            Some("User") => Some("Users"),
            Some("Group") => Some("Groups"),
            _ => None,
        };
        if let (Some(base), Some(ep)) = (base_url, endpoint) {
            el.insert(
                "$ref".into(),
                Value::String(format!("{base}/{ep}/{}", self.value)),
            );
        }
        if let Some(d) = &self.display {
            el.insert("display".into(), Value::String(d.clone()));
        }
        if let Some(kind) = &self.kind {
            el.insert("type".into(), Value::String(kind.clone()));
        }
        Value::Object(el)
    }
}

/// A reference to a member as a client sent it. Ids that are not resources of the tenant
/// are kept as sent (identity providers push memberships of users whose own push failed,
/// and conformance suites add made-up ids); they are shown with the `type` the client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// The `type` the client gave.
    pub kind: Option<String>,
    /// The `display` the client gave.
    pub display: Option<String>,
}

/// A predicate over a member element (`{"value":…, "type":…, "display":…}`).
pub type MemberPredicate = std::sync::Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// One change to a group's member list, applied in order, in time proportional to the
/// members named, not to the group's size.
#[derive(Clone)]
pub enum MemberOp {
    /// Add these members (members already there stay as they are).
    Add(Vec<MemberRef>),
    /// Remove the members with these ids.
    Remove(Vec<String>),
    /// Remove the members for which the predicate holds (evaluated on member rows).
    RemoveWhere(MemberPredicate),
    /// Remove every member.
    RemoveAll,
    /// Replace the member list with this one.
    ReplaceAll(Vec<MemberRef>),
}

impl std::fmt::Debug for MemberOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberOp::Add(m) => f.debug_tuple("Add").field(m).finish(),
            MemberOp::Remove(m) => f.debug_tuple("Remove").field(m).finish(),
            MemberOp::RemoveWhere(_) => f.write_str("RemoveWhere(..)"),
            MemberOp::RemoveAll => f.write_str("RemoveAll"),
            MemberOp::ReplaceAll(m) => f.debug_tuple("ReplaceAll").field(m).finish(),
        }
    }
}

/// The new state of a resource computed from its current state.
#[derive(Debug, Default)]
pub struct Update {
    /// The resource's new canonical attributes.
    pub data: Map<String, Value>,
    /// Canonical paths of the attributes that changed (for the change record).
    pub changed: Vec<String>,
    /// Changes to a group's member rows, in order.
    pub members: Vec<MemberOp>,
    /// The update changes only members (row by row) and leaves the document as it was: it
    /// applies as it is to a later version of the resource too, so a membership PATCH that
    /// races with another write is not recomputed (concurrent member PATCHes of one group
    /// never wait on each other's computation, and never lose each other's members).
    pub members_only: bool,
}

/// Computes an [`Update`] from the current resource. The store calls it on a snapshot,
/// outside any transaction and off the SQLite writer (a slow or failing computation holds
/// no lock, no connection and no other tenant's writes), then writes the result only if
/// the resource is still at the version it was computed from; otherwise it calls it
/// again on the newer version. It may therefore run more than once.
///
/// A large computation — a request marked [`UpdateFn::large`], or a resource
/// [`is_large`] — runs on a blocking thread, not on the async runtime's worker: a PATCH
/// replacing 1,000 emails takes milliseconds of CPU, and every request waiting on that
/// worker (any tenant's, reads included) would wait that long (issue 11). Small ones, the
/// usual PATCH, run where they are called, without the hand-over.
#[derive(Clone)]
pub struct UpdateFn {
    compute: UpdateCompute,
    large: bool,
}

type UpdateCompute =
    std::sync::Arc<dyn Fn(&StoredResource) -> Result<Update, scim_core::ScimError> + Send + Sync>;

impl UpdateFn {
    /// The computation `f`, taken as small.
    pub fn new(
        f: impl Fn(&StoredResource) -> Result<Update, scim_core::ScimError> + Send + Sync + 'static,
    ) -> UpdateFn {
        UpdateFn {
            compute: std::sync::Arc::new(f),
            large: false,
        }
    }

    /// The same computation, taken as large when `large` (the request carries many values:
    /// see [`is_large`]), so that it runs on a blocking thread whatever the resource's size.
    pub fn large(mut self, large: bool) -> UpdateFn {
        self.large = large;
        self
    }

    /// Whether the request was marked large.
    pub fn marked_large(&self) -> bool {
        self.large
    }

    /// The new state of `current`.
    pub fn apply(&self, current: &StoredResource) -> Result<Update, scim_core::ScimError> {
        (self.compute)(current)
    }
}

impl std::fmt::Debug for UpdateFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateFn")
            .field("large", &self.large)
            .finish_non_exhaustive()
    }
}

/// JSON values (objects, arrays and scalars, nested ones included) from which a document or
/// a request counts as large: its computation runs on a blocking thread ([`UpdateFn`]). A
/// user as identity providers send it holds 30 to 80; the computation costs about a
/// microsecond per value, so the hand-over (tens of microseconds) is a small part of it.
pub const LARGE_VALUES: usize = 256;

/// Whether `values` hold at least [`LARGE_VALUES`] JSON values in all; stops counting there.
pub fn is_large<'a>(values: impl IntoIterator<Item = &'a Value>) -> bool {
    // Every value on the stack is counted in the end, so a count of those seen plus those
    // waiting decides as soon as it reaches the bound: a wide array is never copied whole.
    let mut stack: Vec<&Value> = Vec::new();
    let mut seen = 0usize;
    for v in values {
        if seen + stack.len() + 1 >= LARGE_VALUES {
            return true;
        }
        stack.push(v);
    }
    while let Some(v) = stack.pop() {
        seen += 1;
        // How many more values fit under the bound.
        let room = LARGE_VALUES.saturating_sub(seen + stack.len());
        match v {
            Value::Array(items) if items.len() < room => stack.extend(items),
            Value::Object(fields) if fields.len() < room => stack.extend(fields.values()),
            Value::Array(_) | Value::Object(_) => return true,
            _ if room == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Which attributes of a resource type are indexed for fast lookup and uniqueness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedAttr {
    /// Canonical path, e.g. `userName`, `emails.value`, `urn:…:User:employeeNumber`.
    pub path: String,
    /// Values are folded to lower case (the attribute is not caseExact).
    pub fold_case: bool,
    /// A second resource with the same (folded) value is rejected with 409 `uniqueness`.
    pub unique: bool,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// How many resources match (across every page).
    pub total_results: u64,
    /// The resources of this page.
    pub resources: Vec<StoredResource>,
    /// Opaque cursor of the next page (RFC 9865), when cursor pagination was used.
    pub next_cursor: Option<String>,
}

/// One entry of a tenant's change log.
///
/// A write appends one or more records in its own transaction, with consecutive `seq`s:
/// one for the change of the resource's attributes (when they changed), and changes of a
/// group's members in records of their own, at most [`MEMBERS_PER_RECORD`] members each,
/// added and removed apart. A members record has `changed == ["members"]`, no `before`,
/// and the group's attributes as `after` when the write knew them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Orders all changes of a tenant; strictly increasing in commit order.
    pub seq: i64,
    /// The tenant.
    pub tenant_id: i64,
    /// The resource's type.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// What the client did: `create`, `replace`, `patch`, `delete`, `restore`.
    pub operation: String,
    /// Canonical paths of the attributes that changed.
    pub changed: Vec<String>,
    /// The resource before the change (`None` for a create and for members records).
    pub before: Option<Value>,
    /// The resource after the change (`None` for a delete).
    pub after: Option<Value>,
    /// Members added to a group.
    pub members_added: Vec<RecordedMember>,
    /// Members removed from a group.
    pub members_removed: Vec<RecordedMember>,
    /// The resource's version after the change (`None` in records written before it was
    /// kept, and for members removed from a group by the deletion of the member).
    pub version: Option<i64>,
    /// When the resource was created (`None` where `version` is).
    pub created: Option<String>,
    /// What else a reader must know of the change: `{"deleteMode": "soft"|"hard"}` on a
    /// delete. Empty when there is nothing.
    pub detail: Map<String, Value>,
    /// Who made the change.
    pub actor: Actor,
    /// When it was committed (RFC 3339).
    pub at: String,
}

/// Most members one change record names; larger member changes take several records.
pub const MEMBERS_PER_RECORD: usize = 1000;

impl ChangeRecord {
    /// Whether this record is a change of a group's members (and of nothing else).
    pub fn is_members_change(&self) -> bool {
        self.changed.len() == 1
            && self.changed[0] == "members"
            && self.before.is_none()
            && (!self.members_added.is_empty() || !self.members_removed.is_empty())
    }
}

/// A member added to or removed from a group, as the change log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedMember {
    /// The member's id.
    pub value: String,
    /// The member's resource type (`User`, `Group`), when it is a resource of the tenant.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl RecordedMember {
    /// Reads a stored list: objects `{"value", "type"}`, or plain ids (records written
    /// before member types were kept).
    pub(crate) fn parse_list(text: &str) -> Result<Vec<RecordedMember>, serde_json::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Id(String),
            Member(RecordedMember),
        }
        let items: Vec<Stored> = serde_json::from_str(text)?;
        Ok(items
            .into_iter()
            .map(|s| match s {
                Stored::Id(value) => RecordedMember { value, kind: None },
                Stored::Member(m) => m,
            })
            .collect())
    }
}

impl StoredResource {
    /// The full canonical resource: `schemas`, `id`, the attributes, `members` (when loaded)
    /// and `meta`. With `base_url` (the tenant's SCIM base URL), `meta.location` and each
    /// member's `$ref` are filled in.
    pub fn to_json(&self, endpoint: &str, base_url: Option<&str>) -> Map<String, Value> {
        self.clone().into_json(endpoint, base_url)
    }

    /// [`StoredResource::to_json`], moving the attributes instead of copying them.
    pub fn into_json(self, endpoint: &str, base_url: Option<&str>) -> Map<String, Value> {
        let etag = self.etag();
        let mut out = Map::new();
        let mut data = self.data;
        if let Some(s) = data.shift_remove("schemas") {
            out.insert("schemas".into(), s);
        }
        out.insert("id".into(), Value::String(self.id.clone()));
        out.extend(data);
        if let Some(members) = &self.members {
            let list: Vec<Value> = members.iter().map(|m| m.to_json(base_url)).collect();
            if !list.is_empty() {
                out.insert("members".into(), Value::Array(list));
            }
        }
        let mut meta = Map::new();
        meta.insert(
            "resourceType".into(),
            Value::String(self.resource_type.clone()),
        );
        meta.insert("created".into(), Value::String(self.created.clone()));
        meta.insert(
            "lastModified".into(),
            Value::String(self.last_modified.clone()),
        );
        if let Some(base) = base_url {
            meta.insert(
                "location".into(),
                Value::String(format!(
                    "{base}/{}/{}",
                    endpoint.trim_start_matches('/'),
                    self.id
                )),
            );
        }
        meta.insert("version".into(), Value::String(etag));
        out.insert("meta".into(), Value::Object(meta));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_is_large_from_its_256th_value_nested_ones_included() {
        let user = json!({"userName": "fred", "name": {"givenName": "Fred"},
            "emails": [{"value": "f@x", "primary": true}], "active": true});
        assert!(!is_large([&user]));
        // 1 array + 85 objects of 2 values: 256 values.
        let emails: Vec<Value> = (0..85)
            .map(|k| json!({"value": k, "type": "work"}))
            .collect();
        assert!(is_large([&Value::Array(emails.clone())]));
        assert!(!is_large([&Value::Array(emails[..84].to_vec())]));
        // Across several values (a document's attributes).
        let doc = json!({"a": emails[..42].to_vec(), "b": emails[42..].to_vec()});
        assert!(is_large(doc.as_object().unwrap().values()));
        assert!(!is_large(std::iter::empty::<&Value>()));
        // One wide array: decided from its length, before its items are looked at.
        assert!(is_large([&Value::Array(vec![Value::Null; 255])]));
        assert!(!is_large([&Value::Array(vec![Value::Null; 254])]));
        assert!(is_large([&Value::Array(vec![Value::Null; 1_000_000])]));
        // Many values given at once.
        let many = vec![Value::Null; 300];
        assert!(is_large(&many));
        assert!(!is_large(&many[..255]));
        assert!(is_large(&many[..256]));
    }
}
