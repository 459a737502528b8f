-- What each node reported about its work in its latest heartbeat, so the studio can show cores
-- in use and sims/s per node and for the whole grid. PostgreSQL: DOUBLE PRECISION for the REAL
-- columns, BIGINT for the byte counts.

ALTER TABLE nodes ADD COLUMN active_chunks   INTEGER NOT NULL DEFAULT 0; -- leases it was running
ALTER TABLE nodes ADD COLUMN free_slots      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN sims_per_sec    REAL    NOT NULL DEFAULT 0; -- over its last interval
ALTER TABLE nodes ADD COLUMN load1           REAL    NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN mem_used_bytes  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN mem_total_bytes INTEGER NOT NULL DEFAULT 0;
