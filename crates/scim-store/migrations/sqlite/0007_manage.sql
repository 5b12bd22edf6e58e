-- Issue 10 (management API, role mapping).

-- Every write made through the management layer (HTTP API or CLI): who (the admin token's
-- name and id), what (an action such as "tenant.create", the tenant, the object), when and
-- under which request id. Not tied to a tenant's row: deleting a tenant keeps the record
-- that it was deleted. Never holds a secret.
CREATE TABLE admin_audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_id   TEXT,
    action     TEXT NOT NULL,
    tenant     TEXT,
    target     TEXT,
    request_id TEXT,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX admin_audit_by_tenant ON admin_audit(tenant, seq);

-- Idempotency-Key: the first answer to a create, replayed for the same key and request
-- (a fingerprint of method, path and body) from the same caller. Kept 24 hours. The answer
-- never holds a token's secret.
CREATE TABLE admin_idempotency (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created     TEXT NOT NULL,
    response    TEXT,
    PRIMARY KEY (scope, key)
);
CREATE INDEX admin_idempotency_by_created ON admin_idempotency(created);

-- Group-to-role mapping (sql/roles.rs): a tenant's rules, and each user's effective roles,
-- recomputed in the transaction of every write that changes what they depend on.
CREATE TABLE IF NOT EXISTS role_rules (
    tenant_id  BIGINT NOT NULL,
    id         TEXT NOT NULL,
    role       TEXT NOT NULL,
    match_kind TEXT NOT NULL,
    value      TEXT,
    created    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE IF NOT EXISTS user_roles (
    tenant_id BIGINT NOT NULL,
    user_id   TEXT NOT NULL,
    role      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role)
);
CREATE INDEX IF NOT EXISTS user_roles_by_role ON user_roles(tenant_id, role);
