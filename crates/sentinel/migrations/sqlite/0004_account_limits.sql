-- Claim tokens expire; claim codes are stored as SHA-256 hex (a dump reveals no valid code) and
-- expire; grid-wide settings (fair-use defaults) an admin can change at run time.
-- PostgreSQL: the same columns (BIGINT times), `settings.value` BIGINT.

ALTER TABLE claim_tokens ADD COLUMN expires_at INTEGER; -- NULL: never (tokens made before 0004)
ALTER TABLE nodes ADD COLUMN claim_code_expires_at INTEGER;
-- Codes stored so far are plaintext: drop them; an unowned node gets a fresh code on its next
-- registration poll.
UPDATE nodes SET claim_code = NULL, claim_code_expires_at = NULL;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
