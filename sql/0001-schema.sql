-- objwatch schema, version 1: the ledger of objects, the job queue and the
-- outputs, and the view people query.
--
-- An object row is one version of one key in one source: a file changed in
-- place is a new row, the old one stays. A job is one object version run
-- through one recipe at one recipe hash; the unique constraint is what
-- makes enqueuing twice a no-op.

CREATE TABLE objwatch.objects (
	id		bigserial PRIMARY KEY,
	source		text NOT NULL,
	key		text NOT NULL,
	version		text NOT NULL,
	size		bigint,
	mtime		timestamptz,
	etag		text,
	info		jsonb,
	seen_at		timestamptz NOT NULL DEFAULT now(),
	deleted_at	timestamptz,
	UNIQUE (source, key, version)
);
CREATE INDEX objects_source_key ON objwatch.objects (source, key);

COMMENT ON TABLE objwatch.objects IS
    'one row per version of an object seen in a source';
COMMENT ON COLUMN objwatch.objects.version IS
    'what identifies this version: size:mtime_ns:inode for files, the ETag for S3';

CREATE TABLE objwatch.jobs (
	id		bigserial PRIMARY KEY,
	object_id	bigint NOT NULL REFERENCES objwatch.objects (id)
			    ON DELETE CASCADE,
	recipe		text NOT NULL,
	recipe_hash	text NOT NULL,
	state		text NOT NULL DEFAULT 'queued'
			    CHECK (state IN ('queued', 'running', 'done',
			        'failed', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	max_attempts	integer NOT NULL DEFAULT 5,
	-- when the job may next be claimed: for running jobs the end of
	-- the lease, for failed ones the retry time, NULL when final
	run_after	timestamptz DEFAULT now(),
	locked_by	text,
	error_class	text CHECK (error_class IN ('decode', 'limit', 'io',
			    'storage', 'config')),
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at	timestamptz,
	UNIQUE (object_id, recipe, recipe_hash)
);
-- The claim scans only claimable jobs, in run_after order.
CREATE INDEX jobs_claimable ON objwatch.jobs (run_after, id)
    WHERE state IN ('queued', 'running', 'failed');
CREATE INDEX jobs_state ON objwatch.jobs (state);

COMMENT ON TABLE objwatch.jobs IS
    'one row per object version and recipe: the queue and its history';

CREATE TABLE objwatch.outputs (
	id		bigserial PRIMARY KEY,
	job_id		bigint NOT NULL REFERENCES objwatch.jobs (id)
			    ON DELETE CASCADE,
	location	text NOT NULL,
	format		text NOT NULL,
	mime		text NOT NULL,
	width		integer NOT NULL,
	height		integer NOT NULL,
	bytes		bigint NOT NULL,
	recipe_hash	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (job_id, location)
);

COMMENT ON TABLE objwatch.outputs IS
    'what each done job wrote: where, in which format, how big';

-- One row per object version and recipe: its latest job and what it made.
CREATE VIEW objwatch.results AS
SELECT DISTINCT ON (o.id, j.recipe)
	o.source,
	o.key,
	j.recipe,
	j.state,
	out.location AS output,
	out.width,
	out.height,
	out.format,
	out.bytes,
	CASE WHEN j.error IS NULL THEN NULL
	    ELSE j.error_class || ': ' || j.error END AS error,
	j.finished_at,
	j.error_class,
	j.attempts,
	o.size AS input_bytes,
	o.version,
	o.seen_at,
	o.deleted_at,
	j.created_at AS queued_at,
	j.recipe_hash,
	j.id AS job_id,
	o.id AS object_id
FROM objwatch.jobs j
JOIN objwatch.objects o ON o.id = j.object_id
LEFT JOIN objwatch.outputs out ON out.job_id = j.id
ORDER BY o.id, j.recipe, j.id DESC, out.id;

COMMENT ON VIEW objwatch.results IS
    'one row per object version and recipe, with its output or its error';
