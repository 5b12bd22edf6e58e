//! Events as the feed hands them out: derived once, serialised once, shared by every
//! consumer.
//!
//! The consumers of a server that keep up (a webhook deliverer, a long-polling feed reader,
//! a NATS publisher) read the same events a moment apart. A [`SharedEvent`] is one
//! reference-counted event whose JSON is written on first use and kept, so that the second
//! and later consumers neither copy the resource it carries nor serialise it again. The
//! bodies the consumers send are assembled from these texts ([`json_array`]).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use crate::event::Event;

/// One event, cheap to clone, with its JSON written once (see the module documentation).
/// It dereferences to the [`Event`].
#[derive(Clone)]
pub struct SharedEvent(Arc<Inner>);

struct Inner {
    event: Event,
    json: OnceLock<Box<str>>,
}

impl SharedEvent {
    /// Shares `event`.
    pub fn new(event: Event) -> SharedEvent {
        SharedEvent(Arc::new(Inner {
            event,
            json: OnceLock::new(),
        }))
    }

    /// The event's JSON (as `serde_json::to_string` writes it), written on the first call.
    pub fn json(&self) -> &str {
        self.0.json.get_or_init(|| {
            // An event holds strings, numbers and JSON values only: it always serialises.
            serde_json::to_string(&self.0.event)
                .unwrap_or_else(|e| {
                    tracing::error!(event = %self.0.event.id, error = %e, "an event did not serialise");
                    String::from("null")
                })
                .into_boxed_str()
        })
    }

    /// The event itself: taken when this is the last reference, copied otherwise.
    pub fn into_event(self) -> Event {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner.event,
            Err(shared) => shared.event.clone(),
        }
    }
}

impl From<Event> for SharedEvent {
    fn from(event: Event) -> SharedEvent {
        SharedEvent::new(event)
    }
}

impl Deref for SharedEvent {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.0.event
    }
}

impl PartialEq for SharedEvent {
    fn eq(&self, other: &SharedEvent) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.event == other.0.event
    }
}

impl fmt::Debug for SharedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.event.fmt(f)
    }
}

/// The JSON array of `events`, in order, from their kept texts.
pub fn json_array(events: &[SharedEvent]) -> String {
    json_array_within("", events, "")
}

/// `before`, the JSON array of `events` ([`json_array`]) and `after`, written into one
/// string allocated once at its final size: a body of many events (a webhook batch, a
/// feed page) is tens of kilobytes, and growing the array, then copying it into its
/// envelope, copied it several times over.
pub fn json_array_within(before: &str, events: &[SharedEvent], after: &str) -> String {
    let texts = events.iter().map(SharedEvent::json);
    let size = before.len() + after.len() + 2 + texts.map(|t| t.len() + 1).sum::<usize>();
    let mut out = String::with_capacity(size);
    out.push_str(before);
    out.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e.json());
    }
    out.push(']');
    out.push_str(after);
    out
}

/// An event for the crate's unit tests: a user created at `position`, with an id, a
/// timestamp, an actor and a resource whose texts need escaping.
#[cfg(test)]
pub(crate) fn sample_event(position: i64) -> Event {
    use crate::event::{EventActor, EventData, EventType};
    Event {
        id: format!("evt_{position:04}"),
        event_type: EventType::UserCreated,
        version: 1,
        tenant: "acme".into(),
        position,
        timestamp: format!("2026-12-04T10:00:00.{position:03}Z"),
        actor: EventActor {
            token: Some("okta \"prod\"".into()),
            request_id: Some("r\"1".into()),
        },
        data: EventData {
            resource_type: "User".into(),
            id: format!("u{position}"),
            resource: Some(
                serde_json::json!({
                    "userName": "bj\u{f6}rn\\n\n", "active": true, "emails": [{"value": "f@x"}]
                })
                .into(),
            ),
            changes: Vec::new(),
            members: Vec::new(),
            delete_mode: None,
            roles: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(position: i64) -> Event {
        sample_event(position)
    }

    #[test]
    fn the_kept_text_is_the_events_json_and_is_written_once() {
        let shared = SharedEvent::new(event(7));
        let copy = shared.clone();
        assert_eq!(shared.json(), serde_json::to_string(&event(7)).unwrap());
        // The clone shares the text: the same allocation.
        assert!(std::ptr::eq(shared.json(), copy.json()));
        assert_eq!(copy.position, 7);
        assert_eq!(copy, shared);
    }

    #[test]
    fn an_array_of_kept_texts_reads_back_as_the_events() {
        let events: Vec<SharedEvent> = (1..=3).map(|p| SharedEvent::new(event(p))).collect();
        let text = json_array(&events);
        let back: Vec<Event> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, (1..=3).map(event).collect::<Vec<_>>());
        assert_eq!(json_array(&[]), "[]");
        let v: Value = serde_json::from_str(&json_array(&events[..1])).unwrap();
        assert_eq!(v[0]["actor"]["token"], "okta \"prod\"");
        // Written around, at its final size from the start.
        for n in 0..=3 {
            let text = json_array_within(r#"{"e":"#, &events[..n], "}");
            assert_eq!(text, format!(r#"{{"e":{}}}"#, json_array(&events[..n])));
            assert!(
                text.capacity() - text.len() <= 1,
                "{n}: {}",
                text.capacity()
            );
        }
    }

    #[test]
    fn into_event_takes_or_copies() {
        let only = SharedEvent::new(event(1));
        assert_eq!(only.into_event(), event(1));
        let shared = SharedEvent::new(event(2));
        let other = shared.clone();
        assert_eq!(shared.into_event(), event(2));
        assert_eq!(other.position, 2);
    }
}
