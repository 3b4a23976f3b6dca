-- The audit trail (platform::audit), present in every service's store; both dialects share it.
-- A business transaction only INSERTs an entry (position and hash empty); the chainer gives
-- committed entries their position and hash = H(previous hash || entry) in the order it finds
-- them, under the lock on the one audit_head row, so writers never wait for each other on the
-- chain.
CREATE TABLE audit_log (
    -- UUIDv7: ordered as written, so oldest first is (recorded_at, entry_id).
    entry_id TEXT PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    binding TEXT NOT NULL,
    outcome TEXT NOT NULL,
    case_ids TEXT NOT NULL,
    objects TEXT NOT NULL,
    position BIGINT,
    hash TEXT
);
-- Not unique: a forged second row at a position must be storable, to be found and named.
CREATE INDEX audit_log_position ON audit_log (position);
CREATE INDEX audit_log_unchained ON audit_log (recorded_at, entry_id) WHERE position IS NULL;

-- The chain's head, and when it was last anchored (published as audit.anchored).
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    position BIGINT NOT NULL,
    hash TEXT NOT NULL,
    anchored_position BIGINT NOT NULL,
    anchored_at BIGINT NOT NULL
);
INSERT INTO audit_head (id, position, hash, anchored_position, anchored_at) VALUES (1, 0, '', 0, 0);

-- Other services' anchors, kept by the service that consumes audit.anchored (analysis).
CREATE TABLE audit_anchors (
    service TEXT NOT NULL,
    position BIGINT NOT NULL,
    hash TEXT NOT NULL,
    anchored_at BIGINT NOT NULL,
    PRIMARY KEY (service, position)
);
