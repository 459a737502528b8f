-- Claim tokens expire; claim codes are stored as SHA-256 hex and expire; grid-wide settings
-- (twin of the SQLite 0004).

ALTER TABLE claim_tokens ADD COLUMN expires_at BIGINT; -- NULL: never (tokens made before 0004)
ALTER TABLE nodes ADD COLUMN claim_code_expires_at BIGINT;
-- Codes stored so far are plaintext: drop them; an unowned node gets a fresh code on its next
-- registration poll.
UPDATE nodes SET claim_code = NULL, claim_code_expires_at = NULL;

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
