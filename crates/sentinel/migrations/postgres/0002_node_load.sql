-- What each node reported about its work in its latest heartbeat (twin of the SQLite 0002).

ALTER TABLE nodes ADD COLUMN active_chunks   BIGINT           NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN free_slots      BIGINT           NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN sims_per_sec    DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN load1           DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN mem_used_bytes  BIGINT           NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN mem_total_bytes BIGINT           NOT NULL DEFAULT 0;
