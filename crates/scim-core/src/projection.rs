//! Projection: `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9).
