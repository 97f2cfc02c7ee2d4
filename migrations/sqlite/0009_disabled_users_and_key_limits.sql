-- An admin may disable a user: they can no longer sign in, their sessions and
-- API keys stop working, and their triggers stop starting runs. Nothing of
-- theirs is deleted; enabling them again restores everything.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- An API key may expire, and may be limited to reading.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
