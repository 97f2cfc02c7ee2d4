-- Sign-in attempts by email and by client address, kept for about a minute.
-- Counted in the database, so every process sharing it enforces one limit.
CREATE TABLE sign_in_attempts (
    subject TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_subject_at ON sign_in_attempts (subject, at);
-- The sweep of old attempts.
CREATE INDEX sign_in_attempts_at ON sign_in_attempts (at);
