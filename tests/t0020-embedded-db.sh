#!/bin/sh
# The embedded database: with no database configured, objwatch keeps a
# private PostgreSQL cluster under state_dir, on a Unix socket only, started
# by whichever objwatch needs it and stopped by the last one to leave.
. "$SRCDIR/tests/lib.sh"
plan 16

mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
state_dir = state
workers = 1
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save format=png
output = dir:out/{stem}.{ext}
EOF
pidfile="$T/state/pg/data/postmaster.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(head -1 "$pidfile")" 2>/dev/null; }
q() { "$OBJWATCH" -c "$T/ow.conf" db psql -XAtq -c "$1" 2>>"$T/psql.log"; }

url=$("$OBJWATCH" -c "$T/ow.conf" db url)
is "$url" "postgresql://objwatch@/objwatch?host=$T/state/pg/run&port=5432" \
    "db url names the socket under state_dir"
running; is $? 1 "db url starts nothing"

is "$(q 'SELECT 1')" 1 "db psql initialises and starts the cluster on first use"
running; is $? 1 "and stops it when psql exits"
is "$(q "SHOW listen_addresses")" "" "the server listens on no TCP address"

make_jpeg "$T/in/a.jpg" 320 200 1
ow_start "$T/ow.conf"
wait_until 30 running; ok $? "objwatch run starts the cluster" || ow_log
# postmaster.pid appears before the server takes connections; the daemon
# scans its folders only once it is connected.
wait_until 30 grep -q 'start-up scan' "$OW_LOG"
psql -XAtq "$url" -c "SELECT 1" >/dev/null 2>&1
ok $? "psql reaches it with the URL db url printed"
if [ "$(id -u)" = 0 ]; then
	is "$(ps -o user= -p "$(head -1 "$pidfile")")" postgres \
	    "run as root, the server runs as the postgres user"
else
	is "$(ps -o user= -p "$(head -1 "$pidfile")")" "$(id -un)" \
	    "the server runs as the invoking user"
fi
wait_until 30 sh -c "[ \"\$('$OBJWATCH' -c '$T/ow.conf' db psql -XAtq -c \"SELECT state FROM objwatch.results\" 2>/dev/null)\" = done ]"
ok $? "a file is processed into the embedded database" || ow_log
running; ok $? "a db psql that ends does not stop a cluster the daemon uses"
ow_stop
running; is $? 1 "the daemon stops the cluster on exit"

# A killed daemon leaves the server running; the next one adopts it.
ow_start "$T/ow.conf"
wait_until 30 running
ok $? "a second run starts the cluster again" || ow_log
ow_kill
running; ok $? "after SIGKILL the server is still running"
ow_start "$T/ow.conf"
# The log is appended to: wait for this third run's start line, in what
# it logged (the killed second run may not have got to its own).
wait_until 30 sh -c "sed -n '/^--- objwatch run/h; /^--- objwatch run/!H; \${x;p}' '$OW_LOG' |
	grep -q 'running: 1 sources'"
ok $? "a third run starts beside the server left running" || ow_log
ow_stop
running; is $? 1 "the next objwatch adopts it and stops it on exit"
is "$(q "SELECT count(*) FROM objwatch.jobs")" 1 \
    "the data outlives the server's restarts"
