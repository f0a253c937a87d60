#!/bin/sh
# Each final outcome of a job is a NOTIFY on objwatch_events with a small
# JSON payload, committed with the outcome (a key too long for NOTIFY is
# left out, and the payload says so); objwatch wait, started before the
# file comes, blocks until the object's jobs are final and prints how each
# ended, with its exit status saying whether all are done (0), one failed
# (1), or the timeout ran out first (3).
. "$SRCDIR/tests/lib.sh"
plan 31

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/x"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
listen = 127.0.0.1:0
[source.photos]
type = dir
path = in
recipes = thumbs corner
[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/thumbs/{key}.{ext}
[recipe.corner]
steps = crop width=10 height=10 x=1000 y=1000 | save format=jpeg
output = dir:out/corner/{key}.{ext}
EOF
make_jpeg "$T/x/big.jpg" 1200 1100 1
make_jpeg "$T/x/small.jpg" 400 300 2
echo "this is a shopping list, not a photo" >"$T/x/list.jpg"
OW=$OBJWATCH
TAB=$(printf '\t')
# gone PID: whether PID has exited (a zombie counts as gone).
gone() {
	! _lib_alive "$1"
}

"$BUILDDIR/tests/pg-listen" "$PGURL" objwatch_events >"$T/events" \
    2>"$T/listen.err" &
stop_at_exit $!
wait_until 10 grep -qx listening "$T/events" || bail "pg-listen did not start"

# The embedded database is not started by wait: it says so, and exits 2.
write_config "$T/embedded.conf" <<EOF
[objwatch]
state_dir = $T/state
listen = 127.0.0.1:0
workers = 1
[source.photos]
type = dir
path = in2
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out2/{key}.{ext}
EOF
mkdir -p "$T/in2"
"$OW" wait -c "$T/embedded.conf" -t 1 photos a.jpg >"$T/w.out" 2>"$T/w.err"
is "$? $(cat "$T/w.out")" "2 " "wait on an embedded database not running: 2"
like "$(cat "$T/w.err")" \
    "^objwatch: the embedded PostgreSQL in '.*/pg/data' is not running \('objwatch run' starts it\)$" \
    "and says that it is not running, and what starts it"
is "$(find "$T/state" -name postmaster.pid 2>/dev/null | wc -l)" 0 \
    "and starts no server"

"$OW" wait -c "$T/ow.conf" photos big.jpg nosuch >"$T/w.out" 2>"$T/w.err"
is "$? $(cat "$T/w.err")" \
    "2 objwatch: no recipe 'nosuch' in '$T/ow.conf'" \
    "a recipe the config lacks: 2, naming it"
"$OW" wait -c "$T/ow.conf" photos >"$T/w.out" 2>"$T/w.err"
is "$? $(head -n 1 "$T/w.err")" \
    "2 usage: objwatch wait [-c FILE] [-t SECONDS] [--timeout SECONDS] SOURCE KEY [RECIPE...]" \
    "no key: the usage, and 2"

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"

# Started before the file is there: it waits, listening.
"$OW" wait -c "$T/ow.conf" -t 60 photos big.jpg >"$T/big.out" \
    2>"$T/big.err" &
wpid=$!
stop_at_exit "$wpid"
wait_for_sql "SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE 'WITH o AS (  SELECT id FROM objwatch.objects%'" 1
ok $? "wait is waiting before the file comes"
cp "$T/x/big.jpg" "$T/in/.big.tmp" && mv "$T/in/.big.tmp" "$T/in/big.jpg"
wait_until 60 gone "$wpid"
wait "$wpid"
rc=$?
is "$rc" 0 "wait exits 0 once every job of the file is done" || ow_log
is "$(cat "$T/big.out")" \
"corner${TAB}done${TAB}$T/out/corner/big.jpg.jpg
thumbs${TAB}done${TAB}$T/out/thumbs/big.jpg.jpg" \
    "one line per job: recipe, state, output"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'")" 2 \
    "both jobs are done in the database by then"

# The payloads, exactly, each with the job's own ids and the version.
oid=$(sql "SELECT id FROM objwatch.objects WHERE key = 'big.jpg'")
ver=$(sql "SELECT version FROM objwatch.objects WHERE key = 'big.jpg'")
want=
for r in corner thumbs; do
	j=$(sql "SELECT id FROM objwatch.jobs WHERE object_id = $oid
		AND recipe = '$r'")
	want="$want{\"job\" : $j, \"object\" : $oid, \"source\" : \"photos\", \"key\" : \"big.jpg\", \"version\" : \"$ver\", \"recipe\" : \"$r\", \"state\" : \"done\", \"error_class\" : null, \"truncated\" : false}
"
done
wait_until 10 sh -c "[ \$(grep -c '\"big.jpg\"' '$T/events') -ge 2 ]"
is "$(grep '"big.jpg"' "$T/events" | sort)" "$(printf '%s' "$want" | sort)" \
    "a done job's payload on objwatch_events"

# One recipe fails on the small file (the crop lies outside it).
cp "$T/x/small.jpg" "$T/in/.small.tmp" &&
    mv "$T/in/.small.tmp" "$T/in/small.jpg"
"$OW" wait -c "$T/ow.conf" -t 60 photos small.jpg >"$T/small.out" \
    2>"$T/small.err"
is "$?" 1 "wait exits 1 when a job failed"
is "$(cat "$T/small.out")" \
"corner${TAB}failed${TAB}config: step 'crop': the rectangle at 1000,1000 lies outside 'small.jpg', which is 400x300 at that step
thumbs${TAB}done${TAB}$T/out/thumbs/small.jpg.jpg" \
    "the failed job's line has its error class and message"
"$OW" wait -c "$T/ow.conf" -t 0 photos small.jpg thumbs >"$T/small.out"
is "$? $(cat "$T/small.out")" \
    "0 thumbs${TAB}done${TAB}$T/out/thumbs/small.jpg.jpg" \
    "with a recipe named, only its job counts, and only its line shows"
"$OW" wait -c "$T/ow.conf" --timeout 0 photos small.jpg corner >"$T/small.out"
is "$? $(cut -f 1,2 "$T/small.out")" "1 corner${TAB}failed" \
    "and the failed one alone exits 1"
soid=$(sql "SELECT id FROM objwatch.objects WHERE key = 'small.jpg'")
sjob=$(sql "SELECT id FROM objwatch.jobs WHERE object_id = $soid
	AND recipe = 'corner'")
sver=$(sql "SELECT version FROM objwatch.objects WHERE id = $soid")
wait_until 10 grep -q "\"job\" : $sjob," "$T/events"
is "$(grep "\"job\" : $sjob," "$T/events")" \
    "{\"job\" : $sjob, \"object\" : $soid, \"source\" : \"photos\", \"key\" : \"small.jpg\", \"version\" : \"$sver\", \"recipe\" : \"corner\", \"state\" : \"failed\", \"error_class\" : \"config\", \"truncated\" : false}" \
    "a failed job's payload has its state and error class"

# A file that is no image: both jobs fail for good, with class decode.
cp "$T/x/list.jpg" "$T/in/.list.tmp" && mv "$T/in/.list.tmp" "$T/in/list.jpg"
"$OW" wait -c "$T/ow.conf" -t 60 photos list.jpg >"$T/list.out" \
    2>"$T/list.err"
is "$?" 1 "wait on a broken file exits 1"
is "$(cut -f 1,2 "$T/list.out") $(cut -f 3 "$T/list.out" | cut -c 1-28 |
	sort -u)" \
    "corner${TAB}failed
thumbs${TAB}failed decode: 'list.jpg' is not an" \
    "with the error class decode for each job"
wait_until 10 sh -c "[ \$(grep -c '\"list.jpg\"' '$T/events') -ge 2 ]"
is "$(grep '"list.jpg"' "$T/events" | sed 's/.*"state" : //' | sort -u)" \
    '"failed", "error_class" : "decode", "truncated" : false}' \
    "its payloads say failed, decode"

# A key that never comes: 3 after the timeout, nothing on stdout.
"$OW" wait -c "$T/ow.conf" -t 2 photos never.jpg >"$T/never.out" \
    2>"$T/never.err"
is "$? $(cat "$T/never.out")" "3 " "a key that never comes: 3 at the timeout"
is "$(cat "$T/never.err")" \
    "objwatch: 'never.jpg' in source 'photos' is not processed yet (timed out)" \
    "and says so"
"$OW" wait -c "$T/ow.conf" -t 1 nosuch big.jpg >/dev/null 2>"$T/w.err"
is "$? $(cat "$T/w.err")" "2 objwatch: no source 'nosuch' in '$T/ow.conf'" \
    "a source the config lacks: 2"

# A key longer than a NOTIFY payload may be: each stray byte of a file
# name is three bytes in the key, so eleven folders of 250 of them make a
# key of over 8250 bytes from a path of under 2800. The outcome is
# recorded, and notified without the key.
part=$(printf '\377%.0s' $(seq 250))
kpart=$(printf '\356\277\277%.0s' $(seq 250))
deep=$part key=$kpart
for i in 2 3 4 5 6 7 8 9 10 11; do
	deep=$deep/$part key=$key/$kpart
done
mkdir -p "$T/x/$deep" && cp "$T/x/small.jpg" "$T/x/$deep/s.jpg"
top=$(printf '%s' "$deep" | cut -d / -f 1)
"$OW" wait -c "$T/ow.conf" -t 60 photos "$key/s.jpg" thumbs \
    >"$T/long.out" 2>"$T/long.err" &
wpid=$!
stop_at_exit "$wpid"
wait_for_sql "SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE 'WITH o AS (  SELECT id FROM objwatch.objects%'" 1
ok $? "wait is waiting for the long key"
mv "$T/x/$top" "$T/in/"
wait_until 60 gone "$wpid"
wait "$wpid"
is "$?" 0 "wait on the long key exits 0 once its job is done" ||
    { cat "$T/long.err" >&2; ow_log; }
is "$(sql "SELECT octet_length(key) FROM objwatch.objects
	WHERE key LIKE '%/s.jpg'")" $((11 * 751 + 5)) \
    "the key is recorded whole, 8266 bytes"
loid=$(sql "SELECT id FROM objwatch.objects WHERE key LIKE '%/s.jpg'")
ljob=$(sql "SELECT id FROM objwatch.jobs WHERE object_id = $loid
	AND recipe = 'thumbs'")
wait_until 10 grep -q "\"job\" : $ljob," "$T/events"
is "$(grep "\"job\" : $ljob," "$T/events")" \
    "{\"job\" : $ljob, \"object\" : $loid, \"source\" : \"photos\", \"key\" : null, \"version\" : null, \"recipe\" : \"thumbs\", \"state\" : \"done\", \"error_class\" : null, \"truncated\" : true}" \
    "its payload leaves the key and version out and says truncated"
is "$(cut -f 1,2 "$T/long.out")" "thumbs${TAB}done" \
    "and wait prints the job's line"
is "$(sql "SELECT recipe, state, error_class FROM objwatch.jobs
	WHERE object_id = $loid ORDER BY recipe")" "corner|failed|config
thumbs|done|" "its other job failed and counted not: only thumbs was named"

ow_stop
ok $? "the daemon stops cleanly"

# With the embedded database up (the daemon started it), wait reaches it,
# and leaves it running when it exits.
ow_start "$T/embedded.conf"
wait_until 60 sh -c "[ \$(grep -c 'start-up scan' '$OW_LOG') -ge 2 ]" ||
    bail "the daemon on the embedded database did not start"
"$OW" wait -c "$T/embedded.conf" -t 60 photos e.jpg >"$T/e.out" \
    2>"$T/e.err" &
wpid=$!
stop_at_exit "$wpid"
cp "$T/x/small.jpg" "$T/in2/.e.tmp" && mv "$T/in2/.e.tmp" "$T/in2/e.jpg"
wait_until 60 gone "$wpid"
wait "$wpid"
is "$? $(cat "$T/e.out")" "0 thumbs${TAB}done${TAB}$T/out2/e.jpg.jpg" \
    "wait on the embedded database the daemon runs: 0, with the job's line" ||
    { cat "$T/e.err" >&2; ow_log; }
kill -0 "$(head -n 1 "$T/state/pg/data/postmaster.pid")" 2>/dev/null
ok $? "the server still runs after wait exits"
ow_stop
ok $? "and the daemon stops cleanly"
