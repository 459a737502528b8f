-- Initial schema (PostgreSQL): the twin of migrations/sqlite/0001_initial.sql with native types:
-- UUID ids, BOOLEAN flags, BYTEA blobs, BIGINT for Unix-millisecond times and every count (so
-- both engines decode the same i64 values).

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,                 -- argon2 PHC string, never the password
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

-- Session cookies and CLI API tokens, stored only as SHA-256 hex of the secret.
CREATE TABLE auth_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    name         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, kind);

-- Claim tokens let a node register straight into its owner's account (hashed like auth tokens).
CREATE TABLE claim_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX claim_tokens_user ON claim_tokens (user_id);

CREATE TABLE nodes (
    id           UUID PRIMARY KEY,
    owner_id     UUID REFERENCES users (id) ON DELETE SET NULL,
    public_key   TEXT NOT NULL UNIQUE,           -- base64 Ed25519 key: the node's identity
    name         TEXT NOT NULL,
    claim_code   TEXT UNIQUE,                    -- shown by an unowned node until claimed
    max_parallel BIGINT NOT NULL,
    cores        BIGINT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'online', 'offline')),
    draining     BOOLEAN NOT NULL DEFAULT FALSE,
    version      TEXT NOT NULL DEFAULT '',
    last_seen_at BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX nodes_owner ON nodes (owner_id);

-- Profiles by content hash: identical submissions share one row.
CREATE TABLE configs (
    hash         TEXT PRIMARY KEY,
    content      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id             UUID PRIMARY KEY,
    owner_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    config_hash    TEXT NOT NULL REFERENCES configs (hash),
    iterations     BIGINT NOT NULL CHECK (iterations > 0),
    seed           BIGINT NOT NULL,              -- u64 seed stored as its i64 bit pattern
    chunk_size     BIGINT NOT NULL CHECK (chunk_size > 0),
    chunk_count    BIGINT NOT NULL CHECK (chunk_count > 0),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    version        BIGINT NOT NULL DEFAULT 0,    -- bumped by every status transition
    result         BYTEA,
    failure_reason TEXT,
    is_public      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);
CREATE INDEX jobs_owner ON jobs (owner_id, created_at);
CREATE INDEX jobs_status ON jobs (status);

-- One row per finished chunk; the primary key makes a duplicate insert a no-op. node_id has no
-- foreign key on purpose: unlinking a node must never fail because it computed chunks.
CREATE TABLE chunk_results (
    job_id      UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_index BIGINT NOT NULL,
    node_id     UUID,
    result      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (job_id, chunk_index)
);
