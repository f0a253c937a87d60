#!/bin/sh
# Three objwatch processes on one database share the work: SKIP LOCKED
# claims give each job to one of them; when one is SIGKILLed in the middle
# of its jobs, the others run those jobs again once the lease runs out, and
# every file is done exactly once.
. "$SRCDIR/tests/lib.sh"
plan 6

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
# All three watch the folder (queueing a file twice is a no-op) and run one
# worker each.
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 1
lease = 3s
poll = 1s
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=200 | save format=jpeg
output = dir:out/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 3000 2000 1
i=0
while [ $i -lt 60 ]; do cp "$T/a.jpg" "$T/in/f$i.jpg"; i=$((i + 1)); done

ow_start "$T/ow.conf"; p1=$OW_PID
ow_start "$T/ow.conf"; p2=$OW_PID
ow_start "$T/ow.conf"; p3=$OW_PID
wait_until 60 sh -c "[ \$(psql -XAtq '$PGURL' -c \"SELECT count(*) FROM objwatch.jobs WHERE state = 'done' AND locked_by IS NULL\" 2>/dev/null || echo 0) -ge 15 ]"
# Kill the second process while it holds a job. It is stopped while we
# look, so it cannot finish that job between the look and the kill; when
# it holds none, it runs on for a moment and we look again.
held= tries=0
while [ $tries -lt 300 ]; do
	kill -STOP "$p2"
	held=$(sql "SELECT id FROM objwatch.jobs WHERE state = 'running' AND
		locked_by LIKE '%:$p2:%'")
	[ -n "$held" ] && break
	kill -CONT "$p2"
	sleep 0.1
	tries=$((tries + 1))
done
ow_kill "$p2"
# What it held when it died stays leased to it: a dead process records
# nothing.
is "$(sql "SELECT state FROM objwatch.jobs WHERE id = ${held:-0} AND
	locked_by LIKE '%:$p2:%'")" running "the killed process held a job ($held)"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 60 120
ok $? "every file is done" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT key) FROM objwatch.results")" \
    "60|60" "exactly one row per file"
is "$(sql "SELECT state, attempts FROM objwatch.jobs WHERE id = ${held:-0}")" \
    "done|2" "the killed process's job ran again elsewhere, once more"
is "$(sql "SELECT count(*), count(DISTINCT job_id) FROM objwatch.outputs")" \
    "60|60" "one output row per job"
ow_stop "$p1"; ow_stop "$p3"
is "$(find "$T/out" -name '*.jpg' | wc -l)" 60 "60 thumbnails on disk"
