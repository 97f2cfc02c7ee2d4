-- The `wait` nodes of runs waiting to be resumed: one row per node. Resuming
-- deletes the row in the same transaction that records the node's output, so
-- a resume URL, an API call or a timeout resumes a node once: a second finds
-- no row. The execution's status says whether the run is parked (`waiting`)
-- or still going with other branches.
CREATE TABLE waits (
    execution_id BIGINT  NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node_id      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    -- When it times out (milliseconds since the epoch); NULL: never.
    deadline     BIGINT,
    -- What a timeout does: 'fail' or 'continue'.
    on_timeout   TEXT    NOT NULL,
    PRIMARY KEY (execution_id, node_id)
);
-- The timeout sweep reads the earliest deadline.
CREATE INDEX waits_deadline ON waits (deadline) WHERE deadline IS NOT NULL;
