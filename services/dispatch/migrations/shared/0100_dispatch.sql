-- Dispatch (分流交办): the department registry, the routing facts of each case, and the
-- assignments that hold a department to a deadline.

CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- yimen.v1.DepartmentLevel: 1 city, 2 town, 3 village
    level BIGINT NOT NULL,
    town TEXT NOT NULL DEFAULT '',
    village TEXT NOT NULL DEFAULT '',
    -- Owned categories by their short names, comma-separated: `labour_wages,social_insurance`.
    categories TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1,
    joined_at BIGINT NOT NULL,
    left_at BIGINT,
    leave_reason TEXT NOT NULL DEFAULT ''
);

-- 市信访超市, the terminus (终点站): always there, never leaves.
INSERT INTO departments (code, name, level, town, village, categories, active, joined_at)
VALUES ('city-center', '市信访超市', 1, '', '', '', 1, 0);

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    case_number TEXT NOT NULL,
    -- yimen.v1.Category
    category BIGINT NOT NULL,
    town TEXT NOT NULL,
    village TEXT NOT NULL,
    subject TEXT NOT NULL,
    registered_at BIGINT NOT NULL
);

CREATE TABLE assignments (
    assignment_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    department TEXT NOT NULL REFERENCES departments (code),
    -- PENDING, ACCEPTED, REPLIED, RETURNED, HANDED_OVER
    state TEXT NOT NULL,
    -- yimen.v1.AssignmentCause
    cause BIGINT NOT NULL,
    reason TEXT NOT NULL,
    previous_department TEXT NOT NULL DEFAULT '',
    assigned_at BIGINT NOT NULL,
    accept_by BIGINT NOT NULL,
    accepted_at BIGINT,
    handle_by BIGINT,
    handler TEXT NOT NULL DEFAULT '',
    replied_at BIGINT,
    reply TEXT NOT NULL DEFAULT '',
    return_reason TEXT NOT NULL DEFAULT '',
    closed_at BIGINT
);

CREATE INDEX assignments_by_department ON assignments (department, assigned_at, assignment_id);
CREATE INDEX assignments_by_case ON assignments (case_id);
-- A case is held by at most one department at a time: no case is ever owned twice.
CREATE UNIQUE INDEX assignments_one_open_per_case ON assignments (case_id)
    WHERE state IN ('PENDING', 'ACCEPTED');
