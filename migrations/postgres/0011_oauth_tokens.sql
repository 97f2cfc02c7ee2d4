-- OAuth2 credentials: the tokens Weft obtained (access, refresh, expiry),
-- sealed like the value, kept apart from it: the value is what the user
-- entered (client id and secret), the tokens are what the authorization
-- server gave. Replacing the value forgets the tokens.
ALTER TABLE credentials ADD COLUMN tokens_sealed TEXT;
ALTER TABLE credentials ADD COLUMN connected_at BIGINT;
