-- objwatch schema, migration 8: scheduled SQL ([schedule.NAME]).
--
-- schedule_runs has one row per schedule and period, named by the period's
-- start (its fire time). A process claims a period by inserting its row:
-- the UNIQUE constraint makes that happen once, whatever the number of
-- processes. finished_at is NULL while the run goes on; a run whose
-- process died keeps it NULL, and is taken over once lease_until passed.
-- rows is what the SQL returned (or changed); error its error, else NULL.

CREATE TABLE objwatch.schedule_runs (
	id		bigserial PRIMARY KEY,
	schedule	text NOT NULL,
	period_start	timestamptz NOT NULL,
	started_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz,
	rows		bigint,
	error		text,
	host		text NOT NULL,
	lease_until	timestamptz NOT NULL,
	takeovers	integer NOT NULL DEFAULT 0,
	UNIQUE (schedule, period_start)
);

COMMENT ON TABLE objwatch.schedule_runs IS
    'one row per schedule and period: when it ran, its rows or its error';

-- Each configured schedule, as the processes running it last said: how it
-- fires and when it runs next.
CREATE TABLE objwatch.schedules (
	name		text PRIMARY KEY,
	spec		text NOT NULL,
	next_run_at	timestamptz,
	seen_at		timestamptz NOT NULL DEFAULT now()
);

-- What objwatch status shows: each schedule seen in the last day, with its
-- latest run.
CREATE VIEW objwatch.schedule_status AS
SELECT
	s.name AS schedule,
	s.spec,
	r.period_start AS last_period,
	r.started_at AS last_started_at,
	r.finished_at AS last_finished_at,
	r.rows AS last_rows,
	extract(epoch FROM r.finished_at - r.started_at)::float8
	    AS last_duration_s,
	r.error AS last_error,
	r.host AS last_host,
	s.next_run_at
FROM objwatch.schedules s
LEFT JOIN LATERAL (
	SELECT * FROM objwatch.schedule_runs r
	WHERE r.schedule = s.name
	ORDER BY r.period_start DESC LIMIT 1) r ON true
WHERE s.seen_at > now() - interval '1 day';

COMMENT ON VIEW objwatch.schedule_status IS
    'each schedule with its latest run and its next';
