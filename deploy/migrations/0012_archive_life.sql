-- The archive's life after the first load (docs/ARCHITECTURE.md, "Changing
-- what is live"): deprecated frames, re-delivered nights, retired nights,
-- and the live views users query.

-- Why a frame is out of the live archive; 0 is live. Codes, as the WSA's
-- `deprecated` column has them, so a query can tell the reasons apart.
CREATE TABLE curation.deprecation_code (
  code     smallint PRIMARY KEY,
  name     text NOT NULL UNIQUE,
  meaning  text NOT NULL
);
INSERT INTO curation.deprecation_code VALUES
  (0, 'live', 'in the live archive'),
  (10, 'superseded', 'a re-delivery of its night replaced the file'),
  (11, 'removed', 'a re-delivery of its night no longer has the file'),
  (20, 'operator', 'deprecated by an operator (curatorctl deprecate), with a reason'),
  (30, 'retired', 'its night is retired (curatorctl retire)'),
  (90, 'pending', 'a re-delivered version, live when its night''s detections are');

ALTER TABLE multiframe ADD COLUMN deprecated smallint NOT NULL DEFAULT 0
  REFERENCES curation.deprecation_code;
CREATE INDEX multiframe_deprecated ON multiframe (night) WHERE deprecated <> 0;

-- Actions on the archive are events too, with who asked (`producer`: the
-- client certificate's subject, "token", or "policy").
ALTER TABLE curation.cu_event ALTER COLUMN cu DROP NOT NULL;
ALTER TABLE curation.cu_event DROP CONSTRAINT IF EXISTS cu_event_kind_check;
ALTER TABLE curation.cu_event ADD CONSTRAINT cu_event_kind_check CHECK (kind IN
  ('process', 'ingest', 'accept', 'deprecate', 'undeprecate', 'retire', 'restore',
   'reload', 'release create', 'release drop'));
ALTER TABLE curation.cu_event ADD CONSTRAINT cu_event_cu_needed
  CHECK (cu IS NOT NULL OR kind NOT IN ('process', 'ingest'));

-- Every change of a frame's code, in order: the audit of deprecations.
CREATE TABLE curation.deprecation (
  deprecation_id  bigserial PRIMARY KEY,
  multiframe_id   bigint NOT NULL REFERENCES multiframe,
  code            smallint NOT NULL REFERENCES curation.deprecation_code,
  reason          text NOT NULL,
  cu_event_id     bigint REFERENCES curation.cu_event,  -- the action or ingest
  at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deprecation_multiframe ON curation.deprecation (multiframe_id);

-- Deliveries. A night's files as its tasks were made are delivery 1; a
-- file that appears or changes afterwards is registered for the next
-- delivery (a new row, an image with a new multiframe_id) and waits for
-- an operator (curatorctl accept) or the policy; a file gone from the
-- directory is marked missing. Accepting makes the next delivery the
-- night's, the rows it replaces or removes `superseded_in` it. Frames of a
-- delivery are live once its detections are (`published_delivery`).
ALTER TABLE curation.night
  ADD COLUMN delivery integer NOT NULL DEFAULT 1,
  ADD COLUMN published_delivery integer NOT NULL DEFAULT 1,
  ADD COLUMN retired_event bigint REFERENCES curation.cu_event;
ALTER TABLE curation.registered_file
  ADD COLUMN delivery integer NOT NULL DEFAULT 1,
  ADD COLUMN superseded_in integer,
  ADD COLUMN missing_since timestamptz;
ALTER TABLE curation.registered_file DROP CONSTRAINT registered_file_path_key;
ALTER TABLE curation.registered_file
  DROP CONSTRAINT registered_file_multiframe_id_kind_key;
CREATE UNIQUE INDEX registered_file_path_delivery
  ON curation.registered_file (path, delivery);
CREATE UNIQUE INDEX registered_file_frame_delivery
  ON curation.registered_file (multiframe_id, kind, delivery);
CREATE INDEX registered_file_frame ON curation.registered_file (multiframe_id);

-- Files waiting in a night's next delivery: registered for it (new or
-- changed), or live and gone from the directory.
CREATE VIEW curation.waiting_file AS
  SELECT f.* FROM curation.registered_file f
  JOIN curation.night n ON n.night = f.night
  WHERE f.superseded_in IS NULL
    AND (f.delivery > n.delivery OR f.missing_since IS NOT NULL);

-- A retired night's detection partitions, detached and kept here.
CREATE SCHEMA IF NOT EXISTS curation_retired;

-- What users query: the live archive, without deprecated frames and their
-- detections.
CREATE VIEW live_multiframe AS
  SELECT * FROM multiframe WHERE deprecated = 0;
CREATE VIEW live_multiframe_detector AS
  SELECT d.* FROM multiframe_detector d
  JOIN multiframe m ON m.multiframe_id = d.multiframe_id AND m.deprecated = 0;
CREATE VIEW live_detection AS
  SELECT d.* FROM detection d
  JOIN multiframe m ON m.multiframe_id = d.multiframe_id AND m.deprecated = 0;

-- The registrations of the night's current delivery: what its tasks read.
CREATE VIEW curation.live_file AS
  SELECT f.* FROM curation.registered_file f
  JOIN curation.night n ON n.night = f.night
  WHERE f.superseded_in IS NULL AND f.delivery <= n.delivery;
