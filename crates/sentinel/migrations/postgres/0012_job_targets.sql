-- A target-error job's plan and wave progress (mirrors migrations/sqlite/0012_job_targets.sql).
CREATE TABLE job_targets (
    job_id           UUID PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    target_error     DOUBLE PRECISION NOT NULL,
    max_iterations   BIGINT NOT NULL,
    waves            BIGINT NOT NULL,
    scheduled_chunks BIGINT NOT NULL,
    -- Half-width (percent of the mean) after the last complete wave; NULL before the first.
    half_width_pct   DOUBLE PRECISION
);
