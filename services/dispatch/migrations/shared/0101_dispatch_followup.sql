-- Following an assignment up (跟踪督办): the referral to mediation, the one extension of the
-- handling deadline, and escalation from a reminder to a leader taking the case (包案).

-- 1 while the case is with the mediation center (referred, or a mediation opened on it).
ALTER TABLE assignments ADD COLUMN in_mediation BIGINT NOT NULL DEFAULT 0;
-- The one extension: '' none requested, REQUESTED, GRANTED, REFUSED; the days asked for.
ALTER TABLE assignments ADD COLUMN extension TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN extension_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN extension_reason TEXT NOT NULL DEFAULT '';
-- yimen.v1.EscalationLevel, the highest so far (0 none); the leader who took the case.
ALTER TABLE assignments ADD COLUMN escalation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN leader TEXT NOT NULL DEFAULT '';
