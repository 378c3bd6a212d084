-- A task that follows the nights in order (CU5) waits for the previous
-- night's task of its CU to be 'settled': ingested, or cancelled by an
-- operator who gives up on that night, so the nights after it go on.
ALTER TABLE curation.task_prerequisite DROP CONSTRAINT IF EXISTS task_prerequisite_stage_check;
ALTER TABLE curation.task_prerequisite ADD CONSTRAINT task_prerequisite_stage_check CHECK
  (stage IN ('processed', 'ingested', 'settled'));

-- CU5: sources, cross-matched from the detections of every night (the
-- zones algorithm, worker/zones_match.h; docs/ARCHITECTURE.md, "CU5").
-- As the WSA's Source and SourceXDetectionBestMatch tables: one row per
-- star or galaxy with its statistics per band, and the link of every
-- detection to its source. A source's statistics are always those of its
-- links: each CU5 ingest recomputes them, in its transaction, for every
-- source it touched.

CREATE TABLE source (
  -- The obj_id of the detection that founded it: ids are deterministic,
  -- whichever worker ran the night.
  source_id      bigint PRIMARY KEY,
  ra             double precision NOT NULL CHECK (ra >= 0 AND ra < 360),  -- mean, degrees
  dec            double precision NOT NULL CHECK (dec BETWEEN -90 AND 90),
  pos_err        real,        -- arcsec: standard error of the mean position (NULL for one detection)
  n_detections   integer NOT NULL CHECK (n_detections > 0),
  n_epochs       integer NOT NULL,  -- nights with a detection
  n_bands        smallint NOT NULL, -- distinct bands with a detection
  first_mjd      double precision,
  last_mjd       double precision,
  -- Per WFCAM band: detections, and the mean and standard deviation of the
  -- calibrated magnitude (detection.aper_mag_3) over them.
  z_n smallint NOT NULL DEFAULT 0, z_mag real, z_mag_rms real,
  y_n smallint NOT NULL DEFAULT 0, y_mag real, y_mag_rms real,
  j_n smallint NOT NULL DEFAULT 0, j_mag real, j_mag_rms real,
  h_n smallint NOT NULL DEFAULT 0, h_mag real, h_mag_rms real,
  k_n smallint NOT NULL DEFAULT 0, k_mag real, k_mag_rms real,
  first_night    date NOT NULL,   -- the night that founded it
  cu_event_id    bigint NOT NULL, -- the CU5 ingest that last changed it
  -- The cell of a 0.25 x 0.25 degree grid in (RA, Dec) it lies in
  -- (worker/cu5_task.cc, SkyCell): CU5 reads the sources around a night's
  -- detectors by the cells they cover, exactly, where a Q3C cone of a
  -- detector's size would read eight times the rows and filter them.
  sky_cell       integer NOT NULL GENERATED ALWAYS AS
                   (floor((dec + 90) * 4)::integer * 1440 + floor(ra * 4)::integer) STORED
);
-- Cone searches: q3c_radial_query(ra, dec, ra0, dec0, radius).
CREATE INDEX source_q3c ON source (q3c_ang2ipix(ra, dec));
-- Each night's new sources are inserted in cell order, so sources near
-- on the sky lie near on disk.
CREATE INDEX source_sky_cell ON source (sky_cell);

-- The best match of every detection: one row per detection.
CREATE TABLE source_detection (
  obj_id         bigint PRIMARY KEY,   -- detection.obj_id
  source_id      bigint NOT NULL,      -- source.source_id
  separation     real NOT NULL CHECK (separation >= 0),  -- arcsec, from the source as matched
  night          date NOT NULL,
  cu_event_id    bigint NOT NULL
);
CREATE INDEX source_detection_source ON source_detection (source_id);
CREATE INDEX source_detection_night ON source_detection (night);

-- Each night's association, as LSST's reports it: detections linked, new
-- sources founded, existing sources of the footprint that got a detection
-- (updated) and that got none (unmatched).
CREATE TABLE source_night (
  night              date PRIMARY KEY,
  detections         bigint NOT NULL,
  new_sources        bigint NOT NULL,
  updated_sources    bigint NOT NULL,
  unmatched_sources  bigint NOT NULL,
  radius_arcsec      double precision NOT NULL,
  cu_event_id        bigint NOT NULL,
  loaded_at          timestamptz NOT NULL DEFAULT now()
);

-- Bumped by every CU5 load. A CU5 batch carries the version it was matched
-- against; one made before another CU5 load committed (an operator's
-- cancel or a late night let two nights match at once) is refused as
-- stale, and its task's retry matches against the archive as it is then:
-- no star is founded twice.
CREATE TABLE source_version (version bigint NOT NULL);
INSERT INTO source_version VALUES (0);
