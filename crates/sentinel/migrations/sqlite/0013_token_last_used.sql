-- When an API token was last used (milliseconds), for the tokens page. Written at most about
-- once a minute per token (coalesced in the sentinel and guarded in the UPDATE), never per
-- request. PostgreSQL: the same column.
ALTER TABLE auth_tokens ADD COLUMN last_used_at INTEGER;
-- Claim tokens get a name (where they are used) and the time a node last registered with one.
ALTER TABLE claim_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE claim_tokens ADD COLUMN last_used_at INTEGER;
