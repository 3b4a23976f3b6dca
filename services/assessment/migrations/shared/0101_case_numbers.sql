-- The case's number (from case.registered), so the negative list names cases as people do.
ALTER TABLE cases ADD COLUMN case_number TEXT NOT NULL DEFAULT '';
