//! Prometheus metrics: what the HTTP layer records for every request, and `/metrics`.
//!
//! The crates record through the `metrics` facade (`scim-store`: write latency, commit
//! batches, SQLite's writer queue, PostgreSQL's pool; `scim-delivery`: delivery lag per
//! destination; this module: requests, rate limiting, authentication failures). Nothing
//! is kept until a recorder is installed: `scim serve` calls [`install`], and `/metrics`
//! renders what it holds as Prometheus text.
//!
//! **Who may read it.** On the main listener `/metrics` needs an administration token
//! (`Authorization: Bearer scimadm_…`, as the management API): tenant names and traffic
//! are not for identity providers or the internet. A scraper without a token uses a
//! listener of its own ([`router`], `scim serve --metrics-listen`), which answers
//! `/metrics` without authentication and must therefore be bound to an address only the
//! monitoring network reaches (`127.0.0.1:9464`, a pod IP).
//!
//! **Label budget.** A tenant label multiplies every series by the number of tenants. The
//! `tenant` label is given only to counters (never to a histogram's buckets), and only to
//! the first [`MetricsConfig::tenant_labels`] tenants seen by this process; later tenants
//! are counted under `tenant="_other"`, and with a budget of 0 every request is counted
//! under `tenant="_all"`. Only authenticated requests have a tenant: a path naming an
//! unknown tenant cannot create a series. With the default of 100 tenants a process holds
//! at most about 100 × 9 endpoint kinds × 6 methods × 5 status classes request counters,
//! whatever the tenant count.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use scim_store::Store;

/// Requests answered: `tenant`, `endpoint`, `method`, `status` (`2xx` …).
pub const REQUESTS: &str = "scim_http_requests_total";
/// Request latency, seconds: `endpoint`, `method`.
pub const REQUEST_SECONDS: &str = "scim_http_request_duration_seconds";
/// Requests answered 429 (rate limit, a full write queue), per `tenant`.
pub const RATE_LIMITED: &str = "scim_rate_limited_total";
/// Bearer tokens refused: `reason` (`missing`, `invalid`, `throttled`).
pub const AUTH_FAILURES: &str = "scim_auth_failures_total";

/// The tenant label of requests beyond the budget.
pub const OTHER_TENANTS: &str = "_other";
/// The tenant label of every request when tenant labels are off.
pub const ALL_TENANTS: &str = "_all";

/// What `scim serve` chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Most distinct `tenant` label values (0: no per-tenant series).
    pub tenant_labels: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { tenant_labels: 100 }
    }
}

/// Buckets of the latency histograms (seconds): 0.5 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of commit batch sizes (writes per commit).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static TENANTS: OnceLock<TenantLabels> = OnceLock::new();

/// Errors of [`install`].
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the process's Prometheus recorder (once; later calls keep the first) and
/// starts its upkeep on the current tokio runtime.
pub fn install(config: &MetricsConfig) -> Result<(), InstallError> {
    let _ = TENANTS.set(TenantLabels::new(config.tenant_labels));
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), BATCH_BUCKETS)
        })
        .map_err(|e| InstallError(e.to_string()))?
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let _ = HANDLE.set(handle);
    describe();
    Ok(())
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "SCIM and management requests answered");
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its response head"
    );
    metrics::describe_counter!(RATE_LIMITED, "Requests answered 429 Too Many Requests");
    metrics::describe_counter!(AUTH_FAILURES, "Bearer tokens refused");
}

/// The tenant label values this process gives out, at most `max` of them.
struct TenantLabels {
    max: usize,
    seen: RwLock<HashSet<String>>,
}

impl TenantLabels {
    fn new(max: usize) -> Self {
        TenantLabels {
            max,
            seen: RwLock::new(HashSet::new()),
        }
    }

    fn label(&self, tenant: &str) -> String {
        if self.max == 0 {
            return ALL_TENANTS.into();
        }
        // Requests of known tenants share the lock; only a new tenant takes it alone.
        match self.seen.read() {
            Ok(seen) if seen.contains(tenant) => return tenant.to_string(),
            Ok(seen) if seen.len() >= self.max => return OTHER_TENANTS.into(),
            Ok(_) => {}
            Err(_) => return OTHER_TENANTS.into(),
        }
        let Ok(mut seen) = self.seen.write() else {
            return OTHER_TENANTS.into();
        };
        if seen.contains(tenant) || seen.len() < self.max {
            seen.insert(tenant.to_string());
            return tenant.to_string();
        }
        OTHER_TENANTS.into()
    }
}

/// The `tenant` label of an authenticated tenant, within the budget.
pub(crate) fn tenant_label(tenant: &str) -> String {
    TENANTS
        .get_or_init(|| TenantLabels::new(MetricsConfig::default().tenant_labels))
        .label(tenant)
}

/// Set by the `Auth` extractor once a request's tenant is known; read by [`record`].
#[derive(Clone, Default)]
pub(crate) struct TenantSlot(Arc<OnceLock<String>>);

impl TenantSlot {
    pub(crate) fn set(&self, tenant: &str) {
        let _ = self.0.set(tenant.to_string());
    }
}

/// Counts a refused bearer token.
pub(crate) fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

/// What kind of endpoint a path is, from a fixed set (a path's own text never becomes a
/// label value).
fn endpoint_kind(path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/scim/v2/") {
        let mut parts = rest.split('/').skip(1);
        let first = parts.next().unwrap_or("");
        let search = parts.next() == Some(".search") || first == ".search";
        return match first {
            _ if search => "search",
            "Users" => "Users",
            "Groups" => "Groups",
            "Bulk" => "Bulk",
            "Me" => "Me",
            "ServiceProviderConfig" | "ResourceTypes" | "Schemas" => "discovery",
            _ => "other",
        };
    }
    if path.starts_with("/admin/") {
        "admin"
    } else if matches!(path, "/health" | "/ready" | "/metrics") {
        "operations"
    } else {
        "other"
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

/// The middleware: counts every request and times it.
pub(crate) async fn record(mut req: Request, next: Next) -> Response {
    if HANDLE.get().is_none() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let endpoint = endpoint_kind(req.uri().path());
    let method = method_label(req.method());
    let slot = TenantSlot::default();
    req.extensions_mut().insert(slot.clone());
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    let tenant = match slot.0.get() {
        Some(t) => tenant_label(t),
        None => "-".to_string(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS && tenant != "-" {
        metrics::counter!(RATE_LIMITED, "tenant" => tenant.clone()).increment(1);
    }
    metrics::counter!(
        REQUESTS,
        "tenant" => tenant,
        "endpoint" => endpoint,
        "method" => method,
        "status" => status_class(status),
    )
    .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "endpoint" => endpoint, "method" => method)
        .record(seconds);
    response
}

/// The Prometheus text, with the gauges sampled now. `None` when no recorder is installed.
fn render(store: &dyn Store) -> Option<String> {
    let handle = HANDLE.get()?;
    store.record_gauges();
    Some(handle.render())
}

fn text(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn not_enabled() -> Response {
    (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response()
}

/// `GET /metrics` on the main listener: administration tokens only.
pub(crate) async fn metrics_with_admin_token(
    State(state): State<crate::AppState>,
    req: Request,
) -> Response {
    let presented = crate::http::header_str(req.headers(), header::AUTHORIZATION).and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    let allowed = match presented {
        Some(token) => matches!(
            state
                .store
                .authenticate_admin(token, &crate::auth::now_rfc3339())
                .await,
            Ok(Some(_))
        ),
        None => false,
    };
    if !allowed {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            "/metrics needs an administration token (scim admin-token create), \
             or a listener of its own (scim serve --metrics-listen)\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    match render(state.store.as_ref()) {
        Some(body) => text(body),
        None => not_enabled(),
    }
}

/// The router of a metrics-only listener (`scim serve --metrics-listen`): `GET /metrics`
/// without authentication, nothing else.
pub fn router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(store): State<Arc<dyn Store>>| async move {
                match render(store.as_ref()) {
                    Some(body) => text(body),
                    None => not_enabled(),
                }
            }),
        )
        .with_state(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_kinds_come_from_a_fixed_set() {
        for (path, kind) in [
            ("/scim/v2/acme/Users", "Users"),
            ("/scim/v2/acme/Users/123", "Users"),
            ("/scim/v2/acme/Groups/1", "Groups"),
            ("/scim/v2/acme/Users/.search", "search"),
            ("/scim/v2/acme/.search", "search"),
            ("/scim/v2/acme/Bulk", "Bulk"),
            ("/scim/v2/acme/Schemas/urn:x", "discovery"),
            ("/scim/v2/acme/Anything", "other"),
            ("/admin/v1/tenants", "admin"),
            ("/ready", "operations"),
            ("/whatever", "other"),
        ] {
            assert_eq!(endpoint_kind(path), kind, "{path}");
        }
    }

    #[test]
    fn tenant_labels_stay_within_the_budget() {
        let labels = TenantLabels::new(2);
        assert_eq!(labels.label("a"), "a");
        assert_eq!(labels.label("b"), "b");
        assert_eq!(labels.label("c"), OTHER_TENANTS);
        assert_eq!(labels.label("a"), "a");
        assert_eq!(TenantLabels::new(0).label("a"), ALL_TENANTS);
    }
}
