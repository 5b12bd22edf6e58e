//! Server settings that shape the protocol (page sizes, bulk limits, public URL).

/// Settings of the SCIM service, advertised in `/ServiceProviderConfig` and enforced.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL clients reach the server at, without a trailing slash
    /// (`https://scim.example.com`). Tenant base URLs are `{public_url}/scim/v2/{tenant}`.
    pub public_url: String,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: "http://127.0.0.1:8080".into(),
            default_page_size: 100,
            max_page_size: 1000,
            bulk_max_operations: 1000,
            max_payload_bytes: 4 * 1024 * 1024,
            max_scan: scim_store::DEFAULT_MAX_SCAN,
        }
    }
}

impl ServerConfig {
    /// The SCIM base URL of a tenant.
    pub fn base_url(&self, tenant: &str) -> String {
        format!("{}/scim/v2/{tenant}", self.public_url.trim_end_matches('/'))
    }
}
