-- Mediation (矛盾纠纷多元化解中心): the eight committees, their mediators, and the mediation
-- files with their sessions, agreements and the credit each mediator earned (以案定补).

CREATE TABLE committees (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- The categories the committee takes, by their proto names, comma-separated.
    categories TEXT NOT NULL,
    -- The order the center lists them in.
    position BIGINT NOT NULL
);

-- Fixed; the same list is `domain::committee::COMMITTEES`. The civil and commercial committee
-- also takes every category no other committee lists.
INSERT INTO committees (code, name, categories, position) VALUES
    ('medical', '医患纠纷人民调解委员会', 'CATEGORY_HEALTH_MEDICAL', 1),
    ('traffic', '交通事故人民调解委员会', 'CATEGORY_TRANSPORT', 2),
    ('labour', '劳动争议人民调解委员会', 'CATEGORY_LABOUR_WAGES,CATEGORY_SOCIAL_INSURANCE,CATEGORY_WORK_SAFETY', 3),
    ('environment', '环境保护人民调解委员会', 'CATEGORY_ENVIRONMENT', 4),
    ('housing', '房屋征收和物业服务人民调解委员会', 'CATEGORY_HOUSING_PROPERTY,CATEGORY_EXPROPRIATION,CATEGORY_LAND', 5),
    ('food-drug', '食品药品行业矛盾纠纷人民调解委员会', 'CATEGORY_FOOD_DRUG', 6),
    ('marriage-family', '婚姻家庭纠纷人民调解委员会', 'CATEGORY_MARRIAGE_FAMILY', 7),
    ('civil-commercial', '民商事纠纷调解委员会', 'CATEGORY_CIVIL_COMMERCIAL,CATEGORY_AGRICULTURE,CATEGORY_LITIGATION,CATEGORY_OTHER', 8);

CREATE TABLE mediators (
    mediator_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    committee TEXT NOT NULL REFERENCES committees (code),
    -- The sum of the difficulty points of the agreements credited to the mediator.
    difficulty_points BIGINT NOT NULL DEFAULT 0,
    registered_at BIGINT NOT NULL
);

CREATE INDEX mediators_by_committee ON mediators (committee, registered_at, mediator_id);

CREATE TABLE mediations (
    mediation_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    -- Empty when unknown (opened directly rather than from a referral).
    case_number TEXT NOT NULL DEFAULT '',
    committee TEXT NOT NULL REFERENCES committees (code),
    -- yimen.v1.Linkage
    linkage BIGINT NOT NULL,
    -- OPEN, AGREED, FAILED, WITHDRAWN, COURT_CONFIRMED
    state TEXT NOT NULL,
    -- Set while an AGREED file awaits the court's decision (司法确认).
    court_requested_at BIGINT,
    -- yimen.v1.Category
    category BIGINT NOT NULL,
    summary TEXT NOT NULL,
    -- The referring department; empty when opened directly.
    referred_by TEXT NOT NULL DEFAULT '',
    opened_at BIGINT NOT NULL,
    concluded_at BIGINT,
    -- The agreement, when the file concluded AGREED; its installments are rows below.
    agreement_fen BIGINT,
    agreement_payer TEXT NOT NULL DEFAULT '',
    agreement_payee TEXT NOT NULL DEFAULT '',
    agreement_terms TEXT NOT NULL DEFAULT ''
);

CREATE INDEX mediations_by_opening ON mediations (opened_at, mediation_id);
CREATE INDEX mediations_by_case ON mediations (case_id);
-- A case has at most one OPEN file: opening again answers that file.
CREATE UNIQUE INDEX mediations_one_open_per_case ON mediations (case_id) WHERE state = 'OPEN';

CREATE TABLE installments (
    mediation_id TEXT NOT NULL REFERENCES mediations (mediation_id),
    -- 0-based, in due order.
    position BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    fen BIGINT NOT NULL,
    PRIMARY KEY (mediation_id, position)
);

CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    mediation_id TEXT NOT NULL REFERENCES mediations (mediation_id),
    at BIGINT NOT NULL,
    room TEXT NOT NULL DEFAULT '',
    scheduled_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_mediation ON sessions (mediation_id, at, session_id);

CREATE TABLE session_mediators (
    session_id TEXT NOT NULL REFERENCES sessions (session_id),
    mediator_id TEXT NOT NULL REFERENCES mediators (mediator_id),
    -- The order the mediators were named in.
    position BIGINT NOT NULL,
    PRIMARY KEY (session_id, mediator_id)
);

CREATE INDEX session_mediators_by_mediator ON session_mediators (mediator_id);

-- 以案定补: the points a mediator earned for one agreement, credited once.
CREATE TABLE performance (
    mediator_id TEXT NOT NULL REFERENCES mediators (mediator_id),
    mediation_id TEXT NOT NULL REFERENCES mediations (mediation_id),
    difficulty_points BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (mediator_id, mediation_id)
);
