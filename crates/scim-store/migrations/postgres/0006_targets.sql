-- Issue 15 (connector targets).

-- Each connector target's place in each tenant's change log, with its health: the last
-- position applied (or parked), consecutive failures, the last error, and since when it is
-- paused (NULL: running). A target that stores its position in its own database keeps
-- the authoritative copy there; this row then mirrors it for status.
CREATE TABLE target_positions (
    target        TEXT NOT NULL,
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL DEFAULT 0,
    failures      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_error_at TEXT,
    paused        TEXT,
    updated       TEXT NOT NULL,
    PRIMARY KEY (target, tenant_id)
);

-- Events a target rejected permanently (or that wait behind such an event of the same
-- resource), kept until they are retried after a fix or dropped by an operator.
CREATE TABLE target_parked (
    target      TEXT NOT NULL,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    resource_id TEXT NOT NULL,
    event       TEXT NOT NULL,
    error       TEXT NOT NULL,
    parked_at   TEXT NOT NULL,
    PRIMARY KEY (target, tenant_id, position)
);
