-- objwatch schema, version 11: the SHA-256 of what a recipe wrote and of
-- what it read, for copy recipes (steps = copy), which check them.
--
-- outputs.sha256 is the hex SHA-256 of the output's bytes as written (for
-- gzip=yes, of the gzip file), outputs.input_sha256 of the input's bytes
-- as read; the two are equal for a plain copy. Image recipes leave both
-- NULL. objwatch.results shows them as sha256 and input_sha256, after its
-- earlier columns, so queries written against it keep working.

ALTER TABLE objwatch.outputs
	ADD COLUMN sha256 text,
	ADD COLUMN input_sha256 text;

COMMENT ON COLUMN objwatch.outputs.sha256 IS
    'hex SHA-256 of the bytes written (copy recipes), checked after writing';
COMMENT ON COLUMN objwatch.outputs.input_sha256 IS
    'hex SHA-256 of the input bytes as read (copy recipes)';

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
	out.input_sha256
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
