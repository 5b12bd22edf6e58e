use super::*;
use scim_store::{Actor, DeleteMode};
use serde_json::json;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn tenant() -> Tenant {
    Tenant {
        id: 3,
        name: "acme".into(),
        uid: "0011223344556677".into(),
        created: "2026-01-01T00:00:00.000Z".into(),
        delete_mode: DeleteMode::Hard,
        retention_days: 30,
    }
}

fn record(seq: i64, rt: &str, op: &str) -> ChangeRecord {
    ChangeRecord {
        seq,
        tenant_id: 3,
        resource_type: rt.into(),
        resource_id: "r1".into(),
        operation: op.into(),
        changed: Vec::new(),
        before: None,
        after: None,
        members_added: Vec::new(),
        members_removed: Vec::new(),
        version: Some(1),
        created: Some("2026-02-01T10:00:00.000Z".into()),
        detail: Map::new(),
        actor: Actor {
            token_id: Some("tok".into()),
            token_name: Some("okta".into()),
            request_id: Some("req-1".into()),
        },
        at: "2026-02-01T10:00:00.000Z".into(),
    }
}

fn event(r: &ChangeRecord) -> Event {
    let registry = SchemaRegistry::builtin().unwrap();
    let ctx = RenderContext {
        base_url: "https://scim.example.com/scim/v2/acme",
        registry: &registry,
    };
    derive(r.clone(), &tenant(), &ctx)
}

#[test]
fn a_created_user_carries_its_scim_representation() {
    let mut r = record(1, "User", "create");
    r.changed = vec!["userName".into(), "active".into()];
    r.after = Some(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen", "active": true}),
    );
    let e = event(&r);
    assert_eq!(e.event_type, EventType::UserCreated);
    assert_eq!(e.id, "evt_0011223344556677_1");
    assert_eq!(e.position, 1);
    assert_eq!(e.tenant, "acme");
    assert_eq!(e.actor.token.as_deref(), Some("okta"));
    assert_eq!(e.actor.request_id.as_deref(), Some("req-1"));
    let res = e.data.resource.unwrap();
    assert_eq!(res["id"], "r1");
    assert_eq!(res["userName"], "bjensen");
    assert_eq!(res["meta"]["resourceType"], "User");
    assert_eq!(res["meta"]["version"], "W/\"1\"");
    assert_eq!(
        res["meta"]["location"],
        "https://scim.example.com/scim/v2/acme/Users/r1"
    );
    assert!(e.data.changes.is_empty());
}

#[test]
fn a_change_of_active_is_a_deactivation_or_a_reactivation() {
    let mut r = record(2, "User", "patch");
    r.changed = vec!["active".into(), "title".into()];
    r.before = Some(json!({"userName": "b", "active": true}));
    r.after = Some(json!({"userName": "b", "active": false, "title": "Ex"}));
    let e = event(&r);
    assert_eq!(e.event_type, EventType::UserDeactivated);
    assert_eq!(
        e.data.changes,
        [
            AttributeChange {
                attribute: "active".into(),
                old: json!(true),
                new: json!(false)
            },
            AttributeChange {
                attribute: "title".into(),
                old: Value::Null,
                new: json!("Ex")
            },
        ]
    );
    std::mem::swap(&mut r.before, &mut r.after);
    assert_eq!(event(&r).event_type, EventType::UserReactivated);
    // Unset counts as active.
    r.after = Some(json!({"userName": "b"}));
    assert_eq!(event(&r).event_type, EventType::UserReactivated);
    r.before = Some(json!({"userName": "b"}));
    r.after = Some(json!({"userName": "b", "active": true}));
    assert_eq!(event(&r).event_type, EventType::UserUpdated);
}

#[test]
fn changes_name_sub_attributes_and_extension_attributes() {
    let mut r = record(3, "User", "replace");
    r.changed = vec![
        "name.givenName".into(),
        format!("{ENTERPRISE}:department"),
        "emails".into(),
    ];
    r.before = Some(json!({"name": {"givenName": "A"}, ENTERPRISE: {"department": "x"}}));
    r.after = Some(
        json!({"name": {"givenName": "B"}, ENTERPRISE: {"department": "y"},
        "emails": [{"value": "b@x"}]}),
    );
    let e = event(&r);
    assert_eq!(e.event_type, EventType::UserUpdated);
    let olds: Vec<&Value> = e.data.changes.iter().map(|c| &c.old).collect();
    let news: Vec<&Value> = e.data.changes.iter().map(|c| &c.new).collect();
    assert_eq!(olds, [&json!("A"), &json!("x"), &Value::Null]);
    assert_eq!(news, [&json!("B"), &json!("y"), &json!([{"value": "b@x"}])]);
}

#[test]
fn deletes_say_how_and_carry_no_resource() {
    let mut r = record(4, "User", "delete");
    r.before = Some(json!({"userName": "b"}));
    r.detail.insert("deleteMode".into(), json!("soft"));
    let e = event(&r);
    assert_eq!(e.event_type, EventType::UserDeleted);
    assert_eq!(e.data.delete_mode.as_deref(), Some("soft"));
    assert!(e.data.resource.is_none());
    let mut g = record(5, "Group", "delete");
    g.before = Some(json!({"displayName": "g"}));
    assert_eq!(event(&g).event_type, EventType::GroupDeleted);
}

#[test]
fn member_records_are_membership_events() {
    let mut r = record(6, "Group", "patch");
    r.changed = vec!["members".into()];
    r.after = Some(json!({"displayName": "Eng"}));
    r.members_added = vec![RecordedMember {
        value: "u1".into(),
        kind: Some("User".into()),
    }];
    let e = event(&r);
    assert_eq!(e.event_type, EventType::GroupMembersAdded);
    assert_eq!(e.data.members, r.members_added);
    assert_eq!(e.data.resource.as_ref().unwrap()["displayName"], "Eng");
    assert_eq!(
        serde_json::to_value(&e).unwrap()["data"]["members"],
        json!([{"value": "u1", "type": "User"}])
    );
    r.members_removed = std::mem::take(&mut r.members_added);
    assert_eq!(event(&r).event_type, EventType::GroupMembersRemoved);
    // A created group, then its first members.
    let mut c = record(7, "Group", "create");
    c.changed = vec!["displayName".into()];
    c.after = Some(json!({"displayName": "Eng"}));
    assert_eq!(event(&c).event_type, EventType::GroupCreated);
    let mut m = c.clone();
    m.changed = vec!["members".into()];
    m.members_added = r.members_removed.clone();
    assert_eq!(event(&m).event_type, EventType::GroupMembersAdded);
}

#[test]
fn custom_resource_types_have_generic_events() {
    let mut r = record(8, "Device", "create");
    r.after = Some(json!({"displayName": "laptop"}));
    let e = event(&r);
    assert_eq!(e.event_type, EventType::ResourceCreated);
    assert_eq!(e.data.resource_type, "Device");
    let mut r = record(9, "Group", "restore");
    r.after = Some(json!({"displayName": "g"}));
    assert_eq!(event(&r).event_type, EventType::GroupRestored);
}

#[test]
fn records_written_before_versions_were_kept_leave_them_out() {
    let mut r = record(10, "User", "create");
    r.version = None;
    r.created = None;
    r.after = Some(json!({"userName": "old"}));
    let meta = event(&r).data.resource.unwrap()["meta"].clone();
    assert!(meta.get("version").is_none());
    assert!(meta.get("created").is_none());
    assert_eq!(meta["lastModified"], r.at.as_str());
}

#[test]
fn the_envelope_round_trips_and_omits_what_is_empty() {
    let mut r = record(11, "User", "create");
    r.after = Some(json!({"userName": "b"}));
    let e = event(&r);
    let text = serde_json::to_value(&e).unwrap();
    assert_eq!(text["type"], "user.created");
    assert_eq!(text["version"], 1);
    assert!(text["data"].get("changes").is_none());
    assert!(text["data"].get("members").is_none());
    assert_eq!(text["actor"]["requestId"], "req-1");
    let back: Event = serde_json::from_value(text).unwrap();
    assert_eq!(back, e);
}

#[test]
fn filters_take_names_and_prefix_patterns() {
    let f = EventFilter::parse("user.*, group.members_*").unwrap();
    assert!(f.accepts(EventType::UserDeactivated));
    assert!(f.accepts(EventType::GroupMembersRemoved));
    assert!(!f.accepts(EventType::GroupCreated));
    assert!(
        EventFilter::parse("")
            .unwrap()
            .accepts(EventType::GroupCreated)
    );
    assert!(
        EventFilter::parse("*")
            .unwrap()
            .accepts(EventType::ResourceCreated)
    );
    assert!(EventFilter::parse("user.create").is_err());
    assert!(EventFilter::parse("users.*").is_err());
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
    }
}

/// The event of `r` with these roles, derived from its `after` document as stored (text,
/// not parsed) or parsed.
fn event_with_roles(r: &ChangeRecord, roles: Option<&[&str]>, stored: bool) -> Event {
    let registry = SchemaRegistry::builtin().unwrap();
    let ctx = RenderContext {
        base_url: "https://scim.example.com/scim/v2/acme",
        registry: &registry,
    };
    let mut record = r.clone();
    let text = if stored {
        record.after.take().map(|a| a.to_string())
    } else {
        None
    };
    let roles = roles.map(|r| r.iter().map(|s| s.to_string()).collect());
    derive_stored(record, text, roles, &tenant(), &ctx)
}

/// The event of `r` derived from its `after` document as stored.
fn event_from_stored(r: &ChangeRecord) -> Event {
    event_with_roles(r, None, true)
}

#[test]
fn events_from_stored_text_are_the_events_from_parsed_documents() {
    let mut user = record(1, "User", "create");
    user.after = Some(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bj\u{f6}rn \"b\"", "active": true, ENTERPRISE: {"department": "R&D"}}),
    );
    let mut old_user = user.clone();
    old_user.version = None;
    old_user.created = None;
    let mut group = record(2, "Group", "create");
    group.after = Some(json!({"displayName": "Eng"}));
    let mut device = record(3, "Device", "create");
    device.after = Some(json!({"serial": "x"}));
    // Names what is written around a stored text: rendered from the parsed value.
    let mut nested_id = record(4, "User", "create");
    nested_id.after = Some(json!({"userName": "n", ENTERPRISE: {"manager": {"id": "m"}}}));
    // Not a create: the text is parsed, and what changed is told from it.
    let mut deactivated = record(5, "User", "patch");
    deactivated.changed = vec!["active".into()];
    deactivated.before = Some(json!({"userName": "d", "active": true}));
    deactivated.after = Some(json!({"userName": "d", "active": false}));
    let mut deleted = record(6, "User", "delete");
    deleted.after = None;
    for r in [
        user,
        old_user,
        group,
        device,
        nested_id,
        deactivated,
        deleted,
    ] {
        let (parsed, stored) = (event(&r), event_from_stored(&r));
        assert_eq!(stored, parsed, "record {}", r.seq);
        // And as JSON, which is what consumers receive.
        let as_json = |e: &Event| serde_json::to_value(e).unwrap();
        assert_eq!(as_json(&stored), as_json(&parsed), "record {}", r.seq);
        // With roles: the same on both paths, and only on the events that carry a user.
        let roles = Some(&["eng", "admin"][..]);
        let (parsed, stored) = (
            event_with_roles(&r, roles, false),
            event_with_roles(&r, roles, true),
        );
        assert_eq!(as_json(&stored), as_json(&parsed), "record {}", r.seq);
        let got = stored
            .data
            .resource
            .as_ref()
            .map(|u| u[EFFECTIVE_ROLES].clone());
        if stored.event_type.carries_user() {
            assert_eq!(got, Some(json!(["admin", "eng"])), "record {}", r.seq);
        } else {
            assert!(got.is_none_or(|g| g.is_null()), "record {}", r.seq);
        }
    }
}

#[test]
fn a_created_users_stored_text_is_passed_on_with_its_roles() {
    let mut r = record(1, "User", "create");
    r.after = Some(json!({"userName": "a", "emails": [{"value": "a@x", "primary": true}]}));
    let e = event_with_roles(&r, Some(&["eng"]), true);
    let text = serde_json::to_string(&e).unwrap();
    // The stored members appear as they were written, between `id` and `meta`.
    assert!(
        text.contains(
            r#""id":"r1","userName":"a","emails":[{"value":"a@x","primary":true}],"meta":{"#
        ),
        "{text}"
    );
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back.data.resource.unwrap()["effectiveRoles"],
        json!(["eng"])
    );
}
