//! Cursors against concurrent commits: a cursor that is kept is never reported expired
//! because a commit landed between two reads of the log's bounds (the window is a tenant's
//! first commit, when the log goes from empty to one record).

use std::sync::Arc;
use std::time::Duration;

use scim_delivery::{DeliveryError, EventFilter, FeedRequest};
use scim_store::{DeleteMode, Store};

use crate::support::{Fixture, USER_SCHEMA, actor};

backend_tests!(a_kept_cursor_never_looks_expired_while_commits_land);

async fn a_kept_cursor_never_looks_expired_while_commits_land(f: Fixture) {
    let store: Arc<dyn Store> = f.store.clone();
    let request = FeedRequest {
        after: 0,
        limit: 10,
        wait: Duration::ZERO,
        filter: EventFilter::all(),
    };
    // Each round: a tenant with an empty log, its first commit racing a reader at cursor 0.
    for round in 0..30 {
        let tenant = store
            .create_tenant(&format!("racing{round}"), DeleteMode::Hard, 30)
            .await
            .unwrap();
        let writer = {
            let store = store.clone();
            let id = tenant.id;
            tokio::spawn(async move {
                let data = serde_json::json!({"schemas": [USER_SCHEMA], "userName": "first"});
                let serde_json::Value::Object(data) = data else {
                    unreachable!()
                };
                store
                    .create(id, "User", data, vec![], &actor())
                    .await
                    .unwrap();
            })
        };
        let mut reads = 0;
        loop {
            let done = writer.is_finished();
            match f.feed.read(&tenant, &request).await {
                Ok(page) => assert!(page.events.first().is_none_or(|e| e.position == 1)),
                Err(DeliveryError::CursorExpired { oldest, .. }) => {
                    panic!(
                        "round {round}: cursor 0 reported expired (oldest {oldest}) after {reads} reads"
                    )
                }
                Err(e) => panic!("{e}"),
            }
            reads += 1;
            if done {
                break;
            }
        }
        let page = f.feed.read(&tenant, &request).await.unwrap();
        assert_eq!(page.events.len(), 1, "round {round}");
    }
}
