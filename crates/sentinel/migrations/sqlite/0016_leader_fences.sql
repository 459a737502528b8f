-- The highest fence token a leader (lock name: projector, ...) has written with. A leader's
-- write raises it in the same transaction and is refused when its token is lower, so a
-- leader that stalled past its lock's lifetime cannot write after its successor did.
CREATE TABLE leader_fences (
    name  TEXT PRIMARY KEY,
    fence BIGINT NOT NULL
);
