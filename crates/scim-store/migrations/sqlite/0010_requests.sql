-- Issue 13 (operations): per-tenant retention policies and the request log.

-- What a tenant keeps (sql/retention.rs). changes_days: change records (and the audit
-- index rows that only they needed) older than this go (NULL: kept forever). redact_days:
-- the attribute values in the change records of users deleted (and purged) longer ago
-- than this are redacted, the records' existence, time and actor stay (NULL: never).
-- requests_days / requests_max: the request log keeps at most this old, this many.
-- No row: the defaults below.
CREATE TABLE tenant_retention (
    tenant_id     INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    changes_days  INTEGER,
    redact_days   INTEGER,
    requests_days INTEGER NOT NULL DEFAULT 30,
    requests_max  INTEGER NOT NULL DEFAULT 10000
);

-- When a change record's attribute values were redacted (NULL: not redacted).
ALTER TABLE changes ADD COLUMN redacted TEXT;
-- The deletes whose resource's records may be due for redaction.
CREATE INDEX changes_unredacted_deletes ON changes(tenant_id, at)
    WHERE operation = 'delete' AND redacted IS NULL;

-- The request log (scim-server request_log.rs): one row per SCIM request of a tenant,
-- written off the request's path in batches. Bodies only of failed requests, with
-- passwords and secrets redacted, and only up to a size limit.
CREATE TABLE request_log (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at            TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER NOT NULL,
    scim_type     TEXT,
    detail        TEXT,
    duration_us   INTEGER NOT NULL,
    request_id    TEXT,
    token_name    TEXT,
    user_agent    TEXT,
    request_body  TEXT,
    response_body TEXT
);
CREATE INDEX request_log_by_tenant ON request_log(tenant_id, id);
