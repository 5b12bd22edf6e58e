//! Delivery destinations: settings, positions, leases that fence deliverers, attempts.

use std::time::Duration;

use scim_store::delivery::{
    DeliveryRecord, DestinationChange, DestinationKind, NewAttempt, NewDestination, Recorded,
};

use crate::support::Fixture;

store_tests!(
    destinations_are_created_changed_paused_replayed_and_deleted,
    leases_fence_deliverers_and_expire,
    attempts_are_recorded_and_read_newest_first,
    two_instances_never_hold_one_lease
);

fn webhook(tenant: i64) -> NewDestination {
    NewDestination {
        tenant_id: tenant,
        kind: DestinationKind::Webhook,
        url: "https://hooks.example.com/scim".into(),
        event_types: "user.*".into(),
        description: "billing".into(),
        secret: Some("whsec_a".into()),
        batch_max: 1,
        position: 3,
    }
}

fn attempt(first: i64, last: i64, status: Option<i64>, error: Option<&str>) -> NewAttempt {
    NewAttempt {
        first_position: first,
        last_position: last,
        event_id: format!("evt_x_{first}"),
        events: last - first + 1,
        status,
        latency_ms: 7,
        error: error.map(str::to_string),
    }
}

const TTL: Duration = Duration::from_secs(30);

async fn destinations_are_created_changed_paused_replayed_and_deleted(f: Fixture) {
    let s = f.s();
    let d = s.create_destination(webhook(f.acme)).await.unwrap();
    assert!(d.id.starts_with("wh_"));
    assert!(d.active);
    assert_eq!((d.position, d.generation, d.failures), (3, 0, 0));
    assert_eq!(d.secret.as_deref(), Some("whsec_a"));
    let n = s
        .create_destination(NewDestination {
            kind: DestinationKind::Nats,
            url: "nats://127.0.0.1:4222".into(),
            secret: None,
            ..webhook(f.acme)
        })
        .await
        .unwrap();
    assert!(n.id.starts_with("nats_"));
    s.create_destination(webhook(f.globex)).await.unwrap();
    let acme_hooks = s
        .list_destinations(Some(f.acme), Some(DestinationKind::Webhook))
        .await
        .unwrap();
    assert_eq!(acme_hooks.len(), 1);
    assert_eq!(acme_hooks[0].id, d.id);
    assert_eq!(s.list_destinations(None, None).await.unwrap().len(), 3);

    // Bad settings change nothing.
    let bad = s
        .create_destination(NewDestination {
            batch_max: 0,
            ..webhook(f.acme)
        })
        .await;
    assert!(bad.is_err());
    assert!(
        s.create_destination(webhook(999_999)).await.is_err(),
        "no such tenant"
    );
    assert_eq!(s.list_destinations(None, None).await.unwrap().len(), 3);

    // A rotation keeps the previous secret for the overlap.
    let rotated = s
        .change_destination(
            &d.id,
            DestinationChange {
                rotate_secret: Some(("whsec_b".into(), Duration::from_secs(3600))),
                event_types: Some("*".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret.as_deref(), Some("whsec_b"));
    assert_eq!(rotated.previous_secret.as_deref(), Some("whsec_a"));
    assert!(rotated.previous_expires.unwrap() > rotated.updated);
    assert_eq!(rotated.event_types, "*");
    assert_eq!(rotated.url, d.url, "unchanged settings are kept");
    assert_eq!(rotated.generation, 1);
    // Without an overlap the previous secret stops at once.
    let now_only = s
        .change_destination(
            &d.id,
            DestinationChange {
                rotate_secret: Some(("whsec_c".into(), Duration::ZERO)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_only.previous_secret, None);

    let paused = s
        .set_destination_active(&d.id, false, Some("operator".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(!paused.active);
    assert_eq!(paused.paused_reason.as_deref(), Some("operator"));
    let resumed = s
        .set_destination_active(&d.id, true, None)
        .await
        .unwrap()
        .unwrap();
    assert!(resumed.active && resumed.paused_reason.is_none());
    let replayed = s.replay_destination(&d.id, 1).await.unwrap().unwrap();
    assert_eq!(replayed.position, 1);
    assert!(replayed.generation > resumed.generation);
    assert!(s.replay_destination(&d.id, -1).await.is_err());
    assert!(s.replay_destination("wh_none", 1).await.unwrap().is_none());

    assert!(s.delete_destination(&d.id).await.unwrap());
    assert!(!s.delete_destination(&d.id).await.unwrap());
    assert!(s.destination(&d.id).await.unwrap().is_none());

    // Deleting a tenant deletes its destinations.
    assert!(s.delete_tenant("globex").await.unwrap());
    let left = s.list_destinations(None, None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, n.id);
}

async fn leases_fence_deliverers_and_expire(f: Fixture) {
    let s = f.s();
    let d = s.create_destination(webhook(f.acme)).await.unwrap();
    let a = s
        .acquire_destination(&d.id, "a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.lease_owner.as_deref(), Some("a"));
    assert!(
        s.acquire_destination(&d.id, "b", TTL)
            .await
            .unwrap()
            .is_none()
    );
    // The holder renews.
    assert!(
        s.acquire_destination(&d.id, "a", TTL)
            .await
            .unwrap()
            .is_some()
    );

    // Progress is recorded with the attempt.
    let r = s
        .record_delivery(
            &d.id,
            "a",
            a.generation,
            DeliveryRecord::Advanced {
                through: 5,
                attempt: Some(attempt(4, 5, Some(200), None)),
            },
            TTL,
        )
        .await
        .unwrap();
    let Recorded::Done(after) = r else {
        panic!("{r:?}")
    };
    assert_eq!(after.position, 5);
    assert_eq!(after.last_status, Some(200));
    assert!(after.last_success.is_some());
    // Someone else cannot record.
    assert!(matches!(
        s.record_delivery(&d.id, "b", a.generation, DeliveryRecord::Renew, TTL)
            .await
            .unwrap(),
        Recorded::Lost
    ));

    // An operator's replay wins over the deliverer's stale view.
    s.replay_destination(&d.id, 2).await.unwrap();
    let r = s
        .record_delivery(
            &d.id,
            "a",
            a.generation,
            DeliveryRecord::Advanced {
                through: 6,
                attempt: Some(attempt(6, 6, Some(204), None)),
            },
            TTL,
        )
        .await
        .unwrap();
    let Recorded::Changed(now) = r else {
        panic!("{r:?}")
    };
    assert_eq!(now.position, 2, "the replay stands");
    assert_eq!(s.delivery_attempts(&d.id, None, 10).await.unwrap().len(), 2);

    // A failure counts, schedules the next attempt and may pause.
    let r = s
        .record_delivery(
            &d.id,
            "a",
            now.generation,
            DeliveryRecord::Failed {
                attempt: attempt(3, 3, Some(503), Some("HTTP 503")),
                retry_in: Duration::from_secs(60),
                pause: None,
            },
            TTL,
        )
        .await
        .unwrap();
    let Recorded::Done(failing) = r else {
        panic!("{r:?}")
    };
    assert_eq!((failing.failures, failing.position), (1, 2));
    assert!(failing.failing_since.is_some());
    assert!(failing.next_attempt.clone().unwrap() > failing.updated);
    assert_eq!(failing.last_error.as_deref(), Some("HTTP 503"));
    let r = s
        .record_delivery(
            &d.id,
            "a",
            failing.generation,
            DeliveryRecord::Failed {
                attempt: attempt(3, 3, Some(410), Some("HTTP 410")),
                retry_in: Duration::from_secs(60),
                pause: Some("gone".into()),
            },
            TTL,
        )
        .await
        .unwrap();
    let Recorded::Done(paused) = r else {
        panic!("{r:?}")
    };
    assert!(!paused.active);
    assert_eq!(paused.paused_reason.as_deref(), Some("gone"));
    assert_eq!(paused.failures, 2);
    assert_eq!(
        paused.failing_since, failing.failing_since,
        "failing since the first"
    );

    // Released, another instance takes it at once.
    s.release_destination(&d.id, "a").await.unwrap();
    assert!(
        s.acquire_destination(&d.id, "b", TTL)
            .await
            .unwrap()
            .is_some()
    );
    // An expired lease is taken over; the old holder is fenced out.
    s.acquire_destination(&d.id, "b", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        s.acquire_destination(&d.id, "c", TTL)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        s.record_delivery(&d.id, "b", paused.generation, DeliveryRecord::Renew, TTL)
            .await
            .unwrap(),
        Recorded::Lost
    ));
}

async fn attempts_are_recorded_and_read_newest_first(f: Fixture) {
    let s = f.s();
    let d = s.create_destination(webhook(f.acme)).await.unwrap();
    let d = s
        .acquire_destination(&d.id, "a", TTL)
        .await
        .unwrap()
        .unwrap();
    for p in 4..=8 {
        let record = if p % 2 == 0 {
            DeliveryRecord::Advanced {
                through: p,
                attempt: Some(attempt(p, p, Some(200), None)),
            }
        } else {
            DeliveryRecord::Failed {
                attempt: attempt(p, p, None, Some("cannot connect")),
                retry_in: Duration::ZERO,
                pause: None,
            }
        };
        s.record_delivery(&d.id, "a", d.generation, record, TTL)
            .await
            .unwrap();
    }
    let all = s.delivery_attempts(&d.id, None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.first_position).collect::<Vec<_>>(),
        vec![8, 7, 6, 5, 4]
    );
    assert_eq!(all[0].outcome, "delivered");
    assert_eq!(all[1].outcome, "failed");
    assert_eq!(all[1].status, None);
    assert_eq!(all[1].error.as_deref(), Some("cannot connect"));
    assert_eq!(all[0].instance, "a");
    assert_eq!(all[0].latency_ms, 7);
    let older = s
        .delivery_attempts(&d.id, Some(all[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|a| a.first_position).collect::<Vec<_>>(),
        vec![6, 5]
    );
    let now = s.destination(&d.id).await.unwrap().unwrap();
    assert_eq!(
        (now.position, now.failures),
        (8, 0),
        "a success clears failures"
    );
}

async fn two_instances_never_hold_one_lease(f: Fixture) {
    let one = f.s();
    let two = f.second_instance().await;
    let d = one.create_destination(webhook(f.acme)).await.unwrap();
    for round in 0..20 {
        // Both race for a lease that has just expired.
        one.acquire_destination(&d.id, "holder", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (name_one, name_two) = (format!("one-{round}"), format!("two-{round}"));
        let (a, b) = tokio::join!(
            one.acquire_destination(&d.id, &name_one, TTL),
            two.acquire_destination(&d.id, &name_two, TTL),
        );
        let winners = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(winners, 1, "round {round}");
        let holder = one
            .destination(&d.id)
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .unwrap();
        one.release_destination(&d.id, &holder).await.unwrap();
    }
}
