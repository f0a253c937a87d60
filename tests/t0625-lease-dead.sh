#!/bin/sh
# A job whose worker dies on every attempt does not run for ever: after
# max_attempts such deaths it is dead, with class io and a message saying
# so, no later process claims it, and `objwatch retry --dead` queues it
# again. Its death is notified on objwatch_events and recorded as a
# webhook delivery (job.dead), as any other final outcome, and objwatch
# wait reports it.
. "$SRCDIR/tests/lib.sh"
plan 10

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
# nobody listens there: the deliveries stay pending, which is all we read
hook_port=$(_lib_free_ports 1)
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 1
max_attempts = 2
lease = 30s
poll = 1s
listen = 127.0.0.1:0
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=200 | save format=jpeg
output = dir:out/{stem}.{ext}
notify = webhook:http://127.0.0.1:$hook_port/hook
EOF
# A PNG this size has no shrink-on-load: decoding it takes a while, long
# enough to be killed in the middle of it.
make_png "$T/in/big.png" 6000 4000 1 || bail "cannot make a PNG"

running() {
	wait_for_sql "SELECT state || '/' || attempts FROM objwatch.jobs" \
	    "running/$1" 30
}

"$BUILDDIR/tests/pg-listen" "$PGURL" objwatch_events >"$T/events" \
    2>"$T/listen.err" &
stop_at_exit $!
wait_until 10 grep -qx listening "$T/events" || bail "pg-listen did not start"
ow_start "$T/ow.conf"
running 1
ok $? "the first attempt runs" || ow_log
ow_kill
# The restart releases the dead process's lease at once (same host).
ow_start "$T/ow.conf"
running 2
ok $? "after a kill, the second attempt runs" || ow_log
ow_kill
ow_start "$T/ow.conf"
wait_for_sql "SELECT state || '/' || attempts || '/' || error_class
	FROM objwatch.jobs" "dead/2/io" 30
ok $? "after the second kill the job is dead, not claimed a third time" ||
    ow_log
is "$(sql "SELECT error FROM objwatch.jobs")" \
    "the worker running it stopped (crashed or was killed) on each of its 2 attempts" \
    "its message says why"
ver=$(sql "SELECT version FROM objwatch.objects")
ids=$(sql "SELECT id || ', \"object\" : ' || object_id FROM objwatch.jobs")
wait_until 10 grep -q '"dead"' "$T/events"
is "$(sed 1d "$T/events")" \
    "{\"job\" : $ids, \"source\" : \"photos\", \"key\" : \"big.png\", \"version\" : \"$ver\", \"recipe\" : \"thumbs\", \"state\" : \"dead\", \"error_class\" : \"io\", \"truncated\" : false}" \
    "its death is the one payload on objwatch_events (no kill sent one)"
"$OBJWATCH" wait -c "$T/ow.conf" -t 10 photos big.png >"$T/wait.out" \
    2>"$T/wait.err"
is "$? $(cat "$T/wait.out")" \
    "1 thumbs	dead	io: the worker running it stopped (crashed or was killed) on each of its 2 attempts" \
    "objwatch wait says it is dead, and exits 1"
is "$(sql "SELECT d.event || '|' || (d.body::json->>'state') || '|' ||
	(d.body::json->'error'->>'class') || '|' || (d.job_id = j.id)
	FROM objwatch.deliveries d, objwatch.jobs j")" "job.dead|dead|io|true" \
    "its death is the one webhook delivery, in the transaction that marked it"
ow_stop >/dev/null

# Requeued by hand, it runs once more, to the end this time.
"$OBJWATCH" retry -c "$T/ow.conf" --dead >/dev/null 2>&1
ok $? "retry --dead requeues it"
ow_start "$T/ow.conf"
wait_for_sql "SELECT state FROM objwatch.jobs" done 120
ok $? "and it is done" || ow_log
is "$(sql "SELECT string_agg(event, ',' ORDER BY id) FROM objwatch.deliveries")" \
    "job.dead,job.done" "then its completion is delivered too"
ow_stop >/dev/null
