-- A job's display name (mirrors migrations/sqlite/0011_job_names.sql).
CREATE TABLE job_names (
    job_id UUID PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name   TEXT NOT NULL
);
