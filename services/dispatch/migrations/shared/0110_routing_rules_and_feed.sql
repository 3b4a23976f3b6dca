-- Routing rules (SetRoutingRules) and each department's feed of changed work (WatchAssignments).

-- One row per version of the rule set; the highest is in force (none: no overrides).
CREATE TABLE routing_rule_sets (
    version BIGINT PRIMARY KEY,
    set_at BIGINT NOT NULL
);

-- The rules of each version, in the order they are tried.
CREATE TABLE routing_rules (
    version BIGINT NOT NULL REFERENCES routing_rule_sets (version),
    place BIGINT NOT NULL,
    rule_id TEXT NOT NULL,
    department TEXT NOT NULL,
    -- yimen.v1.Category, 0 any; yimen.v1.DepartmentLevel, 0 any
    category BIGINT NOT NULL DEFAULT 0,
    level BIGINT NOT NULL DEFAULT 0,
    keyword TEXT NOT NULL DEFAULT '',
    town TEXT NOT NULL DEFAULT '',
    village TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (version, place)
);

-- The rule (and version of the set) that chose an assignment's department; '' and 0: none.
ALTER TABLE assignments ADD COLUMN routing_rule TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN routing_rules_version BIGINT NOT NULL DEFAULT 0;

-- The feed: every change of an assignment takes the next position of its department from
-- `department_feeds`, whose row stays locked until the change commits, so positions grow in
-- commit order and a watcher resuming after a position misses nothing. The positions are
-- taken last in a transaction, in department order (`store::stamp_changes`). (A table of its own:
-- assignments hold the department row shared, and must not queue behind each other there.)
CREATE TABLE department_feeds (
    department TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
ALTER TABLE assignments ADD COLUMN position BIGINT NOT NULL DEFAULT 0;

-- Work assigned before the feed existed gets positions in the order it was assigned.
UPDATE assignments SET position = (
    SELECT COUNT(*) FROM assignments b
    WHERE b.department = assignments.department
      AND (b.assigned_at < assignments.assigned_at
           OR (b.assigned_at = assignments.assigned_at AND b.assignment_id <= assignments.assignment_id))
);
INSERT INTO department_feeds (department, position)
SELECT department, COUNT(*) FROM assignments GROUP BY department;

CREATE INDEX assignments_feed ON assignments (department, position);

-- Changed assignments wait with position 0 until their transaction stamps them, last thing
-- before it commits (`store::stamp_changes`); none is ever committed with 0.
CREATE INDEX assignments_unstamped ON assignments (department, assignment_id) WHERE position = 0;
