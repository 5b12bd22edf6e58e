//! Delivery on its own threads (`BackgroundRuntime`, as `scim serve` runs it): the feed's
//! reads and the engine's deliverers run there, a long poll given up by its caller ends
//! there too, and the created users arrive as their stored text with `id` and `meta`
//! around it.

use std::time::Duration;

use scim_delivery::push::{DestinationSpec, Destinations};
use scim_delivery::{BackgroundRuntime, EventFilter, FeedRequest};

use crate::support::{Fixture, Receiver, answered, eventually, operator, options};

backend_tests!(feed_reads_and_deliverers_run_on_delivery_threads);

const WAIT: Duration = Duration::from_secs(20);

async fn feed_reads_and_deliverers_run_on_delivery_threads(mut f: Fixture) {
    let background = BackgroundRuntime::start(1).unwrap();
    f.feed = f.feed.clone().on_runtime(background.handle().clone());
    let poll = |after: i64, wait: u64| FeedRequest {
        after,
        limit: 100,
        wait: Duration::from_secs(wait),
        filter: EventFilter::all(),
    };
    // A long poll its caller gives up on ends, and leaves the tenant's turn free.
    let given_up = tokio::time::timeout(
        Duration::from_millis(100),
        f.feed.read(&f.tenant, &poll(0, 30)),
    )
    .await;
    assert!(given_up.is_err(), "nothing to read yet");
    // A long poll waiting on the delivery threads sees the next commit.
    let waiting = f.long_poll(poll(0, 30));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ann = f.user("ann@example.com").await;
    let page = answered(waiting).await;
    assert_eq!(page.events.len(), 1);
    let created = &page.events[0];
    assert_eq!(created.event_type.as_str(), "user.created");
    let resource = created.data.resource.as_ref().unwrap();
    assert_eq!(resource["userName"], "ann@example.com");
    assert_eq!(resource["id"], ann.id.as_str());
    assert_eq!(resource["effectiveRoles"], serde_json::json!([]));
    // Passed on as stored: `id` first, the stored members as they were written
    // (`schemas` first among them), then `meta` and the roles.
    let text = serde_json::to_string(resource).unwrap();
    let id_first = format!("{{\"id\":\"{}\",\"schemas\":", ann.id);
    assert!(text.starts_with(&id_first), "{text}");
    assert!(created.json().contains(&id_first), "{}", created.json());

    // The engine runs on the same threads and delivers in order.
    let r = Receiver::start().await;
    Destinations::new(f.store.clone(), true)
        .create_webhook(
            &f.tenant,
            DestinationSpec {
                url: r.url.clone(),
                ..DestinationSpec::default()
            },
            &operator(),
        )
        .await
        .unwrap();
    f.start(options());
    for i in 0..5 {
        f.user(&format!("u{i}@example.com")).await;
    }
    eventually("five events acknowledged", WAIT, || async {
        r.acknowledged().len() == 5
    })
    .await;
    let positions: Vec<i64> = r
        .received()
        .iter()
        .filter(|x| x.status < 300)
        .map(|x| x.json()["position"].as_i64().unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted);
    f.stop().await;
    // Stopping the delivery threads from async code neither blocks nor panics; the store
    // goes on serving the requests' runtime.
    drop(background);
    f.user("after@example.com").await;
}
