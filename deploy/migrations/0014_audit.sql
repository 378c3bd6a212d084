-- The audit log (docs/ARCHITECTURE.md, "The audit log"): every command
-- that may change state, from curatorctl, the Python client or the Load
-- Monitor's actions, and the daemon's own policy, with who asked, when,
-- for what and what came of it. Written by the daemon (daemon/audit_log.h)
-- before the command runs (outcome 'running') and again when it has
-- answered, so a daemon killed in between still leaves the request on
-- record. Shown by `curatorctl audit` and the Load Monitor. An entry is
-- never changed once its outcome is set, nor deleted: the trigger below
-- refuses it to every role that can reach the table (workers and
-- ingesters share the daemon's login at most sites).

CREATE TABLE curation.audit (
  audit_id  bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  who       text NOT NULL,          -- cert:<CN>, token, policy
  via       text NOT NULL CHECK (via IN ('grpc', 'page', 'policy')),
  command   text NOT NULL,          -- approve, cancel, retire, release create...
  target    text NOT NULL DEFAULT '',  -- tasks 42 43, night 20071021...
  reason    text NOT NULL DEFAULT '',
  outcome   text NOT NULL DEFAULT 'running',
  finished  timestamptz
);

CREATE INDEX audit_command ON curation.audit (command, audit_id);

CREATE FUNCTION curation.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'curation.audit: entries are never deleted (entry %)', OLD.audit_id;
  END IF;
  IF OLD.finished IS NOT NULL THEN
    RAISE EXCEPTION 'curation.audit: entry % is finished and cannot change', OLD.audit_id;
  END IF;
  IF NEW.audit_id <> OLD.audit_id OR NEW.at <> OLD.at OR NEW.who <> OLD.who OR NEW.via <> OLD.via
     OR NEW.command <> OLD.command OR NEW.target <> OLD.target OR NEW.reason <> OLD.reason THEN
    RAISE EXCEPTION 'curation.audit: only an entry''s outcome may be set (entry %)', OLD.audit_id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON curation.audit
  FOR EACH ROW EXECUTE FUNCTION curation.audit_append_only();
