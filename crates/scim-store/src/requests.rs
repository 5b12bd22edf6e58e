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
    pub tenant_id: Option<i64>,
    pub tenant_name: String,
    /// A stored time (RFC 3339, UTC, milliseconds).
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub duration_us: u64,
    pub request_id: Option<String>,
    pub token_name: Option<String>,
    pub user_agent: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// An entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    pub id: i64,
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
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

    /// Trims a tenant's log to its policy as of `now`; returns how many entries went.
    async fn trim_requests(&self, tenant_id: i64, now: &str) -> Result<u64, StoreError>;
}
