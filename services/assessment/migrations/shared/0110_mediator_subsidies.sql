-- Mediator subsidies (以案定补): every concluded mediation as mediation.concluded announced it,
-- with the grade the quarterly expert review set, and each quarter's full-time mediators.

CREATE TABLE mediations (
    mediation_id TEXT PRIMARY KEY,
    committee TEXT NOT NULL,
    -- yimen.v1.MediationState of the outcome: AGREED, FAILED or WITHDRAWN
    outcome BIGINT NOT NULL,
    -- 1 to 10 as the mediators judged it; 0 not stated
    difficulty BIGINT NOT NULL DEFAULT 0,
    -- The mediators who sat, comma-separated ids.
    mediators TEXT NOT NULL DEFAULT '',
    concluded_at BIGINT NOT NULL,
    -- yimen.v1.SubsidyGrade the review set; 0 while ungraded
    grade BIGINT NOT NULL DEFAULT 0,
    graded_at BIGINT
);

CREATE INDEX mediations_by_concluded_at ON mediations (concluded_at);

CREATE TABLE full_time_mediators (
    year BIGINT NOT NULL,
    quarter BIGINT NOT NULL,
    mediator_id TEXT NOT NULL,
    PRIMARY KEY (year, quarter, mediator_id)
);
