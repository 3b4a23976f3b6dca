-- The petitioners' evaluations of replies (质量评价). A case is evaluated once per reply: again
-- when it was reopened and replied anew.
CREATE TABLE evaluations (
    -- The case.evaluated event that announced it.
    event_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    -- yimen.v1.Satisfaction
    satisfaction BIGINT NOT NULL,
    -- The petitioner's own words, which may hold personal data: kept here only, never in an
    -- event or a log. '' when none was given.
    comment TEXT NOT NULL DEFAULT '',
    -- The department whose reply was evaluated.
    department TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL
);
CREATE INDEX evaluations_by_case ON evaluations (case_id, evaluated_at);
