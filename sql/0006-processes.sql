-- objwatch schema, migration 6: the processes running against this
-- database, and what each says of its parts.
--
-- Each `objwatch run` keeps one row, rewritten every 5 seconds with its
-- live state (database, sources, workers) as JSON, and removes it when it
-- stops cleanly. A row whose seen_at is old belongs to a process that
-- stopped answering: crashed, killed, or cut off from the database.

CREATE TABLE objwatch.processes (
	process		text PRIMARY KEY,	-- host:pid-namespace:pid
	host		text NOT NULL,
	pid		integer NOT NULL,
	version		text NOT NULL,
	started_at	timestamptz NOT NULL DEFAULT now(),
	seen_at		timestamptz NOT NULL DEFAULT now(),
	state		jsonb NOT NULL
);

COMMENT ON TABLE objwatch.processes IS
    'each running objwatch process and its live state, refreshed every 5 s';
