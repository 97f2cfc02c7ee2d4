-- Triggers declared in workflow definitions, copied here when a version is
-- saved so that a webhook call or a clock tick finds its workflow by index.
CREATE TABLE webhooks (
    path         TEXT PRIMARY KEY,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    method       TEXT NOT NULL,
    mode         TEXT NOT NULL,
    respond_with TEXT
);
CREATE INDEX webhooks_workflow ON webhooks (workflow_id);

CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY,
    workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    schedule     TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    -- Filled in by the scheduler; claimed with a conditional update so that a
    -- tick fires once however many processes watch the clock.
    next_fire_at INTEGER
);
CREATE INDEX schedules_workflow ON schedules (workflow_id);
CREATE INDEX schedules_due ON schedules (next_fire_at);
