//! List query parameters (RFC 7644 §3.4.2, cursors from RFC 9865) and their normalisation.

use crate::error::{ScimError, ScimResult};

/// The query parameters of a list request (`GET /Users?…`, or a `POST /.search` body through
/// [`super::SearchRequest::into_query`]), as given; see [`ListQuery::page`] for the
/// normalised paging values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// `filter`, unparsed.
    pub filter: Option<String>,
    /// `sortBy`, for [`crate::sort::SortSpec::parse`].
    pub sort_by: Option<String>,
    /// `sortOrder`.
    pub sort_order: Option<String>,
    /// `startIndex`, as given (see [`normalize_start_index`]).
    pub start_index: Option<i64>,
    /// `count`, as given (see [`normalize_count`]).
    pub count: Option<i64>,
    /// RFC 9865 cursor; `Some("")` asks for the first page in cursor mode.
    pub cursor: Option<String>,
    /// `attributes`, comma-separated, for [`crate::projection::Projection::parse`].
    pub attributes: Option<String>,
    /// `excludedAttributes`, comma-separated.
    pub excluded_attributes: Option<String>,
}

/// Normalised paging values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based index of the first result, at least 1.
    pub start_index: i64,
    /// Number of results wanted, between 0 and the maximum.
    pub count: i64,
}

/// `startIndex` as RFC 7644 §3.4.2.4 wants it: absent or less than 1 means 1.
pub fn normalize_start_index(start_index: Option<i64>) -> i64 {
    start_index.map_or(1, |i| i.max(1))
}

/// `count` as RFC 7644 §3.4.2.4 wants it: absent means `default`, negative means 0, more than
/// `max` means `max` (the service provider's limit).
pub fn normalize_count(count: Option<i64>, default: i64, max: i64) -> i64 {
    let max = max.max(0);
    count.unwrap_or(default).clamp(0, max)
}

impl ListQuery {
    /// Reads the parameters from decoded query-string pairs. Parameter names match
    /// case-insensitively, empty values count as absent, unknown parameters are ignored, and
    /// a repeated parameter keeps its last value. `startIndex` and `count` must be integers
    /// (400 `invalidValue`); values beyond the 64-bit range are clamped.
    pub fn from_pairs<'a, I>(pairs: I) -> ScimResult<ListQuery>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = ListQuery::default();
        for (name, value) in pairs {
            let value = value.trim();
            if value.is_empty() && !name.eq_ignore_ascii_case("cursor") {
                continue;
            }
            let text = Some(value.to_string());
            match name.trim() {
                n if n.eq_ignore_ascii_case("filter") => q.filter = text,
                n if n.eq_ignore_ascii_case("sortBy") => q.sort_by = text,
                n if n.eq_ignore_ascii_case("sortOrder") => q.sort_order = text,
                n if n.eq_ignore_ascii_case("startIndex") => {
                    q.start_index = Some(parse_integer("startIndex", value)?);
                }
                n if n.eq_ignore_ascii_case("count") => {
                    q.count = Some(parse_integer("count", value)?);
                }
                n if n.eq_ignore_ascii_case("cursor") => q.cursor = text,
                n if n.eq_ignore_ascii_case("attributes") => q.attributes = text,
                n if n.eq_ignore_ascii_case("excludedAttributes") => {
                    q.excluded_attributes = text;
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The normalised `startIndex` and `count` for this query.
    pub fn page(&self, default_count: i64, max_count: i64) -> Page {
        Page {
            start_index: normalize_start_index(self.start_index),
            count: normalize_count(self.count, default_count, max_count),
        }
    }
}

/// Parses an integer parameter; out-of-range values saturate.
pub(super) fn parse_integer(name: &str, text: &str) -> ScimResult<i64> {
    let text = text.trim();
    text.parse::<i128>()
        .map(|i| i.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
        .map_err(|_| {
            ScimError::invalid_value(format!(
                "{name} must be an integer, got \"{}\"",
                crate::Sent(text)
            ))
        })
}
