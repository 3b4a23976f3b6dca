-- Joint handling (主办 / 协办) and leaders' instructions (批示).

-- LEAD holds the case and answers it; CO_HANDLER replies its part to the lead.
ALTER TABLE assignments ADD COLUMN role TEXT NOT NULL DEFAULT 'LEAD';
-- CO_HANDLER: the lead's assignment when it was enlisted, and what it was asked to do.
ALTER TABLE assignments ADD COLUMN lead_assignment_id TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN co_handling_note TEXT NOT NULL DEFAULT '';

-- The case is held by at most one lead at a time; co-handlers hold parts beside it.
DROP INDEX assignments_one_open_per_case;
CREATE UNIQUE INDEX assignments_one_open_lead_per_case ON assignments (case_id)
    WHERE state IN ('PENDING', 'ACCEPTED') AND role = 'LEAD';
-- A department co-handles a case once (unless it left and its part was handed back).
CREATE UNIQUE INDEX assignments_one_part_per_department ON assignments (case_id, department)
    WHERE state IN ('PENDING', 'ACCEPTED', 'REPLIED') AND role = 'CO_HANDLER';

-- How many co-handlers and instructions a case has had: an assignment is read with its parts
-- and its instruction only when there are any.
ALTER TABLE cases ADD COLUMN co_handlers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN instructions BIGINT NOT NULL DEFAULT 0;

-- 批示: a leader's instruction on a case, reported back (反馈) when the lead replies it.
CREATE TABLE instructions (
    instruction_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    assignment_id TEXT NOT NULL,
    department TEXT NOT NULL,
    leader TEXT NOT NULL,
    text TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    reported_at BIGINT
);
CREATE INDEX instructions_by_case ON instructions (case_id, recorded_at);
CREATE INDEX instructions_in_order ON instructions (recorded_at, instruction_id);
