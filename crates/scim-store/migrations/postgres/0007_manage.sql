-- Issue 10 (management API, role mapping).

-- Every write made through the management layer (HTTP API or CLI): who (the admin token's
-- name and id), what (an action such as "tenant.create", the tenant, the object), when and
-- under which request id. Not tied to a tenant's row: deleting a tenant keeps the record
-- that it was deleted. Never holds a secret.
CREATE TABLE IF NOT EXISTS admin_audit (
    seq        BIGSERIAL PRIMARY KEY,
    at         TEXT COLLATE "C" NOT NULL,
    actor      TEXT COLLATE "C" NOT NULL,
    actor_id   TEXT COLLATE "C",
    action     TEXT COLLATE "C" NOT NULL,
    tenant     TEXT COLLATE "C",
    target     TEXT COLLATE "C",
    request_id TEXT COLLATE "C",
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS admin_audit_by_tenant ON admin_audit(tenant, seq);

-- Idempotency-Key: the first answer to a create, replayed for the same key and request
-- (a fingerprint of method, path and body) from the same caller. Kept 24 hours. The answer
-- never holds a token's secret.
CREATE TABLE IF NOT EXISTS admin_idempotency (
    scope       TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    response    TEXT COLLATE "C",
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS admin_idempotency_by_created ON admin_idempotency(created);

-- Group-to-role mapping (sql/roles.rs): a tenant's rules, and each user's effective roles,
-- recomputed in the transaction of every write that changes what they depend on.
CREATE TABLE IF NOT EXISTS role_rules (
    tenant_id  BIGINT NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL,
    match_kind TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C",
    created    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS user_roles (
    tenant_id BIGINT NOT NULL,
    user_id   TEXT COLLATE "C" NOT NULL,
    role      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role)
);
CREATE INDEX IF NOT EXISTS user_roles_by_role ON user_roles(tenant_id, role);
