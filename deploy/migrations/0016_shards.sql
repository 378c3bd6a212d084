-- Shards (docs/ARCHITECTURE.md, "Shards"): the servers that hold the
-- detections, each night's on one of them, when the config names any.
-- Every shard gets every migration, so the head and its shards are at one
-- schema version; these tables are filled on the head only.
CREATE TABLE curation.shard (
  name      text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,40}$'),
  server    text NOT NULL UNIQUE,  -- the head's foreign server (postgres_fdw)
  added_at  timestamptz NOT NULL DEFAULT now()
);

-- Where a night's detections are: chosen at its first CU4 load (the shard
-- with the fewest nights; ties by the night's day number), kept for its
-- reruns. A shard added later takes
-- new nights; nothing moves by itself.
CREATE TABLE curation.night_shard (
  night      date PRIMARY KEY,
  shard      text NOT NULL REFERENCES curation.shard (name),
  placed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX night_shard_shard ON curation.night_shard (shard);

-- This archive's id, in the name of every transaction its ingesters
-- prepare on a shard (curator:<id>:<head xid>:<batch>), so that the
-- recovery never decides another database's.
CREATE TABLE curation.archive (
  id  text PRIMARY KEY
);
INSERT INTO curation.archive
  VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 16));
