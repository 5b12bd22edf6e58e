//! Readers of one feed share the events derived last (the feed's tail): what a reader gets
//! from it is exactly what a feed of its own reads from the log — same events, same order,
//! same cursor and head — whatever the cursor, limit and filter, while commits land.

use std::time::Duration;

use scim_delivery::{EventFilter, Feed, FeedRequest};

use crate::support::{Fixture, actor, obj};

backend_tests!(
    readers_of_one_feed_get_what_a_feed_of_their_own_reads,
    a_commit_the_tails_read_missed_makes_a_reader_read_the_log,
    consumers_woken_by_one_commit_share_one_read_of_the_log,
    a_cursor_pruned_since_the_tail_was_read_is_expired
);

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

/// A reader whose cursor lies inside the tail is served from it alone only when no commit
/// of the tenant was counted between the start of the read that made the tail and the
/// reader's arming; after a commit the tail's read did not see, the reader reads the log and
/// gets that commit's events and the new head (a webhook deliverer told the old head would
/// wait for a commit that already happened).
async fn a_commit_the_tails_read_missed_makes_a_reader_read_the_log(f: Fixture) {
    let feed = f.feed.clone();
    for i in 0..3 {
        f.user(&format!("seen-{i}@example.com")).await;
    }
    let head = f.store.change_head(f.tenant.id).await.unwrap();
    let first = feed.read(&f.tenant, &request(0, 100, "*")).await.unwrap();
    assert_eq!((first.next, first.head), (head, head));
    // From the tail, nothing committed since: the same head, and no read of the log.
    let reads = feed.log_reads();
    let again = feed
        .read(&f.tenant, &request(head - 2, 100, "*"))
        .await
        .unwrap();
    assert_eq!(
        (again.events.len(), again.next, again.head),
        (2, head, head)
    );
    assert_eq!(feed.log_reads(), reads, "served from the tail");
    f.user("seen-late@example.com").await;
    let now = f.store.change_head(f.tenant.id).await.unwrap();
    assert!(now > head);
    let page = feed
        .read(&f.tenant, &request(head - 2, 100, "*"))
        .await
        .unwrap();
    assert_eq!(feed.log_reads(), reads + 1, "the log was read");
    assert_eq!(
        page.next, now,
        "the commit after the tail's read is in the page"
    );
    assert_eq!(page.head, now);
    let positions: Vec<i64> = page.events.iter().map(|e| e.position).collect();
    assert_eq!(positions, ((head - 1)..=now).collect::<Vec<_>>());
}

/// Consumers of one tenant waiting at its head (a webhook, NATS, a long-polling reader) are
/// woken by the same commit: one reads the log, the others take its events from the tail
/// without reading it again.
async fn consumers_woken_by_one_commit_share_one_read_of_the_log(f: Fixture) {
    // A reader waits at most 50 ms for its turn (a busy machine can make one give up and
    // read for itself): of three rounds, at least one must share a single read.
    let mut rounds = Vec::new();
    for round in 0..3 {
        f.user(&format!("first-{round}@example.com")).await;
        let head = f.store.change_head(f.tenant.id).await.unwrap();
        let wait = |after| FeedRequest {
            wait: Duration::from_secs(10),
            ..request(after, 100, "*")
        };
        let before = f.feed.log_reads();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (feed, tenant, req) = (f.feed.clone(), f.tenant.clone(), wait(head));
                tokio::spawn(async move { feed.read(&tenant, &req).await.unwrap() })
            })
            .collect();
        // Each looked once and found nothing; now all three wait for a commit.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while f.feed.log_reads() < before + 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the readers did not start"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = f.feed.log_reads();
        f.user(&format!("second-{round}@example.com")).await;
        let now = f.store.change_head(f.tenant.id).await.unwrap();
        for r in readers {
            let page = r.await.unwrap();
            assert_eq!((page.next, page.head), (now, now));
            assert_eq!(page.events.len(), usize::try_from(now - head).unwrap());
        }
        rounds.push(f.feed.log_reads() - waiting);
    }
    assert!(
        rounds.contains(&1),
        "reads of the log for one commit and three readers, by round: {rounds:?}"
    );
}

/// Pruning the log wakes its readers: a reader whose cursor the tail still covers but the
/// log no longer keeps is told it expired, as a reader of the log alone would be.
async fn a_cursor_pruned_since_the_tail_was_read_is_expired(f: Fixture) {
    for i in 0..4 {
        f.user(&format!("pruned-{i}@example.com")).await;
    }
    let head = f.store.change_head(f.tenant.id).await.unwrap();
    let page = f.feed.read(&f.tenant, &request(0, 100, "*")).await.unwrap();
    assert_eq!(page.next, head);
    f.store.prune_changes(f.tenant.id, 2).await.unwrap();
    let expired = f.feed.read(&f.tenant, &request(1, 100, "*")).await;
    assert_expired(expired, 1, 2);
    let page = f.feed.read(&f.tenant, &request(2, 100, "*")).await.unwrap();
    assert_eq!(page.events.first().map(|e| e.position), Some(3));
    // Pruned, then a commit that a reader at the head reads into the tail: the tail's last
    // read is recent again, and its first position kept still expires the old cursor.
    f.store.prune_changes(f.tenant.id, 3).await.unwrap();
    f.user("pruned-late@example.com").await;
    let page = f
        .feed
        .read(&f.tenant, &request(head, 100, "*"))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let expired = f.feed.read(&f.tenant, &request(2, 100, "*")).await;
    assert_expired(expired, 2, 3);
}

/// The read was refused as expired: `after` is older than what is kept, `oldest` is where
/// to start again.
fn assert_expired(
    read: Result<scim_delivery::FeedPage, scim_delivery::DeliveryError>,
    after: i64,
    oldest: i64,
) {
    match read {
        Err(scim_delivery::DeliveryError::CursorExpired {
            after: a,
            oldest: o,
        }) => {
            assert_eq!((a, o), (after, oldest));
        }
        other => panic!("expected an expired cursor {after} (oldest {oldest}): {other:?}"),
    }
}
