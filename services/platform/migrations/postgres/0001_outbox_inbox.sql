-- The platform's tables, present in every service's schema: the transactional outbox and the
-- consumer inbox. Service migrations start at version 100.
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    payload BYTEA NOT NULL,
    headers TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

CREATE TABLE inbox (
    event_id TEXT PRIMARY KEY,
    routing_key TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
