-- Assessment (综治中心): what the process's events tell about each department's work, the
-- negative list, and the attendance of stationed staff. Every row is written by the consumer
-- with upserts, so events applied in any order end in the same state.

CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    -- Empty until an event names it.
    name TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1,
    -- When the department.joined / department.left last applied occurred: an older one never
    -- undoes a newer. 0 for a department known only from case events.
    changed_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    -- 0 until case.registered arrives.
    headcount BIGINT NOT NULL DEFAULT 0,
    -- The department currently responsible: that of the latest assignment.
    department TEXT NOT NULL DEFAULT '',
    assignment_id TEXT NOT NULL DEFAULT '',
    assigned_at BIGINT,
    -- The first assignment: when a collective case came onto the negative list.
    first_assigned_at BIGINT
);

CREATE TABLE assignments (
    assignment_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    department TEXT NOT NULL,
    assigned_at BIGINT,
    accept_by BIGINT,
    accepted_at BIGINT,
    -- 1 when accepted_at <= accept_by, 0 when later, NULL while either is unknown.
    accepted_in_time BIGINT,
    returned_at BIGINT,
    replied_at BIGINT,
    -- As dispatch judged it, granted extensions included.
    replied_in_time BIGINT
);

CREATE INDEX assignments_by_assigned_at ON assignments (assigned_at);
CREATE INDEX assignments_by_accepted_at ON assignments (accepted_at);
CREATE INDEX assignments_by_returned_at ON assignments (returned_at);
CREATE INDEX assignments_by_replied_at ON assignments (replied_at);

-- One row per case.evaluated event (keyed by the event id).
CREATE TABLE evaluations (
    evaluation_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    department TEXT NOT NULL,
    -- yimen.v1.Satisfaction
    satisfaction BIGINT NOT NULL,
    -- 1 when satisfied or basically satisfied.
    satisfied BIGINT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX evaluations_by_at ON evaluations (at);

-- The negative list. entry_id is `collective:<case>` (one per case, moved with the case) or
-- `escalated:<case>:<department>` (one per case and department).
CREATE TABLE negative_entries (
    entry_id TEXT PRIMARY KEY,
    department TEXT NOT NULL,
    case_id TEXT NOT NULL,
    -- yimen.v1.NegativeKind
    kind BIGINT NOT NULL,
    -- yimen.v1.EscalationLevel of an ESCALATED entry (the highest seen), else 0.
    level BIGINT NOT NULL DEFAULT 0,
    at BIGINT NOT NULL,
    reason TEXT NOT NULL
);

CREATE INDEX negative_entries_by_at ON negative_entries (at);

-- Check-ins of stationed staff.
CREATE TABLE attendance (
    check_in_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    department TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE INDEX attendance_by_at ON attendance (at);
