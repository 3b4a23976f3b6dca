-- The legal clock: the acceptance decision besides 受理 (不予受理 with its reason and channel,
-- 转送 to an authority outside the system), and the pauses while a department waits for a
-- supplement it asked for, excluded from every deadline.

-- yimen.v1.RefusalReason when REFUSED (0 otherwise); the body the petitioner should go to.
ALTER TABLE assignments ADD COLUMN refusal_reason BIGINT NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN refusal_channel TEXT NOT NULL DEFAULT '';
-- The authority outside the system when FORWARDED.
ALTER TABLE assignments ADD COLUMN forwarded_to TEXT NOT NULL DEFAULT '';
-- Why it was refused or forwarded.
ALTER TABLE assignments ADD COLUMN decision_note TEXT NOT NULL DEFAULT '';
-- Set while the clock is stopped for a supplement; the latest request; every pause so far.
ALTER TABLE assignments ADD COLUMN paused_since BIGINT;
ALTER TABLE assignments ADD COLUMN supplement_requested TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN paused_millis BIGINT NOT NULL DEFAULT 0;
