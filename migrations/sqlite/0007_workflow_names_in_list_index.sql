-- The workflow list's index also carries each name, so a name search too short
-- for the trigram index (one or two characters: a LIKE over the
-- caller's workflows, newest first) reads the index alone and never seeks each
-- workflow row. It replaces the index it extends: every list it served, it serves.
CREATE INDEX workflows_owner_updated_name ON workflows (owner_id, updated_at DESC, id DESC, name);
DROP INDEX workflows_owner_updated;
