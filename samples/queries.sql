-- Useful queries over objwatch's results. Run one with
--   ./objwatch -c samples/objwatch.conf db psql -f samples/queries.sql
-- or paste it into `objwatch db psql`.

-- Everything, newest first: one row per file version and recipe.
SELECT source, key, recipe, state, width, height, format, bytes, finished_at
FROM objwatch.results
ORDER BY finished_at DESC NULLS FIRST
LIMIT 20;

-- Where the thumbnail of a given file is.
SELECT output, width, height
FROM objwatch.results
WHERE key = 'landscape-1600x1067.jpg' AND recipe = 'thumbs';

-- What failed, and why (the error says what to do about it).
SELECT key, recipe, error_class, error, attempts, finished_at
FROM objwatch.results
WHERE state IN ('failed', 'dead')
ORDER BY finished_at DESC;

-- The queue at a glance.
SELECT recipe, state, count(*)
FROM objwatch.jobs
GROUP BY recipe, state
ORDER BY recipe, state;

-- How much smaller the outputs are than their inputs, per recipe.
SELECT recipe, count(*) AS files,
       pg_size_pretty(sum(input_bytes)) AS input,
       pg_size_pretty(sum(bytes)) AS output,
       round(100.0 * sum(bytes) / nullif(sum(input_bytes), 0), 1) AS percent
FROM objwatch.results
WHERE state = 'done'
GROUP BY recipe;

-- The biggest inputs.
SELECT source, key, pg_size_pretty(input_bytes) AS size
FROM objwatch.results
WHERE recipe = 'thumbs'
ORDER BY input_bytes DESC
LIMIT 10;

-- How long jobs take, per recipe (from claim to done).
SELECT j.recipe, count(*) AS jobs,
       round(avg(extract(epoch FROM j.finished_at - j.started_at)) * 1000) AS avg_ms,
       round(max(extract(epoch FROM j.finished_at - j.started_at)) * 1000) AS max_ms
FROM objwatch.jobs j
WHERE j.state = 'done'
GROUP BY j.recipe;

-- Every version a file has had (a file rewritten in place is a new version).
SELECT key, version, seen_at, deleted_at
FROM objwatch.objects
ORDER BY key, seen_at;

-- What the images are: size, camera and date (from their headers).
SELECT key, width, height, format, make, model, taken_at, latitude, longitude
FROM objwatch.images
ORDER BY taken_at NULLS LAST
LIMIT 20;

-- Objects taken with a given camera (info is jsonb on objects).
SELECT key, info->>'taken_at' AS taken_at
FROM objwatch.objects
WHERE info->>'model' = 'DSC-RX100M4';

-- Chains (after = RECIPE): where an output came from, back to the object.
WITH RECURSIVE up AS (
    SELECT j.id, j.parent_job_id, j.recipe, j.input_location, 0 AS depth
    FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
    WHERE o.key = '2024/IMG_0001.jpg' AND j.recipe = 'square'
  UNION ALL
    SELECT p.id, p.parent_job_id, p.recipe, p.input_location, up.depth + 1
    FROM objwatch.jobs p JOIN up ON p.id = up.parent_job_id)
SELECT depth, recipe, id AS job_id,
       coalesce(input_location, '(the object)') AS input
FROM up ORDER BY depth;

-- Chains: each recipe's results, with the recipe it follows.
SELECT recipe, after, state, count(*)
FROM objwatch.results
GROUP BY recipe, after, state
ORDER BY recipe, state;
