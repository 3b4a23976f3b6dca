-- 当场答复 / 当场调处: 1 when the case was settled at the desk as it was registered (never
-- assigned unless the petitioner was unsatisfied), counted in the situation.
ALTER TABLE cases ADD COLUMN settled_at_desk BIGINT NOT NULL DEFAULT 0;
