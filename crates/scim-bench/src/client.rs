//! The HTTP client: one keep-alive connection per load worker, SCIM headers, and the outcome of
//! one request reduced to what the report counts.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

pub const SCIM_JSON: &str = "application/scim+json";

/// A connection idle for longer is closed by the client rather than reused: servers close idle
/// keep-alive connections after a few seconds (Node: 5 s), and a request sent on a connection
/// the server is closing fails. Connections of a running workload are never idle this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// What counts as success for a request, beyond a 2xx status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any 2xx status.
    Success,
    /// A 2xx Bulk response whose every operation has a 2xx status.
    BulkAllOk,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub url: String,
    pub body: Option<String>,
    pub expect: Expect,
}

impl Req {
    pub fn get(url: String) -> Req {
        Req {
            method: Method::GET,
            url,
            body: None,
            expect: Expect::Success,
        }
    }

    pub fn with_body(method: Method, url: String, body: String) -> Req {
        Req {
            method,
            url,
            body: Some(body),
            expect: Expect::Success,
        }
    }
}

/// A client for one server: bearer token and SCIM media types on every request.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// A client with at most `idle` idle keep-alive connections.
    pub fn new(token: &str, timeout: Duration, idle: usize) -> Result<Client> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token cannot be sent in an HTTP header")?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static(SCIM_JSON));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(idle)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http })
    }

    /// Sends a request and reads the whole response. `Ok` means a 2xx that met `expect`;
    /// `Err` carries the error class the report counts ("409", "timeout", "bulk op 400", …).
    pub async fn send(&self, req: &Req) -> std::result::Result<(), String> {
        let mut b = self.http.request(req.method.clone(), &req.url);
        if let Some(body) = &req.body {
            b = b.header(CONTENT_TYPE, SCIM_JSON).body(body.clone());
        }
        let resp = b.send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| classify(&e))?;
        if !status.is_success() {
            return Err(status.as_u16().to_string());
        }
        match req.expect {
            Expect::Success => Ok(()),
            Expect::BulkAllOk => bulk_failure(&body).map_or(Ok(()), Err),
        }
    }

    /// Sends a request whose JSON answer is needed (seeding); any failure is an error with
    /// the server's message. A 503 or 429 (the server asks to come back later) is retried up
    /// to `RETRIES` times, after its Retry-After (at most 5 s) or 0.5 s per attempt.
    pub async fn json(&self, req: &Req) -> Result<Value> {
        self.exchange(req)
            .await
            .map_err(|f| anyhow::anyhow!("{} {}: {}", req.method, req.url, f.detail))
    }

    /// [`Client::json`] with the failure's class ("409", "timeout", …) kept apart from its
    /// text, for counting errors.
    pub async fn exchange(&self, req: &Req) -> std::result::Result<Value, Failure> {
        let mut attempt = 0u32;
        loop {
            let mut b = self.http.request(req.method.clone(), &req.url);
            if let Some(body) = &req.body {
                b = b.header(CONTENT_TYPE, SCIM_JSON).body(body.clone());
            }
            let resp = b.send().await.map_err(|e| Failure::transport(&e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = resp.bytes().await.map_err(|e| Failure::transport(&e))?;
            if is_transient(status.as_u16()) && attempt < RETRIES {
                attempt += 1;
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                continue;
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes);
                let text: String = text.chars().take(500).collect();
                return Err(Failure {
                    class: status.as_u16().to_string(),
                    detail: format!("HTTP {status}: {text}"),
                });
            }
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| Failure {
                class: "not JSON".into(),
                detail: format!("the answer is not JSON: {e}"),
            });
        }
    }
}

/// Why a request failed: a class to count it under and a text for the log.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: String,
    pub detail: String,
}

impl Failure {
    fn transport(e: &reqwest::Error) -> Failure {
        Failure {
            class: classify(e),
            detail: e.to_string(),
        }
    }
}

/// Attempts after the first for a request the server asked to retry.
pub const RETRIES: u32 = 5;

/// Statuses that mean "try again later".
pub fn is_transient(status: u16) -> bool {
    status == 503 || status == 429
}

/// How long to wait before retry number `attempt` (1, 2, …).
pub fn backoff(attempt: u32, retry_after_secs: Option<u64>) -> Duration {
    match retry_after_secs {
        Some(s) => Duration::from_secs(s.min(5)),
        None => Duration::from_millis(500 * u64::from(attempt.min(10))),
    }
}

fn classify(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    };
    // The innermost cause says what happened ("connection closed before message completed").
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text: String = cause.to_string().chars().take(60).collect();
    format!("{kind}: {text}")
}

/// The first failed operation of a Bulk response, as an error class.
pub fn bulk_failure(body: &[u8]) -> Option<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some("bulk: not JSON".into());
    };
    let ops = v.get("Operations").and_then(Value::as_array)?;
    ops.iter().find_map(|op| {
        let status = match op.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Object(o)) => o
                .get("code")
                .map(|c| c.to_string().trim_matches('"').to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        (!status.starts_with('2')).then(|| format!("bulk op {status}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off() {
        assert!(is_transient(503) && is_transient(429) && !is_transient(500));
        assert_eq!(backoff(2, None), Duration::from_millis(1000));
        assert_eq!(backoff(1, Some(30)), Duration::from_secs(5));
    }

    #[test]
    fn bulk_failures_are_found() {
        let ok = br#"{"Operations":[{"status":"201"},{"status":"201"}]}"#;
        assert_eq!(bulk_failure(ok), None);
        let bad = br#"{"Operations":[{"status":"201"},{"status":"409"}]}"#;
        assert_eq!(bulk_failure(bad).as_deref(), Some("bulk op 409"));
        let obj = br#"{"Operations":[{"status":{"code":"400"}}]}"#;
        assert_eq!(bulk_failure(obj).as_deref(), Some("bulk op 400"));
        assert!(bulk_failure(b"<html>").is_some());
    }
}
