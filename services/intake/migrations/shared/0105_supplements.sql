-- The material departments asked for (补充材料), added for the petitioner. The text may hold
-- personal data: kept here only, never in an event or a log.
CREATE TABLE supplements (
    -- The case.supplemented event that announced it.
    event_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    text TEXT NOT NULL,
    -- The department that asked for it.
    department TEXT NOT NULL,
    added_at BIGINT NOT NULL
);
CREATE INDEX supplements_by_case ON supplements (case_id, added_at);
