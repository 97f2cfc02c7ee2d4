-- Weft's schema on PostgreSQL. Timestamps are milliseconds since the Unix epoch (UTC),
-- as on SQLite, so both backends sort and page identically.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE workflows (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id        BIGINT  NOT NULL REFERENCES users(id),
    name            TEXT    NOT NULL,
    description     TEXT,
    current_version INTEGER NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
-- A user's workflows by last update (the workflow list), paged by (updated_at, id).
CREATE INDEX workflows_owner_updated ON workflows (owner_id, updated_at DESC, id DESC);
-- Name search: case-insensitive substring matching served by a trigram index.
CREATE INDEX workflows_name_trgm ON workflows USING gin (lower(name) gin_trgm_ops);

CREATE TABLE workflow_versions (
    workflow_id BIGINT  NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    definition  JSONB   NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE executions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id BIGINT  NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    owner_id    BIGINT  NOT NULL REFERENCES users(id),
    trigger     TEXT    NOT NULL,
    input       JSONB   NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    error       TEXT,
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions (workflow_id, version) ON DELETE CASCADE
);
-- Executions of a workflow by time; also serves "latest execution" per workflow row.
CREATE INDEX executions_workflow_created ON executions (workflow_id, created_at DESC, id DESC);
-- A user's history, everyone's history, and everyone's history by status.
CREATE INDEX executions_owner_created ON executions (owner_id, created_at DESC, id DESC);
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_status_created ON executions (status, created_at DESC, id DESC);

CREATE TABLE node_runs (
    execution_id BIGINT  NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    input        JSONB,
    output       JSONB,
    error        TEXT,
    started_at   BIGINT,
    finished_at  BIGINT,
    PRIMARY KEY (execution_id, node_id)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value JSONB NOT NULL
);

CREATE TABLE templates (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    definition  JSONB   NOT NULL,
    author_id   BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL
);
