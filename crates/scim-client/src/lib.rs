//! `scim-client`: a typed SCIM 2.0 client for any service provider, on reqwest (rustls with
//! the *ring* provider).
//!
//! - [`Client::send`] is one request with the retry policy: `429` and `503` wait for the
//!   server's `Retry-After` (capped), other transient failures back off exponentially with
//!   jitter; `429`s are retried for up to [`ClientConfig::max_throttled`] in all, other
//!   failures [`ClientConfig::max_retries`] times; a client-side [`RateLimiter`] paces every
//!   attempt.
//! - Typed calls ([`Client::create`], [`Client::patch`], …) turn error answers into
//!   [`ClientError`]s that carry the server's SCIM error.
//! - [`Pager`] walks a list by cursor (RFC 9865) when the server offers it, else by index.
//! - [`ServiceProviderConfig`] says what the server supports (Bulk limits, cursors, ETags).

#![warn(missing_docs)]

pub mod error;
pub mod limiter;
pub mod pager;
pub mod patch;
pub mod spc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use scim_core::ScimError;
use serde_json::Value;

pub use error::ClientError;
pub use limiter::RateLimiter;
pub use pager::{ListParams, Pager, Paging};
pub use patch::PatchOp;
pub use spc::ServiceProviderConfig;

/// The schema URN of SCIM errors.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// How a client connects and behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The SCIM base URL (`https://host/scim/v2`), without a trailing slash.
    pub base_url: String,
    /// A bearer token.
    pub token: Option<String>,
    /// Requests per second (client-side), with this burst; `None` for no limit.
    pub rate: Option<(f64, u32)>,
    /// Retries of one request after a transient failure.
    pub max_retries: u32,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// The longest a `Retry-After` or a backoff is waited.
    pub max_wait: Duration,
    /// How long one request keeps waiting on `429` answers in all: the server is pacing the
    /// client, which is not a failure, so these waits are bounded by time rather than by
    /// `max_retries` (concurrent requests of one tenant take turns at its rate limit).
    pub max_throttled: Duration,
}

impl ClientConfig {
    /// Settings for the server at `base_url` with this bearer token (`None`: no
    /// authentication): 6 retries, 30 s per attempt, waits of at most 60 s, up to 15 minutes
    /// of `429`s per request, no rate limit.
    pub fn new(base_url: impl Into<String>, token: Option<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token,
            rate: None,
            max_retries: 6,
            timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            max_throttled: Duration::from_secs(15 * 60),
        }
    }
}

/// Counters of what a client did (for reports and tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (retries included).
    pub requests: AtomicU64,
    /// Requests sent again after a transient failure.
    pub retries: AtomicU64,
    /// Answers `429 Too Many Requests`.
    pub throttled: AtomicU64,
}

/// An answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The body as received.
    pub text: String,
}

impl Response {
    /// A header's value, when it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` (empty when absent).
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// True when the body is a SCIM Error with `status` as a string and a non-empty detail.
    pub fn is_scim_error(&self) -> bool {
        self.body["schemas"]
            .as_array()
            .is_some_and(|s| s.iter().any(|u| u == ERROR_SCHEMA))
    }

    fn into_error(self, method: &Method, path: &str) -> ClientError {
        if self.is_scim_error() {
            let mut error = ScimError::from_json(self.status, &self.body);
            error.retry_after = retry_after(&self.headers).map(|d| d.as_secs() as u32);
            ClientError::Scim {
                method: method.to_string(),
                path: path.to_string(),
                error,
            }
        } else {
            ClientError::NotScim {
                method: method.to_string(),
                path: path.to_string(),
                status: self.status,
                content_type: self.content_type().to_string(),
                snippet: self.text.chars().take(200).collect(),
            }
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// A SCIM client. Cheap to clone; clones share the connection pool, rate limit and stats.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Option<RateLimiter>,
    stats: Stats,
}

impl Client {
    /// A client with these settings; fails only when the HTTP client cannot be built (TLS).
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("scim-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                method: "-".into(),
                path: config.base_url.clone(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        let limiter = config.rate.map(|(r, b)| RateLimiter::new(r, b));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                config,
                limiter,
                stats: Stats::default(),
            }),
        })
    }

    /// The server's SCIM base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// What the client did so far.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The URL of `path` (relative to the base URL, or absolute).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.inner.config.base_url)
        }
    }

    /// One request with the retry policy, whatever the final status. `headers` are added
    /// as given (an explicit `content-type` replaces `application/scim+json`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let cfg = &self.inner.config;
        let mut attempt = 0u32;
        // Time waited on `429`s so far, and retries for other reasons.
        let mut throttled = Duration::ZERO;
        let mut failures = 0u32;
        loop {
            if let Some(l) = &self.inner.limiter {
                l.acquire().await;
            }
            self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = self
                .inner
                .http
                .request(method.clone(), self.url(path))
                .header("accept", "application/scim+json, application/json");
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(t) = &cfg.token {
                req = req.bearer_auth(t);
            }
            let mut has_ct = false;
            for (k, v) in headers {
                has_ct |= k.eq_ignore_ascii_case("content-type");
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                if !has_ct {
                    req = req.header(
                        "content-type",
                        HeaderValue::from_static("application/scim+json"),
                    );
                }
                req = req.body(b.to_string());
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            return Err(ClientError::Transport {
                                method: method.to_string(),
                                path: path.to_string(),
                                reason: format!("reading the answer: {e}"),
                            });
                        }
                    };
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let transient = matches!(status, 429 | 502 | 503 | 504);
                    let patience_left = if status == 429 {
                        self.inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        throttled < cfg.max_throttled
                    } else {
                        failures < cfg.max_retries
                    };
                    if !transient || !patience_left {
                        return Ok(Response {
                            status,
                            headers,
                            body,
                            text,
                        });
                    }
                    let wait = retry_after(&headers)
                        .unwrap_or_else(|| backoff(attempt))
                        .min(cfg.max_wait);
                    if status == 429 {
                        throttled += wait;
                    } else {
                        failures += 1;
                    }
                    wait
                }
                Err(e) => {
                    // Without an answer a create may or may not have happened: retry only
                    // what repeating cannot duplicate, or what never reached the server.
                    let retryable = e.is_connect() || method != Method::POST;
                    if !retryable || failures >= cfg.max_retries {
                        return Err(ClientError::Transport {
                            method: method.to_string(),
                            path: path.to_string(),
                            reason: if e.is_timeout() {
                                format!("no answer within {:?}", cfg.timeout)
                            } else {
                                format!("{e}")
                            },
                        });
                    }
                    failures += 1;
                    backoff(attempt)
                }
            };
            attempt += 1;
            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            let wait = wait.min(cfg.max_wait);
            tracing::debug!(%method, path, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// A request whose non-2xx answers become errors.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, ClientError> {
        let r = self.send(method.clone(), path, query, body, &[]).await?;
        if (200..300).contains(&r.status) {
            Ok(r)
        } else {
            Err(r.into_error(&method, path))
        }
    }

    fn object(r: Response, method: &str, path: &str) -> Result<Value, ClientError> {
        if r.body.is_object() {
            Ok(r.body)
        } else {
            Err(ClientError::Protocol {
                method: method.into(),
                path: path.into(),
                reason: format!(
                    "expected a JSON object, got: {}",
                    r.text.chars().take(120).collect::<String>()
                ),
            })
        }
    }

    /// `GET path`: a resource or a discovery document.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let r = self.call(Method::GET, path, &[], None).await?;
        Self::object(r, "GET", path)
    }

    /// `POST endpoint` (`/Users`): the created resource.
    pub async fn create(&self, endpoint: &str, resource: &Value) -> Result<Value, ClientError> {
        let r = self
            .call(Method::POST, endpoint, &[], Some(resource))
            .await?;
        Self::object(r, "POST", endpoint)
    }

    /// `PUT path`: the replaced resource.
    pub async fn replace(&self, path: &str, resource: &Value) -> Result<Value, ClientError> {
        let r = self.call(Method::PUT, path, &[], Some(resource)).await?;
        Self::object(r, "PUT", path)
    }

    /// `PATCH path`: the resource when the server returns it (`None` on 204).
    pub async fn patch(&self, path: &str, ops: &[PatchOp]) -> Result<Option<Value>, ClientError> {
        let r = self
            .call(Method::PATCH, path, &[], Some(&patch::body(ops)))
            .await?;
        Ok(r.body.is_object().then_some(r.body))
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, path, &[], None).await.map(|_| ())
    }

    /// `GET /ServiceProviderConfig`, parsed.
    pub async fn service_provider_config(&self) -> Result<ServiceProviderConfig, ClientError> {
        Ok(ServiceProviderConfig::from_json(
            &self.get("/ServiceProviderConfig").await?,
        ))
    }

    /// `GET /Schemas`: the schema documents (a ListResponse or a bare array).
    pub async fn schemas(&self) -> Result<Vec<Value>, ClientError> {
        let r = self.call(Method::GET, "/Schemas", &[], None).await?;
        Ok(match r.body {
            Value::Array(items) => items,
            body => scim_core::messages::ListResponse::from_json(body)
                .map(|l| l.resources)
                .unwrap_or_default(),
        })
    }

    /// One page of a list (`GET endpoint?filter=…`).
    pub async fn list(
        &self,
        endpoint: &str,
        params: &ListParams,
    ) -> Result<scim_core::messages::ListResponse, ClientError> {
        let r = self
            .call(Method::GET, endpoint, &params.query(), None)
            .await?;
        scim_core::messages::ListResponse::from_json(r.body).map_err(|e| ClientError::Protocol {
            method: "GET".into(),
            path: endpoint.into(),
            reason: e.detail,
        })
    }

    /// The first resource matching `filter`, if any.
    pub async fn find(&self, endpoint: &str, filter: &str) -> Result<Option<Value>, ClientError> {
        let params = ListParams {
            filter: Some(filter.to_string()),
            count: Some(2),
            ..ListParams::default()
        };
        Ok(self
            .list(endpoint, &params)
            .await?
            .resources
            .into_iter()
            .next())
    }

    /// Walks all pages of a list.
    pub fn pager(&self, endpoint: &str, params: ListParams, paging: Paging) -> Pager {
        Pager::new(self.clone(), endpoint, params, paging)
    }

    /// `POST /Bulk` with these operations; the BulkResponse body.
    pub async fn bulk(
        &self,
        operations: Vec<Value>,
        fail_on_errors: Option<u32>,
    ) -> Result<Value, ClientError> {
        let mut body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": operations,
        });
        if let (Some(n), Some(obj)) = (fail_on_errors, body.as_object_mut()) {
            obj.insert("failOnErrors".into(), Value::from(n));
        }
        let r = self.call(Method::POST, "/Bulk", &[], Some(&body)).await?;
        Self::object(r, "POST", "/Bulk")
    }
}

/// Exponential backoff with full jitter: up to 0.2 s × 2^attempt.
fn backoff(attempt: u32) -> Duration {
    let cap = 0.2 * f64::from(1u32 << attempt.min(8));
    Duration::from_secs_f64(rand::random::<f64>() * cap + 0.05)
}

/// A SCIM filter string literal: quotes and backslashes escaped.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_backoff() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        for a in 0..12 {
            let d = backoff(a);
            assert!(d <= Duration::from_secs_f64(0.2 * 256.0 + 0.05));
        }
    }
}
