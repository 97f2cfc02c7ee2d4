-- Variables: non-secret values templates read as `vars.NAME`, a user's own
-- (owner_id) or the instance's (owner_id NULL, set by an admin).
CREATE TABLE variables (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX variables_owner_name ON variables (owner_id, name) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX variables_shared_name ON variables (name) WHERE owner_id IS NULL;
