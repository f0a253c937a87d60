#!/bin/sh
# The inotify queue overflows (fs.inotify.max_queued_events lowered to 16
# while objwatch starts, so its inotify instance keeps that limit): the
# overflow is reported and a reconcile records every file all the same.
. "$SRCDIR/tests/lib.sh"

limit=/proc/sys/fs/inotify/max_queued_events
[ "$(id -u)" -eq 0 ] && [ -w "$limit" ] ||
	skip_all "needs root to lower $limit"
plan 5

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.flood]
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

# The limit is system-wide: lowered only until objwatch has its instance,
# and restored on every way out.
old_limit=$(cat "$limit")
restore_limit() {
	[ -z "$old_limit" ] || echo "$old_limit" >"$limit"
	old_limit=
}
trap '_st=$?; restore_limit; (exit $_st); _lib_exit' EXIT
echo 16 >"$limit"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG"
started=$?
restore_limit
[ "$started" -eq 0 ] || { ow_log; bail "no start"; }

# Stop the reader: 500 files arrive while it cannot read events.
kill -STOP "$OW_PID"
i=1
while [ "$i" -le 500 ]; do
	cp "$T/tiny.jpg" "$T/in/f$i.jpg"
	i=$((i + 1))
done
kill -CONT "$OW_PID"

wait_until 20 grep -q 'inotify queue overflowed' "$OW_LOG"
ok $? "the overflow is reported" || ow_log
wait_until 20 grep -q 'reconcile scan: 500 files' "$OW_LOG"
ok $? "a reconcile follows it and sees every file" || ow_log
wait_for_sql "SELECT count(*) || '/' || count(DISTINCT key)
	FROM objwatch.objects" "500/500" 60
ok $? "every file is recorded once" || ow_log
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 500 300
ok $? "every file is processed" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 500 "no job twice"
