-- The curation schema: what Curator knows about nights, files, processing
-- events, batches, id blocks and its three-level log (task -> step -> file).

-- multiframe_id: given to every image file at registration, at once, from
-- this sequence (docs/ARCHITECTURE.md, "Identifiers").
CREATE SEQUENCE curation.multiframe_id_seq;

CREATE TABLE curation.night (
  night              date PRIMARY KEY,
  incoming_dir       text NOT NULL,
  first_registered   timestamptz NOT NULL DEFAULT now(),
  last_registered    timestamptz NOT NULL DEFAULT now(),
  transfer_complete  boolean NOT NULL DEFAULT false
);

-- Every registered input file. An image's multiframe_id is its own; a
-- catalogue carries its image's (NULL while no image of that name is
-- registered). Registering the same path again returns the same row.
CREATE TABLE curation.registered_file (
  file_id          bigserial PRIMARY KEY,
  multiframe_id    bigint,
  night            date NOT NULL REFERENCES curation.night,
  kind             text NOT NULL CHECK (kind IN ('image', 'catalogue')),
  path             text NOT NULL UNIQUE,
  file_name        text NOT NULL,
  bytes            bigint NOT NULL CHECK (bytes >= 0),
  file_time_stamp  timestamptz NOT NULL,
  registered_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (multiframe_id, kind)
);
CREATE INDEX registered_file_night ON curation.registered_file (night, kind);

-- A registered file found changed (size or time stamp) at a later
-- registration: reported, never given a second id.
CREATE TABLE curation.file_change (
  file_id              bigint NOT NULL REFERENCES curation.registered_file,
  detected_at          timestamptz NOT NULL DEFAULT now(),
  old_bytes            bigint NOT NULL,
  new_bytes            bigint NOT NULL,
  old_file_time_stamp  timestamptz NOT NULL,
  new_file_time_stamp  timestamptz NOT NULL
);

-- One row per processing attempt or ingest: the task level of the log.
-- Every archive row carries the event that wrote it.
CREATE TABLE curation.cu_event (
  cu_event_id  bigserial PRIMARY KEY,
  cu           smallint NOT NULL CHECK (cu IN (2, 3, 4)),
  kind         text NOT NULL CHECK (kind IN ('process', 'ingest')),
  night        date,
  producer     text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  status       text NOT NULL DEFAULT 'running'
               CHECK (status IN ('running', 'done', 'failed')),
  rows         bigint NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  warnings     integer NOT NULL DEFAULT 0,
  message      text
);

-- Steps of an event (read headers, write batch; verify, copy, validate,
-- publish).
CREATE TABLE curation.step_log (
  step_id      bigserial PRIMARY KEY,
  cu_event_id  bigint NOT NULL REFERENCES curation.cu_event,
  step         text NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  rows         bigint NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  warnings     integer NOT NULL DEFAULT 0
);

-- Files within a step.
CREATE TABLE curation.file_log (
  file_log_id  bigserial PRIMARY KEY,
  step_id      bigint NOT NULL REFERENCES curation.step_log,
  path         text NOT NULL,
  multiframe_id bigint,
  started_at   timestamptz,
  finished_at  timestamptz,
  rows         bigint NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  warnings     integer NOT NULL DEFAULT 0
);

-- Errors and warnings, each tied to its event and, when known, its step,
-- file, HDU and keyword or column.
CREATE TABLE curation.log_message (
  message_id   bigserial PRIMARY KEY,
  cu_event_id  bigint NOT NULL REFERENCES curation.cu_event,
  step_id      bigint REFERENCES curation.step_log,
  level        text NOT NULL CHECK (level IN ('info', 'warning', 'error')),
  path         text,
  hdu          integer,
  item         text,
  message      text NOT NULL,
  logged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_message_event ON curation.log_message (cu_event_id);

-- Batches as the ingester saw them. State transitions are defined once in
-- ingester/batch_state.h; every update is conditional on the old state.
CREATE TABLE curation.batch (
  batch_id           text PRIMARY KEY,
  cu                 smallint NOT NULL CHECK (cu IN (2, 3, 4)),
  night              date NOT NULL,
  cu_event_id        bigint REFERENCES curation.cu_event,
  ingest_event_id    bigint REFERENCES curation.cu_event,
  state              text NOT NULL
                     CHECK (state IN ('waiting', 'ingested', 'quarantined')),
  producer           text,
  created_at         timestamptz,
  first_seen_at      timestamptz NOT NULL DEFAULT now(),
  ingest_started_at  timestamptz,
  ingest_finished_at timestamptz,
  verify_ms          double precision,
  copy_ms            double precision,
  validate_ms        double precision,
  publish_ms         double precision,
  rows_per_table     jsonb,
  failures           jsonb,
  report             text
);
CREATE INDEX batch_night ON curation.batch (night, cu, state);

-- Blocks of ids reserved for a batch under a lock (CU4 obj_id): stored
-- with the batch so a second load can never hand out new ids.
CREATE TABLE curation.id_block (
  batch_id  text PRIMARY KEY REFERENCES curation.batch,
  id_kind   text NOT NULL,
  base      bigint NOT NULL,
  count     bigint NOT NULL CHECK (count >= 0)
);
