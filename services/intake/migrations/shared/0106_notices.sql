-- Notices to petitioners (告知书) waiting to be sent, and sent: written with the event that
-- calls for one, sent by the notifier afterwards (an SMS gateway's failure never holds an
-- event up). The text carries no personal data; the phones are looked up when it is sent.
CREATE TABLE notices (
    -- The event that called for it.
    notice_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    -- accepted | refused | forwarded | replied
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- A sender owns it until then (several replicas send; a stopped one's claim lapses).
    claimed_until BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT
);
CREATE INDEX notices_unsent ON notices (sent_at, created_at);
