-- objwatch schema, migration 4: S3 sources.
--
-- Each S3 source is listed by one process at a time, the one holding a
-- session advisory lock on the key below; objwatch.pollers shows who holds
-- which, so "who is polling bucket X" is a query.

CREATE FUNCTION objwatch.poller_lock_key(source text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT hashtextextended('objwatch.s3:' || source, 0) $$;

COMMENT ON FUNCTION objwatch.poller_lock_key(text) IS
    'the advisory lock an objwatch process holds while it polls an S3 source';

CREATE VIEW objwatch.pollers AS
SELECT
	substring(a.application_name FROM '^objwatch poller (.*)$') AS source,
	l.pid,
	a.client_addr,
	a.backend_start AS since,
	(l.classid::bigint << 32) | l.objid::bigint AS lock_key
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
    AND a.application_name LIKE 'objwatch poller %';

COMMENT ON VIEW objwatch.pollers IS
    'which database session polls which S3 source now';

-- The poller reads the live version of every key of a source each pass.
CREATE INDEX objects_live ON objwatch.objects (source, key, id)
    WHERE deleted_at IS NULL;
