-- Event delivery and administration (see migrations/sqlite/0002_events_admin.sql).

-- A tenant's uid tells its incarnations apart (event ids are "evt_{uid}_{seq}").
ALTER TABLE tenants ADD COLUMN uid TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE tenants SET uid = substr(md5(random()::text || id::text || clock_timestamp()::text), 1, 16)
    WHERE uid = '';

-- The resource's version and creation time after the change (NULL in older records).
ALTER TABLE changes ADD COLUMN version BIGINT;
ALTER TABLE changes ADD COLUMN created TEXT COLLATE "C";
-- What else a reader must know of the change, as a JSON object (e.g. {"deleteMode":"soft"}).
ALTER TABLE changes ADD COLUMN detail TEXT;

-- Administration tokens for the management API: only a SHA-256 of the secret is kept.
CREATE TABLE admin_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    secret_hash BYTEA NOT NULL,
    created     TEXT COLLATE "C" NOT NULL,
    expires     TEXT COLLATE "C",
    revoked     TEXT COLLATE "C"
);
