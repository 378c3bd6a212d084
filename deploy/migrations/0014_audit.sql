-- The audit log (docs/ARCHITECTURE.md, "The audit log"): every command
-- that may change state, from curatorctl, the Python client or the Load
-- Monitor's actions, and the daemon's own policy, with who asked, when,
-- for what and what came of it. Written by the daemon (daemon/audit_log.h)
-- before the command runs (outcome 'running') and again when it has
-- answered, so a daemon killed in between still leaves the request on
-- record. Shown by `curatorctl audit` and the Load Monitor. Rows are never
-- updated after their outcome is set, nor deleted by Curator.

CREATE TABLE curation.audit (
  audit_id  bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  who       text NOT NULL,          -- cert:<CN>, token, policy, anonymous
  via       text NOT NULL CHECK (via IN ('grpc', 'page', 'policy')),
  command   text NOT NULL,          -- approve, cancel, retire, release create...
  target    text NOT NULL DEFAULT '',  -- tasks 42 43, night 20071021...
  reason    text NOT NULL DEFAULT '',
  outcome   text NOT NULL DEFAULT 'running',
  finished  timestamptz
);

CREATE INDEX audit_command ON curation.audit (command, audit_id);
