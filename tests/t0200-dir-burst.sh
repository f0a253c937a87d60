#!/bin/sh
# A folder made and at once filled with 200 files, 20 times in a row: every
# file is recorded exactly once (one object row, one job) and processed,
# though many are written before the new folder's watch is in place.
. "$SRCDIR/tests/lib.sh"
plan 5

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.burst]
type = dir
path = in
settle = 1s
reconcile = 1h
recipes = tiny

[recipe.tiny]
steps = thumbnail width=8 height=8 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/tiny.jpg" 24 16 1 || bail "cannot make a JPEG"

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

# 200 writers at once into a folder that did not exist a moment before.
i=1
while [ "$i" -le 20 ]; do
	mkdir "$T/in/b$i"
	j=1
	pids=
	while [ "$j" -le 200 ]; do
		cp "$T/tiny.jpg" "$T/in/b$i/f$j.jpg" &
		pids="$pids $!"
		j=$((j + 1))
	done
	wait $pids
	i=$((i + 1))
done

wait_for_sql "SELECT count(*) FROM objwatch.objects" 4000 60
ok $? "4000 files give 4000 objects" || ow_log
is "$(sql "SELECT count(DISTINCT key) || '/' || count(*) FROM objwatch.objects
	WHERE key ~ '^b([1-9]|1[0-9]|20)/f([1-9][0-9]?|1[0-9][0-9]|200)\.jpg$'")" \
    "4000/4000" "every file once, none twice (keys b1..b20/f1..f200)"
is "$(sql "SELECT count(*) || '/' || count(DISTINCT object_id)
	FROM objwatch.jobs")" "4000/4000" "one job per file"
# Slow only on a busy machine: 4000 jobs take about a minute on 2 idle cores.
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 4000 900
ok $? "every job is done" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.outputs")" 4000 \
    "one output row per file"
