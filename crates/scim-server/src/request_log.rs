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
use std::time::Duration;

use bytes::Bytes;
use scim_store::Store;
use scim_store::requests::NewRequest;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

/// Entries waiting to be written at most.
pub const QUEUE: usize = 8192;
/// Entries written in one transaction at most.
const BATCH: usize = 512;
/// How long the writer gathers entries before writing them: the log then commits a few
/// times a second however many requests arrive. Without it, a tenant far over its rate
/// limit (hundreds of refused requests a second, each logged) made the log commit on
/// nearly every request, and every other tenant's writes queued behind those commits on
/// SQLite's single writer (issue 11's fairness benchmark).
const LINGER: Duration = Duration::from_millis(200);
/// A tenant's log is trimmed to its policy's number of entries after this many entries;
/// its age bound (in days) is the retention pass's (`scim_store::retention`).
const TRIM_EVERY: u64 = 1000;
/// Largest request body kept, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// The queue to the writer task.
pub struct RequestLogger {
    tx: mpsc::Sender<NewRequest>,
    dropped: AtomicU64,
    /// Turned true by [`RequestLogger::close`]: the writer stops gathering, writes what is
    /// queued and ends.
    closing: watch::Sender<bool>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RequestLogger {
    /// Starts the writer on the current runtime. It ends once every handle is dropped, or
    /// on [`RequestLogger::close`], after writing what was queued.
    pub fn spawn(store: Arc<dyn Store>) -> Arc<RequestLogger> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (closing, closed) = watch::channel(false);
        let writer = tokio::spawn(write_batches(store, rx, closed));
        Arc::new(RequestLogger {
            tx,
            dropped: AtomicU64::new(0),
            closing,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Writes what is queued at once (without gathering more) and stops the writer,
    /// waiting for it at most `within`. Entries recorded afterwards are dropped (counted).
    /// `scim serve` calls it once it has stopped answering, so that the last requests'
    /// entries are not lost with the runtime.
    pub async fn close(&self, within: Duration) {
        let _ = self.closing.send(true);
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer
            && tokio::time::timeout(within, w).await.is_err()
        {
            tracing::warn!("the request log's last entries were not all written in time");
        }
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

async fn write_batches(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<NewRequest>,
    mut closing: watch::Receiver<bool>,
) {
    let mut since_trim: HashMap<i64, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let got = tokio::select! {
            got = rx.recv_many(&mut batch, BATCH) => got,
            _ = async { closing.wait_for(|c| *c).await.is_ok() } => {
                // Nothing more comes in; what is queued is still received.
                rx.close();
                rx.recv_many(&mut batch, BATCH).await
            }
        };
        if got == 0 {
            break;
        }
        gather(&mut rx, &mut batch, LINGER, &mut closing).await;
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
            if let Err(e) = store.cap_requests(t).await {
                tracing::warn!(error = %e, "request log not trimmed");
            }
        }
    }
}

/// Adds to `batch` what arrives within `linger`, until it holds [`BATCH`] entries, the
/// queue is closed, or the logger is closing (then at once, so that the last entries are
/// written without delay on shutdown).
async fn gather(
    rx: &mut mpsc::Receiver<NewRequest>,
    batch: &mut Vec<NewRequest>,
    linger: Duration,
    closing: &mut watch::Receiver<bool>,
) {
    let until = tokio::time::Instant::now() + linger;
    while batch.len() < BATCH {
        let room = BATCH - batch.len();
        // `recv_many` is cancel-safe: an entry is either in `batch` or still queued.
        tokio::select! {
            got = tokio::time::timeout_at(until, rx.recv_many(batch, room)) => match got {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = closing.wait_for(|c| *c) => return,
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
    use super::{BATCH, Duration, NewRequest, gather, mpsc, redacted_body, watch};

    fn entry(status: u16) -> NewRequest {
        NewRequest {
            tenant_id: Some(1),
            tenant_name: "acme".into(),
            at: String::new(),
            method: "GET".into(),
            path: "/Users".into(),
            status,
            scim_type: None,
            detail: None,
            duration_us: 1,
            request_id: None,
            token_name: None,
            user_agent: None,
            request_body: None,
            response_body: None,
        }
    }

    #[tokio::test]
    async fn entries_arriving_within_the_linger_are_written_together() {
        let (tx, mut rx) = mpsc::channel(BATCH * 2);
        tx.send(entry(200)).await.unwrap();
        let mut batch = Vec::new();
        rx.recv_many(&mut batch, BATCH).await;
        let later = tokio::spawn(async move {
            for status in [201, 204, 429] {
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.send(entry(status)).await.unwrap();
            }
        });
        let (_open, mut closing) = watch::channel(false);
        tokio::time::timeout(
            Duration::from_secs(30),
            gather(&mut rx, &mut batch, Duration::from_secs(3600), &mut closing),
        )
        .await
        .expect("a closed queue ends the gathering");
        let statuses: Vec<u16> = batch.iter().map(|e| e.status).collect();
        // The sender was dropped after its third entry: gathering ended there, not after
        // the linger.
        assert_eq!(statuses, [200, 201, 204, 429]);
        later.await.unwrap();

        // A full batch is written at once.
        let (tx, mut rx) = mpsc::channel(BATCH * 2);
        for _ in 0..BATCH + 5 {
            tx.send(entry(429)).await.unwrap();
        }
        let mut batch = Vec::new();
        rx.recv_many(&mut batch, 1).await;
        tokio::time::timeout(
            Duration::from_secs(30),
            gather(&mut rx, &mut batch, Duration::from_secs(3600), &mut closing),
        )
        .await
        .expect("a full batch does not wait for the linger");
        assert_eq!(batch.len(), BATCH);
    }

    #[tokio::test(start_paused = true)]
    async fn gathering_ends_with_the_linger_or_when_the_logger_closes() {
        let (tx, mut rx) = mpsc::channel(BATCH);
        let (close, mut closing) = watch::channel(false);
        tx.send(entry(200)).await.unwrap();
        let mut batch = Vec::new();
        rx.recv_many(&mut batch, BATCH).await;
        // The sender stays open: gathering ends when the linger is over.
        let started = tokio::time::Instant::now();
        gather(
            &mut rx,
            &mut batch,
            Duration::from_millis(200),
            &mut closing,
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        assert_eq!(batch.len(), 1);
        // Closing ends it at once.
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            close.send(true).unwrap();
            close
        });
        let started = tokio::time::Instant::now();
        gather(&mut rx, &mut batch, Duration::from_secs(3600), &mut closing).await;
        assert_eq!(started.elapsed(), Duration::from_millis(5));
        drop(closer.await.unwrap());
        drop(tx);
    }

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
