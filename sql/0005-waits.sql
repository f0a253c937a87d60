-- objwatch schema, migration 5: waiting out outages.
--
-- A job that failed because what it needs was unreachable (an S3 server
-- down, refusing connections or answering 503 SlowDown) did nothing wrong:
-- it is tried again after a backoff without using up one of its attempts,
-- so an outage longer than max_attempts backoffs cannot make jobs dead.
-- waits counts those tries; it sets the backoff and shows in SQL how long
-- a job has been waiting.

ALTER TABLE objwatch.jobs ADD COLUMN waits integer NOT NULL DEFAULT 0;

COMMENT ON COLUMN objwatch.jobs.waits IS
    'times the job waited out an outage of its source or output (not counted in attempts)';
