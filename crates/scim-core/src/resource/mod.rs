//! Resource input processing and output representation (RFC 7643 §2, §3; RFC 7644 §3.3, §3.5.1).
