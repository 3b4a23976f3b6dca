-- Analysis (情报研判中心): read models kept from every event, and the alerts raised from them.
-- Events may arrive in any order: a row is created by whichever event about it comes first and
-- filled in by the others, so every order of delivery ends in the same rows.

-- One row per case.
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    -- From case.registered (until then, what case.assigned tells).
    case_number TEXT NOT NULL DEFAULT '',
    -- yimen.v1.Category
    category BIGINT NOT NULL DEFAULT 0,
    town TEXT NOT NULL DEFAULT '',
    village TEXT NOT NULL DEFAULT '',
    -- yimen.v1.Channel
    channel BIGINT NOT NULL DEFAULT 0,
    headcount BIGINT NOT NULL DEFAULT 0,
    amount_fen BIGINT NOT NULL DEFAULT 0,
    -- NULL until case.registered arrives.
    registered_at BIGINT,
    -- Derived from the case's assignments: the holder of the latest one, the acceptance
    -- deadline while it is not accepted, the handling deadline while accepted and not replied.
    department TEXT NOT NULL DEFAULT '',
    accept_by BIGINT,
    handle_by BIGINT,
    replied BIGINT NOT NULL DEFAULT 0,
    returns BIGINT NOT NULL DEFAULT 0,
    reopened BIGINT NOT NULL DEFAULT 0,
    -- 'open' or 'closed', as set by the latest case.closed / case.reopened (at state_at).
    state TEXT NOT NULL DEFAULT 'open',
    state_at BIGINT NOT NULL DEFAULT 0,
    closed_at BIGINT,
    -- 1 between mediation.opened and mediation.concluded (the latest at mediation_at).
    in_mediation BIGINT NOT NULL DEFAULT 0,
    mediation_at BIGINT NOT NULL DEFAULT 0,
    -- yimen.v1.Satisfaction of the latest evaluation.
    satisfaction BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX cases_by_registered_at ON cases (registered_at);
CREATE INDEX cases_by_closed_at ON cases (closed_at);
CREATE INDEX cases_by_state ON cases (state);

-- One row per assignment (case.assigned and the events that name its assignment_id).
CREATE TABLE assignments (
    assignment_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    department TEXT NOT NULL DEFAULT '',
    -- yimen.v1.AssignmentCause
    cause BIGINT NOT NULL DEFAULT 0,
    -- NULL until case.assigned arrives.
    assigned_at BIGINT,
    -- The earliest time of any event about the assignment: its assigned_at once known.
    known_at BIGINT NOT NULL,
    accept_by BIGINT,
    accepted_at BIGINT,
    handle_by BIGINT,
    extended_handle_by BIGINT,
    replied_at BIGINT,
    within_deadline BIGINT,
    returned_at BIGINT
);

CREATE INDEX assignments_by_case ON assignments (case_id);
CREATE INDEX assignments_by_assigned_at ON assignments (assigned_at);

-- Keyed hashes (HMAC) of petitioners' identity numbers per case, to match repeat petitioners.
CREATE TABLE petitioner_keys (
    petitioner_key TEXT NOT NULL,
    case_id TEXT NOT NULL,
    category BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (petitioner_key, case_id)
);

CREATE INDEX petitioner_keys_by_case ON petitioner_keys (case_id);

-- Department names, from department.joined and case.assigned, to name them in recommendations.
CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    -- yimen.v1.AlertKind
    kind BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    case_number TEXT NOT NULL DEFAULT '',
    category BIGINT NOT NULL DEFAULT 0,
    -- The facts, one a line.
    facts TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    acknowledged BIGINT NOT NULL DEFAULT 0,
    acknowledged_at BIGINT
);

-- At most one alert of a kind per case.
CREATE UNIQUE INDEX alerts_one_per_case_and_kind ON alerts (case_id, kind);
CREATE INDEX alerts_by_raised_at ON alerts (raised_at, alert_id);
