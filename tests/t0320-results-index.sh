#!/bin/sh
# objwatch.results answers the common lookups from indexes: at 200k jobs
# over 100k objects, WHERE key = ..., WHERE source = ... AND key = ... and
# WHERE recipe = ... AND state = ... are planned with index scans and no
# sort, where version 1's DISTINCT ON view sorted every job first. The
# plans are checked by their node types (not by timings); the view still
# gives exactly the latest job per object version and recipe, with its
# first output, row for row the same as version 1's on the whole table.
# The times of the lookups before and after are printed, not checked.
. "$SRCDIR/tests/lib.sh"
plan 13

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save
output = dir:out/{key}.{ext}
EOF
"$OBJWATCH" -c "$T/ow.conf" db migrate >"$T/migrate.log" 2>&1 ||
	{ _lib_diag_file "$T/migrate.log"; bail "cannot migrate"; }

# 100,000 objects (one in ten in source s3) and 200,001 jobs: a thumbs
# job for each (failed for one in fifty), a webp job for three in five
# (dead for one in a hundred), and for the two in five left a later
# thumbs job of a changed recipe (queued for one in twenty); an output
# for each done job, and a second one for k4's latest. Then k123 again in
# s3, and an object with no job at all.
sql "
INSERT INTO objwatch.objects (id, source, key, version, size)
SELECT i, CASE WHEN i % 10 = 0 THEN 's3' ELSE 'photos' END, 'k' || i,
    'v' || i, i * 10
FROM generate_series(1, 100000) i;
INSERT INTO objwatch.objects (id, source, key, version, size) VALUES
    (100001, 's3', 'k123', 'e1', 5), (100002, 'photos', 'nojob', 'v', 1);
SELECT setval('objwatch.objects_id_seq', 100002);
INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash, state, attempts,
    error_class, error, finished_at, run_after)
SELECT i, 'thumbs', 'h1', CASE WHEN i % 50 = 7 THEN 'failed' ELSE 'done' END,
    1, CASE WHEN i % 50 = 7 THEN 'decode' END,
    CASE WHEN i % 50 = 7 THEN 'bad ' || i END, now(), NULL
FROM generate_series(1, 100000) i;
INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash, state, attempts,
    finished_at, run_after)
SELECT i, 'webp', 'w1', CASE WHEN i % 100 = 3 THEN 'dead' ELSE 'done' END, 1,
    now(), NULL
FROM generate_series(1, 100000) i WHERE i % 5 < 3;
INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash, state, attempts,
    finished_at, run_after)
SELECT i, 'thumbs', 'h2', CASE WHEN i % 20 = 3 THEN 'queued' ELSE 'done' END,
    0, CASE WHEN i % 20 = 3 THEN NULL ELSE now() END, now()
FROM generate_series(1, 100000) i WHERE i % 5 >= 3;
INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash, state, attempts,
    finished_at, run_after) VALUES (100001, 'webp', 'w1', 'done', 1, now(), NULL);
INSERT INTO objwatch.outputs (job_id, location, format, mime, width, height,
    bytes, recipe_hash)
SELECT j.id, 'out/' || j.recipe || '/' || j.object_id || '-' || j.recipe_hash,
    'jpeg', 'image/jpeg', 64, 48, 1000 + j.object_id, j.recipe_hash
FROM objwatch.jobs j WHERE j.state = 'done' ORDER BY j.id;
INSERT INTO objwatch.outputs (job_id, location, format, mime, width, height,
    bytes, recipe_hash)
SELECT j.id, 'out/again', 'webp', 'image/webp', 1, 1, 1, j.recipe_hash
FROM objwatch.jobs j WHERE j.object_id = 4 AND j.recipe_hash = 'h2';
ANALYZE objwatch.objects, objwatch.jobs, objwatch.outputs;
" >/dev/null || bail "cannot load the rows"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 200001 "200,001 jobs loaded"

# Version 1's view, from its own file, beside the new one.
sed -n '/^CREATE VIEW objwatch.results AS/,/;$/p' "$SRCDIR/sql/0001-schema.sql" |
    sed 's/^CREATE VIEW objwatch.results AS/CREATE VIEW public.results_v1 AS/' \
    >"$T/v1.sql"
grep -q 'DISTINCT ON' "$T/v1.sql" || bail "no version 1 view in sql/0001-schema.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$PGURL" -f "$T/v1.sql" ||
	bail "cannot make version 1's view"

# plan_nodes(QUERY): each node of its plan, as TYPE [on TABLE] [using INDEX].
# exec_ms(QUERY): its execution time, best of three.
sql "
CREATE FUNCTION public.plan_nodes(q text) RETURNS SETOF text
LANGUAGE plpgsql AS \$\$
DECLARE
	p json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
	RETURN QUERY WITH RECURSIVE n(node) AS (
		SELECT p->0->'Plan'
		UNION ALL
		SELECT c FROM n, json_array_elements(n.node->'Plans') c)
	SELECT (node->>'Node Type') ||
	    coalesce(' on ' || (node->>'Relation Name'), '') ||
	    coalesce(' using ' || (node->>'Index Name'), '')
	FROM n;
END \$\$;
CREATE FUNCTION public.exec_ms(q text) RETURNS numeric
LANGUAGE plpgsql AS \$\$
DECLARE
	p json;
	best numeric;
BEGIN
	FOR i IN 1..3 LOOP
		EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO p;
		best := least(best, (p->0->>'Execution Time')::numeric);
	END LOOP;
	RETURN round(best, 2);
END \$\$;
" >/dev/null || bail "cannot make the helpers"

# nodes QUERY: its plan's nodes, one a line.
nodes() {
	sql "SELECT public.plan_nodes(\$q\$$1\$q\$)"
}
# without NODES REGEX: whether no node matches REGEX (and the plan exists).
without() {
	[ -n "$1" ] && ! printf '%s\n' "$1" | grep -Eq -- "$2"
}

by_key="SELECT * FROM objwatch.results WHERE key = 'k123'"
by_source_key="SELECT * FROM objwatch.results WHERE source = 'photos' AND key = 'k123'"
by_recipe_state="SELECT * FROM objwatch.results WHERE recipe = 'thumbs' AND state = 'failed'"

n=$(nodes "$by_key")
like "$n" "^Index (Only )?Scan on objects using objects_key$" \
    "WHERE key = ... finds the object by the index on key" || diag "$n"
without "$n" "^(Seq Scan|Sort|Incremental Sort|Unique)"
ok $? "and has no sequential scan and no sort" || diag "$n"
like "$n" "^Index (Only )?Scan on jobs using " \
    "its jobs, and whether each is the latest, come from an index on jobs"

n=$(nodes "$by_source_key")
without "$n" "^(Seq Scan|Sort|Incremental Sort|Unique)" &&
	printf '%s\n' "$n" | grep -Eq "^Index (Only )?Scan on objects "
ok $? "WHERE source = ... AND key = ...: index scans, no sequential scan, no sort" ||
	diag "$n"

n=$(nodes "$by_recipe_state")
without "$n" "^(Seq Scan on jobs|Sort|Incremental Sort|Unique)" &&
	printf '%s\n' "$n" | grep -Eq "^(Bitmap )?Index (Only )?Scan on jobs "
ok $? "WHERE recipe = ... AND state = ...: jobs through an index, never all of them, no sort" ||
	diag "$n"

# The assertions above can fail: version 1's view sorts every job.
n=$(nodes "$(echo "$by_key" | sed 's/objwatch.results/public.results_v1/')")
printf '%s\n' "$n" | grep -q "^Seq Scan on jobs" &&
	printf '%s\n' "$n" | grep -q "^Sort"
ok $? "(version 1's view, for the same query, reads and sorts every job)" ||
	diag "$n"

# Row for row: the latest job per object version and recipe, its first
# output, a job without output kept, an object without a job absent.
cols="source, key, recipe, state, output, width, height, format, bytes, error"
is "$(sql "SELECT $cols FROM objwatch.results
	WHERE key IN ('k4', 'k7', 'k123', 'nojob') ORDER BY key, source, recipe")" \
"photos|k123|thumbs|queued||||||
s3|k123|webp|done|out/webp/100001-w1|64|48|jpeg|101001|
photos|k4|thumbs|done|out/thumbs/4-h2|64|48|jpeg|1004|
photos|k7|thumbs|failed||||||decode: bad 7
photos|k7|webp|done|out/webp/7-w1|64|48|jpeg|1007|" \
    "the rows of a few keys are the latest job per recipe, with its first output"
is "$(sql "SELECT $cols FROM objwatch.results
	WHERE source = 'photos' AND key = 'k123'")" "photos|k123|thumbs|queued||||||" \
    "WHERE source = ... AND key = ... gives that source's row only"
is "$(sql "SELECT count(*), count(DISTINCT (object_id, recipe)),
	count(*) FILTER (WHERE state = 'failed' AND recipe = 'thumbs')
	FROM objwatch.results")" "160001|160001|2000" \
    "one row per object version and recipe (160,001), 2,000 of them failed thumbs"
# Later versions add columns at the end (11: the checksums, 12: the
# chain's); version 1's come first, the same.
v1cols=$(sql "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position)
	FROM information_schema.columns WHERE table_schema = 'public'
	AND table_name = 'results_v1'")
nv1=$(sql "SELECT count(*) FROM information_schema.columns
	WHERE table_schema = 'public' AND table_name = 'results_v1'")
is "$(sql "SELECT
	(SELECT count(*) FROM (SELECT $v1cols FROM objwatch.results EXCEPT ALL
	    TABLE public.results_v1) a) || ' ' ||
	(SELECT count(*) FROM (TABLE public.results_v1 EXCEPT ALL
	    SELECT $v1cols FROM objwatch.results) b)")" "0 0" \
    "the whole view is row for row version 1's"
is "$(sql "SELECT string_agg(column_name || ' ' || data_type, ', '
	ORDER BY ordinal_position) FROM information_schema.columns
	WHERE table_schema = 'objwatch' AND table_name = 'results'
	AND ordinal_position <= $nv1")" \
    "$(sql "SELECT string_agg(column_name || ' ' || data_type, ', '
	ORDER BY ordinal_position) FROM information_schema.columns
	WHERE table_schema = 'public' AND table_name = 'results_v1'")" \
    "with the same columns first, in the same order, of the same types"
is "$(sql "SELECT string_agg(column_name || ' ' || data_type, ', '
	ORDER BY ordinal_position) FROM information_schema.columns
	WHERE table_schema = 'objwatch' AND table_name = 'results'
	AND ordinal_position > $nv1")" \
    "sha256 text, input_sha256 text, parent_job_id bigint, after text, input text" \
    "then the copy checksums' and the chain's columns"

# Figures: version 1's view without the new index, as before the
# migration, then the new one.
for q in "$by_key" "$by_source_key" "$by_recipe_state" \
    "SELECT * FROM objwatch.results WHERE state IN ('failed', 'dead') ORDER BY finished_at DESC LIMIT 20" \
    "SELECT count(*) FROM objwatch.results"; do
	v1=$(echo "$q" | sed 's/objwatch.results/public.results_v1/')
	before=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PGURL" -c "BEGIN" \
	    -c "DROP INDEX objwatch.objects_key" \
	    -c "SELECT public.exec_ms(\$q\$$v1\$q\$)" -c "ROLLBACK")
	after=$(sql "SELECT public.exec_ms(\$q\$$q\$q\$)")
	diag "$(printf '%9s ms before, %8s ms after: %s' "$before" "$after" "$q")"
done
