-- A job's display name: set at submission (the profile's title unless the user gave one) and
-- changed by its owner. A table of its own so the jobs row and its status updates stay as they
-- are; deleting the job deletes its name.
-- PostgreSQL: the same table.
CREATE TABLE job_names (
    job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name   TEXT NOT NULL
);
