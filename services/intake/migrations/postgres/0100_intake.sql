-- Intake (群众信访接待服务中心): every registered case, the people named on it, its timeline as
-- the petitioner sees it, and the per-year counters of readable case numbers.

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    -- YM-<year>-<seq>
    case_number TEXT NOT NULL UNIQUE,
    -- The caller's idempotency key; NULL when none was given (NULLs never collide).
    request_id TEXT UNIQUE,
    -- yimen.v1.CaseStatus, and the occurred_at (millis) of the event that set it, so an older
    -- event arriving late never rolls the status back.
    status BIGINT NOT NULL,
    status_at BIGINT NOT NULL,
    -- The department currently holding the case; '' before the first assignment.
    department TEXT NOT NULL DEFAULT '',
    -- yimen.v1.Channel, yimen.v1.Category
    channel BIGINT NOT NULL,
    category BIGINT NOT NULL,
    headcount BIGINT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    town TEXT NOT NULL,
    village TEXT NOT NULL DEFAULT '',
    amount_claimed_fen BIGINT,
    registered_at BIGINT NOT NULL
);
CREATE INDEX cases_newest_first ON cases (registered_at, case_id);

-- Personal data: never logged, never in an event.
CREATE TABLE petitioners (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    ordinal BIGINT NOT NULL,
    name TEXT NOT NULL,
    id_number TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (case_id, ordinal)
);

CREATE TABLE timeline (
    seq BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    -- One line per event, however often it is delivered.
    event_id TEXT NOT NULL UNIQUE,
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    department TEXT NOT NULL DEFAULT ''
);
CREATE INDEX timeline_by_case ON timeline (case_id, occurred_at, seq);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
