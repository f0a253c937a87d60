#!/bin/sh
# Chained recipes (after = RECIPE): a folder's file runs through a, then b
# after a, c after b, and in another branch d after a (its output in a
# bucket) and e after d. Each downstream job is for the same object, names
# its parent job and reads that job's output; a broken input fails a and
# queues nothing after it; an upstream output gone fails its follower with
# class io, naming it; a retry completes the chain without doubling it;
# reprocess = yes runs a follower again, or the whole chain after a; and a
# file deleted takes the outputs of its whole chain with it.
. "$SRCDIR/tests/lib.sh"
plan 28

pg_start || bail "cannot start PostgreSQL"
s3_start media chain || bail "cannot start s3rver"
mkdir -p "$T/in" "$T/stage"
# config A_STEPS C_STEPS REPROCESS: the config, with a's and c's steps
# and their reprocess setting.
config() {
	write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.photos]
type = dir
path = in
recipes = a
on_delete = remove

; the s3 outputs take its endpoint and keys
[source.media]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = media
prefix = in/
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = a

[recipe.a]
steps = $1
output = dir:out/a/{stem}.{ext}
reprocess = $3

[recipe.b]
after = a
steps = thumbnail width=200 height=200 | save format=webp
output = dir:out/b/{stem}.{ext}

[recipe.c]
after = b
steps = $2
output = dir:out/c/{stem}.{ext}
reprocess = $3

[recipe.d]
after = a
steps = thumbnail width=300 height=300 | save format=jpeg
output = s3:chain/d/{stem}.{ext}

[recipe.e]
after = d
steps = crop width=50 height=40 | save format=png
output = dir:out/e/{stem}.{ext}
EOF
}
A1="thumbnail width=800 height=800 | save format=jpeg quality=85"
C1="crop width=100 height=100 | save format=png"
config "$A1" "$C1" no

out=$("$OBJWATCH" -c "$T/ow.conf" check 2>&1)
like "$out" "\[recipe\.a\]
; hash [0-9a-f]*
steps = thumbnail width=800 height=800 \| save format=jpeg quality=85
output = dir:$T/out/a/\{stem\}\.\{ext\}
reprocess = no
max_pixels = [0-9]*
max_input_bytes = [0-9]*
max_pages = 1
; then = b \(then c\), d \(then e\)" "check prints the chain under its first recipe"
is "$(echo "$out" | grep '^after = ' | tr '\n' ' ')" \
    "after = a after = b after = a after = d " "and each recipe's after ="

make_jpeg "$T/stage/wide.jpg" 1600 900 1
make_jpeg "$T/stage/tall.jpg" 600 1200 2
head -c 3000 /dev/urandom >"$T/stage/broken.jpg"
printf '\377\330\377\340' | dd of="$T/stage/broken.jpg" conv=notrunc 2>/dev/null

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
# objwatch wait, started before the file is there, returns once the whole
# chain is through: each follower is queued in the statement that
# completes its parent, so no moment shows the object's jobs all final
# before the last recipe is done.
"$OBJWATCH" wait -c "$T/ow.conf" -t 60 photos wide.jpg >"$T/wait.out" \
    2>"$T/wait.err" &
wait_pid=$!
mv "$T/stage/wide.jpg" "$T/stage/tall.jpg" "$T/stage/broken.jpg" "$T/in/"

wait_for_sql "SELECT count(*) FILTER (WHERE state = 'done'),
	count(*) FILTER (WHERE state IN ('failed', 'dead'))
	FROM objwatch.jobs" "10|1" 60
ok $? "two files through five recipes, and the broken one's first" || ow_log
wait "$wait_pid"
is "$? $(cat "$T/wait.out")" "0 $(sql "SELECT string_agg(recipe || E'\t' ||
	state || E'\t' || output, E'\n' ORDER BY recipe)
	FROM objwatch.results WHERE key = 'wide.jpg'")" \
    "objwatch wait on the file returns 0 with all five recipes done" ||
    cat "$T/wait.err"

is "$(sql "SELECT key, recipe, state, coalesce(after, '-'), width, height,
	format FROM objwatch.results WHERE state = 'done' ORDER BY key, recipe")" \
"tall.jpg|a|done|-|400|800|jpeg
tall.jpg|b|done|a|100|200|webp
tall.jpg|c|done|b|100|100|png
tall.jpg|d|done|a|150|300|jpeg
tall.jpg|e|done|d|50|40|png
wide.jpg|a|done|-|800|450|jpeg
wide.jpg|b|done|a|200|113|webp
wide.jpg|c|done|b|100|100|png
wide.jpg|d|done|a|300|169|jpeg
wide.jpg|e|done|d|50|40|png" \
    "one row per object and recipe, each made from the one it follows"

json=$("$OBJWATCH" -c "$T/ow.conf" status --json)
is "$(sql "SELECT string_agg(q->>'source' || ' ' || (q->>'recipe') || ' ' ||
	(q->>'done') || ' ' || (q->>'failed'), ', ' ORDER BY q->>'recipe')
	FROM json_array_elements('$json'::json->'queues') q")" \
    "photos a 2 1, photos b 2 0, photos c 2 0, photos d 2 0, photos e 2 0" \
    "status counts the followers' jobs under their recipes and the source"

# Every chained job: the same object as its parent, the recipe it follows,
# and as input exactly the parent's output row.
is "$(sql "SELECT p.recipe || '>' || j.recipe, count(*)
	FROM objwatch.jobs j JOIN objwatch.jobs p ON p.id = j.parent_job_id
	JOIN objwatch.outputs po ON po.job_id = p.id
	WHERE p.object_id = j.object_id AND po.location = j.input_location
	GROUP BY 1 ORDER BY 1")" \
"a>b|2
a>d|2
b>c|2
d>e|2" "each chained job names its parent and reads the parent's output"
is "$(sql "SELECT o.key, j.recipe FROM objwatch.jobs j
	JOIN objwatch.objects o ON o.id = j.object_id
	WHERE j.parent_job_id IS NULL ORDER BY 1")" \
"broken.jpg|a
tall.jpg|a
wide.jpg|a" "only the source's recipe has jobs without a parent"
is "$(sql "SELECT recipe, state, error_class FROM objwatch.results
	WHERE key = 'broken.jpg'")" "a|failed|decode" \
    "the broken input fails a, and nothing after a is queued for it"

is "$(image_size "$T/out/a/wide.jpg") $(image_size "$T/out/b/wide.webp") \
$(image_size "$T/out/c/wide.png") $(image_size "$T/out/e/tall.png")" \
    "800x450 200x113 100x100 50x40" "the files on disk have those sizes"
s3 get chain d/wide.jpg "$T/d-wide.jpg" >/dev/null 2>&1
is "$(image_size "$T/d-wide.jpg")" "300x169" \
    "d's output is in the bucket, read from there by e"
is "$(sql "SELECT input FROM objwatch.results WHERE key = 'wide.jpg'
	AND recipe IN ('b', 'e') ORDER BY recipe" | sed "s|^$T/||")" \
"out/a/wide.jpg
s3:chain/d/wide.jpg" "a follower's input is where its parent's output is"

# The provenance of one output, walked up from c to the source's file.
is "$(sql "WITH RECURSIVE up AS (
	    SELECT j.id, j.parent_job_id, j.recipe, 0 AS depth
	    FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
	    WHERE o.key = 'wide.jpg' AND j.recipe = 'c'
	  UNION ALL
	    SELECT p.id, p.parent_job_id, p.recipe, up.depth + 1
	    FROM objwatch.jobs p JOIN up ON p.id = up.parent_job_id)
	SELECT string_agg(recipe, ' <- ' ORDER BY depth) FROM up")" \
    "c <- b <- a" "WITH RECURSIVE walks an output's chain back to its object"

# a's output removed while b's job waits in the queue: stopped, the output
# moved away, and b's job queued again as it was before it ran.
ow_stop
mv "$T/out/a/tall.jpg" "$T/saved-a-tall.jpg"
s3 get chain d/tall.jpg "$T/saved-d-tall.jpg" >/dev/null 2>&1 &&
    s3 rm chain d/tall.jpg >/dev/null 2>&1 || bail "cannot move d's output away"
c_before=$(sql "SELECT j.id FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'tall.jpg' AND j.recipe = 'c'")
sql "UPDATE objwatch.jobs j SET state = 'queued', run_after = now(),
	attempts = 0, finished_at = NULL FROM objwatch.objects o
	WHERE o.id = j.object_id AND o.key = 'tall.jpg'
	AND j.recipe IN ('b', 'e')"
ow_start "$T/ow.conf"
wait_for_sql "SELECT string_agg(state, ' ' ORDER BY recipe)
	FROM objwatch.results WHERE key = 'tall.jpg' AND recipe IN ('b', 'e')" \
    "failed failed" 60 || ow_log
is "$(sql "SELECT error FROM objwatch.results WHERE key = 'tall.jpg'
	AND recipe = 'b'")" \
    "io: '$T/out/a/tall.jpg', the output of recipe 'a' this recipe follows, no longer exists (removed before it was read)" \
    "an upstream output gone fails the follower with class io, naming it"
is "$(sql "SELECT error FROM objwatch.results WHERE key = 'tall.jpg'
	AND recipe = 'e'")" \
    "io: 's3:chain/d/tall.jpg', the output of recipe 'd' this recipe follows: cannot get 'd/tall.jpg' in bucket 'chain': 404: it was deleted before it was processed" \
    "and one gone from its bucket too"

# Back in place, and retried: b is done again, c is not queued twice.
mv "$T/saved-a-tall.jpg" "$T/out/a/tall.jpg"
s3 put chain d/tall.jpg "$T/saved-d-tall.jpg" image/jpeg >/dev/null ||
    bail "cannot put d's output back"
out=$("$OBJWATCH" -c "$T/ow.conf" retry --key tall.jpg 2>&1)
is "$out" "requeued 2 jobs" "retry requeues the followers"
wait_for_sql "SELECT string_agg(state, ' ' ORDER BY recipe)
	FROM objwatch.results WHERE key = 'tall.jpg' AND recipe IN ('b', 'e')" \
    "done done" 60
ok $? "and they are done" || ow_log
is "$(sql "SELECT j.recipe, count(*), count(DISTINCT out.id)
	FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id
	LEFT JOIN objwatch.outputs out ON out.job_id = j.id
	WHERE o.key = 'tall.jpg' GROUP BY 1 ORDER BY 1")" \
"a|1|1
b|1|1
c|1|1
d|1|1
e|1|1" "one job and one output row per recipe after the retry"
is "$(sql "SELECT j.id FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'tall.jpg' AND j.recipe = 'c'")" \
    "$c_before" "c's job is the one made the first time"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'
	AND recipe <> 'a'")" 0 "no follower left unfinished"
ow_stop

# c's steps changed, with reprocess = yes: at start c runs again for each
# object, from b's output, and nothing else does.
C2="crop width=90 height=90 | save format=png"
config "$A1" "$C2" yes
ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'c'
	AND state = 'done'" 4 60
ok $? "reprocess = yes on a follower runs it again" || ow_log
is "$(sql "SELECT r.key, r.width, r.height, r.after, r.parent_job_id = b.job_id
	FROM objwatch.results r JOIN objwatch.results b ON b.object_id =
	r.object_id AND b.recipe = 'b' WHERE r.recipe = 'c' ORDER BY 1")" \
"tall.jpg|90|90|b|t
wide.jpg|90|90|b|t" "from the output of b's latest job"
is "$(sql "SELECT recipe, count(*) FROM objwatch.jobs GROUP BY 1 ORDER BY 1")" \
"a|3
b|2
c|4
d|2
e|2" "and only c: a, b, d and e keep their one job each"
ow_stop

# a's steps changed, with reprocess = yes: the whole chain runs again,
# each follower at a new hash, as its hash covers a's.
A2="thumbnail width=640 height=640 | save format=jpeg quality=85"
config "$A2" "$C2" yes
ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FILTER (WHERE state = 'done'),
	count(*) FILTER (WHERE state = 'failed') FROM objwatch.jobs" "22|2" 60
ok $? "reprocess = yes on a runs a and everything after it again" || ow_log
is "$(sql "SELECT key, recipe, state, width, height FROM objwatch.results
	WHERE key = 'wide.jpg' ORDER BY recipe")" \
"wide.jpg|a|done|640|360
wide.jpg|b|done|200|113
wide.jpg|c|done|90|90
wide.jpg|d|done|300|169
wide.jpg|e|done|50|40" "the latest results are the new chain's"
is "$(sql "SELECT count(*) FROM objwatch.results r JOIN objwatch.jobs p
	ON p.id = r.parent_job_id WHERE p.id = (SELECT max(id) FROM
	objwatch.jobs x WHERE x.object_id = r.object_id AND x.recipe = r.after)")" \
    8 "each latest follower's parent is its upstream's latest job"

# The file deleted, with on_delete = remove: the outputs of the whole
# chain go, in the folder and in the bucket.
rm "$T/in/wide.jpg"
wait_for_sql "SELECT count(*) FROM objwatch.outputs out JOIN objwatch.jobs j
	ON j.id = out.job_id JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key = 'wide.jpg' AND out.removed_at IS NULL" 0 60
ok $? "every output of the deleted file is marked removed" || ow_log
is "$(ls "$T/out/a" "$T/out/b" "$T/out/c" "$T/out/e" | grep -c wide) \
$(s3 ls chain d/ | cut -f1 | tr '\n' ' ')" "0 d/tall.jpg " \
    "its files and its object in the bucket are gone, tall.jpg's stay"
ow_stop
