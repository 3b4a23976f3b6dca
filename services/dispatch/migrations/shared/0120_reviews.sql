-- Review and re-review (复查 / 复核): the body that reviews each department's answers, and the
-- review assignments (REVIEWING, then REVIEWED) with their stage, the department whose answer
-- is contested, and the outcome.

-- A department code; '' means the city center.
ALTER TABLE departments ADD COLUMN review_body TEXT NOT NULL DEFAULT '';
-- yimen.v1.ReviewStage (0: not a review assignment).
ALTER TABLE assignments ADD COLUMN review_stage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN contested_department TEXT NOT NULL DEFAULT '';
-- yimen.v1.ReviewOutcome once decided (0 before).
ALTER TABLE assignments ADD COLUMN review_outcome BIGINT NOT NULL DEFAULT 0;
