-- Runs started by a `workflow` node: each knows the run and node that started
-- it (and, for a node with `for_each`, the item), and how deep it is. A parent
-- that is resumed after a crash finds the child it already started instead
-- of starting a second; cancelling a run cancels its children; the run view
-- links both ways.
ALTER TABLE executions ADD COLUMN parent_execution_id INTEGER;
ALTER TABLE executions ADD COLUMN parent_node TEXT;
ALTER TABLE executions ADD COLUMN parent_item INTEGER;
ALTER TABLE executions ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
CREATE INDEX executions_by_parent ON executions (parent_execution_id, parent_node, parent_item)
    WHERE parent_execution_id IS NOT NULL;
