-- Issue 11 (safety under load and abuse). Provisional number 0003.

-- Per-tenant settings: the request rate limit (NULL: the server's default) and the
-- optional JWT mode (a JSON object; NULL: only scim_ tokens).
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id       BIGINT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    rate_per_minute BIGINT,
    rate_burst      BIGINT,
    jwt             TEXT
);

-- Token lifecycle: a scope ('write': SCIM reads and writes; 'read': reads only), the last
-- time the token was used (recorded coarsely, see sql/lifecycle.rs), and the token that
-- replaced it when it was rotated.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS scope TEXT COLLATE "C" NOT NULL DEFAULT 'write';
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS last_used TEXT COLLATE "C";
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS rotated_to TEXT COLLATE "C";
