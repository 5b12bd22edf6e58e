//! The request log's writer: every SCIM request of a tenant becomes an entry
//! ([`scim_store::requests`]) handed to a bounded queue, and one task writes what is
//! waiting in batches (one write transaction each, which SQLite's group commit and
//! PostgreSQL's batches share with other writes). A request never waits for the log: when
//! the queue is full the entry is dropped and counted ([`RequestLogger::dropped`]).
//!
//! What an entry holds is decided here and in `logging.rs`: never the `Authorization`
//! header; bodies only of failed requests, only up to [`MAX_BODY`] bytes, with every
//! password and secret replaced by `"[redacted]"`; the error's detail without the values
//! a client sent (`error_log.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use scim_store::Store;
use scim_store::requests::NewRequest;
use serde_json::Value;
use tokio::sync::mpsc;

/// Entries waiting to be written at most.
pub const QUEUE: usize = 8192;
/// Entries written in one transaction at most.
const BATCH: usize = 512;
/// A tenant's log is trimmed to its policy after this many entries (and by retention).
const TRIM_EVERY: u64 = 1000;
/// Largest request body kept, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// The queue to the writer task.
pub struct RequestLogger {
    tx: mpsc::Sender<NewRequest>,
    dropped: AtomicU64,
}

impl RequestLogger {
    /// Starts the writer on the current runtime. It ends once every handle is dropped
    /// and what was queued is written.
    pub fn spawn(store: Arc<dyn Store>) -> Arc<RequestLogger> {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, rx));
        Arc::new(RequestLogger {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues an entry, or drops it (counted) when the queue is full.
    pub fn record(&self, entry: NewRequest) {
        if self.tx.try_send(entry).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(dropped = n, "request log queue full: entries dropped");
            }
        }
    }

    /// Entries dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<NewRequest>) {
    let mut since_trim: HashMap<i64, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        for e in &batch {
            if let Some(t) = e.tenant_id {
                *since_trim.entry(t).or_default() += 1;
            }
        }
        if let Err(e) = store.append_requests(std::mem::take(&mut batch)).await {
            tracing::warn!(error = %e, "request log entries not written");
        }
        let due: Vec<i64> = since_trim
            .iter()
            .filter(|(_, n)| **n >= TRIM_EVERY)
            .map(|(t, _)| *t)
            .collect();
        for t in due {
            since_trim.remove(&t);
            let now = scim_store::audit::now_instant();
            if let Err(e) = store.trim_requests(t, &now).await {
                tracing::warn!(error = %e, "request log not trimmed");
            }
        }
    }
}

/// The tenant and token of a request, filled in by authentication.
#[derive(Clone, Default)]
pub(crate) struct AuthSlot(Arc<Mutex<Option<(i64, String)>>>);

impl AuthSlot {
    pub(crate) fn set(&self, tenant_id: i64, token_name: &str) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some((tenant_id, token_name.to_string()));
        }
    }

    pub(crate) fn get(&self) -> Option<(i64, String)> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// The first [`MAX_BODY`] bytes of a request body, copied as the handler reads it (the
/// chunks are shared, not copied).
#[derive(Clone, Default)]
pub(crate) struct BodyCapture(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    chunks: Vec<Bytes>,
    len: usize,
    over: bool,
}

impl BodyCapture {
    pub(crate) fn wrap(&self, body: axum::body::Body) -> axum::body::Body {
        use futures_util::StreamExt;
        let capture = self.clone();
        axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
            if let (Ok(b), Ok(mut c)) = (&chunk, capture.0.lock()) {
                if c.len + b.len() <= MAX_BODY {
                    c.len += b.len();
                    c.chunks.push(b.clone());
                } else {
                    c.over = true;
                    c.len += b.len();
                }
            }
            chunk
        }))
    }

    /// The body as the log keeps it.
    pub(crate) fn logged(&self) -> Option<String> {
        let c = self.0.lock().ok()?;
        if c.over {
            return Some(format!(
                "(not kept: more than {MAX_BODY} bytes, the request log's limit)"
            ));
        }
        if c.len == 0 {
            return None;
        }
        let mut bytes = Vec::with_capacity(c.len);
        for b in &c.chunks {
            bytes.extend_from_slice(b);
        }
        Some(redacted_body(&bytes))
    }
}

/// A request body with its secrets redacted: JSON with every password and secret
/// replaced; anything else kept only if it does not mention one.
pub(crate) fn redacted_body(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            redact_secrets(&mut v);
            v.to_string()
        }
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let lower = text.to_ascii_lowercase();
            if ["password", "secret", "token"]
                .iter()
                .any(|w| lower.contains(w))
            {
                "(not kept: not JSON, and it mentions a password, secret or token)".to_string()
            } else {
                text.into_owned()
            }
        }
    }
}

fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["password", "secret", "token", "authorization", "credential"]
        .iter()
        .any(|w| lower.contains(w))
}

fn redact_secrets(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // A PATCH operation on a password: `{"op", "path": "password", "value"}`.
            let secret_path = map.iter().any(|(k, p)| {
                k.eq_ignore_ascii_case("path") && p.as_str().is_some_and(secret_name)
            });
            for (k, val) in map.iter_mut() {
                if secret_name(k) || (secret_path && k.eq_ignore_ascii_case("value")) {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact_secrets(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::redacted_body;

    #[test]
    fn passwords_and_secrets_never_reach_the_log() {
        let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName":"bjensen","password":"hunter2",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"x"}},
            "Operations":[{"op":"replace","path":"password","value":"s3cret!"},
                          {"op":"Replace","value":{"PASSWORD":"other1","active":false}}],
            "nested":[{"clientSecret":"abc","api_token":"t"}]}"#;
        let out = redacted_body(body);
        for secret in ["hunter2", "s3cret!", "other1", "abc\"", "\"t\""] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains("bjensen") && out.contains("\"active\":false"),
            "{out}"
        );
        assert_eq!(
            redacted_body(b"userName=x&password=y"),
            "(not kept: not JSON, and it mentions a password, secret or token)"
        );
        assert_eq!(redacted_body(b"{not json"), "{not json");
    }
}
