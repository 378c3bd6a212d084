-- Attempts lost with their worker (a crash, a cut link, a restart) are
-- counted apart from failed ones: they are not the task's fault and do
-- not use up its attempts, but a task lost this many times (one that
-- kills its workers) fails for good instead of looping.
ALTER TABLE curation.task
  ADD COLUMN lost_attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN max_lost integer NOT NULL DEFAULT 10;
