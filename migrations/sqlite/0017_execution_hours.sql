-- The history chart's counts, kept as executions end and go: finished
-- executions per hour (of their creation) and status, at three levels, so the
-- chart reads at most a few hundred rows instead of counting every execution
-- of its 48 hours (345,600 of them at 2 runs a second):
--   owner_id = 0, workflow_id = 0   everyone's (the admin's unfiltered chart)
--   owner_id = U, workflow_id = 0   one owner's
--   owner_id = U, workflow_id = W   one workflow's
-- Only finished statuses are counted here: a run changes status several times
-- before it ends, and the few that have not ended are counted from the
-- executions themselves (`executions_status_created`). So a run costs three
-- upserts once, when it ends, on the same transaction as its end.
CREATE TABLE execution_hours (
    hour        INTEGER NOT NULL,
    owner_id    INTEGER NOT NULL,
    workflow_id INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (owner_id, workflow_id, hour, status)
) WITHOUT ROWID;

CREATE TRIGGER execution_hours_insert AFTER INSERT ON executions
WHEN new.status IN ('succeeded', 'failed', 'cancelled') BEGIN
    INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
    VALUES (new.created_at / 3600000 * 3600000, 0, 0, new.status, 1),
           (new.created_at / 3600000 * 3600000, new.owner_id, 0, new.status, 1),
           (new.created_at / 3600000 * 3600000, new.owner_id, new.workflow_id, new.status, 1)
    ON CONFLICT (owner_id, workflow_id, hour, status) DO UPDATE SET count = count + 1;
END;

-- A row that counts nothing is deleted, so the table holds only hours that
-- still have executions (retention empties old hours).
CREATE TRIGGER execution_hours_delete AFTER DELETE ON executions
WHEN old.status IN ('succeeded', 'failed', 'cancelled') BEGIN
    UPDATE execution_hours SET count = count - 1
    WHERE hour = old.created_at / 3600000 * 3600000 AND status = old.status
      AND ((owner_id = 0 AND workflow_id = 0)
           OR (owner_id = old.owner_id AND workflow_id IN (0, old.workflow_id)));
    DELETE FROM execution_hours
    WHERE hour = old.created_at / 3600000 * 3600000 AND status = old.status AND count <= 0
      AND ((owner_id = 0 AND workflow_id = 0)
           OR (owner_id = old.owner_id AND workflow_id IN (0, old.workflow_id)));
END;

-- Ending (running → succeeded): counted. A finished status never changes
-- today; were it to, the old one is taken off first.
CREATE TRIGGER execution_hours_update AFTER UPDATE OF status ON executions
WHEN old.status IS NOT new.status
 AND (old.status IN ('succeeded', 'failed', 'cancelled') OR new.status IN ('succeeded', 'failed', 'cancelled')) BEGIN
    UPDATE execution_hours SET count = count - 1
    WHERE old.status IN ('succeeded', 'failed', 'cancelled')
      AND hour = old.created_at / 3600000 * 3600000 AND status = old.status
      AND ((owner_id = 0 AND workflow_id = 0)
           OR (owner_id = old.owner_id AND workflow_id IN (0, old.workflow_id)));
    DELETE FROM execution_hours
    WHERE old.status IN ('succeeded', 'failed', 'cancelled')
      AND hour = old.created_at / 3600000 * 3600000 AND status = old.status AND count <= 0
      AND ((owner_id = 0 AND workflow_id = 0)
           OR (owner_id = old.owner_id AND workflow_id IN (0, old.workflow_id)));
    INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
    SELECT new.created_at / 3600000 * 3600000, o, w, new.status, 1
    FROM (SELECT 0 AS o, 0 AS w UNION ALL SELECT new.owner_id, 0 UNION ALL SELECT new.owner_id, new.workflow_id)
    WHERE new.status IN ('succeeded', 'failed', 'cancelled')
    ON CONFLICT (owner_id, workflow_id, hour, status) DO UPDATE SET count = count + 1;
END;

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
