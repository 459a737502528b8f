-- Longest a lease of one chunk may be held, heartbeats or not (0 = the default minimum).
ALTER TABLE jobs ADD COLUMN chunk_wall_limit_ms BIGINT NOT NULL DEFAULT 0;
