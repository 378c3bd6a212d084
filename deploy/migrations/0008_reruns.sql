-- Reruns (curatorctl rerun): a task run again makes a new batch (its
-- generation in the batch id) that replaces the one it loaded before; the
-- replaced batch is recorded as such, with its replacement.
ALTER TABLE curation.task
  ADD COLUMN generation integer NOT NULL DEFAULT 0,
  ADD COLUMN replaces text[] NOT NULL DEFAULT '{}';

ALTER TABLE curation.batch DROP CONSTRAINT IF EXISTS batch_state_check;
ALTER TABLE curation.batch ADD CONSTRAINT batch_state_check CHECK (state IN
  ('waiting', 'ingested', 'quarantined', 'replaced'));
ALTER TABLE curation.batch ADD COLUMN replaced_by text,
  ADD COLUMN generation integer NOT NULL DEFAULT 0;
