-- The petitioner's query code (查询码): only its SHA-256 (hex) is kept, never the code itself.
-- Cases registered before have none ('' matches no code's hash), so they cannot be looked up.
ALTER TABLE cases ADD COLUMN query_code_hash TEXT NOT NULL DEFAULT '';
