-- The case numbers of registered cases (from case.registered), so a file opened directly by a
-- court or an administration shows the number as well as one opened from a referral.
CREATE TABLE case_numbers (
    case_id TEXT PRIMARY KEY,
    case_number TEXT NOT NULL
);
