-- Reviews of results a quarantined node contributed (README "Trusting volunteer results").
-- A round opens when a node is quarantined while a job holds its results: those chunks are
-- recomputed on other owners' nodes and, for a job that had already completed, its merged
-- result is re-merged and stored again. The job's status does not change; the job is
-- "under review" while a round is open. Every step is kept: which chunks, which node computed
-- each before and after, and the SHA-256 of each result and of the job's result before and after.
CREATE TABLE job_reviews (
    job_id          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    round           INTEGER NOT NULL,
    -- The quarantined node that opened the round (more may add chunks while it is open).
    node_id         TEXT NOT NULL,
    -- The job's status when the round opened: completed (its result is corrected) or running.
    job_status      TEXT NOT NULL,
    old_result_hash TEXT,
    new_result_hash TEXT,
    -- How it closed when not by a correction (the job failed or was cancelled meanwhile).
    note            TEXT,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    PRIMARY KEY (job_id, round)
);

CREATE TABLE job_review_chunks (
    job_id      TEXT NOT NULL,
    round       INTEGER NOT NULL,
    chunk_index INTEGER NOT NULL,
    old_node    TEXT,
    old_hash    TEXT NOT NULL,
    new_node    TEXT,
    new_hash    TEXT,
    PRIMARY KEY (job_id, round, chunk_index),
    FOREIGN KEY (job_id, round) REFERENCES job_reviews (job_id, round) ON DELETE CASCADE
);

CREATE INDEX job_reviews_open ON job_reviews (finished_at) WHERE finished_at IS NULL;
