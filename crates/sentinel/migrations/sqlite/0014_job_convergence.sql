-- A job's convergence as the projector merged it: the running mean DPS and its 95 % CI
-- half-width after `iterations` were merged, so a finished job's page draws the chart from
-- the store. Thinned by the projector (about 200 points a job); deleting the job deletes it.
-- PostgreSQL: the same table with UUID ids and DOUBLE PRECISION.
CREATE TABLE job_convergence (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    iterations INTEGER NOT NULL CHECK (iterations >= 0),
    mean_dps   REAL NOT NULL,
    ci95       REAL NOT NULL,
    PRIMARY KEY (job_id, iterations)
) WITHOUT ROWID;
