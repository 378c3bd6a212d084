-- Archive tables of CU3: multiframe metadata, one row per image file and
-- one per detector, with the WSA's columns in snake_case, and every header
-- card so that no metadata is lost.

CREATE TABLE multiframe (
  multiframe_id    bigint PRIMARY KEY,
  file_name        text NOT NULL,
  cat_name         text,                 -- the catalogue's file name, if any
  file_time_stamp  timestamptz NOT NULL,
  night            date NOT NULL,
  frame_type       text NOT NULL,        -- 'normal' for a single exposure
  telescope        text,
  instrument       text,
  project          text,
  survey           text,
  object           text,
  obs_type         text,
  filter_name      text,
  ut_date          date,
  date_obs         timestamp,
  date_end         timestamp,
  mjd_obs          double precision,
  exp_time         double precision,
  ra_base          double precision CHECK (ra_base >= 0 AND ra_base < 360),
  dec_base         double precision CHECK (dec_base BETWEEN -90 AND 90),
  run_id           text,
  obs_num          integer,
  am_start         double precision,
  am_end           double precision,
  num_detectors    smallint NOT NULL,
  cu_event_id      bigint NOT NULL REFERENCES curation.cu_event
);
CREATE INDEX multiframe_night ON multiframe (night);

CREATE TABLE multiframe_detector (
  multiframe_id    bigint NOT NULL REFERENCES multiframe,
  ext_num          smallint NOT NULL,    -- HDU number, 2 = first extension
  cam_num          integer,
  device_id        text,
  image_ext_name   text,
  bits_per_pix     smallint NOT NULL,
  tile_compressed  boolean NOT NULL,
  data_scale       double precision NOT NULL DEFAULT 1,
  data_zero        double precision NOT NULL DEFAULT 0,
  axis1_length     integer NOT NULL CHECK (axis1_length > 0),
  axis2_length     integer NOT NULL CHECK (axis2_length > 0),
  ctype1           text,
  ctype2           text,
  crval1           double precision CHECK (crval1 >= 0 AND crval1 < 360),
  crval2           double precision CHECK (crval2 BETWEEN -90 AND 90),
  crpix1           double precision,
  crpix2           double precision,
  cd1_1            double precision,
  cd1_2            double precision,
  cd2_1            double precision,
  cd2_2            double precision,
  pv2_1            double precision,
  pv2_2            double precision,
  pv2_3            double precision,
  seeing           double precision,
  sky_level        double precision,
  sky_noise        double precision,
  mag_zpt          double precision,
  mag_zpt_err      double precision,
  extinction       double precision,
  gain             double precision,
  read_noise       double precision,
  comp_file        text,                 -- CU2's JPEG, set by its ingest
  cu_event_id      bigint NOT NULL REFERENCES curation.cu_event,
  PRIMARY KEY (multiframe_id, ext_num)
);

CREATE TABLE multiframe_header_card (
  multiframe_id  bigint NOT NULL REFERENCES multiframe,
  hdu            smallint NOT NULL,       -- 1 = primary
  card_num       smallint NOT NULL,       -- position in the header, from 1
  keyword        text NOT NULL,
  value          text,
  comment        text,
  cu_event_id    bigint NOT NULL REFERENCES curation.cu_event,
  PRIMARY KEY (multiframe_id, hdu, card_num)
);
