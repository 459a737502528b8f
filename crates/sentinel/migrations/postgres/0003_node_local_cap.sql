-- A node's own cap and the chunks it really computes (twin of the SQLite 0003); NULL means an
-- older node that does not report the figure.

ALTER TABLE nodes ADD COLUMN local_max_parallel BIGINT; -- the node's own --max-parallel
ALTER TABLE nodes ADD COLUMN running_chunks     BIGINT; -- chunks computing at its last heartbeat
