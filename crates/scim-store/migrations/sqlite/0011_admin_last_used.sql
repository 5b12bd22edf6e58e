-- When an administration token was last used, to the minute (NULL: never since this
-- migration), as `tokens.last_used` is for a tenant's tokens: `scim admin-token list`.
ALTER TABLE admin_tokens ADD COLUMN last_used TEXT;
