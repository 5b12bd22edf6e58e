//! In-process subscriptions: a tenant's events as a stream, for applications that embed
//! `scim` as a library and for the push deliverers.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::Stream;
use scim_store::Tenant;

use crate::DeliveryError;
use crate::event::{Event, EventFilter};
use crate::feed::{Feed, FeedRequest, MAX_LIMIT};
use crate::shared::SharedEvent;

/// How long one wait for new events lasts before the subscription asks again.
const WAIT: Duration = Duration::from_secs(30);
/// Pause after a failed read before the next one.
const RETRY: Duration = Duration::from_millis(500);

struct State {
    feed: Feed,
    tenant: Tenant,
    cursor: i64,
    filter: EventFilter,
    buffer: VecDeque<Event>,
    failed: bool,
    ended: bool,
}

/// The tenant's events after position `after`, in order, forever: the stream waits for
/// new events when it has delivered every one. A read that fails yields the error and the
/// stream goes on (after a short pause) from the same place; a cursor older than the
/// events kept yields [`DeliveryError::CursorExpired`] and ends the stream.
///
/// The stream holds no position of its own beyond memory: a consumer that must survive a
/// restart stores the `position` of the last event it handled and subscribes from there.
pub fn subscribe(
    feed: Feed,
    tenant: Tenant,
    after: i64,
    filter: EventFilter,
) -> impl Stream<Item = Result<Event, DeliveryError>> + Send + 'static {
    let state = State {
        feed,
        tenant,
        cursor: after,
        filter,
        buffer: VecDeque::new(),
        failed: false,
        ended: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        loop {
            if let Some(e) = s.buffer.pop_front() {
                return Some((Ok(e), s));
            }
            if s.failed {
                tokio::time::sleep(RETRY).await;
                s.failed = false;
            }
            let request = FeedRequest {
                after: s.cursor,
                limit: MAX_LIMIT,
                wait: WAIT,
                filter: s.filter.clone(),
            };
            match s.feed.read(&s.tenant, &request).await {
                Ok(page) => {
                    s.cursor = page.next;
                    s.buffer
                        .extend(page.events.into_iter().map(SharedEvent::into_event));
                }
                Err(e) => {
                    s.ended = matches!(e, DeliveryError::CursorExpired { .. });
                    s.failed = true;
                    return Some((Err(e), s));
                }
            }
        }
    })
}
