-- Spot checks of volunteer results (README "Trusting volunteer results"). One row per chunk
-- sent for a second opinion: who computed it, the SHA-256 of each result's bytes and the
-- verdict. The first result waits here until a node of another owner agrees with it; a
-- disagreement goes to a third owner's node. Node ids are plain text without a foreign key:
-- the record outlives a node that is unlinked.
-- Mirrors migrations/sqlite/0015_spot_checks.sql.
CREATE TABLE chunk_checks (
    job_id       UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_index  BIGINT NOT NULL,
    -- pending | confirmed | first_wrong | second_wrong | skipped
    verdict      TEXT NOT NULL,
    first_node   TEXT NOT NULL,
    first_hash   TEXT NOT NULL,
    first_result BYTEA NOT NULL,
    second_node  TEXT,
    second_hash  TEXT,
    third_node   TEXT,
    third_hash   TEXT,
    -- Why a check was skipped (no eligible node of another owner), or other notes.
    note         TEXT,
    created_at   BIGINT NOT NULL,
    settled_at   BIGINT,
    PRIMARY KEY (job_id, chunk_index)
);

-- Per-node reputation: results that went through a spot check, and how they came out.
CREATE TABLE node_trust (
    node_id   TEXT PRIMARY KEY NOT NULL,
    checked   BIGINT NOT NULL DEFAULT 0,
    confirmed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0,
    -- Set when a spot check found the node wrong: it gets no work until an operator releases
    -- it (POST /api/admin/nodes/{id}/release).
    quarantined_at BIGINT
);
