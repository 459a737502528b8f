-- Initial schema (SQLite). The PostgreSQL twin uses the same tables and columns with native
-- types: UUID for ids, BOOLEAN for flags, BYTEA for blobs, BIGINT for Unix-millisecond times.
-- Ids are stored as hyphenated UUID text here; times as Unix milliseconds.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,                 -- argon2 PHC string, never the password
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- Session cookies and CLI API tokens, stored only as SHA-256 hex of the secret.
CREATE TABLE auth_tokens (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, kind);

-- Claim tokens let a node register straight into its owner's account (hashed like auth tokens).
CREATE TABLE claim_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX claim_tokens_user ON claim_tokens (user_id);

CREATE TABLE nodes (
    id           TEXT PRIMARY KEY NOT NULL,
    owner_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    public_key   TEXT NOT NULL UNIQUE,           -- base64 Ed25519 key: the node's identity
    name         TEXT NOT NULL,
    claim_code   TEXT UNIQUE,                    -- shown by an unowned node until claimed
    max_parallel INTEGER NOT NULL,
    cores        INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'online', 'offline')),
    draining     INTEGER NOT NULL DEFAULT 0,
    version      TEXT NOT NULL DEFAULT '',
    last_seen_at INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX nodes_owner ON nodes (owner_id);

-- Profiles by content hash: identical submissions share one row.
CREATE TABLE configs (
    hash         TEXT PRIMARY KEY NOT NULL,
    content      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY NOT NULL,
    owner_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_hash    TEXT NOT NULL REFERENCES configs (hash),
    iterations     INTEGER NOT NULL CHECK (iterations > 0),
    seed           INTEGER NOT NULL,             -- u64 seed stored as its i64 bit pattern
    chunk_size     INTEGER NOT NULL CHECK (chunk_size > 0),
    chunk_count    INTEGER NOT NULL CHECK (chunk_count > 0),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    version        INTEGER NOT NULL DEFAULT 0,   -- bumped by every status transition
    result         BLOB,
    failure_reason TEXT,
    is_public      INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER
);
CREATE INDEX jobs_owner ON jobs (owner_id, created_at);
CREATE INDEX jobs_status ON jobs (status);

-- One row per finished chunk; the primary key makes a duplicate insert a no-op. node_id has no
-- foreign key on purpose: unlinking a node must never fail because it computed chunks.
CREATE TABLE chunk_results (
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    node_id     TEXT,
    result      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
) WITHOUT ROWID;
