//! NATS JetStream publishing against a real server (127.0.0.1:4222, or SCIM_TEST_NATS_URL):
//! every event on `scim.events.{tenant}.{type}`, in order, with `Nats-Msg-Id` = the event id
//! so that JetStream drops what a replay resends. Skipped without a server, except in CI.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use scim_delivery::push::{DestinationSpec, Destinations, Start, nats};

use crate::support::{Fixture, eventually, operator, options};

/// The NATS server's URL, or `None` (after saying SKIPPED) when none answers.
async fn server() -> Option<String> {
    let url =
        std::env::var("SCIM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&url);
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => Some(url),
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("NATS is required in CI but {url} does not answer: {why}");
            }
            eprintln!("NATS: SKIPPED (no server at {url}: {why})");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_jetstream_in_order_once_by_message_id() {
    let Some(url) = server().await else {
        return;
    };
    let mut f = Fixture::sqlite().await;
    let a = f.user("a@example.com").await;
    f.deactivate(&a.id).await;
    let m = Destinations::new(f.store.clone(), true);
    let view = m
        .create_nats(
            &f.tenant,
            DestinationSpec {
                url: url.clone(),
                start: Start::Beginning,
                ..Default::default()
            },
            &operator(),
        )
        .await
        .unwrap();
    f.start(options());
    f.user("b@example.com").await;
    let expected = f.events().await;
    assert_eq!(expected.len(), 3);
    eventually("published", Duration::from_secs(20), || async {
        let d = f.store.destination(&view.id).await.unwrap().unwrap();
        d.position == expected[2].1
    })
    .await;

    // Read the tenant's subjects back from the stream.
    let client = async_nats::connect(&url).await.unwrap();
    let js = jetstream::new(client);
    let read = |js: jetstream::Context, tenant: String| async move {
        let stream = js.get_stream(nats::STREAM).await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: format!("{}.{tenant}.>", nats::SUBJECT_PREFIX),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut got = Vec::new();
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(Duration::from_millis(500), messages.next()).await
        {
            let id = msg
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string())
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
            assert_eq!(body["id"], id.as_str());
            got.push((msg.subject.to_string(), id));
        }
        got
    };
    let got = read(js.clone(), f.tenant.name.clone()).await;
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(id, _, t)| (format!("scim.events.{}.{t}", f.tenant.name), id.clone()))
        .collect();
    assert_eq!(got, want);

    // A replay resends everything; JetStream drops the duplicates by message id.
    let d = f.store.destination(&view.id).await.unwrap().unwrap();
    let before = f
        .store
        .delivery_attempts(&view.id, None, 100)
        .await
        .unwrap()
        .len();
    m.replay(&f.tenant, &d, 0, &operator()).await.unwrap();
    eventually("replayed", Duration::from_secs(20), || async {
        let attempts = f
            .store
            .delivery_attempts(&view.id, None, 100)
            .await
            .unwrap();
        let position = f
            .store
            .destination(&view.id)
            .await
            .unwrap()
            .unwrap()
            .position;
        attempts.len() > before && position == expected[2].1
    })
    .await;
    assert_eq!(
        read(js, f.tenant.name.clone()).await,
        want,
        "no duplicates in the stream"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nats_server_is_retried_and_recorded() {
    let mut f = Fixture::sqlite().await;
    let m = Destinations::new(f.store.clone(), true);
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let view = m
        .create_nats(
            &f.tenant,
            DestinationSpec {
                url: format!("nats://127.0.0.1:{port}"),
                start: Start::Beginning,
                ..Default::default()
            },
            &operator(),
        )
        .await
        .unwrap();
    assert!(
        m.create_nats(
            &f.tenant,
            DestinationSpec {
                url: "http://x".into(),
                ..Default::default()
            },
            &operator(),
        )
        .await
        .is_err()
    );
    f.user("a@example.com").await;
    f.start(options());
    eventually("failures recorded", Duration::from_secs(30), || async {
        let d = f.store.destination(&view.id).await.unwrap().unwrap();
        d.failures >= 2 && d.position == 0
    })
    .await;
    let attempts = f.store.delivery_attempts(&view.id, None, 10).await.unwrap();
    assert!(
        attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("cannot connect"),
        "{:?}",
        attempts[0]
    );
    f.stop().await;
}
