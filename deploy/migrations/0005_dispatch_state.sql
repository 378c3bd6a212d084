-- Whether the daemon dispatches, kept in the database so an operator's
-- pause survives a restart of the daemon (one row).
CREATE TABLE curation.dispatch_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  paused      boolean NOT NULL DEFAULT false,
  changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO curation.dispatch_state (singleton, paused) VALUES (true, false);
