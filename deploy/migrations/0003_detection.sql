-- CU4: catalogue detections. Partitioned by ranges of obj_id: each batch's
-- detections are loaded into a fresh table holding exactly its block of
-- ids, validated and indexed there, and attached as one partition (the
-- Pan-STARRS "switch partition" ingest: every row is written once).
-- Q3C serves cone searches: q3c_radial_query(ra, dec, ra0, dec0, radius).
CREATE EXTENSION IF NOT EXISTS q3c;

CREATE TABLE detection (
  obj_id            bigint NOT NULL,
  multiframe_id     bigint NOT NULL,  -- validated against multiframe_detector at ingest
  ext_num           smallint NOT NULL,
  seq_num           integer NOT NULL,
  ra                double precision NOT NULL,  -- degrees
  dec               double precision NOT NULL,  -- degrees
  x                 real,
  x_err             real,
  y                 real,
  y_err             real,
  gauss_sig         real,
  ell               real,
  pa                real,
  peak_height       real,
  peak_height_err   real,
  iso_flux          real,
  aper_flux_1       real, aper_flux_err_1 real, aper_mag_1 real, aper_mag_err_1 real,
  aper_flux_2       real, aper_flux_err_2 real, aper_mag_2 real, aper_mag_err_2 real,
  aper_flux_3       real, aper_flux_err_3 real, aper_mag_3 real, aper_mag_err_3 real,
  aper_flux_4       real, aper_flux_err_4 real, aper_mag_4 real, aper_mag_err_4 real,
  aper_flux_5       real, aper_flux_err_5 real, aper_mag_5 real, aper_mag_err_5 real,
  aper_flux_6       real, aper_flux_err_6 real, aper_mag_6 real, aper_mag_err_6 real,
  aper_flux_7       real, aper_flux_err_7 real, aper_mag_7 real, aper_mag_err_7 real,
  petr_flux         real,
  kron_flux         real,
  class             smallint,   -- -1 star, 0 noise, +1 galaxy (CASU)
  class_stat        real,
  error_bit_flag    integer,
  sky_level         real,
  sky_rms           real,
  cu_event_id       bigint NOT NULL,
  PRIMARY KEY (obj_id)
) PARTITION BY RANGE (obj_id);

CREATE INDEX detection_q3c ON detection (q3c_ang2ipix(ra, dec));
