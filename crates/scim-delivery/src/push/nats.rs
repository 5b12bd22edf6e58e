//! NATS JetStream publishing: every event of a tenant to
//! `scim.events.{tenant}.{type}` on the stream `SCIM_EVENTS` (created if missing), with
//! `Nats-Msg-Id` set to the event id so that JetStream drops the duplicates a restart may
//! send (within the stream's duplicate window, two minutes by default).

use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_trait::async_trait;
use scim_store::delivery::Destination;

use super::engine::{Sent, Sink};
use crate::{Event, SharedEvent};

/// The stream events are published to.
pub const STREAM: &str = "SCIM_EVENTS";
/// The subject prefix: `scim.events.{tenant}.{type}`.
pub const SUBJECT_PREFIX: &str = "scim.events";
/// Messages published before their acknowledgements are awaited.
const CHUNK: usize = 100;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The subject of an event.
pub fn subject(event: &Event) -> String {
    format!("{SUBJECT_PREFIX}.{}.{}", event.tenant, event.event_type)
}

/// Checks a NATS URL (`nats://host:port`, `tls://…`).
pub fn check_url(text: &str) -> Result<(), String> {
    let url =
        reqwest::Url::parse(text.trim()).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "nats" | "tls" | "ws" | "wss") || url.host().is_none() {
        return Err(format!("a NATS URL is nats://host:port, not '{text}'"));
    }
    Ok(())
}

#[derive(Default)]
pub(crate) struct NatsSink {
    /// The connection, made at the first send and again after a failure.
    js: Option<(String, jetstream::Context)>,
}

impl NatsSink {
    async fn context(&mut self, url: &str) -> Result<jetstream::Context, String> {
        if let Some((u, js)) = &self.js
            && u == url
        {
            return Ok(js.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .name("scim")
            .connect(url)
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let js = jetstream::new(client);
        js.get_or_create_stream(jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create the stream {STREAM}: {e}"))?;
        self.js = Some((url.to_string(), js.clone()));
        Ok(js)
    }

    async fn publish(&mut self, url: &str, events: &[SharedEvent]) -> Result<(), String> {
        let js = self.context(url).await?;
        // Published in order, then acknowledged in order: the stream stores them in the
        // order sent, and a failure resends from the first (duplicates are dropped by id).
        let mut acks = Vec::with_capacity(events.len());
        for e in events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, e.id.as_str());
            let payload = bytes::Bytes::copy_from_slice(e.json().as_bytes());
            let ack = js
                .publish_with_headers(subject(e), headers, payload)
                .await
                .map_err(|err| format!("publishing {} failed: {err}", e.id))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|err| format!("JetStream did not acknowledge: {err}"))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn chunk(&self, _d: &Destination) -> usize {
        CHUNK
    }

    async fn send(&mut self, d: &Destination, events: &[SharedEvent]) -> Sent {
        let started = Instant::now();
        let id = events.first().map(|e| e.id.clone()).unwrap_or_default();
        let result = self.publish(&d.url, events).await;
        if result.is_err() {
            // Reconnect at the next attempt.
            self.js = None;
        }
        Sent {
            id,
            status: None,
            error: result.err(),
            retry_after: None,
            gone: false,
            latency: started.elapsed(),
        }
    }
}
