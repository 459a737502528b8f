-- A target-error job's plan (95 % CI half-width as a percent of the mean, most iterations) and
-- how far its waves got: `scheduled_chunks` is what the coordinator is given on a restore, so
-- a target job survives a restart with exactly the waves it had. The jobs row keeps the
-- maximum as its iterations and chunk count; its chunk size divides every wave boundary.
-- PostgreSQL: the same table.
CREATE TABLE job_targets (
    job_id           TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    target_error     REAL NOT NULL,
    max_iterations   INTEGER NOT NULL,
    waves            INTEGER NOT NULL,
    scheduled_chunks INTEGER NOT NULL,
    -- Half-width (percent of the mean) after the last complete wave; NULL before the first.
    half_width_pct   REAL
);
