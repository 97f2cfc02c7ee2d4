-- A user's history filtered by status (the history page's status filter).
CREATE INDEX executions_owner_status_created ON executions (owner_id, status, created_at DESC, id DESC);
