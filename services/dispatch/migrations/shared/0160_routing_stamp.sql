-- What routing reads — the active departments and the rule set in force — changes rarely, and
-- every assignment used to read both. Each change of either writes a fresh random `stamp` here
-- in its own transaction (`store::touch_routing`); an assignment reads this one row and routes on
-- the departments and rules kept in memory under that stamp, reading them again only when it
-- moved. The stamp is random, so two databases (two tests in one process) never share one.
CREATE TABLE routing_stamp (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    stamp TEXT NOT NULL
);
INSERT INTO routing_stamp (id, stamp) VALUES (1, 'migrated-' || CAST(random() AS TEXT));
