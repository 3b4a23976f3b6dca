-- Who must not see a case's petitioners unmasked: the department the matter complains about
-- ('' when none), and whether it is confidential (1) so that even its handling department sees
-- them masked. Cases registered before name no department and are not confidential.
ALTER TABLE cases ADD COLUMN complained_about TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN confidential BIGINT NOT NULL DEFAULT 0;
