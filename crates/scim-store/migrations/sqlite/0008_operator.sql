-- Issue 12 (the operator's first hour).

-- Tenant names are case-insensitive: `Acme` and `acme` are one tenant, reached by either
-- spelling in a URL. Tenants created before this rule whose names differ only by case
-- are kept and marked `case_twin`: each stays reachable by its exact name only (nothing
-- an identity provider already uses breaks), and `scim tenant list` points them out.
ALTER TABLE tenants ADD COLUMN case_twin INTEGER;
UPDATE tenants SET case_twin = 1
 WHERE lower(name) IN (SELECT lower(name) FROM tenants GROUP BY lower(name) HAVING count(*) > 1);
CREATE UNIQUE INDEX tenants_by_folded_name ON tenants (lower(name)) WHERE case_twin IS NULL;

-- The group memberships a soft delete ended, so that `scim restore` can make them again:
-- `deleted_id` is the resource whose deletion ended the membership (the member, or the
-- group whose own member list went with it).
CREATE TABLE ended_memberships (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    deleted_id  TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT,
    display     TEXT,
    PRIMARY KEY (tenant_id, deleted_id, group_id, member_id)
);
