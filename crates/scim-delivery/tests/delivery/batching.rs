//! The batching window (`Feed::with_batch_window`): a reader at a tenant's head reads the
//! log at most once per window, so that the commits of the window go out together.

use std::time::Duration;

use scim_delivery::{EventFilter, FeedRequest};

use crate::support::{Fixture, answered};

backend_tests!(the_commits_of_a_window_come_in_one_read);

const WAIT: Duration = Duration::from_secs(20);

fn poll(after: i64) -> FeedRequest {
    FeedRequest {
        after,
        limit: 100,
        wait: WAIT,
        filter: EventFilter::all(),
    }
}

async fn the_commits_of_a_window_come_in_one_read(mut f: Fixture) {
    // The longest window, so that three creates fit in it on a busy machine.
    let window = scim_delivery::feed::MAX_BATCH_WINDOW;
    f.feed = f.feed.clone().with_batch_window(window);
    assert_eq!(f.feed.batch_window(), window);
    // The first change is read at once: no read at the head came before it.
    f.user("first@example.com").await;
    let first = f.feed.read(&f.tenant, &poll(0)).await.unwrap();
    assert_eq!(first.events.len(), 1);
    let reads = f.feed.log_reads();
    // A reader waiting at the head is woken by the next commit, and reads once the window
    // since the last read is over: the commits made meanwhile come in that one read.
    let waiting = f.long_poll(poll(first.next));
    for name in ["a", "b", "c"] {
        f.user(&format!("{name}@example.com")).await;
    }
    let page = answered(waiting).await;
    let names: Vec<&str> = page
        .events
        .iter()
        .map(|e| {
            e.data.resource.as_ref().unwrap()["userName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(
        f.feed.log_reads(),
        reads + 1,
        "one read for the window's commits"
    );

    // Without a window, the reader answers with what the first commit brought.
    f.feed = f.feed.clone().with_batch_window(Duration::ZERO);
    let waiting = f.long_poll(poll(page.next));
    tokio::time::sleep(Duration::from_millis(50)).await;
    f.user("d@example.com").await;
    let page = answered(waiting).await;
    assert_eq!(page.events.len(), 1);
}
