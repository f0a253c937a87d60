#!/bin/sh
# objwatch killed (SIGKILL) in the middle of a burst, then started again:
# every file of the burst is recorded and processed exactly once, whether
# it arrived before the kill, during it, or while objwatch was down.
. "$SRCDIR/tests/lib.sh"
plan 6

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
lease = 3s

[source.crash]
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

# 600 files in 6 new folders, written by a background loop.
(
	d=1
	while [ "$d" -le 6 ]; do
		mkdir "$T/in/d$d"
		i=1
		while [ "$i" -le 100 ]; do
			cp "$T/tiny.jpg" "$T/in/d$d/f$i.jpg"
			i=$((i + 1))
		done
		d=$((d + 1))
	done
) &
writer=$!
# Kill it once some, not all, of the burst is recorded.
some_recorded() {
	[ "$(sql "SELECT count(*) >= 100 FROM objwatch.objects")" = t ]
}
wait_until 60 some_recorded
ok $? "part of the burst is recorded before the kill" || ow_log
ow_kill
before=$(sql "SELECT count(*) FROM objwatch.objects")
wait "$writer"
[ "$before" -lt 600 ] && pass "objwatch died mid-burst ($before of 600)" ||
	fail "objwatch died mid-burst ($before of 600)"

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.objects" 600 60
ok $? "after the restart every file is recorded" || ow_log
is "$(sql "SELECT count(DISTINCT key) || '/' || count(*) FROM objwatch.objects
	WHERE key ~ '^d[1-6]/f([1-9][0-9]?|100)\.jpg$'")" "600/600" \
    "each file once (keys d1..d6/f1..f100)"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 600 120
ok $? "every file is processed" || ow_log
is "$(sql "SELECT (SELECT count(*) FROM objwatch.jobs) || '/' ||
	(SELECT count(*) FROM objwatch.outputs)")" "600/600" \
    "exactly one job and one output row per file"
