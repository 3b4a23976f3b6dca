-- Supervision without anyone asking (跟踪督办): the deadline watcher marks when it found an
-- assignment past its acceptance deadline (催办) and past its handling deadline (督办), so each
-- is announced once per assignment and stage, whatever the number of replicas watching.

ALTER TABLE assignments ADD COLUMN acceptance_overdue_at BIGINT;
ALTER TABLE assignments ADD COLUMN handling_overdue_at BIGINT;

-- What the watcher looks for: running deadlines not yet found passed.
CREATE INDEX assignments_acceptance_watch ON assignments (accept_by)
    WHERE state = 'PENDING' AND acceptance_overdue_at IS NULL;
CREATE INDEX assignments_handling_watch ON assignments (handle_by)
    WHERE state = 'ACCEPTED' AND handling_overdue_at IS NULL;
