//! Webhook deliveries: one signed HTTP POST per event (or per batch, for endpoints that
//! opted in), following the Standard Webhooks specification.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use scim_store::delivery::Destination;

use super::address;
use super::engine::{Sent, Sink};
use super::retry::parse_retry_after;
use super::signing;
use crate::SharedEvent;
use crate::shared::json_array_within;

/// How much of a failing receiver's answer is kept in the attempt's record.
const BODY_KEPT: usize = 512;

/// Settings of the HTTP client that delivers webhooks.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The most one delivery may take, from connecting to the end of the answer.
    pub timeout: Duration,
    /// Whether receivers on private, loopback and link-local addresses may be reached.
    pub allow_private: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(10),
            allow_private: false,
        }
    }
}

/// The HTTP client of webhook deliveries: no redirects followed (a 3xx is a failure the
/// operator should fix), a timeout, and, unless private receivers are allowed, a resolver
/// that refuses private addresses.
pub fn client(options: &HttpOptions) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout)
        .connect_timeout(options.timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(4)
        .use_rustls_tls();
    if !options.allow_private {
        b = b.dns_resolver(address::resolver());
    }
    b.build()
}

/// The body and `webhook-id` of a delivery: the event itself, or for an endpoint with
/// batches a `scim.batch` envelope holding them (its id names the first and last event).
pub fn payload(d: &Destination, events: &[SharedEvent]) -> (String, Vec<u8>) {
    match events {
        [one] if d.batch_max <= 1 => (one.id.clone(), one.json().as_bytes().to_vec()),
        _ => {
            let first = events.first();
            let last = events.last();
            let id = match (first, last) {
                (Some(f), Some(l)) => format!(
                    "bat{}_{}",
                    f.id.strip_prefix("evt").unwrap_or(&f.id),
                    l.position
                ),
                _ => String::new(),
            };
            // Written around the events' kept texts (not through a `Value`, which would
            // copy every resource): `{"type", "timestamp", "data": {"events": [...]}}`.
            let timestamp = last.map_or_else(|| "null".to_string(), |l| json_string(&l.timestamp));
            let body = json_array_within(
                &format!(r#"{{"type":"scim.batch","timestamp":{timestamp},"data":{{"events":"#),
                events,
                "}}",
            );
            (id, body.into_bytes())
        }
    }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The keys a delivery is signed with now: the secret, and the previous one during a
/// rotation's overlap.
fn keys(d: &Destination) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    if let Some(k) = d
        .secret
        .as_deref()
        .and_then(|s| signing::secret_key(s).ok())
    {
        keys.push(k);
    }
    let now = scim_store_now();
    if let (Some(prev), Some(until)) = (&d.previous_secret, &d.previous_expires)
        && until.as_str() > now.as_str()
        && let Ok(k) = signing::secret_key(prev)
    {
        keys.push(k);
    }
    keys
}

/// Now as the store writes times (UTC, milliseconds), so that stored times compare as text.
fn scim_store_now() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_default()
}

pub(crate) struct WebhookSink {
    pub(crate) client: reqwest::Client,
    pub(crate) allow_private: bool,
}

#[async_trait]
impl Sink for WebhookSink {
    fn chunk(&self, d: &Destination) -> usize {
        usize::try_from(d.batch_max.clamp(1, 1000)).unwrap_or(1)
    }

    async fn send(&mut self, d: &Destination, events: &[SharedEvent]) -> Sent {
        let (id, body) = payload(d, events);
        let started = Instant::now();
        let failed = |error: String, status: Option<u16>| Sent {
            id: id.clone(),
            status,
            error: Some(error),
            retry_after: None,
            gone: false,
            latency: started.elapsed(),
        };
        // Checked at every delivery: a literal address does not go through the resolver.
        if let Err(e) = address::check_url(&d.url, self.allow_private) {
            return failed(e, None);
        }
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = signing::signature_header(&keys(d), &id, timestamp, &body);
        let request = self
            .client
            .post(&d.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                concat!("scim-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return failed(describe(&e), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read a little of the answer: all of it for a success (so that the connection is
        // reused), at most BODY_KEPT bytes of a failure's.
        let mut kept = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(c)) => {
                    if kept.len() < BODY_KEPT {
                        kept.extend_from_slice(&c[..c.len().min(BODY_KEPT - kept.len())]);
                    } else if !status.is_success() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if status.is_success() {
                        return failed(
                            format!("the answer's body failed: {}", describe(&e)),
                            Some(status.as_u16()),
                        );
                    }
                    break;
                }
            }
        }
        let latency = started.elapsed();
        if status.is_success() {
            return Sent {
                id,
                status: Some(status.as_u16()),
                error: None,
                retry_after: None,
                gone: false,
                latency,
            };
        }
        let text = String::from_utf8_lossy(&kept);
        let mut error = format!("HTTP {status}");
        if status.is_redirection() {
            error.push_str(" (redirects are not followed: give the final URL)");
        }
        if !text.trim().is_empty() {
            error.push_str(": ");
            error.push_str(text.trim());
        }
        Sent {
            id,
            status: Some(status.as_u16()),
            error: Some(error),
            retry_after,
            gone: status == reqwest::StatusCode::GONE,
            latency,
        }
    }
}

/// A client error with its causes (reqwest's own text is terse).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use scim_store::delivery::DestinationKind;
    use serde_json::json;

    fn destination(batch_max: i64) -> Destination {
        Destination {
            id: "wh_1".into(),
            tenant_id: 1,
            kind: DestinationKind::Webhook,
            url: "http://127.0.0.1:9/hook".into(),
            event_types: String::new(),
            description: String::new(),
            secret: None,
            previous_secret: None,
            previous_expires: None,
            batch_max,
            active: true,
            paused_reason: None,
            position: 0,
            generation: 0,
            failures: 0,
            failing_since: None,
            next_attempt: None,
            last_status: None,
            last_error: None,
            last_success: None,
            lease_owner: None,
            lease_expires: None,
            created: String::new(),
            updated: String::new(),
        }
    }

    fn event(position: i64) -> SharedEvent {
        SharedEvent::new(crate::shared::sample_event(position))
    }

    /// The bodies written around the kept texts are, byte for byte, what serialising the
    /// events (and the `scim.batch` envelope) gives: receivers verify signatures over them.
    #[test]
    fn bodies_are_the_serialised_events_byte_for_byte() {
        let events: Vec<SharedEvent> = (1..=3).map(event).collect();
        let (id, body) = payload(&destination(1), &events[..1]);
        assert_eq!(id, "evt_0001");
        assert_eq!(body, serde_json::to_vec(&*events[0]).unwrap());

        let (id, body) = payload(&destination(100), &events);
        let plain: Vec<Event> = events.iter().map(|e| Event::clone(e)).collect();
        let expected = json!({
            "type": "scim.batch",
            "timestamp": plain[2].timestamp,
            "data": {"events": plain},
        });
        assert_eq!(
            String::from_utf8(body).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        assert_eq!(id, "bat_0001_3");
    }
}
