-- Supervision without anyone asking: when an assignment first let a deadline pass
-- (case.overdue from dispatch's deadline watcher, acceptance or handling), counted once per
-- assignment in the scorecard's `overdue`.
ALTER TABLE assignments ADD COLUMN overdue_at BIGINT;
