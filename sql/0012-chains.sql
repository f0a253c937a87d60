-- objwatch schema, migration 12: chained recipes (after = RECIPE).
--
-- A recipe may take another recipe's output as its input. Its job is for
-- the same object version as the job whose output it reads (so the unique
-- (object_id, recipe, recipe_hash) still makes queueing it twice a no-op),
-- and it is queued by the statement that marks that job done. It names
-- that job (parent_job_id) and the output it reads (input_location, the
-- parent's outputs.location); a job queued by a source has neither.
--
-- parent_job_id is ON DELETE SET NULL, not CASCADE: removing an upstream
-- job's row (pruning history) must not silently remove the results made
-- from it, and a downstream job still queued keeps its input_location, so
-- it can still run. Deleting the object removes all of its jobs anyway,
-- through jobs.object_id.

ALTER TABLE objwatch.jobs
    ADD COLUMN parent_job_id bigint REFERENCES objwatch.jobs (id)
        ON DELETE SET NULL,
    ADD COLUMN input_location text,
    ADD CONSTRAINT jobs_chained_input
        CHECK (parent_job_id IS NULL OR input_location IS NOT NULL);

-- Walking a chain downwards, and the foreign key's own checks on delete.
CREATE INDEX jobs_parent ON objwatch.jobs (parent_job_id)
    WHERE parent_job_id IS NOT NULL;

COMMENT ON COLUMN objwatch.jobs.parent_job_id IS
    'for a recipe chained after another: the job whose output is its input';
COMMENT ON COLUMN objwatch.jobs.input_location IS
    'for a recipe chained after another: the output it reads, as recorded';

-- The view of version 11, with three columns at the end: the upstream job,
-- its recipe, and the output read.
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
	o.id AS object_id,
	out.sha256,
	out.input_sha256,
	j.parent_job_id,
	parent.recipe AS after,
	j.input_location AS input
FROM objwatch.jobs j
JOIN objwatch.objects o ON o.id = j.object_id
LEFT JOIN objwatch.outputs out ON out.job_id = j.id
LEFT JOIN objwatch.jobs parent ON parent.id = j.parent_job_id
WHERE NOT EXISTS (
	SELECT 1 FROM objwatch.jobs later
	WHERE later.object_id = j.object_id AND later.recipe = j.recipe
	    AND later.id > j.id)
AND NOT EXISTS (
	SELECT 1 FROM objwatch.outputs earlier
	WHERE earlier.job_id = out.job_id AND earlier.id < out.id);

COMMENT ON VIEW objwatch.results IS
    'one row per object version and recipe, with its output or its error';
COMMENT ON COLUMN objwatch.results.after IS
    'for a recipe chained after another: that recipe';
