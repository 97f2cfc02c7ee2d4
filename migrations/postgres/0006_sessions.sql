-- Browser sessions, kept on the server: the cookie holds a random token and
-- only its SHA-256 is stored, so a copy of the database signs nobody in.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
-- Expired sessions are swept by expiry time.
CREATE INDEX sessions_expiry ON sessions (expires_at);
