#!/bin/sh
# SIGHUP reloads the config: new recipes and sources apply to the next
# files, a config with errors is refused while the old one keeps running,
# and the log file is reopened after rotation. The HTTP listener: an
# address that cannot be bound stops the start with a clear error, and on
# a reload keeps the old listener serving; a free one is moved to.
. "$SRCDIR/tests/lib.sh"
plan 15

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/more" "$T/out"
config() {
	write_config "$T/ow.conf" <<EOF
[objwatch]
listen = ${LISTEN:-127.0.0.1:0}
database = $PGURL
workers = 1
log_file = objwatch.log
[source.photos]
type = dir
path = in
recipes = thumbs
$2
[recipe.thumbs]
steps = thumbnail width=$1 | save format=png
output = dir:out/{source}/{stem}.{ext}
EOF
}
config 100 ""
make_jpeg "$T/photo.jpg" 400 200 1
ow_start "$T/ow.conf"
log="$T/objwatch.log"
wait_until 20 grep -q 'start-up scan' "$log" || { cat "$log"; bail "no start"; }
cp "$T/photo.jpg" "$T/in/a.jpg"
wait_for_sql "SELECT width FROM objwatch.results WHERE key = 'a.jpg'" 100
ok $? "the first recipe makes 100 px thumbnails"

# A new width and a second source, then SIGHUP.
config 50 "
[source.more]
type = dir
path = more
recipes = thumbs"
mv "$log" "$log.1"
kill -HUP "$OW_PID"
wait_until 20 grep -q "running: 2 sources" "$log"
ok $? "after SIGHUP it runs the new config, logging to a new file"
grep -q "SIGHUP: reloading" "$log" && grep -q "running: 1 sources" "$log.1"
ok $? "the rotated file keeps the old lines; the reload goes to the new one"
cp "$T/photo.jpg" "$T/in/b.jpg"
cp "$T/photo.jpg" "$T/more/c.jpg"
wait_for_sql "SELECT key, width FROM objwatch.results WHERE key IN
	('b.jpg', 'c.jpg') ORDER BY key" "b.jpg|50
c.jpg|50"
ok $? "new files get the new recipe, in the old and the new source"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE object_id = (SELECT id
	FROM objwatch.objects WHERE key = 'a.jpg')")" 1 \
    "a file processed before the reload is not processed again by the changed recipe"

# A config with a mistake is refused; the running one stays.
config 70 "widht = 3"
kill -HUP "$OW_PID"
wait_until 20 grep -q "still running the previous one" "$log"
ok $? "a config with errors is refused on SIGHUP"
like "$(cat "$log")" "ow.conf:10: unknown key 'widht' in \[source.photos\]" \
    "and its error is logged with file and line"
cp "$T/photo.jpg" "$T/in/d.jpg"
wait_for_sql "SELECT width FROM objwatch.results WHERE key = 'd.jpg'" 50
ok $? "the previous config keeps working"
# The listener. Where it is now, and a port someone else holds.
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log.1" "$log" | tail -n 1)
set -- $(_lib_free_ports 2)
busy=$1 free=$2
node -e 'require("net").createServer().listen(Number(process.argv[1]), "127.0.0.1",
    () => require("fs").writeFileSync(process.argv[2], "up"))' "$busy" "$T/busy.up" &
holder=$!
stop_at_exit "$holder"
wait_for_file "$T/busy.up" 10 || bail "cannot hold port $busy"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

LISTEN=127.0.0.1:$busy config 50 ""
# (it logs to the same log_file)
"$OBJWATCH" run -c "$T/ow.conf" >"$T/second.out" 2>&1 </dev/null
is "$?:$(grep -c "cannot listen on '127.0.0.1:$busy' (in use, or not an address of this host?): set listen to a free host:port (port 0: any free one)" "$log")" \
    "1:1" "a start on a port in use fails, saying so"
kill -HUP "$OW_PID"
wait_until 20 grep -q "SIGHUP: cannot listen on '127.0.0.1:$busy'.*; still listening on '127.0.0.1:0'" "$log"
ok $? "a reload to a port in use keeps the old listener, with a warning"
is "$(code "http://127.0.0.1:$port/healthz")" 200 "which still answers"

LISTEN=127.0.0.1:$free config 50 ""
kill -HUP "$OW_PID"
wait_until 20 grep -q "listening on 127.0.0.1:$free" "$log"
ok $? "a reload to a free port moves the listener there"
# The reloaded sources are ready again once their first scans are done:
# healthz says 503 until then, on the new port.
answers() { [ "$(code "$1")" = 200 ]; }
wait_until 20 answers "http://127.0.0.1:$free/healthz"
is "$? $(code "http://127.0.0.1:$port/healthz")" \
    "0 000" "the new port answers, the old one is closed"
cp "$T/photo.jpg" "$T/in/e.jpg"
wait_for_sql "SELECT width FROM objwatch.results WHERE key = 'e.jpg'" 50
ok $? "and objwatch works on after all of it"
ow_stop
ok $? "objwatch stops cleanly after reloads"
