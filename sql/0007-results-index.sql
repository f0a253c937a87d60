-- objwatch schema, version 7: objwatch.results answers a lookup from the
-- indexes, not by sorting every job.
--
-- Version 1 made the view with DISTINCT ON (object, recipe) over all jobs:
-- PostgreSQL cannot push WHERE key = ... below a DISTINCT ON whose keys it
-- does not filter, so every query sorted every job first (319 ms at 200k
-- jobs for one key, growing with the queue). The same rows are said here
-- with anti-joins, which the planner flattens, so a filter on the object
-- (source, key) or on the job (recipe, state) is applied first, through
-- an index, and the latest-job test runs only for the rows it keeps:
--
-- - a job is its object's and recipe's latest when no job of the same
--   object and recipe has a higher id (the unique index on jobs (object_id,
--   recipe, recipe_hash) answers that);
-- - a job's output is its first (lowest id), as before; a job without
--   one keeps its row, with NULL output columns.
--
-- Same columns, same order, same types: queries written against the view
-- keep working. Like any view without ORDER BY, its rows come in no
-- particular order (version 1's came sorted by object and recipe as a
-- side effect of DISTINCT ON): say ORDER BY where order matters.

-- WHERE key = ... without source: the (source, key) indexes need source.
CREATE INDEX objects_key ON objwatch.objects (key);

CREATE OR REPLACE VIEW objwatch.results AS
SELECT
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
WHERE NOT EXISTS (
	SELECT 1 FROM objwatch.jobs later
	WHERE later.object_id = j.object_id AND later.recipe = j.recipe
	    AND later.id > j.id)
AND NOT EXISTS (
	SELECT 1 FROM objwatch.outputs earlier
	WHERE earlier.job_id = out.job_id AND earlier.id < out.id);

COMMENT ON VIEW objwatch.results IS
    'one row per object version and recipe, with its output or its error';
