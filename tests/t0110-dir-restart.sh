#!/bin/sh
# Files dropped while objwatch is stopped are processed once when it starts;
# a second start over an unchanged folder adds nothing; a file rewritten in
# place while stopped is a new version with its own row, the old one kept.
. "$SRCDIR/tests/lib.sh"
plan 9

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in/sub" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=128 height=128 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/in/a.jpg" 800 600 1
make_jpeg "$T/in/sub/b.jpg" 600 800 2

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 2
ok $? "the files present at the first start are processed" || ow_log
ow_stop

# While stopped: two new files and one rewritten in place.
make_jpeg "$T/in/c.jpg" 640 480 3
make_jpeg "$T/in/sub/d.jpg" 480 640 4
make_jpeg "$T/stage.jpg" 1000 500 5
cat "$T/stage.jpg" > "$T/in/a.jpg"

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 5
ok $? "files dropped while stopped are processed on start" || ow_log
wait_until 10 grep -q 'start-up scan: 4 files, 3 new jobs' "$OW_LOG"
ok $? "the start-up scan saw 4 files and queued 3 jobs" || ow_log
is "$(sql "SELECT key, width, height FROM objwatch.results
	ORDER BY key, finished_at")" \
"a.jpg|128|96
a.jpg|128|64
c.jpg|128|96
sub/b.jpg|96|128
sub/d.jpg|96|128" "the rewritten file has a row per version, the old one kept"
is "$(image_size "$T/out/a.jpg")" "128x64" \
    "its output is the new version's"
ow_stop

# A third start over the same files: nothing new.
jobs_before=$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.jobs")
objs_before=$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.objects")
ow_start "$T/ow.conf"
wait_until 10 grep -q 'start-up scan: 4 files, 0 new jobs' "$OW_LOG"
ok $? "a restart over unchanged files queues nothing" || ow_log
ow_stop
is "$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.jobs")" \
    "$jobs_before" "no job was added"
is "$(sql "SELECT count(*) || '/' || max(id) FROM objwatch.objects")" \
    "$objs_before" "no object was added"
is "$(sql "SELECT count(*) FROM objwatch.results WHERE state <> 'done'")" 0 \
    "nothing is left queued or failed"
