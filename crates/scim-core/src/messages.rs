//! Protocol messages: ListResponse, SearchRequest, Bulk (RFC 7644 §3.4.2, §3.4.3, §3.7).
