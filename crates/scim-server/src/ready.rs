//! `GET /ready`: whether this instance can serve SCIM requests now — the database answers
//! a read within two seconds — as opposed to `GET /health`, which says only that the
//! process answers. A load balancer or Kubernetes readiness probe takes an instance out of
//! rotation on 503 while the database is away, and back when it answers again, without a
//! restart (a liveness probe on `/health` must not restart it for that). Migrations are
//! applied before an instance starts serving at all (the store refuses to open otherwise),
//! so a serving instance always has them.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// How long the database may take to answer the probe's read.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    // One short read by primary key (tenant ids start at 1: it finds nothing, cheaply).
    let probe = tokio::time::timeout(PROBE_TIMEOUT, state.store.tenant_by_id(0)).await;
    let problem = match probe {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "the database did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    };
    match problem {
        None => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Some(detail) => {
            tracing::warn!(%detail, "not ready: the database does not answer");
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "detail": "the database does not answer"})),
            )
                .into_response();
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            r
        }
    }
}
