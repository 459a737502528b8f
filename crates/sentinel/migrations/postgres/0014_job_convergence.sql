-- A job's convergence as the projector merged it (mirrors migrations/sqlite/0014_job_convergence.sql).
CREATE TABLE job_convergence (
    job_id     UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    iterations BIGINT NOT NULL CHECK (iterations >= 0),
    mean_dps   DOUBLE PRECISION NOT NULL,
    ci95       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, iterations)
);
