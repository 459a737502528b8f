-- When an API token was last used (mirrors migrations/sqlite/0013_token_last_used.sql).
ALTER TABLE auth_tokens ADD COLUMN last_used_at BIGINT;
-- Claim tokens get a name (where they are used) and the time a node last registered with one.
ALTER TABLE claim_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE claim_tokens ADD COLUMN last_used_at BIGINT;
