-- Releases (docs/ARCHITECTURE.md, "Releases"): frozen, read-only copies of
-- the live archive, each in a schema of its own (release_<name>), with a
-- manifest here: the nights it holds, and per table its rows and content
-- checksum, so `curatorctl release verify` can tell later whether anything
-- changed. Made, and dropped, by the daemon (daemon/releases.h), each in
-- one transaction with its event (curation.cu_event 'release create',
-- 'release drop').

CREATE TABLE curation.release (
  name              text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,40}$'),
  schema_name       text NOT NULL UNIQUE,
  until_night       date,              -- NULL: every night there was
  nights            date[] NOT NULL,   -- the nights of its frames, in order
  created_at        timestamptz NOT NULL DEFAULT now(),
  software_version  text NOT NULL,
  cu_event_id       bigint NOT NULL REFERENCES curation.cu_event,
  -- frozen: its schema is there, as the manifest says; dropped: the schema
  -- and its per-table manifest are gone, this row and the events stay.
  state             text NOT NULL DEFAULT 'frozen' CHECK (state IN ('frozen', 'dropped')),
  dropped_at        timestamptz,
  drop_event_id     bigint REFERENCES curation.cu_event
);

-- Per table of a release: rows, and the checksum of its content as made
-- (daemon/releases.cc, kChecksumSql: the sum over rows of the first 64
-- bits of md5(row as text), so the order of the rows does not matter).
CREATE TABLE curation.release_table (
  release     text NOT NULL REFERENCES curation.release ON DELETE CASCADE,
  table_name  text NOT NULL,
  rows        bigint NOT NULL CHECK (rows >= 0),
  checksum    numeric NOT NULL,
  PRIMARY KEY (release, table_name)
);

-- Every table of a release has a trigger calling this: any write is
-- refused, whoever owns the table (a superuser can still disable the
-- trigger or write as a replica; verify finds what that changed).
CREATE FUNCTION curation.release_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'release % is frozen', TG_ARGV[0]
    USING ERRCODE = 'read_only_sql_transaction',
          HINT = 'a release is a read-only copy; make a new one (curatorctl release create)';
END
$$;
