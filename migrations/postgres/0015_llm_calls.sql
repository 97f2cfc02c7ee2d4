-- What llm nodes spent upstream: one row per call (cached answers make none),
-- with its tokens and its cost at the prices of the day (NULL: the model had
-- no price). Kept apart from the runs: a run deleted by retention keeps what it
-- spent, so daily budgets and totals stay right. Read per run, per workflow
-- and per user since a time.
CREATE TABLE llm_calls (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id      BIGINT  NOT NULL,
    workflow_id       BIGINT,
    user_id           BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    node_id           TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    prompt_tokens     BIGINT  NOT NULL,
    completion_tokens BIGINT  NOT NULL,
    cost_micros       BIGINT,
    at                BIGINT  NOT NULL
);
CREATE INDEX llm_calls_by_user ON llm_calls (user_id, at);
CREATE INDEX llm_calls_by_execution ON llm_calls (execution_id);
CREATE INDEX llm_calls_by_workflow ON llm_calls (workflow_id, at);
