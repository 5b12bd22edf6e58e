//! Events: the change log in an application's terms.
//!
//! One change record becomes one event. The envelope and every type are documented, with
//! examples, in `docs/events.md`; [`VERSION`] changes only when a consumer would have to
//! change its code.

use std::collections::BTreeSet;
use std::fmt;

use scim_core::schema::SchemaRegistry;
use scim_store::{ChangeRecord, RecordedMember, StoredResource, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::DeliveryError;

mod resource;
pub use resource::Resource;

/// The version of the event envelope and vocabulary.
pub const VERSION: u32 = 1;

/// What happened, in the words an application switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A user was created.
    UserCreated,
    /// Attributes of a user changed (other than a change of `active`).
    UserUpdated,
    /// `active` went from true (or unset) to false.
    UserDeactivated,
    /// `active` went from false to true (or unset).
    UserReactivated,
    /// Deleted, hard or soft (`data.deleteMode`).
    UserDeleted,
    /// A soft-deleted user was restored.
    UserRestored,
    /// The user's application roles changed (role rules, `data.roles`): its memberships,
    /// its `active` or the tenant's rules changed.
    UserRolesChanged,
    /// A group was created.
    GroupCreated,
    /// Attributes of a group changed (not its members: those are events of their own).
    GroupUpdated,
    /// Deleted, hard or soft (`data.deleteMode`).
    GroupDeleted,
    /// A soft-deleted group was restored.
    GroupRestored,
    /// Members were added to a group (`data.members`, at most 1,000 per event).
    GroupMembersAdded,
    /// Members were removed from a group (`data.members`, at most 1,000 per event).
    GroupMembersRemoved,
    /// A resource of a custom resource type (`data.resourceType` says which).
    ResourceCreated,
    /// Attributes of a custom resource changed.
    ResourceUpdated,
    /// A custom resource was deleted, hard or soft (`data.deleteMode`).
    ResourceDeleted,
    /// A soft-deleted custom resource was restored.
    ResourceRestored,
    /// Members were added to a custom resource (`data.members`).
    ResourceMembersAdded,
    /// Members were removed from a custom resource (`data.members`).
    ResourceMembersRemoved,
}

impl EventType {
    /// Every type, in documentation order.
    pub const ALL: [EventType; 19] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::UserRestored,
        EventType::UserRolesChanged,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::GroupRestored,
        EventType::GroupMembersAdded,
        EventType::GroupMembersRemoved,
        EventType::ResourceCreated,
        EventType::ResourceUpdated,
        EventType::ResourceDeleted,
        EventType::ResourceRestored,
        EventType::ResourceMembersAdded,
        EventType::ResourceMembersRemoved,
    ];

    /// The type's name, e.g. `user.deactivated`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserRestored => "user.restored",
            EventType::UserRolesChanged => "user.roles_changed",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupRestored => "group.restored",
            EventType::GroupMembersAdded => "group.members_added",
            EventType::GroupMembersRemoved => "group.members_removed",
            EventType::ResourceCreated => "resource.created",
            EventType::ResourceUpdated => "resource.updated",
            EventType::ResourceDeleted => "resource.deleted",
            EventType::ResourceRestored => "resource.restored",
            EventType::ResourceMembersAdded => "resource.members_added",
            EventType::ResourceMembersRemoved => "resource.members_removed",
        }
    }

    /// The type with this name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether an event of this type carries a user as `data.resource`, with the user's
    /// effective roles as of the event ([`EFFECTIVE_ROLES`]).
    pub fn carries_user(self) -> bool {
        matches!(
            self,
            EventType::UserCreated
                | EventType::UserUpdated
                | EventType::UserDeactivated
                | EventType::UserReactivated
                | EventType::UserRestored
        )
    }
}

/// The member of a user's JSON holding its effective roles from the tenant's role rules
/// (not SCIM's own `roles` attribute, which is what the identity provider sent).
pub const EFFECTIVE_ROLES: &str = "effectiveRoles";

/// Adds a user's effective roles to its JSON as the event feed and the management API's
/// directory show them: `"effectiveRoles": ["admin", "engineer"]`, sorted (byte order),
/// each once. Anything but a JSON object is left as it is.
pub fn set_effective_roles(user: &mut Value, roles: impl IntoIterator<Item = String>) {
    if let Value::Object(o) = user {
        let roles: BTreeSet<String> = roles.into_iter().collect();
        o.insert(
            EFFECTIVE_ROLES.into(),
            Value::from(roles.into_iter().collect::<Vec<_>>()),
        );
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        EventType::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type '{name}'")))
    }
}

/// One event, as every consumer receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Stable and unique: the same on every delivery and every read (de-duplicate by it).
    pub id: String,
    /// What happened (`user.created`, `group.members_added`, …).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The envelope's version ([`VERSION`]).
    pub version: u32,
    /// The tenant's name.
    pub tenant: String,
    /// The position in the tenant's order: strictly increasing, a cursor for the feed.
    pub position: i64,
    /// When the change was committed (RFC 3339, UTC, milliseconds).
    pub timestamp: String,
    /// Who made the change.
    pub actor: EventActor,
    /// What the change is about: the resource and what changed.
    pub data: EventData,
}

/// Who made the change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventActor {
    /// The name of the bearer token the identity provider used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The request's `X-Request-Id`, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What the event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// `User`, `Group`, or a custom resource type's name.
    pub resource_type: String,
    /// The resource's id.
    pub id: String,
    /// The resource as it is after the change, in its SCIM representation (for a group,
    /// without `members`; for a user, without the computed `groups`, and with its
    /// effective roles as of the event, [`EFFECTIVE_ROLES`], when read through the feed).
    /// Absent after a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// The attributes that changed, with their old and new values (`*.updated`,
    /// `user.deactivated`, `user.reactivated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttributeChange>,
    /// The members added or removed (`*.members_added`, `*.members_removed`): at most
    /// 1,000 per event; a larger change comes as several events in a row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<RecordedMember>,
    /// `hard` or `soft` (`*.deleted`): a soft-deleted resource can be restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_mode: Option<String>,
    /// `user.roles_changed`: the roles added and removed, and the user's roles now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<RolesChange>,
}

/// A change of a user's application roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolesChange {
    /// The roles the user gained.
    pub added: Vec<String>,
    /// The roles the user lost.
    pub removed: Vec<String>,
    /// Every role the user has after the change.
    pub roles: Vec<String>,
}

/// One changed attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeChange {
    /// Its canonical path: `active`, `name.givenName`, `emails`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
    pub attribute: String,
    /// The value before (`null`: it had none).
    pub old: Value,
    /// The value after (`null`: it has none now).
    pub new: Value,
}

/// What [`derive()`] needs besides the record: where the tenant's resources live.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    /// The tenant's SCIM base URL (`{public_url}/scim/v2/{tenant}`), for `meta.location`.
    pub base_url: &'a str,
    /// The schemas the resource is rendered with.
    pub registry: &'a SchemaRegistry,
}

/// The id of the event of a tenant's record: unique across tenants and across a tenant
/// deleted and created again (its uid differs).
pub fn event_id(tenant: &Tenant, position: i64) -> String {
    format!("evt_{}_{position}", tenant.uid)
}

/// The event a change record stands for.
///
/// The record is consumed: the resource after the change becomes the event's resource
/// without being copied.
pub fn derive(record: ChangeRecord, tenant: &Tenant, ctx: &RenderContext<'_>) -> Event {
    derive_stored(record, None, None, tenant, ctx)
}

/// [`derive()`] for a record read with its `after` document left as the stored text
/// (`record.after` is then `None`; [`scim_store::LogSlice::stored_after`]). A create's
/// resource is that text with its `id` and `meta` written around it ([`Resource`]), never
/// parsed here; other records' documents are parsed first. `roles` are the user's
/// effective roles as of the record ([`scim_store::LogSlice::roles`]): an event that
/// carries the user ([`EventType::carries_user`]) has them as [`EFFECTIVE_ROLES`].
pub fn derive_stored(
    mut record: ChangeRecord,
    stored_after: Option<String>,
    roles: Option<Vec<String>>,
    tenant: &Tenant,
    ctx: &RenderContext<'_>,
) -> Event {
    let mut stored_after = stored_after.filter(|_| record.after.is_none());
    if (record.operation != "create" || record.is_members_change())
        && let Some(text) = stored_after.take()
    {
        record.after = parse_stored(&text);
    }
    let kind = Kind::of(&record.resource_type);
    let mut data = EventData {
        resource_type: record.resource_type.clone(),
        id: record.resource_id.clone(),
        resource: None,
        changes: Vec::new(),
        members: Vec::new(),
        delete_mode: None,
        roles: None,
    };
    let event_type = if record.is_members_change() {
        if record.members_added.is_empty() {
            data.members = record.members_removed.clone();
            kind.members_removed()
        } else {
            data.members = record.members_added.clone();
            kind.members_added()
        }
    } else {
        match record.operation.as_str() {
            "create" => kind.created(),
            "restore" => kind.restored(),
            "roles_changed" => {
                let list = |k: &str| -> Vec<String> {
                    record
                        .detail
                        .get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                data.roles = Some(RolesChange {
                    added: list("added"),
                    removed: list("removed"),
                    roles: list("roles"),
                });
                EventType::UserRolesChanged
            }
            "delete" => {
                record.after = None;
                data.delete_mode = record
                    .detail
                    .get("deleteMode")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                kind.deleted()
            }
            _ => {
                let (before, after) = (record.before.as_ref(), record.after.as_ref());
                data.changes = record
                    .changed
                    .iter()
                    .map(|path| AttributeChange {
                        attribute: path.clone(),
                        old: before
                            .and_then(|d| lookup(d, path))
                            .cloned()
                            .unwrap_or(Value::Null),
                        new: after
                            .and_then(|d| lookup(d, path))
                            .cloned()
                            .unwrap_or(Value::Null),
                    })
                    .collect();
                match (kind, is_inactive(before), is_inactive(after)) {
                    (Kind::User, false, true) => EventType::UserDeactivated,
                    (Kind::User, true, false) => EventType::UserReactivated,
                    _ => kind.updated(),
                }
            }
        }
    };
    let roles = roles
        .filter(|_| event_type.carries_user())
        .map(|r| r.into_iter().collect::<BTreeSet<String>>());
    let roles = roles.as_ref();
    data.resource = match stored_after {
        Some(text) => render_stored(&record, &text, roles, ctx)
            .or_else(|| parse_stored(&text).and_then(|after| render(&record, after, roles, ctx))),
        None => record
            .after
            .take()
            .and_then(|after| render(&record, after, roles, ctx)),
    };
    Event {
        id: event_id(tenant, record.seq),
        event_type,
        version: VERSION,
        tenant: tenant.name.clone(),
        position: record.seq,
        timestamp: record.at.clone(),
        actor: EventActor {
            token: record.actor.token_name.clone(),
            request_id: record.actor.request_id.clone(),
        },
        data,
    }
}

/// A user is inactive when `active` is `false`; unset means active.
fn is_inactive(doc: Option<&Value>) -> bool {
    doc.and_then(|d| d.get("active")) == Some(&Value::Bool(false))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
    Other,
}

impl Kind {
    fn of(resource_type: &str) -> Kind {
        match resource_type {
            "User" => Kind::User,
            "Group" => Kind::Group,
            _ => Kind::Other,
        }
    }
    fn pick(self, user: EventType, group: EventType, other: EventType) -> EventType {
        match self {
            Kind::User => user,
            Kind::Group => group,
            Kind::Other => other,
        }
    }
    fn created(self) -> EventType {
        self.pick(
            EventType::UserCreated,
            EventType::GroupCreated,
            EventType::ResourceCreated,
        )
    }
    fn updated(self) -> EventType {
        self.pick(
            EventType::UserUpdated,
            EventType::GroupUpdated,
            EventType::ResourceUpdated,
        )
    }
    fn deleted(self) -> EventType {
        self.pick(
            EventType::UserDeleted,
            EventType::GroupDeleted,
            EventType::ResourceDeleted,
        )
    }
    fn restored(self) -> EventType {
        self.pick(
            EventType::UserRestored,
            EventType::GroupRestored,
            EventType::ResourceRestored,
        )
    }
    fn members_added(self) -> EventType {
        match self {
            Kind::Other => EventType::ResourceMembersAdded,
            _ => EventType::GroupMembersAdded,
        }
    }
    fn members_removed(self) -> EventType {
        match self {
            Kind::Other => EventType::ResourceMembersRemoved,
            _ => EventType::GroupMembersRemoved,
        }
    }
}

/// A stored document's text parsed (a record read unparsed whose event needs its values).
fn parse_stored(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .inspect_err(|e| tracing::error!(error = %e, "a change record's document did not parse"))
        .ok()
}

/// The resource's SCIM representation from a record's `after` document, with the user's
/// effective `roles` when given.
fn render(
    record: &ChangeRecord,
    after: Value,
    roles: Option<&BTreeSet<String>>,
    ctx: &RenderContext<'_>,
) -> Option<Resource> {
    let Value::Object(data) = after else {
        return None;
    };
    let mut json = Value::Object(rendered(record, data, ctx));
    if let Some(roles) = roles {
        set_effective_roles(&mut json, roles.iter().cloned());
    }
    Some(Resource::from_value(json))
}

/// The resource's SCIM representation around a record's `after` document as stored
/// ([`Resource::around_stored`]); `None` when the text cannot be used as it is.
fn render_stored(
    record: &ChangeRecord,
    text: &str,
    roles: Option<&BTreeSet<String>>,
    ctx: &RenderContext<'_>,
) -> Option<Resource> {
    let mut around = rendered(record, Map::new(), ctx);
    let Some(Value::Object(meta)) = around.shift_remove("meta") else {
        return None;
    };
    Resource::around_stored(text, &record.resource_id, &meta, roles)
}

/// `data` with the resource's `id` and `meta` as the SCIM server renders it.
fn rendered(
    record: &ChangeRecord,
    data: Map<String, Value>,
    ctx: &RenderContext<'_>,
) -> Map<String, Value> {
    let endpoint = ctx
        .registry
        .resource_type(&record.resource_type)
        .map_or_else(
            || record.resource_type.clone(),
            |rt| rt.endpoint_name().to_string(),
        );
    let resource = StoredResource {
        resource_type: record.resource_type.clone(),
        id: record.resource_id.clone(),
        version: record.version.unwrap_or_default(),
        created: record.created.clone().unwrap_or_default(),
        last_modified: record.at.clone(),
        data,
        members: None,
        groups: None,
    };
    let mut json = resource.into_json(&endpoint, Some(ctx.base_url));
    // Records written before versions were kept: leave out what is not known.
    if let Some(Value::Object(meta)) = json.get_mut("meta") {
        if record.version.is_none() {
            meta.shift_remove("version");
        }
        if record.created.is_none() {
            meta.shift_remove("created");
        }
    }
    json
}

/// The value at a canonical attribute path in a stored document: `name.givenName`, or
/// `urn:…:User:department` (an extension's attributes are kept under its URN).
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let (container, rest): (&Map<String, Value>, &str) = match path.rfind(':') {
        Some(i) if path.starts_with("urn:") => (doc.get(&path[..i])?.as_object()?, &path[i + 1..]),
        _ => (doc.as_object()?, path),
    };
    let mut parts = rest.split('.');
    let mut value = container.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Which event types a consumer wants: a comma-separated list of names and patterns
/// ending in `*` (`user.*,group.members_*`). Empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> EventFilter {
        EventFilter::default()
    }

    /// Parses a list of patterns; a pattern that matches no event type is an error (a typo
    /// would otherwise silently deliver nothing).
    pub fn parse(text: &str) -> Result<EventFilter, DeliveryError> {
        let mut patterns = Vec::new();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !EventType::ALL.iter().any(|t| matches(p, t.as_str())) {
                return Err(DeliveryError::Invalid(format!(
                    "'{p}' matches no event type; types are {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                )));
            }
            patterns.push(p.to_string());
        }
        Ok(EventFilter { patterns })
    }

    /// Whether an event of this type is wanted.
    pub fn accepts(&self, t: EventType) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| matches(p, t.as_str()))
    }

    /// The filter as it was given (normalised), empty for all.
    pub fn as_text(&self) -> String {
        self.patterns.join(",")
    }
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests;
