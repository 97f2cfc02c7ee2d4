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
    hour        BIGINT NOT NULL,
    owner_id    BIGINT NOT NULL,
    workflow_id BIGINT NOT NULL,
    status      TEXT   NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (owner_id, workflow_id, hour, status)
);

CREATE FUNCTION execution_hours_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('succeeded', 'failed', 'cancelled') THEN
        UPDATE execution_hours SET count = count - 1
        WHERE hour = OLD.created_at / 3600000 * 3600000 AND status = OLD.status
          AND ((owner_id = 0 AND workflow_id = 0)
               OR (owner_id = OLD.owner_id AND workflow_id IN (0, OLD.workflow_id)));
        -- A row that counts nothing goes, so the table holds only hours that
        -- still have executions (retention empties old hours).
        DELETE FROM execution_hours
        WHERE hour = OLD.created_at / 3600000 * 3600000 AND status = OLD.status AND count <= 0
          AND ((owner_id = 0 AND workflow_id = 0)
               OR (owner_id = OLD.owner_id AND workflow_id IN (0, OLD.workflow_id)));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('succeeded', 'failed', 'cancelled') THEN
        -- Always in this order (everyone's row first), so two transactions
        -- ending runs never take these row locks in opposite orders.
        INSERT INTO execution_hours (hour, owner_id, workflow_id, status, count)
        VALUES (NEW.created_at / 3600000 * 3600000, 0, 0, NEW.status, 1),
               (NEW.created_at / 3600000 * 3600000, NEW.owner_id, 0, NEW.status, 1),
               (NEW.created_at / 3600000 * 3600000, NEW.owner_id, NEW.workflow_id, NEW.status, 1)
        ON CONFLICT (owner_id, workflow_id, hour, status) DO UPDATE SET count = execution_hours.count + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER execution_hours_insert AFTER INSERT ON executions
FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled'))
EXECUTE FUNCTION execution_hours_count();
CREATE TRIGGER execution_hours_delete AFTER DELETE ON executions
FOR EACH ROW WHEN (OLD.status IN ('succeeded', 'failed', 'cancelled'))
EXECUTE FUNCTION execution_hours_count();
-- Ending (running → succeeded) is counted; a claim (queued → running) fires nothing.
CREATE TRIGGER execution_hours_update AFTER UPDATE OF status ON executions
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
    AND (OLD.status IN ('succeeded', 'failed', 'cancelled') OR NEW.status IN ('succeeded', 'failed', 'cancelled')))
EXECUTE FUNCTION execution_hours_count();

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
