//! Readers of one feed share the events derived last (the feed's tail): what a reader gets
//! from it is exactly what a feed of its own reads from the log — same events, same order,
//! same cursor and head — whatever the cursor, limit and filter, while commits land.

use std::time::Duration;

use scim_delivery::{EventFilter, Feed, FeedRequest};

use crate::support::{Fixture, actor, obj};

backend_tests!(readers_of_one_feed_get_what_a_feed_of_their_own_reads);

fn request(after: i64, limit: u32, filter: &str) -> FeedRequest {
    FeedRequest {
        after,
        limit,
        wait: Duration::ZERO,
        filter: EventFilter::parse(filter).unwrap(),
    }
}

async fn readers_of_one_feed_get_what_a_feed_of_their_own_reads(f: Fixture) {
    let registry = std::sync::Arc::new(scim_core::schema::SchemaRegistry::builtin().unwrap());
    // A new feed for each read: nothing kept, every event derived from the log.
    let own = || Feed::new(f.store.clone(), registry.clone(), "http://scim.test");
    let shared = f.feed.clone();
    let mut ids = Vec::new();
    for round in 0..4 {
        for i in 0..5 {
            ids.push(f.user(&format!("tail-{round}-{i}@example.com")).await.id);
        }
        f.deactivate(&ids[round * 5]).await;
        let group = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("team {round}"),
        });
        let members = ids[round * 5..round * 5 + 3]
            .iter()
            .map(|id| scim_store::MemberRef {
                value: id.clone(),
                kind: Some("User".into()),
                display: None,
            })
            .collect();
        f.store
            .create(f.tenant.id, "Group", obj(group), members, &actor())
            .await
            .unwrap();
        // Readers at the head, in the middle and at the start, with pages of every size
        // and filters that leave events out; the shared feed is read first, then second.
        let head = f.store.change_head(f.tenant.id).await.unwrap();
        for after in [0, 1, head / 2, head - 3, head - 1, head] {
            for limit in [1, 2, 7, 100] {
                for filter in ["*", "user.*", "group.*,user.deactivated"] {
                    let req = request(after.max(0), limit, filter);
                    let a = shared.read(&f.tenant, &req).await.unwrap();
                    let b = own().read(&f.tenant, &req).await.unwrap();
                    assert_eq!(
                        a, b,
                        "round {round}, after {after}, limit {limit}, {filter}"
                    );
                    let again = shared.read(&f.tenant, &req).await.unwrap();
                    assert_eq!(
                        again, b,
                        "re-read: round {round}, after {after}, limit {limit}"
                    );
                }
            }
        }
    }
}
