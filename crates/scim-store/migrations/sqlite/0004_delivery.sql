-- Delivery of events to applications: webhook endpoints and NATS JetStream publishers
-- ("destinations"), each with its own durable position in its tenant's change order, and
-- the record of every delivery attempt.

CREATE TABLE destinations (
    id            TEXT PRIMARY KEY,                -- "wh_…" (webhook) or "nats_…"
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,                   -- 'webhook' | 'nats'
    url           TEXT NOT NULL,
    event_types   TEXT NOT NULL,                   -- a filter: "*" or "user.*,group.members_*"
    description   TEXT NOT NULL DEFAULT '',
    -- The signing secret ("whsec_" + base64), kept as is: HMAC needs the key itself (see
    -- docs/events.md, "Secrets at rest"). NULL for NATS.
    secret        TEXT,
    -- After a rotation, the previous secret keeps signing (a second signature) until
    -- previous_expires.
    previous_secret  TEXT,
    previous_expires TEXT,
    batch_max     INTEGER NOT NULL DEFAULT 1,      -- events per POST (1: no batching)
    state         TEXT NOT NULL DEFAULT 'active',  -- 'active' | 'paused'
    paused_reason TEXT,                            -- 'operator' | 'failing' | 'gone'
    position      INTEGER NOT NULL DEFAULT 0,      -- the last position acknowledged
    -- Bumped by every change an operator makes (replay, resume, update): a deliverer whose
    -- generation is stale reloads instead of overwriting the change.
    generation    INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,      -- consecutive failed attempts
    failing_since TEXT,
    next_attempt  TEXT,
    last_status   INTEGER,
    last_error    TEXT,
    last_success  TEXT,
    lease_owner   TEXT,                            -- the instance delivering it now
    lease_expires TEXT,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL
);
CREATE INDEX destinations_by_tenant ON destinations(tenant_id, kind);

CREATE TABLE delivery_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_id TEXT NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    at             TEXT NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    event_id       TEXT NOT NULL,     -- the webhook-id sent (an event's id, or a batch's)
    events         INTEGER NOT NULL,
    status         INTEGER,           -- the HTTP status (NULL: no answer)
    latency_ms     INTEGER NOT NULL,
    outcome        TEXT NOT NULL,     -- 'delivered' | 'failed'
    error          TEXT,
    instance       TEXT NOT NULL
);
CREATE INDEX delivery_attempts_by_destination ON delivery_attempts(destination_id, id);
