-- Who may read a case beyond the roles that see every case: each department that holds or
-- ever held it, and the outside system that submitted it.

-- One row per (case, department) the process ever gave the case to. Written with the event
-- that gives it, whatever order events arrive in, and never removed: a department that
-- returned or handed over a case still reads it.
CREATE TABLE case_holders (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    department TEXT NOT NULL,
    PRIMARY KEY (case_id, department)
);
CREATE INDEX case_holders_by_department ON case_holders (department, case_id);

-- The subject of the outside system (a `system` token) that submitted the case; NULL for
-- cases registered by the people at the door, who see every case anyway.
ALTER TABLE cases ADD COLUMN submitted_by TEXT;
CREATE INDEX cases_by_submitter ON cases (submitted_by, registered_at);

-- Cases that were assigned before this table existed.
INSERT INTO case_holders (case_id, department)
SELECT case_id, department FROM timeline WHERE kind = 'case.assigned' AND department <> ''
UNION
SELECT case_id, department FROM cases WHERE department <> '';
