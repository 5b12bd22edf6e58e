-- Tenants: one customer connection each.
CREATE TABLE tenants (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    created        TEXT NOT NULL,
    delete_mode    TEXT NOT NULL DEFAULT 'hard',
    retention_days INTEGER NOT NULL DEFAULT 30,
    -- The last change record's sequence number (see the changes table).
    change_seq     INTEGER NOT NULL DEFAULT 0
);

-- Bearer tokens: only a SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created     TEXT NOT NULL,
    expires     TEXT,
    revoked     TEXT
);
CREATE INDEX tokens_by_tenant ON tokens(tenant_id);

-- Resources: canonical JSON without id, meta and group members.
-- seq gives every resource a stable position for index and cursor pagination.
CREATE TABLE resources (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    data          TEXT NOT NULL,
    -- What a group member or a user's group shows as `display` (displayName, else userName).
    display       TEXT,
    deleted       TEXT
);
CREATE UNIQUE INDEX resources_by_id ON resources(tenant_id, id);
CREATE INDEX resources_by_type ON resources(tenant_id, resource_type, deleted, seq);
CREATE INDEX resources_by_modified ON resources(tenant_id, resource_type, last_modified);
CREATE INDEX resources_by_created ON resources(tenant_id, resource_type, created);

-- Indexed attribute values (userName, externalId, displayName, emails.value, and every
-- attribute with uniqueness server/global). Values of case-insensitive attributes are
-- folded to lower case. Unique attributes get a unique index of their own.
CREATE TABLE attr_index (
    tenant_id     INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    attr          TEXT NOT NULL,
    value         TEXT NOT NULL,
    resource_seq  INTEGER NOT NULL REFERENCES resources(seq) ON DELETE CASCADE,
    is_unique     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX attr_index_lookup ON attr_index(tenant_id, resource_type, attr, value);
CREATE INDEX attr_index_by_resource ON attr_index(resource_seq);
CREATE UNIQUE INDEX attr_index_unique ON attr_index(tenant_id, resource_type, attr, value)
    WHERE is_unique;

-- Group membership, one row per direct member. member_type is the member's resource type
-- (NULL when the member id is not, or no longer, a resource of the tenant); display is the
-- display text the client sent, if any (else the member's own display is shown).
CREATE TABLE members (
    tenant_id   INTEGER NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT,
    display     TEXT,
    PRIMARY KEY (tenant_id, group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX members_by_member ON members(tenant_id, member_id);

-- The change log: one immutable record per write, appended in the write's transaction.
-- seq numbers a tenant's records 1, 2, 3, … in commit order (tenants.change_seq).
CREATE TABLE changes (
    tenant_id       INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    operation       TEXT NOT NULL,
    changed         TEXT NOT NULL,
    before          TEXT,
    after           TEXT,
    members_added   TEXT NOT NULL DEFAULT '[]',
    members_removed TEXT NOT NULL DEFAULT '[]',
    token_id        TEXT,
    token_name      TEXT,
    request_id      TEXT,
    at              TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX changes_by_resource ON changes(tenant_id, resource_id, seq);
