-- The history chart's counts, kept as executions end and go: finished
-- executions per hour (of their creation) and status, at three levels, so the
-- chart reads at most a few hundred rows instead of counting every execution
-- of its 48 hours (345,600 of them at 2 runs a second):
--   owner_id = 0, workflow_id = 0   everyone's (the admin's unfiltered chart)
--   owner_id = U, workflow_id = 0   one owner's
--   owner_id = U, workflow_id = W   one workflow's
-- Only finished statuses are counted here: a run changes status several times
-- before it ends, and the few that have not ended are counted from the
-- executions themselves (`executions_status_created`). The store keeps it in
-- the transactions that end runs (one multi-row upsert per group-committed
-- batch), cancel queued ones, and delete runs (retention) or workflows; in
-- key order, so that transactions of several processes queue on these rows
-- instead of deadlocking (`src/store/sql/chart.rs`).
CREATE TABLE execution_hours (
    hour        INTEGER NOT NULL,
    owner_id    INTEGER NOT NULL,
    workflow_id INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (owner_id, workflow_id, hour, status)
) WITHOUT ROWID;

-- What is already there.
INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
SELECT created_at / 3600000 * 3600000, owner_id, workflow_id, status, COUNT(*)
FROM executions WHERE status IN ('succeeded', 'failed', 'cancelled')
GROUP BY 1, 2, 3, 4;
INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
SELECT hour, owner_id, 0, status, SUM(count) FROM execution_hours WHERE workflow_id <> 0
GROUP BY hour, owner_id, status;
INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
SELECT hour, 0, 0, status, SUM(count) FROM execution_hours WHERE owner_id <> 0 AND workflow_id = 0
GROUP BY hour, status;
