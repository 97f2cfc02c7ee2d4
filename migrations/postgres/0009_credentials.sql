-- Credentials: a user's named secrets (owner_id), or an admin's shared ones
-- (owner_id NULL) that every user may use and nobody can read. The value is
-- sealed (ChaCha20-Poly1305 under the instance's secret key, as the LLM key).
CREATE TABLE credentials (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id     BIGINT  REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    sealed       TEXT    NOT NULL,
    created_by   BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX credentials_owner_name ON credentials (owner_id, name) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX credentials_shared_name ON credentials (name) WHERE owner_id IS NULL;
-- Which credential names each workflow's current version uses, written with
-- the version: a credential's "used by" list, and what refuses its deletion.
CREATE TABLE workflow_credentials (
    workflow_id BIGINT  NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    PRIMARY KEY (workflow_id, name)
);
CREATE INDEX workflow_credentials_name ON workflow_credentials (name, workflow_id);
