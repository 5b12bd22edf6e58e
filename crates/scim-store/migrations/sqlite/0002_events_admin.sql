-- Event delivery and administration.

-- A tenant's uid tells its incarnations apart: a tenant deleted and created again under the
-- same name starts its change log at 1 again, and event ids ("evt_{uid}_{seq}") must never
-- repeat. Random, set once at creation; copied as is by `scim store copy`.
ALTER TABLE tenants ADD COLUMN uid TEXT NOT NULL DEFAULT '';
UPDATE tenants SET uid = lower(hex(randomblob(8))) WHERE uid = '';

-- The resource's version and creation time after the change, so that an event can render
-- the resource's `meta` without reading the resource (NULL in records written before).
ALTER TABLE changes ADD COLUMN version INTEGER;
ALTER TABLE changes ADD COLUMN created TEXT;
-- What else a reader must know of the change, as a JSON object (e.g. {"deleteMode":"soft"}).
ALTER TABLE changes ADD COLUMN detail TEXT;

-- Administration tokens: they authenticate the management API (/admin/v1), never a SCIM
-- URL. Only a SHA-256 of the secret is kept.
CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created     TEXT NOT NULL,
    expires     TEXT,
    revoked     TEXT
);
