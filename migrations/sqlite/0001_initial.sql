-- Weft's schema on SQLite. Timestamps are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE workflows (
    id              INTEGER PRIMARY KEY,
    owner_id        INTEGER NOT NULL REFERENCES users(id),
    name            TEXT    NOT NULL,
    description     TEXT,
    current_version INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- A user's workflows by last update (the workflow list), paged by (updated_at, id).
CREATE INDEX workflows_owner_updated ON workflows (owner_id, updated_at DESC, id DESC);
-- Name search: substring matching served by a trigram full-text index.
CREATE VIRTUAL TABLE workflow_names USING fts5 (name, content = 'workflows', content_rowid = 'id', tokenize = 'trigram');
CREATE TRIGGER workflows_names_insert AFTER INSERT ON workflows BEGIN
    INSERT INTO workflow_names (rowid, name) VALUES (new.id, new.name);
END;
CREATE TRIGGER workflows_names_delete AFTER DELETE ON workflows BEGIN
    INSERT INTO workflow_names (workflow_names, rowid, name) VALUES ('delete', old.id, old.name);
END;
CREATE TRIGGER workflows_names_update AFTER UPDATE OF name ON workflows BEGIN
    INSERT INTO workflow_names (workflow_names, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO workflow_names (rowid, name) VALUES (new.id, new.name);
END;

CREATE TABLE workflow_versions (
    workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE executions (
    id          INTEGER PRIMARY KEY,
    workflow_id INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    owner_id    INTEGER NOT NULL REFERENCES users(id),
    trigger     TEXT    NOT NULL,
    input       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
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
    execution_id INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    input        TEXT,
    output       TEXT,
    error        TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    PRIMARY KEY (execution_id, node_id)
) WITHOUT ROWID;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE templates (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    definition  TEXT    NOT NULL,
    author_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);
