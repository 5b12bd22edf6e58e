-- (see migrations/sqlite/0004_delivery.sql)
-- Delivery of events to applications: webhook endpoints and NATS JetStream publishers
-- ("destinations"), each with its own durable position in its tenant's change order, and
-- the record of every delivery attempt.

CREATE TABLE destinations (
    id            TEXT COLLATE "C" PRIMARY KEY,                -- "wh_…" (webhook) or "nats_…"
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT COLLATE "C" NOT NULL,                   -- 'webhook' | 'nats'
    url           TEXT COLLATE "C" NOT NULL,
    event_types   TEXT COLLATE "C" NOT NULL,                   -- a filter: "*" or "user.*,group.members_*"
    description   TEXT COLLATE "C" NOT NULL DEFAULT '',
    -- The signing secret ("whsec_" + base64), kept as is: HMAC needs the key itself (see
    -- docs/events.md, "Secrets at rest"). NULL for NATS.
    secret        TEXT COLLATE "C",
    -- After a rotation, the previous secret keeps signing (a second signature) until
    -- previous_expires.
    previous_secret  TEXT COLLATE "C",
    previous_expires TEXT COLLATE "C",
    batch_max     BIGINT NOT NULL DEFAULT 1,      -- events per POST (1: no batching)
    state         TEXT COLLATE "C" NOT NULL DEFAULT 'active',  -- 'active' | 'paused'
    paused_reason TEXT COLLATE "C",                            -- 'operator' | 'failing' | 'gone'
    position      BIGINT NOT NULL DEFAULT 0,      -- the last position acknowledged
    -- Bumped by every change an operator makes (replay, resume, update): a deliverer whose
    -- generation is stale reloads instead of overwriting the change.
    generation    BIGINT NOT NULL DEFAULT 0,
    failures      BIGINT NOT NULL DEFAULT 0,      -- consecutive failed attempts
    failing_since TEXT COLLATE "C",
    next_attempt  TEXT COLLATE "C",
    last_status   BIGINT,
    last_error    TEXT COLLATE "C",
    last_success  TEXT COLLATE "C",
    lease_owner   TEXT COLLATE "C",                            -- the instance delivering it now
    lease_expires TEXT COLLATE "C",
    created       TEXT COLLATE "C" NOT NULL,
    updated       TEXT COLLATE "C" NOT NULL
);
CREATE INDEX destinations_by_tenant ON destinations(tenant_id, kind);

CREATE TABLE delivery_attempts (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination_id TEXT COLLATE "C" NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    at             TEXT COLLATE "C" NOT NULL,
    first_position BIGINT NOT NULL,
    last_position  BIGINT NOT NULL,
    event_id       TEXT COLLATE "C" NOT NULL,     -- the webhook-id sent (an event's id, or a batch's)
    events         BIGINT NOT NULL,
    status         BIGINT,           -- the HTTP status (NULL: no answer)
    latency_ms     BIGINT NOT NULL,
    outcome        TEXT COLLATE "C" NOT NULL,     -- 'delivered' | 'failed'
    error          TEXT COLLATE "C",
    instance       TEXT COLLATE "C" NOT NULL
);
CREATE INDEX delivery_attempts_by_destination ON delivery_attempts(destination_id, id);
