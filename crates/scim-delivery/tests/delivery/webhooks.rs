//! Webhook delivery: signatures, order, ids, retries honouring Retry-After, 410, pausing a
//! receiver that fails for too long, resume, replay, secret rotation, batches and filters.

use std::time::Duration;

use scim_delivery::push::signing;
use scim_delivery::push::{DestinationSpec, Destinations, RetryPolicy, Start};

use crate::support::{Fixture, Receiver, eventually, operator, options};

backend_tests!(
    deliveries_are_signed_in_order_and_retried_honouring_retry_after,
    a_gone_receiver_pauses_the_endpoint_then_resume_and_replay_carry_on,
    an_endpoint_failing_too_long_is_paused_with_its_place_kept,
    a_rotated_secret_signs_beside_the_new_one_during_the_overlap,
    batches_and_filters_shape_what_is_sent,
    an_endpoint_added_while_running_starts_at_once,
    endpoints_served_from_the_feeds_tail_miss_no_commit
);

const WAIT: Duration = Duration::from_secs(20);

async fn add(f: &Fixture, r: &Receiver, spec: DestinationSpec) -> (String, String) {
    let (view, secret) = Destinations::new(f.store.clone(), true)
        .create_webhook(
            &f.tenant,
            DestinationSpec {
                url: r.url.clone(),
                ..spec
            },
            &operator(),
        )
        .await
        .unwrap();
    (view.id, secret)
}

async fn deliveries_are_signed_in_order_and_retried_honouring_retry_after(mut f: Fixture) {
    let r = Receiver::start().await;
    // A 503 asking for a second's pause, then a 500, then acknowledgements.
    r.script(&[(503, Some("1")), (500, None)]);
    let (id, secret) = add(&f, &r, DestinationSpec::default()).await;
    f.start(scim_delivery::push::EngineOptions {
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_secs(5),
            pause_after: Duration::from_secs(3600),
        },
        ..options()
    });
    for i in 0..5 {
        f.user(&format!("u{i}@example.com")).await;
    }
    let expected = f.events().await;
    assert_eq!(expected.len(), 5);
    eventually("every event acknowledged", WAIT, || async {
        r.acknowledged().len() == 5
    })
    .await;
    let got = r.received();
    let key = signing::secret_key(&secret).unwrap();
    for g in &got {
        let ts: i64 = g.header("webhook-timestamp").parse().unwrap();
        assert!((ts - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 60);
        assert!(signing::verify(
            &key,
            g.header("webhook-id"),
            ts,
            &g.body,
            g.header("webhook-signature")
        ));
        assert_eq!(g.header("content-type"), "application/json");
        // The id sent is the event's id.
        assert_eq!(g.json()["id"], g.header("webhook-id"));
    }
    // The first event was tried three times, with the same id.
    assert_eq!(got[0].header("webhook-id"), expected[0].0);
    assert_eq!(got[1].header("webhook-id"), expected[0].0);
    assert_eq!(got[2].header("webhook-id"), expected[0].0);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "Retry-After: 1 is honoured ({:?})",
        got[1].at - got[0].at
    );
    assert_eq!(
        r.acknowledged(),
        expected.iter().map(|e| e.0.clone()).collect::<Vec<_>>()
    );

    // Every attempt is recorded; the position is the last event's (committed just after
    // the receiver's acknowledgement).
    eventually("the last position recorded", WAIT, || async {
        f.store.destination(&id).await.unwrap().unwrap().position == expected[4].1
    })
    .await;
    let d = f.store.destination(&id).await.unwrap().unwrap();
    assert_eq!(d.position, expected[4].1);
    assert_eq!((d.failures, d.last_status), (0, Some(204)));
    let attempts = f.store.delivery_attempts(&id, None, 100).await.unwrap();
    assert_eq!(attempts.len(), 7);
    let oldest: Vec<_> = attempts.iter().rev().take(3).collect();
    assert_eq!(oldest[0].status, Some(503));
    assert_eq!(oldest[0].outcome, "failed");
    assert!(oldest[0].error.as_deref().unwrap().contains("503"));
    assert_eq!(oldest[1].status, Some(500));
    assert_eq!(oldest[2].outcome, "delivered");
    f.stop().await;
    assert!(
        f.store
            .destination(&id)
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .is_none(),
        "a graceful stop gives the lease up"
    );
}

async fn a_gone_receiver_pauses_the_endpoint_then_resume_and_replay_carry_on(mut f: Fixture) {
    let r = Receiver::start().await;
    r.script(&[(410, None)]);
    let (id, _) = add(&f, &r, DestinationSpec::default()).await;
    f.start(options());
    f.user("a@example.com").await;
    f.user("b@example.com").await;
    eventually("paused as gone", WAIT, || async {
        let d = f.store.destination(&id).await.unwrap().unwrap();
        !d.active && d.paused_reason.as_deref() == Some("gone")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.received().len(), 1, "nothing more is sent while paused");
    let m = Destinations::new(f.store.clone(), true);
    let d = f.store.destination(&id).await.unwrap().unwrap();
    assert_eq!(d.position, 0, "its place is kept");
    let view = m.resume(&f.tenant, &d, &operator()).await.unwrap();
    assert_eq!(view.state, "active");
    eventually("both delivered", WAIT, || async {
        r.acknowledged().len() == 2
    })
    .await;
    // Replay from the beginning: the same ids again, in order.
    let d = f.store.destination(&id).await.unwrap().unwrap();
    m.replay(&f.tenant, &d, 0, &operator()).await.unwrap();
    eventually("replayed", WAIT, || async {
        r.received().iter().filter(|g| g.status == 204).count() == 4
    })
    .await;
    let ids: Vec<String> = r
        .received()
        .iter()
        .filter(|g| g.status == 204)
        .map(|g| g.header("webhook-id").to_string())
        .collect();
    assert_eq!(ids[0..2], ids[2..4]);
    // A replay past the head, or before what is kept, is refused.
    assert!(m.replay(&f.tenant, &d, 99, &operator()).await.is_err());
    f.stop().await;
}

async fn an_endpoint_failing_too_long_is_paused_with_its_place_kept(mut f: Fixture) {
    let r = Receiver::start().await;
    r.otherwise(500);
    let (id, _) = add(&f, &r, DestinationSpec::default()).await;
    f.start(scim_delivery::push::EngineOptions {
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(50),
            pause_after: Duration::from_millis(400),
        },
        ..options()
    });
    f.user("a@example.com").await;
    eventually("paused as failing", WAIT, || async {
        let d = f.store.destination(&id).await.unwrap().unwrap();
        !d.active && d.paused_reason.as_deref() == Some("failing")
    })
    .await;
    let d = f.store.destination(&id).await.unwrap().unwrap();
    assert_eq!(d.position, 0);
    assert!(d.failures >= 3, "retried with backoff: {}", d.failures);
    assert!(d.last_error.as_deref().unwrap().contains("500"));
    // The receiver is fixed; resumed, it gets the event.
    r.otherwise(204);
    Destinations::new(f.store.clone(), true)
        .resume(&f.tenant, &d, &operator())
        .await
        .unwrap();
    eventually("delivered after resume", WAIT, || async {
        r.acknowledged().len() == 1
    })
    .await;
    f.stop().await;
}

async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap(mut f: Fixture) {
    let r = Receiver::start().await;
    let (id, old) = add(&f, &r, DestinationSpec::default()).await;
    let m = Destinations::new(f.store.clone(), true);
    let d = f.store.destination(&id).await.unwrap().unwrap();
    let (view, new) = m
        .rotate_secret(&f.tenant, &d, Duration::from_secs(3600), &operator())
        .await
        .unwrap();
    assert_ne!(old, new);
    assert!(view.previous_secret_expires.is_some());
    f.start(options());
    f.user("a@example.com").await;
    eventually("delivered", WAIT, || async { r.acknowledged().len() == 1 }).await;
    let g = &r.received()[0];
    let header = g.header("webhook-signature");
    assert_eq!(header.split(' ').count(), 2, "{header}");
    let ts: i64 = g.header("webhook-timestamp").parse().unwrap();
    for secret in [&old, &new] {
        let key = signing::secret_key(secret).unwrap();
        assert!(signing::verify(
            &key,
            g.header("webhook-id"),
            ts,
            &g.body,
            header
        ));
    }
    // Without an overlap, only the new secret signs.
    let d = f.store.destination(&id).await.unwrap().unwrap();
    let (_, newest) = m
        .rotate_secret(&f.tenant, &d, Duration::ZERO, &operator())
        .await
        .unwrap();
    f.user("b@example.com").await;
    eventually("delivered", WAIT, || async { r.acknowledged().len() == 2 }).await;
    let g = &r.received()[1];
    let header = g.header("webhook-signature");
    let ts: i64 = g.header("webhook-timestamp").parse().unwrap();
    assert_eq!(header.split(' ').count(), 1);
    let key = signing::secret_key(&newest).unwrap();
    assert!(signing::verify(
        &key,
        g.header("webhook-id"),
        ts,
        &g.body,
        header
    ));
    f.stop().await;
}

async fn batches_and_filters_shape_what_is_sent(mut f: Fixture) {
    let r = Receiver::start().await;
    let m = Destinations::new(f.store.clone(), true);
    // Bad settings are refused.
    for bad in [
        DestinationSpec {
            event_types: Some("user.nope".into()),
            url: r.url.clone(),
            ..Default::default()
        },
        DestinationSpec {
            batch_max: Some(0),
            url: r.url.clone(),
            ..Default::default()
        },
        DestinationSpec {
            url: "ftp://example.com/".into(),
            ..Default::default()
        },
    ] {
        assert!(m.create_webhook(&f.tenant, bad, &operator()).await.is_err());
    }
    assert!(
        Destinations::new(f.store.clone(), false)
            .create_webhook(
                &f.tenant,
                DestinationSpec {
                    url: r.url.clone(),
                    ..Default::default()
                },
                &operator(),
            )
            .await
            .is_err(),
        "a loopback receiver needs the operator's permission"
    );
    assert!(
        f.store
            .list_destinations(None, None)
            .await
            .unwrap()
            .is_empty()
    );

    let a = f.user("a@example.com").await;
    // Starts after what exists: the first user is not sent.
    add(
        &f,
        &r,
        DestinationSpec {
            event_types: Some("user.deactivated,user.created".into()),
            batch_max: Some(10),
            start: Start::Now,
            ..Default::default()
        },
    )
    .await;
    let b = f.user("b@example.com").await;
    f.deactivate(&a.id).await;
    f.deactivate(&b.id).await;
    f.start(options());
    eventually("one batch", WAIT, || async { !r.acknowledged().is_empty() }).await;
    let body = r.received()[0].json();
    assert_eq!(body["type"], "scim.batch");
    let events = body["data"]["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["user.created", "user.deactivated", "user.deactivated"]
    );
    let id = r.received()[0].header("webhook-id").to_string();
    assert!(id.starts_with("bat_"), "{id}");
    f.stop().await;
}

async fn an_endpoint_added_while_running_starts_at_once(mut f: Fixture) {
    // The engine scans for new destinations only every minute: an endpoint created through
    // the same store must not wait for that scan.
    f.start(scim_delivery::push::EngineOptions {
        rescan: Duration::from_secs(60),
        ..options()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = Receiver::start().await;
    add(&f, &r, DestinationSpec::default()).await;
    f.user("first@example.com").await;
    eventually("delivered before the next scan", WAIT, || async {
        r.acknowledged().len() == 1
    })
    .await;
    f.stop().await;
}

/// Endpoints of one tenant that keep up are woken by the same commits, and those that wait
/// for their turn take the events another read from the feed's tail instead of reading the
/// log (here 15–18 reads for 15 commits and three endpoints). Each must still deliver every
/// later commit at once. A deliverer sleeps only after an empty page, and an empty page is
/// always a read of the log, so a tail page that looked caught up cannot put it to sleep
/// past a commit; this guards that, end to end: a stalled endpoint would wait for its next
/// lease renewal, a minute away here.
async fn endpoints_served_from_the_feeds_tail_miss_no_commit(mut f: Fixture) {
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    for r in &receivers {
        add(&f, r, DestinationSpec::default()).await;
    }
    f.start(scim_delivery::push::EngineOptions {
        lease_ttl: Duration::from_secs(180),
        rescan: Duration::from_secs(60),
        ..options()
    });
    let reads = f.feed.log_reads();
    let rounds = 15;
    for round in 1..=rounds {
        f.user(&format!("round-{round}@example.com")).await;
        eventually(
            &format!("round {round}: every endpoint delivered the event"),
            WAIT,
            || async { receivers.iter().all(|r| r.acknowledged().len() == round) },
        )
        .await;
    }
    // Three endpoints reading for themselves would read the log at least once each per
    // commit; sharing reads is what this test puts through its paces.
    let reads = f.feed.log_reads() - reads;
    assert!(
        reads < 3 * rounds as u64,
        "{reads} reads of the log for {rounds} commits and three endpoints: none shared"
    );
    f.stop().await;
}
