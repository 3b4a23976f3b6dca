-- The feed's positions are no longer taken inside each change's transaction (a department's
-- counter row held to the commit queued every change of that department behind the one
-- before). A change leaves its assignment at position 0; a reader of the feed stamps what is
-- committed and unstamped before it reads (`store::stamp_pending`): one stamper at a time (an
-- advisory lock; SQLite has one writer), from one counter for every department, so positions
-- still grow in commit order of the stamps and a reader resuming after a position misses
-- nothing.
CREATE TABLE feed_counter (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO feed_counter (id, position) SELECT 1, COALESCE(MAX(position), 0) FROM assignments;
DROP TABLE department_feeds;

-- When an assignment last changed (epoch milliseconds): the stamper gives positions in this
-- order, so a reader sees the changes it missed in the order they were made.
ALTER TABLE assignments ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
