-- Issue 13 (operations): the audit index, history kept as intervals so that "who was in
-- this group at T" reads the group's intervals instead of replaying the change log.
-- Derived from the change log (sql/audit.rs): rebuilt from it when missing, and brought up
-- to date before every audit answer and before the change log is pruned.

-- How far a tenant's change log has been indexed. complete is false when records were
-- pruned before they were indexed (the audit then refuses to answer). 1 or 0.
CREATE TABLE audit_progress (
    tenant_id   INTEGER PRIMARY KEY,
    through_seq INTEGER NOT NULL,
    complete    INTEGER NOT NULL
);

-- One row per period a member spent in a group: added by the change record from_seq,
-- removed by to_seq (NULL: still a member). A member at position S: from_seq <= S < to_seq.
CREATE TABLE audit_members (
    tenant_id   INTEGER NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT,
    from_seq    INTEGER NOT NULL,
    to_seq      INTEGER,
    PRIMARY KEY (tenant_id, group_id, member_id, from_seq)
) WITHOUT ROWID;

-- One row per version of a resource's attributes: the document written by the record
-- from_seq, current until to_seq (NULL: still current; a delete ends it). active is the
-- document's `active` (1, 0; NULL when it has none), for "who could sign in at T".
CREATE TABLE audit_states (
    tenant_id     INTEGER NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    from_seq      INTEGER NOT NULL,
    to_seq        INTEGER,
    active        INTEGER,
    data          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource_id, from_seq)
);
CREATE INDEX audit_states_by_type ON audit_states(tenant_id, resource_type, from_seq);
