-- API keys: a key acts as its user. Only a SHA-256 of the secret part is kept;
-- the prefix (random, shown to the user) finds the row.
CREATE TABLE api_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    prefix      TEXT   NOT NULL UNIQUE,
    secret_hash TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at DESC);
