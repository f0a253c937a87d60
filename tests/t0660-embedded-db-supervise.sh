#!/bin/sh
# objwatch supervises the embedded PostgreSQL it started: the postmaster
# SIGKILLed three times while 500 files arrive and are processed is
# started again each time, workers and the folder source reconnect, and in
# the end every file has exactly one done job and one output, with no one
# touching anything. The restarts are logged and counted in a metric.
. "$SRCDIR/tests/lib.sh"
FILES=${SUPERVISE_FILES:-500}
plan 9

mkdir -p "$T/in" "$T/out"
PORT=$(_lib_free_ports 1) || bail "no free port"
write_config "$T/ow.conf" <<EOF
[objwatch]
state_dir = state
workers = 2
poll = 1s
listen = 127.0.0.1:$PORT
[source.photos]
type = dir
path = in
reconcile = 5s
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
pidfile="$T/state/pg/data/postmaster.pid"
postmaster() { head -n 1 "$pidfile" 2>/dev/null; }
q() { "$OBJWATCH" -c "$T/ow.conf" db psql -XAtq -c "$1" 2>>"$T/psql.log"; }
done_jobs() {
	q "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'"
}
make_jpeg "$T/a.jpg" 640 480 1 || bail "no image"

ow_start "$T/ow.conf"
wait_until 60 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

# The files arrive in folders of 50, a few at a time, in the background.
(
	i=0
	while [ "$i" -lt "$FILES" ]; do
		mkdir -p "$T/in/d$((i / 50))"
		cp "$T/a.jpg" "$T/in/d$((i / 50))/f$i.jpg"
		i=$((i + 1))
		[ $((i % 10)) -eq 0 ] && sleep 0.2
	done
) &
dropper=$!

# more_done_than N: whether more than N jobs are done (0 while unreachable).
more_done_than() {
	_n=$(done_jobs)
	[ "${_n:-0}" -gt "$1" ]
}
# back_after PID: the postmaster runs again, under another pid.
back_after() {
	_p=$(postmaster)
	[ -n "$_p" ] && [ "$_p" != "$1" ] && kill -0 "$_p" 2>/dev/null
}

# Three kills, each once the server is back and more work is done.
kills=0
last=0
while [ "$kills" -lt 3 ]; do
	wait_until 60 more_done_than "$last" || break
	pm=$(postmaster)
	{ [ -n "$pm" ] && kill -KILL "$pm" 2>/dev/null; } || break
	kills=$((kills + 1))
	diag "killed the postmaster ($pm), kill $kills"
	wait_until 60 back_after "$pm" || break
	last=$(done_jobs)
	last=${last:-0}
done
is "$kills" 3 "the postmaster was killed three times, and came back each time" ||
    ow_log
wait "$dropper"

all_done() { [ "$(done_jobs)" = "$FILES" ]; }
wait_until 240 all_done
ok $? "all $FILES files are done, with no one stepping in" || ow_log
is "$(q "SELECT count(*) || '|' || count(DISTINCT key) FROM objwatch.objects")" \
    "$FILES|$FILES" "one object per file"
is "$(q "SELECT count(*) || '|' || count(DISTINCT object_id) FROM objwatch.jobs")" \
    "$FILES|$FILES" "one job per file"
is "$(q "SELECT count(*) || '|' || count(DISTINCT job_id) FROM objwatch.outputs")" \
    "$FILES|$FILES" "one output row per job"
is "$(find "$T/out" -type f -name '*.jpg' | wc -l | tr -d ' ')" "$FILES" \
    "$FILES output files"
is "$(grep -c 'restarted the embedded PostgreSQL (restart [123])' "$OW_LOG")" 3 \
    "each restart is logged"
is "$(curl -s "http://127.0.0.1:$PORT/metrics" |
    sed -n 's/^objwatch_database_restarts_total \([0-9]*\)$/\1/p')" 3 \
    "and counted in objwatch_database_restarts_total"
ow_stop
ok $? "objwatch stops cleanly"
