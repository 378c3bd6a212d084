-- The task graph as data (docs/ARCHITECTURE.md, "The task graph"): the
-- CUs as the registry declares them (archive/cu_registry.cc keeps
-- curation.cu up to date at every migration, so no list of CUs is written
-- here), each task's prerequisites, the 'ingested' state, and what the
-- daemon needs to reconcile a worker's heartbeats with its own view.

CREATE TABLE curation.cu (
  cu     smallint PRIMARY KEY,
  name   text NOT NULL UNIQUE,
  title  text NOT NULL,
  input  text NOT NULL CHECK (input IN ('images', 'catalogues', 'database')),
  rank   integer NOT NULL
);

-- CU ids come from the registry, not from a list in SQL.
ALTER TABLE curation.cu_event DROP CONSTRAINT IF EXISTS cu_event_cu_check;
ALTER TABLE curation.batch DROP CONSTRAINT IF EXISTS batch_cu_check;
ALTER TABLE curation.task DROP CONSTRAINT IF EXISTS task_cu_check;

-- 'done' is processed; 'ingested' is in the archive.
ALTER TABLE curation.task DROP CONSTRAINT IF EXISTS task_state_check;
ALTER TABLE curation.task ADD CONSTRAINT task_state_check CHECK (state IN
  ('pending', 'approved', 'dispatched', 'running', 'done', 'ingested', 'failed', 'cancelled'));
UPDATE curation.task t SET state = 'ingested' FROM curation.batch b
 WHERE b.batch_id = t.batch_id AND b.state = 'ingested' AND t.state = 'done';

-- An attempt whose batch was quarantined ends 'quarantined', with the
-- report's reason.
ALTER TABLE curation.task_attempt DROP CONSTRAINT IF EXISTS task_attempt_outcome_check;
ALTER TABLE curation.task_attempt ADD CONSTRAINT task_attempt_outcome_check CHECK (outcome IN
  ('done', 'failed', 'lost', 'cancelled', 'quarantined'));

-- A task waits for another task of its night to reach a stage, before
-- it is processed (for_step 'process') or before its batch is ingested
-- ('ingest'). Made from the registry when the night's tasks are.
CREATE TABLE curation.task_prerequisite (
  task_id       bigint NOT NULL REFERENCES curation.task ON DELETE CASCADE,
  prerequisite  bigint NOT NULL REFERENCES curation.task ON DELETE CASCADE,
  for_step      text NOT NULL CHECK (for_step IN ('process', 'ingest')),
  stage         text NOT NULL CHECK (stage IN ('processed', 'ingested')),
  PRIMARY KEY (task_id, prerequisite, for_step)
);
CREATE INDEX task_prerequisite_of ON curation.task_prerequisite (prerequisite);

-- The worker process that accepted the current attempt (a new boot id at
-- every start) and the sequence number it gave it; when it was sent, by
-- the daemon's clock.
ALTER TABLE curation.task
  ADD COLUMN worker_boot   text,
  ADD COLUMN worker_seq    bigint,
  ADD COLUMN dispatched_at timestamptz;

ALTER TABLE curation.worker ADD COLUMN boot_id text;
