-- What each attempt was expected to take, and what it was given, so that
-- estimates are learned from the database (a restarted daemon forgets
-- nothing) and checked against what happened (docs/ARCHITECTURE.md,
-- "Estimates"). Written once, when the attempt is dispatched; NULL for
-- attempts made before this migration.
ALTER TABLE curation.task_attempt
  ADD COLUMN input_files integer CHECK (input_files >= 0),
  ADD COLUMN input_bytes bigint CHECK (input_bytes >= 0),
  ADD COLUMN estimated_seconds double precision CHECK (estimated_seconds >= 0),
  ADD COLUMN estimate_basis text;
