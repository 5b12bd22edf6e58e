//! Resources: create, read, update with preconditions, uniqueness, delete and restore.

use scim_store::{StoreError, Update};
use serde_json::json;

use crate::support::{Fixture, USER_SCHEMA, actor, obj, set, status, user_data};

store_tests!(
    created_resources_read_back_exactly,
    user_names_are_unique_per_tenant_ignoring_case,
    a_taken_user_name_fails_beside_the_other_index_entries,
    very_long_values_are_indexed_and_unique,
    unusual_characters_are_stored_exactly,
    updates_check_if_match_and_bump_the_version,
    an_update_that_changes_nothing_keeps_the_version,
    updates_rewrite_only_the_index_entries_that_changed,
    attributes_with_many_values_get_one_index_entry,
    large_documents_are_stored_compressed_and_read_back_exactly,
    hard_and_soft_deletes_and_restore,
    ids_are_time_ordered
);

async fn created_resources_read_back_exactly(f: Fixture) {
    let s = f.s();
    let data = obj(json!({
        "schemas": [USER_SCHEMA],
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "primary": true}],
        "active": true,
        "x": "ünïcødé ✓",
    }));
    let created = s
        .create(f.acme, "User", data.clone(), Vec::new(), &actor())
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.created, created.last_modified);
    assert_eq!(created.created.len(), "2026-01-01T00:00:00.000Z".len());
    let read = s
        .get(f.acme, "User", &created.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read,
        scim_store::StoredResource {
            members: None,
            groups: None,
            ..created.clone()
        }
    );
    // Attribute order is kept byte for byte.
    assert_eq!(
        serde_json::to_string(&read.data).unwrap(),
        serde_json::to_string(&data).unwrap()
    );
    assert!(
        s.get(f.globex, "User", &created.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get(f.acme, "Group", &created.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.get(f.acme, "User", "nope", scim_store::Include::NOTHING)
            .await
            .unwrap()
            .is_none()
    );
}

async fn user_names_are_unique_per_tenant_ignoring_case(f: Fixture) {
    let s = f.s();
    let alice = f.user(f.acme, "Alice").await;
    let e = s
        .create(f.acme, "User", user_data("ALICE"), Vec::new(), &actor())
        .await
        .unwrap_err();
    assert_eq!(e.to_scim().scim_type, Some(scim_core::ScimType::Uniqueness));
    assert_eq!(status(&e), 409);
    // Another tenant may have the same userName.
    f.user(f.globex, "alice").await;
    // Renaming another user onto it is refused too; the failed write changes nothing.
    let bob = f.user(f.acme, "bob").await;
    let e = s
        .update(
            f.acme,
            "User",
            &bob.id,
            None,
            "replace",
            set("userName", json!("aLiCe")),
            false,
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
    let bob_now = s
        .get(f.acme, "User", &bob.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bob_now.version, bob_now.data), (bob.version, bob.data));
    // Once Alice is gone, the name is free.
    s.delete(f.acme, "User", &alice.id, None, &actor())
        .await
        .unwrap();
    f.user(f.acme, "alice").await;
}

/// A user's userName entry is written in one statement with its other index entries: a
/// taken userName still fails that create alone, as a 409 naming userName, and leaves none of
/// its entries; the other entries, not unique, may repeat another user's.
async fn a_taken_user_name_fails_beside_the_other_index_entries(f: Fixture) {
    let s = f.s();
    let with = |name: &str| {
        obj(json!({
            "schemas": [USER_SCHEMA],
            "userName": name,
            "externalId": "ext-shared",
            "emails": [{"value": "shared@example.com"}, {"value": "other@example.com"}],
        }))
    };
    s.create(f.acme, "User", with("first"), Vec::new(), &actor())
        .await
        .unwrap();
    s.create(f.acme, "User", with("second"), Vec::new(), &actor())
        .await
        .unwrap();
    let (emails, external_ids) = (
        f.index_rows("emails.value").await,
        f.index_rows("externalId").await,
    );
    let e = s
        .create(f.acme, "User", with("FIRST"), Vec::new(), &actor())
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
    let scim = e.to_scim();
    assert_eq!(scim.scim_type, Some(scim_core::ScimType::Uniqueness));
    assert!(scim.detail.contains("userName"), "{}", scim.detail);
    assert_eq!(f.index_rows("emails.value").await, emails);
    assert_eq!(f.index_rows("externalId").await, external_ids);
    assert_eq!(
        f.user_names(f.acme, "externalId eq \"ext-shared\"")
            .await
            .len(),
        2
    );
    // Concurrent creates (on PostgreSQL usually one batch of writes, each in a savepoint):
    // each taken name fails alone.
    let acme = f.acme;
    let writes = ["FIRST", "third", "Second", "fourth"].map(|name| {
        let s = s.clone();
        let data = with(name);
        async move { s.create(acme, "User", data, Vec::new(), &actor()).await }
    });
    let done = futures_util::future::join_all(writes).await;
    let statuses: Vec<u16> = done
        .iter()
        .map(|r| r.as_ref().map_or_else(status, |_| 201))
        .collect();
    assert_eq!(statuses, [409, 201, 409, 201]);
    assert_eq!(
        f.user_names(f.acme, "externalId eq \"ext-shared\"")
            .await
            .len(),
        4
    );
}

async fn very_long_values_are_indexed_and_unique(f: Fixture) {
    let s = f.s();
    let long: String = (0..6000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let u = f.user(f.acme, &long).await;
    let e = s
        .create(
            f.acme,
            "User",
            user_data(&long.to_uppercase()),
            Vec::new(),
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
    let filter = format!("userName eq \"{}\"", long.to_uppercase());
    let page = f
        .list(f.acme, "User", Some(&filter), None, 1, 10)
        .await
        .unwrap();
    assert_eq!(page.total_results, 1);
    assert_eq!(page.resources[0].id, u.id);
}

async fn updates_check_if_match_and_bump_the_version(f: Fixture) {
    let s = f.s();
    let u = f.user(f.acme, "carol").await;
    let e = s
        .update(
            f.acme,
            "User",
            &u.id,
            Some("W/\"7\"".into()),
            "patch",
            set("title", json!("x")),
            false,
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    let v2 = s
        .update(
            f.acme,
            "User",
            &u.id,
            Some("W/\"1\"".into()),
            "patch",
            set("title", json!("CEO")),
            false,
            &actor(),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.data["title"], "CEO");
    assert!(v2.last_modified >= u.last_modified);
    assert_eq!(v2.created, u.created);
    let e = s
        .update(
            f.acme,
            "User",
            &u.id,
            Some("W/\"1\"".into()),
            "patch",
            set("title", json!("x")),
            false,
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    // `*` and a list containing the current tag match.
    let v3 = s
        .update(
            f.acme,
            "User",
            &u.id,
            Some("W/\"1\", W/\"2\"".into()),
            "patch",
            set("title", json!("CTO")),
            false,
            &actor(),
        )
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    let e = s
        .update(
            f.acme,
            "User",
            "missing",
            None,
            "patch",
            set("title", json!("x")),
            false,
            &actor(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
    // A failing update function changes nothing.
    let fail: scim_store::UpdateFn =
        scim_store::UpdateFn::new(|_| Err(scim_core::ScimError::invalid_value("no")));
    let e: StoreError = s
        .update(f.acme, "User", &u.id, None, "patch", fail, false, &actor())
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    assert_eq!(
        s.get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .unwrap(),
        v3
    );
}

async fn an_update_that_changes_nothing_keeps_the_version(f: Fixture) {
    let s = f.s();
    let u = f.user(f.acme, "dave").await;
    let before = s.changes(f.acme, 0, 100).await.unwrap().len();
    let same: scim_store::UpdateFn = scim_store::UpdateFn::new(|r| {
        Ok(Update {
            data: r.data.clone(),
            ..Update::default()
        })
    });
    let r = s
        .update(
            f.acme,
            "User",
            &u.id,
            None,
            "replace",
            same,
            false,
            &actor(),
        )
        .await
        .unwrap();
    assert_eq!(r.version, 1);
    assert_eq!(s.changes(f.acme, 0, 100).await.unwrap().len(), before);
}

async fn hard_and_soft_deletes_and_restore(f: Fixture) {
    let s = f.s();
    // acme deletes for good.
    let u = f.user(f.acme, "erin").await;
    let e = s
        .delete(f.acme, "User", &u.id, Some("W/\"9\"".into()), &actor())
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    s.delete(f.acme, "User", &u.id, Some("W/\"1\"".into()), &actor())
        .await
        .unwrap();
    assert!(
        s.get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        status(&s.restore(f.acme, &u.id, &actor()).await.unwrap_err()),
        404
    );
    assert_eq!(
        status(
            &s.delete(f.acme, "User", &u.id, None, &actor())
                .await
                .unwrap_err()
        ),
        404
    );
    // globex keeps deleted resources restorable; their names are free meanwhile.
    let g = f.user(f.globex, "frank").await;
    s.delete(f.globex, "User", &g.id, None, &actor())
        .await
        .unwrap();
    assert!(
        s.get(f.globex, "User", &g.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.list(f.globex, "User", Some("userName eq \"frank\""), None, 1, 10)
            .await
            .unwrap()
            .total_results,
        0
    );
    let restored = s.restore(f.globex, &g.id, &actor()).await.unwrap();
    assert_eq!(restored.version, 2);
    assert_eq!(restored.data, g.data);
    assert_eq!(
        f.list(f.globex, "User", Some("userName eq \"FRANK\""), None, 1, 10)
            .await
            .unwrap()
            .total_results,
        1
    );
    // A restore that would break uniqueness is refused.
    s.delete(f.globex, "User", &g.id, None, &actor())
        .await
        .unwrap();
    f.user(f.globex, "frank").await;
    let refused = s.restore(f.globex, &g.id, &actor()).await.unwrap_err();
    assert_eq!(status(&refused), 409, "{refused:?}");
}

async fn unusual_characters_are_stored_exactly(f: Fixture) {
    let s = f.s();
    for name in [
        "nul\u{0}inside",
        "\u{1}0",
        "\u{1}\u{0}",
        "emoji-\u{1F600}-\u{10FFFF}",
        "quote'\"\\",
    ] {
        let data = obj(json!({"schemas": [USER_SCHEMA], "userName": name, "displayName": name}));
        let u = s
            .create(f.acme, "User", data, Vec::new(), &actor())
            .await
            .unwrap();
        let back = s
            .get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.data["userName"], name);
        let filter = format!("userName eq {}", serde_json::Value::String(name.into()));
        let page = f
            .list(f.acme, "User", Some(&filter), None, 1, 10)
            .await
            .unwrap();
        assert_eq!(
            page.resources
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>(),
            vec![u.id.clone()],
            "{name:?}"
        );
        // The group member display comes from the stored display column.
        let g = f.group(f.acme, &format!("g-{name}"), &[&u.id]).await;
        let m = s
            .get(f.acme, "Group", &g.id, scim_store::Include::MEMBERS)
            .await
            .unwrap()
            .unwrap()
            .members
            .unwrap();
        assert_eq!(m[0].display.as_deref(), Some(name));
    }
}

/// Ids are UUIDv7: each new one sorts after the previous ones, so inserts append to the id
/// indexes instead of landing on random pages.
async fn ids_are_time_ordered(f: Fixture) {
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(f.user(f.acme, &format!("t{i}")).await.id);
    }
    for id in &ids {
        let uuid = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(uuid.get_version_num(), 7, "{id}");
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

/// More than `MAX_INDEXED_VALUES` emails: one index entry, found by evaluation (issue 11: a
/// PATCH replacing 1,000 emails rewrote 1,000 entries on the shared writer).
async fn attributes_with_many_values_get_one_index_entry(f: Fixture) {
    let s = f.s();
    let many = scim_store::MAX_INDEXED_VALUES + 50;
    let emails = |prefix: &str, n: usize| {
        json!(
            (0..n)
                .map(|i| json!({"value": format!("{prefix}{i}@example.com")}))
                .collect::<Vec<_>>()
        )
    };
    let mut data = user_data("many");
    data.insert("emails".into(), emails("m", many));
    let u = s
        .create(f.acme, "User", data, Vec::new(), &actor())
        .await
        .unwrap();
    let few = f.user(f.acme, "few").await;
    f.set_user(f.acme, &few.id, "emails", emails("f", 1)).await;
    // The same values in another tenant are not found in this one.
    let mut other = user_data("many");
    other.insert("emails".into(), emails("m", many));
    s.create(f.globex, "User", other, Vec::new(), &actor())
        .await
        .unwrap();
    let found = |filter: &'static str| f.user_names(f.acme, filter);
    // One entry per tenant for the user with many, one for the user with one.
    assert_eq!(f.index_rows("emails.value").await, 3);
    assert_eq!(
        f.index_values("emails.value").await,
        3,
        "an entry of each tenant's own"
    );
    assert_eq!(found("emails.value eq \"M42@example.com\"").await, ["many"]);
    assert_eq!(
        found("emails[value eq \"m149@example.com\"]").await,
        ["many"]
    );
    assert_eq!(found("emails.value eq \"f0@example.com\"").await, ["few"]);
    assert!(
        found("emails.value eq \"nobody@example.com\"")
            .await
            .is_empty()
    );
    assert_eq!(
        found("emails.value eq \"m1@example.com\" or emails.value eq \"f0@example.com\"").await,
        ["many", "few"]
    );
    assert_eq!(
        found("not (emails.value eq \"m7@example.com\")").await,
        ["few"]
    );

    // Replaced by as many others: the old values are gone, the new ones found.
    f.set_user(f.acme, &u.id, "emails", emails("n", many)).await;
    assert_eq!(f.index_rows("emails.value").await, 3);
    assert!(
        found("emails.value eq \"m42@example.com\"")
            .await
            .is_empty()
    );
    assert_eq!(found("emails.value eq \"n42@example.com\"").await, ["many"]);

    // Down to two: indexed one by one again.
    f.set_user(f.acme, &u.id, "emails", emails("k", 2)).await;
    assert_eq!(f.index_rows("emails.value").await, 4);
    assert!(
        found("emails.value eq \"n42@example.com\"")
            .await
            .is_empty()
    );
    assert_eq!(found("emails.value eq \"k1@example.com\"").await, ["many"]);
}

/// A large document (1,000 emails) takes a fraction of its size on disk on both backends
/// (SQLite: packed by the store, sql/document.rs; PostgreSQL: TOAST), in the resource and in
/// its change records, and every read gives it back exactly; a small one is stored as is.
async fn large_documents_are_stored_compressed_and_read_back_exactly(f: Fixture) {
    let s = f.s();
    let emails = |prefix: &str| {
        json!(
            (0..1000)
                .map(|i| json!({"value": format!("{prefix}{i}@example.com"), "type": "work"}))
                .collect::<Vec<_>>()
        )
    };
    let mut data = user_data("large");
    data.insert("emails".into(), emails("a"));
    data.insert("nickName".into(), json!("ünïcødé ✓ \u{0} \"quoted\""));
    let text_len = serde_json::to_string(&data).unwrap().len() as i64;
    let u = s
        .create(f.acme, "User", data.clone(), Vec::new(), &actor())
        .await
        .unwrap();
    let small = f.user(f.acme, "small").await;
    let read = s
        .get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.data, data);
    let stored = |id: &str| format!("id = '{id}'");
    let size = f.stored_size("resources", "data", &stored(&u.id)).await;
    assert!(size * 3 < text_len, "stored {size} bytes of {text_len}");
    let small_len = serde_json::to_string(&small.data).unwrap().len() as i64;
    let small_size = f.stored_size("resources", "data", &stored(&small.id)).await;
    assert!(
        small_size >= small_len,
        "a small document is stored as it is"
    );

    // An update: the resource and the record's before and after, compressed and exact.
    f.set_user(f.acme, &u.id, "emails", emails("b")).await;
    let read = s
        .get(f.acme, "User", &u.id, scim_store::Include::NOTHING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.data["emails"], emails("b"));
    assert_eq!(read.data["nickName"], data["nickName"]);
    let in_log = format!("resource_id = '{}'", u.id);
    for column in ["before", "after"] {
        let size = f.stored_size("changes", column, &in_log).await;
        assert!(
            size * 3 < text_len,
            "{column}: stored {size} bytes of {text_len}"
        );
    }
    let log = s.changes(f.acme, 0, 100).await.unwrap();
    let records: Vec<_> = log.iter().filter(|r| r.resource_id == u.id).collect();
    assert_eq!(records.len(), 2);
    let doc = |m: &serde_json::Map<String, serde_json::Value>| Some(json!(m));
    assert_eq!(records[0].after, doc(&data));
    assert_eq!(records[1].before, doc(&data));
    assert_eq!(records[1].after, doc(&read.data));
    // Lists and filters read the same documents.
    let found = f
        .list(f.acme, "User", Some("userName eq \"large\""), None, 1, 10)
        .await
        .unwrap();
    assert_eq!(found.resources.len(), 1);
    assert_eq!(found.resources[0].data, read.data);
}

/// An update rewrites the index entries of the indexed attributes it changes, and no
/// others; lookups by every indexed attribute stay right.
async fn updates_rewrite_only_the_index_entries_that_changed(f: Fixture) {
    let s = f.s();
    let data = obj(json!({
        "schemas": [USER_SCHEMA],
        "userName": "dora",
        "externalId": "ext-dora",
        "emails": [{"value": "dora@example.com"}, {"value": "d@example.org"}],
    }));
    let u = s
        .create(f.acme, "User", data, Vec::new(), &actor())
        .await
        .unwrap();
    // Rows after dora's: a row written again gets a new rowid on SQLite (see
    // `index_rows_version`).
    f.user(f.acme, "eve").await;
    let found = |filter: &'static str| {
        let f = &f;
        async move {
            f.list(f.acme, "User", Some(filter), None, 1, 10)
                .await
                .unwrap()
                .resources
                .len()
        }
    };
    let versions = || async {
        (
            f.index_rows_version("userName").await,
            f.index_rows_version("emails.value").await,
            f.index_rows_version("externalId").await,
        )
    };
    let before = versions().await;

    // Not an indexed attribute: no index row is written.
    f.set_user(f.acme, &u.id, "title", json!("CTO")).await;
    assert_eq!(versions().await, before);

    // One email changes: only the emails' rows are written again.
    let emails = json!([{"value": "dora@example.com"}, {"value": "dora@new.example"}]);
    f.set_user(f.acme, &u.id, "emails", emails).await;
    let after = versions().await;
    assert_eq!((after.0, after.2), (before.0, before.2));
    assert_ne!(after.1, before.1);
    assert_eq!(found("emails.value eq \"dora@new.example\"").await, 1);
    assert_eq!(found("emails.value eq \"d@example.org\"").await, 0);
    assert_eq!(found("emails.value eq \"DORA@example.com\"").await, 1);

    // userName changes: its old value is free, its new one taken.
    f.set_user(f.acme, &u.id, "userName", json!("Dora.M")).await;
    let last = versions().await;
    assert_eq!((last.1, last.2), (after.1, after.2));
    assert_eq!(found("userName eq \"dora\"").await, 0);
    assert_eq!(found("userName eq \"dora.m\"").await, 1);
    assert_eq!(found("externalId eq \"ext-dora\"").await, 1);
    f.user(f.acme, "dora").await;
    let e = s
        .create(f.acme, "User", user_data("DORA.M"), Vec::new(), &actor())
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);
}
