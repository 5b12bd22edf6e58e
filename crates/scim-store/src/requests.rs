//! The request log: one entry per SCIM request of a tenant (time, method, path and query,
//! status, `scimType` and a detail without values, latency, request id, token name,
//! `User-Agent`, and the bodies of failed requests with secrets redacted), kept in the
//! database so that every instance's requests are in one place, and bounded per tenant by
//! its retention policy ([`crate::retention`]). The server writes it off the request's
//! path, in batches (`scim-server`'s `request_log`).

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;

/// An entry to append. The tenant is its id when the request was authenticated, else
/// its name as the URL spelled it (a 401 is logged for the tenant it names, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// The tenant's id, when the request was authenticated.
    pub tenant_id: Option<i64>,
    /// The tenant's name as the URL spelled it.
    pub tenant_name: String,
    /// A stored time (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The HTTP method.
    pub method: String,
    /// The path and query, shortened to 2,000 characters.
    pub path: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The SCIM error's `scimType`, on an error with one.
    pub scim_type: Option<String>,
    /// The SCIM error's detail, without attribute values.
    pub detail: Option<String>,
    /// How long the answer took, in microseconds.
    pub duration_us: u64,
    /// The request's id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The name of the token it was made with.
    pub token_name: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// A failed request's body with secrets redacted (at most 16 KiB).
    pub request_body: Option<String>,
    /// A failed request's answer (at most 16 KiB).
    pub response_body: Option<String>,
}

/// An entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    /// The entry's id (increasing; pass as `after` to follow the log).
    pub id: i64,
    /// When the request arrived (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The HTTP method.
    pub method: String,
    /// The path and query, shortened to 2,000 characters.
    pub path: String,
    /// The answer's HTTP status.
    pub status: u16,
    /// The SCIM error's `scimType`, on an error with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    /// The SCIM error's detail, without attribute values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the answer took, in microseconds.
    pub duration_us: u64,
    /// The request's id (`X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The name of the token it was made with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    /// The client's `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A failed request's body with secrets redacted (at most 16 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// A failed request's answer (at most 16 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestQuery {
    /// Only failed requests (status 400 and above).
    pub failed: bool,
    /// Only this status.
    pub status: Option<u16>,
    /// Only at or after this stored time.
    pub since: Option<String>,
    /// Only entries after this id, oldest first (for following the log); without it, the
    /// newest entries.
    pub after: Option<i64>,
    /// Most entries (1 to [`MAX_REQUESTS`]).
    pub limit: u32,
}

/// Most entries one read returns.
pub const MAX_REQUESTS: u32 = 1000;

/// The request log's face of the store.
#[async_trait]
pub trait RequestLog: Send + Sync {
    /// Appends entries in one write; entries of tenants that do not exist are dropped.
    /// Returns how many were written.
    async fn append_requests(&self, entries: Vec<NewRequest>) -> Result<u64, StoreError>;

    /// A tenant's entries, oldest first.
    async fn requests(
        &self,
        tenant_id: i64,
        query: &RequestQuery,
    ) -> Result<Vec<LoggedRequest>, StoreError>;

    /// Trims a tenant's log to its policy as of `now` (its age and its number of entries);
    /// returns how many entries went. The retention pass runs it.
    async fn trim_requests(&self, tenant_id: i64, now: &str) -> Result<u64, StoreError>;

    /// Trims a tenant's log to its policy's number of entries only, the newest kept;
    /// returns how many went. Cheaper than [`RequestLog::trim_requests`], whose age bound
    /// reads every entry of the tenant: the request log's writer runs it often, the
    /// retention pass enforces the age.
    async fn cap_requests(&self, tenant_id: i64) -> Result<u64, StoreError>;
}
