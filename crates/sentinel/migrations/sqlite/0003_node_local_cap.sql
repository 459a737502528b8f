-- What a node caps itself at and what it really computes, so the studio shows its effective
-- capacity and the cores it keeps busy (not the leases it merely holds). NULL means an older
-- node that does not report the figure: capacity is then the owner's setting alone and cores
-- in use fall back to active_chunks. PostgreSQL: the same nullable INTEGER columns.

ALTER TABLE nodes ADD COLUMN local_max_parallel INTEGER; -- the node's own --max-parallel
ALTER TABLE nodes ADD COLUMN running_chunks     INTEGER; -- chunks computing at its last heartbeat
