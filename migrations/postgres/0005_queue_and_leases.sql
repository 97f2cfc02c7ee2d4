-- The execution queue. Any process claims a claimable execution (queued, or
-- running under an expired lease) with FOR UPDATE SKIP LOCKED and holds a lease
-- on it, renewed while it runs. A process that dies stops renewing; once its
-- leases expire, another process takes its executions over and resumes them.
ALTER TABLE executions ADD COLUMN lease_owner TEXT;
-- Queued executions (and those handed back at shutdown) have 0: claimable at once.
ALTER TABLE executions ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
-- Set by a cancel request from any process; the process running it cancels it.
ALTER TABLE executions ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
-- Only unfinished executions are in this index, so it stays small however long
-- the history grows; it serves claims, lease renewals and the next-expiry look-up.
CREATE INDEX executions_claimable ON executions (lease_expires_at, id) WHERE status IN ('queued', 'running');
