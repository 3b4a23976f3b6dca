-- The pauses of an assignment's clock while its department waits for a supplement: the latest
-- request and the latest resumption (event times). While the request is the later one, no
-- deadline runs and the case is not overdue.
ALTER TABLE assignments ADD COLUMN paused_at BIGINT;
ALTER TABLE assignments ADD COLUMN resumed_at BIGINT;
