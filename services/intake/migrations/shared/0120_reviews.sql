-- Review and re-review (复查 / 复核), and the matters closed for good after a re-review, which
-- are not taken again without new facts (不再受理).

-- Each review asked for, under the id of the case.review_requested event that announced it.
-- The reason may hold personal data: kept here only, never in an event or a log.
CREATE TABLE review_requests (
    event_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    -- yimen.v1.ReviewStage: 1 review, 2 re-review.
    stage BIGINT NOT NULL,
    -- The department whose answer is contested.
    department TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_at BIGINT NOT NULL
);
CREATE INDEX review_requests_by_case ON review_requests (case_id, requested_at);

-- The petitioners' keyed fingerprints (as case.registered carries them) of every case
-- registered from now on: how a new submission is matched with a matter closed for good.
CREATE TABLE case_petitioner_keys (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    petitioner_key TEXT NOT NULL,
    PRIMARY KEY (case_id, petitioner_key)
);
CREATE INDEX case_petitioner_keys_by_key ON case_petitioner_keys (petitioner_key);

-- Matters closed for good (终结): a re-review was decided.
CREATE TABLE closed_matters (
    case_id TEXT PRIMARY KEY REFERENCES cases (case_id),
    closed_at BIGINT NOT NULL
);

-- The new facts stated to submit a matter closed for good again, and the earlier case. The
-- text may hold personal data: kept here only.
CREATE TABLE new_facts (
    case_id TEXT PRIMARY KEY REFERENCES cases (case_id),
    earlier_case_number TEXT NOT NULL,
    text TEXT NOT NULL
);
