-- Issue 11 (safety under load and abuse). Provisional number 0003.

-- Per-tenant settings: the request rate limit (NULL: the server's default) and the
-- optional JWT mode (a JSON object; NULL: only scim_ tokens).
CREATE TABLE tenant_settings (
    tenant_id       INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    rate_per_minute INTEGER,
    rate_burst      INTEGER,
    jwt             TEXT
);

-- Token lifecycle: a scope ('write': SCIM reads and writes; 'read': reads only), the last
-- time the token was used (recorded coarsely, see sql/lifecycle.rs), and the token that
-- replaced it when it was rotated.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write';
ALTER TABLE tokens ADD COLUMN last_used TEXT;
ALTER TABLE tokens ADD COLUMN rotated_to TEXT;
