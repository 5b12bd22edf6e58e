//! Server settings that shape the protocol (page sizes, bulk limits, public URL).

/// Settings of the SCIM service, advertised in `/ServiceProviderConfig` and enforced.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL clients reach the server at, without a trailing slash
    /// (`https://scim.example.com`). Tenant base URLs are `{public_url}{scim_path}/{tenant}`.
    pub public_url: String,
    /// The path of the tenants' base URLs below the public URL and below the router:
    /// `/scim/v2` (the default) serves `/scim/v2/{tenant}/Users`. Empty (no trailing `/`)
    /// when an application mounts the router at a path of its own and makes that path part
    /// of `public_url` (`scim-service`): then the router serves `/{tenant}/Users`.
    pub scim_path: String,
    /// Page size when a list request gives no `count`.
    pub default_page_size: u64,
    /// Largest page served; larger `count` values are lowered to it (RFC 7644 §3.4.2.4).
    pub max_page_size: u64,
    /// Most operations in one Bulk request.
    pub bulk_max_operations: usize,
    /// Largest request body accepted, in bytes (Bulk included).
    pub max_payload_bytes: usize,
    /// Most resources a filter or sort that no index serves may examine (400 `tooMany`
    /// beyond it).
    pub max_scan: u64,
    /// Most operations in one PATCH request (413 beyond).
    pub max_patch_operations: usize,
    /// Most values of one multi-valued attribute of a user or group (`emails`, `roles`, …;
    /// not group `members`): 400 `invalidValue` beyond.
    pub max_values: usize,
    /// Open connections and how long a request head may take (idle keep-alive included).
    pub connections: crate::listener::ConnectionLimits,
    /// How long reading a request body may take (408 beyond): a client sending its body
    /// byte by byte holds a connection no longer than this.
    pub body_read_timeout: std::time::Duration,
    /// Per-tenant rate limits and authentication throttling.
    pub throttle: crate::throttle::ThrottleConfig,
    /// A PATCH of a group sent without `attributes`/`excludedAttributes` (as Entra ID and
    /// Okta send membership changes) is answered `200` with the whole group when the group
    /// has at most this many members, and `204 No Content` (with the new `ETag`) when it has
    /// more: RFC 7644 §3.5.2 allows either, and the answer's size then no longer grows with
    /// the group.
    pub patch_response_max_members: u64,
    /// Most group members in one page of a list: a page of groups ends before the group
    /// that would take it over (fewer results than `count`, RFC 7644 §3.4.2.4), except the
    /// first group, which is always on the page (its members are then streamed).
    pub page_max_members: u64,
    /// Whether tenants' SCIM requests are written to the request log (in the database,
    /// off the request's path; `scim requests`).
    pub request_log: bool,
}

/// Where tenants' base URLs live below the public URL unless configured otherwise.
pub const DEFAULT_SCIM_PATH: &str = "/scim/v2";

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: "http://127.0.0.1:8080".into(),
            scim_path: DEFAULT_SCIM_PATH.into(),
            default_page_size: 100,
            max_page_size: 1000,
            bulk_max_operations: 1000,
            max_payload_bytes: 4 * 1024 * 1024,
            max_scan: scim_store::DEFAULT_MAX_SCAN,
            max_patch_operations: scim_core::limits::DEFAULT_MAX_PATCH_OPERATIONS,
            max_values: scim_core::limits::DEFAULT_MAX_VALUES,
            connections: crate::listener::ConnectionLimits::default(),
            body_read_timeout: std::time::Duration::from_secs(30),
            throttle: crate::throttle::ThrottleConfig::default(),
            patch_response_max_members: 100,
            page_max_members: 10_000,
            request_log: true,
        }
    }
}

impl ServerConfig {
    /// The SCIM base URL of a tenant.
    pub fn base_url(&self, tenant: &str) -> String {
        format!(
            "{}{}/{tenant}",
            self.public_url.trim_end_matches('/'),
            self.scim_path.trim_end_matches('/')
        )
    }
}
