-- Files of a night's incoming directory that registration refused, by
-- name, so an operator sees them: a name that is not valid UTF-8 (text
-- cannot hold it, so the name is kept as bytes and shown escaped), a
-- symbolic link out of the archive or dangling, something that is not a
-- regular file, a name clash. One row per night and name; registering
-- again moves last_seen. A file that registers later loses its row.
CREATE TABLE curation.refused_file (
  night       date NOT NULL REFERENCES curation.night,
  name_bytes  bytea NOT NULL,
  name_shown  text NOT NULL,  -- escaped, e.g. w20071021_9\xff.fit
  reason      text NOT NULL,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (night, name_bytes)
);
