#!/bin/sh
# A job whose worker dies on every attempt does not run for ever: after
# max_attempts such deaths it is dead, with class io and a message saying
# so, no later process claims it, and `objwatch retry --dead` queues it
# again.
. "$SRCDIR/tests/lib.sh"
plan 6

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
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
EOF
# A PNG this size has no shrink-on-load: decoding it takes a while, long
# enough to be killed in the middle of it.
make_png "$T/in/big.png" 6000 4000 1 || bail "cannot make a PNG"

running() {
	wait_for_sql "SELECT state || '/' || attempts FROM objwatch.jobs" \
	    "running/$1" 30
}

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
ow_stop >/dev/null

# Requeued by hand, it runs once more, to the end this time.
"$OBJWATCH" retry -c "$T/ow.conf" --dead >/dev/null 2>&1
ok $? "retry --dead requeues it"
ow_start "$T/ow.conf"
wait_for_sql "SELECT state FROM objwatch.jobs" done 120
ok $? "and it is done" || ow_log
ow_stop >/dev/null
