-- Issue 10 (role rules, second part): group rules by pattern, and rules on user attributes.

-- 1: `value` is a pattern (`*` any characters, `?` one) instead of an exact name or id.
ALTER TABLE role_rules ADD COLUMN IF NOT EXISTS pattern BIGINT NOT NULL DEFAULT 0;
-- A `user_filter` rule's SCIM filter, resolved against the User schemas when the rule was
-- added (JSON: canonical paths with their types and case sensitivity), so that the store
-- evaluates it without the server's schema registry. `value` keeps the text as given.
ALTER TABLE role_rules ADD COLUMN IF NOT EXISTS compiled TEXT;
