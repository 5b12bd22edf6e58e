//! What a listing asks of the store.

use scim_core::filter::ResolvedFilter;
use scim_core::sort::SortSpec;

use crate::model::Include;

/// A list (or search) request, already validated against the schema.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// The resource type listed.
    pub resource_type: String,
    /// The filter, resolved against the resource type's schemas.
    pub filter: Option<ResolvedFilter>,
    /// The order (`sortBy`, `sortOrder`); none: creation order.
    pub sort: Option<SortSpec>,
    /// Which page.
    pub pagination: Pagination,
    /// What to load with each resource of the page (members of groups, groups of users).
    pub include: Include,
    /// The most resources a filter or sort that no index serves may examine in memory;
    /// beyond it the request fails with 400 `tooMany` rather than loading a whole tenant.
    pub max_scan: u64,
}

/// The default of [`ListRequest::max_scan`].
pub const DEFAULT_MAX_SCAN: u64 = 50_000;

/// Index pagination (RFC 7644 §3.4.2.4) or cursor pagination (RFC 9865).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// `start_index` is 1-based; `count` may be 0 (only `totalResults` is wanted).
    Index {
        /// The first result's 1-based index.
        start_index: u64,
        /// The page size.
        count: u64,
    },
    /// `cursor` is the `nextCursor` of the previous page, or `None` for the first page.
    Cursor {
        /// The previous page's `nextCursor` (`None`: the first page).
        cursor: Option<String>,
        /// The page size.
        count: u64,
    },
}

impl Pagination {
    /// The page size asked for.
    pub fn count(&self) -> u64 {
        match self {
            Pagination::Index { count, .. } | Pagination::Cursor { count, .. } => *count,
        }
    }
}
