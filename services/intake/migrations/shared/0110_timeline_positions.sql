-- Positions on each case's timeline, for WatchCase: every line takes the next position of its
-- case from `cases.timeline_position`, whose row stays locked until the line commits, so
-- positions grow in commit order and a watcher resuming after a position misses nothing.
ALTER TABLE cases ADD COLUMN timeline_position BIGINT NOT NULL DEFAULT 0;
ALTER TABLE timeline ADD COLUMN position BIGINT NOT NULL DEFAULT 0;

-- Lines recorded before positions existed get them in the order they were recorded.
UPDATE timeline SET position = (
    SELECT COUNT(*) FROM timeline b WHERE b.case_id = timeline.case_id AND b.seq <= timeline.seq
);
UPDATE cases SET timeline_position = (
    SELECT COUNT(*) FROM timeline WHERE timeline.case_id = cases.case_id
);

CREATE INDEX timeline_by_position ON timeline (case_id, position);
