-- The outbox relay's batches (platform::outbox): each row names the case its event is about
-- (empty: about no one case), so a relay keeps each case's events in order; a claimed row is
-- leased (claimed_by, claimed_until) so several relays over one outbox publish it once; a row
-- whose publish failed waits out its retry delay as a lease of nobody's, holding back the
-- later events of its case.
ALTER TABLE outbox ADD COLUMN case_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_unsent_case ON outbox (case_id, seq) WHERE sent_at IS NULL;
