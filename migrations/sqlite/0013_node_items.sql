-- The items of `for_each` nodes that have ended, while their execution runs:
-- a run resumed after a crash or a restart keeps them and runs only the rest.
-- The engine deletes them when the execution finishes (the node's output then
-- holds every item's result); retention's cascade takes any left behind.
CREATE TABLE node_items (
    execution_id INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node_id      TEXT    NOT NULL,
    item_index   INTEGER NOT NULL,
    output       TEXT    NOT NULL,
    failed       BOOLEAN NOT NULL,
    attempt      INTEGER NOT NULL,
    PRIMARY KEY (execution_id, node_id, item_index)
) WITHOUT ROWID;
