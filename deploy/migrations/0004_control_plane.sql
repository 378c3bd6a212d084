-- The data daemon's state: workers, the tasks of each night and their
-- attempts. Everything the daemon knows lives here, so a restart loses
-- nothing. Task states and their transitions are defined once, in
-- daemon/task_state.h; every update is conditional on the old state.

CREATE TABLE curation.worker (
  worker_id        text PRIMARY KEY,
  address          text NOT NULL,          -- host:port of its gRPC server
  slots            integer NOT NULL CHECK (slots > 0),
  cores            integer,
  load_average     double precision,
  free_memory      bigint,
  free_disk        bigint,
  data_roots       text[] NOT NULL DEFAULT '{}',
  running_tasks    integer NOT NULL DEFAULT 0,
  registered_at    timestamptz NOT NULL DEFAULT now(),
  last_heartbeat   timestamptz
);

CREATE TABLE curation.task (
  task_id          bigserial PRIMARY KEY,
  night            date NOT NULL REFERENCES curation.night,
  cu               smallint NOT NULL CHECK (cu IN (2, 3, 4)),
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN
                   ('pending', 'approved', 'dispatched', 'running', 'done', 'failed',
                    'cancelled')),
  priority         integer NOT NULL DEFAULT 0,
  files            integer NOT NULL DEFAULT 0,
  attempts         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 3,
  not_before       timestamptz,            -- retry backoff
  worker_id        text REFERENCES curation.worker,
  cu_event_id      bigint REFERENCES curation.cu_event,  -- the current attempt's
  batch_id         text,
  estimate_seconds double precision,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (night, cu)
);
CREATE INDEX task_state ON curation.task (state, priority DESC, created_at);

CREATE TABLE curation.task_attempt (
  attempt_id       bigserial PRIMARY KEY,
  task_id          bigint NOT NULL REFERENCES curation.task,
  worker_id        text REFERENCES curation.worker,
  cu_event_id      bigint REFERENCES curation.cu_event,
  started_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  outcome          text CHECK (outcome IN ('done', 'failed', 'lost', 'cancelled')),
  error            text
);
CREATE INDEX task_attempt_task ON curation.task_attempt (task_id);
