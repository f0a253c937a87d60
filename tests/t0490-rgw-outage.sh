#!/bin/sh
# An outage of the S3 server must not burn attempts. Against Ceph RGW,
# which checks every signature: radosgw stopped for 60 s in the middle of
# 200 objects, so that its port refuses connections, then started again;
# and then, through tests/slowdown-proxy.js, 15 s in which every request
# is answered 503 SlowDown. Meanwhile GETs, PUTs and listings fail; jobs
# wait with backoff and their attempt is given back, so max_attempts = 2
# cannot make them dead. In the end every object is done once, with one
# attempt and one output.
. "$SRCDIR/tests/lib.sh"
plan 22

pg_start || bail "cannot start PostgreSQL"
rgw_start photos thumbs slowin slowout || bail "cannot start RGW"

# Big enough that 200 take a while to process, so the outage falls in
# the middle; a few distinct images, each under many keys.
for i in 1 2 3 4; do
	make_jpeg "$T/img$i.jpg" 2400 $((1600 + i * 10)) "$i" || bail "no image"
done
mkdir -p "$T/stage/a" "$T/stage/b c"
: >"$T/want"
for j in $(seq 1 100); do
	cp "$T/img$((j % 4 + 1)).jpg" "$T/stage/a/p $j.jpg"
	cp "$T/img$((j % 4 + 1)).jpg" "$T/stage/b c/q+$j.jpg"
	printf 'a/p %s.jpg.webp\nb c/q+%s.jpg.webp\n' "$j" "$j" >>"$T/want"
done
rgw putdir photos "$T/stage" || bail "cannot upload"

# max_attempts = 2: two failures would make a job dead if waiting out an
# outage counted as an attempt.
write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0
max_attempts = 2

[source.photos]
type = s3
endpoint = $RGW_ENDPOINT
https = no
bucket = photos
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
poll = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=200 | save format=webp
output = s3:thumbs/{key}.{ext}
EOF2
ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) >= 10 FROM objwatch.jobs WHERE state = 'done'" \
    t 120 || { ow_log; bail "nothing processed"; }
rgw_stop_gateway || bail "cannot stop radosgw"
before=$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'")
# The outage itself: 60 s by definition, not a wait for a result.
sleep 60
during=$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'")
rgw_start_gateway || bail "cannot start radosgw again"
diag "done when radosgw stopped: $before of 200; when it started: $during"
ok "$([ "$before" -lt 200 ] && echo 0 || echo 1)" \
    "the outage came in the middle of the run"
is "$during" "$before" "nothing was done while radosgw was down"
like "$(cat "$OW_LOG")" "waits \\(not counted as an attempt\\): (io|storage): cannot (get|put) '.*' in bucket '(photos|thumbs)' on $RGW_ENDPOINT: .*Couldn't connect" \
    "GETs or PUTs that could not connect waited"
like "$(cat "$OW_LOG")" "source 'photos': cannot list bucket 'photos' on $RGW_ENDPOINT: .*Couldn't connect" \
    "the listing failed too, and said why"

# Jobs wait up to 30 s (jittered) between tries: generous, for a busy
# machine.
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 200 300
ok $? "all 200 are done after the outage" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT key) FROM objwatch.objects
	WHERE source = 'photos'")" "200|200" "200 distinct objects"
is "$(sql "SELECT count(*), count(DISTINCT object_id) FROM objwatch.jobs")" \
    "200|200" "one job per object: none enqueued twice"
is "$(sql "SELECT count(*), count(DISTINCT job_id) FROM objwatch.outputs")" \
    "200|200" "one output row per job"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'")" 0 \
    "no job failed or died"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE attempts = 1")" 200 \
    "every job took exactly one attempt"
is "$(sql "SELECT count(*) > 0 FROM objwatch.jobs WHERE waits > 0")" t \
    "some jobs waited out the outage"
rgw ls thumbs | cut -f1 | sort >"$T/got"
sort "$T/want" >"$T/want.sorted"
cmp -s "$T/got" "$T/want.sorted"
ok $? "the output bucket holds the 200 outputs, each once under its name" ||
    diag "$(diff "$T/want.sorted" "$T/got" | head -n 20)"
ow_stop
ok $? "objwatch stops cleanly"

# 503 SlowDown: a proxy in front of RGW forwards, and once some jobs are
# done answers 503 to everything for 15 s (SIGUSR2). objwatch's endpoint is
# the proxy, so the Host it signs is the proxy's, which RGW takes.
mkdir -p "$T/slow"
: >"$T/slow.want"
for j in $(seq 1 60); do
	cp "$T/img$((j % 4 + 1)).jpg" "$T/slow/s $j+1.jpg"
	printf 's %s+1.jpg.webp\n' "$j" >>"$T/slow.want"
done
rgw putdir slowin "$T/slow" || bail "cannot upload"
node "$SRCDIR/tests/slowdown-proxy.js" "$RGW_ENDPOINT" 15 \
    >"$T/proxy.log" 2>&1 &
PROXY_PID=$!
stop_at_exit "$PROXY_PID"
wait_until 30 grep -q '^listening on' "$T/proxy.log" ||
    { _lib_diag_file "$T/proxy.log"; bail "the proxy did not start"; }
PROXY=$(sed -n 's/^listening on //p' "$T/proxy.log")

sed -e "s|^endpoint = .*|endpoint = $PROXY|" -e 's|^bucket = photos$|bucket = slowin|' \
    -e 's|^\[source.photos\]$|[source.slow]|' -e 's|^recipes = thumbs$|recipes = slow|' \
    -e 's|^\[recipe.thumbs\]$|[recipe.slow]|' -e 's|^output = .*|output = s3:slowout/{key}.{ext}|' \
    "$T/ow.conf" >"$T/slow.conf"
OW_LOG=$T/slow.log
ow_start "$T/slow.conf"
wait_for_sql "SELECT count(*) >= 5 FROM objwatch.jobs WHERE recipe = 'slow'
	AND state = 'done'" t 120 || { ow_log; bail "nothing processed"; }
kill -USR2 "$PROXY_PID"
atslow=$(sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'slow'
	AND state = 'done'")
diag "done when the 503s began: $atslow of 60"
ok "$([ "$atslow" -gt 0 ] && [ "$atslow" -lt 60 ] && echo 0 || echo 1)" \
    "the 503 phase came in the middle of the run"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'slow'
	AND state = 'done'" 60 240
ok $? "all 60 are done after the 503 phase" ||
    { ow_log; _lib_diag_file "$T/proxy.log"; }
like "$(cat "$T/proxy.log")" "^forwarding again after [0-9]+ answers 503" \
    "the proxy answered 503 for its 15 s, then forwarded"
like "$(grep -E '^503 (GET|PUT) ' "$T/proxy.log")" '^503 (GET|PUT) /slow(in|out)/s%20[0-9]+%2B1\.jpg' \
    "GETs or PUTs of objects were among those answered 503"
like "$(cat "$OW_LOG")" "waits \\(not counted as an attempt\\): (io|storage): cannot (get|put) '.*' in bucket 'slow(in|out)'( on $PROXY)?: 503 SlowDown: Please reduce your request rate\\. \\(the server is down or busy; waiting for it\\)" \
    "a job told SlowDown waited, and the log says so"
is "$(sql "SELECT count(*), count(*) FILTER (WHERE state = 'done' AND attempts = 1),
	count(*) FILTER (WHERE waits > 0) > 0
	FROM objwatch.jobs WHERE recipe = 'slow'")" "60|60|t" \
    "60 jobs, each done with one attempt; some waited through the 503s"
is "$(sql "SELECT count(*), count(DISTINCT job_id) FROM objwatch.outputs o
	JOIN objwatch.jobs j ON j.id = o.job_id WHERE j.recipe = 'slow'")" \
    "60|60" "one output row per job"
rgw ls slowout | cut -f1 | sort >"$T/slow.got"
sort "$T/slow.want" >"$T/slow.want.sorted"
cmp -s "$T/slow.got" "$T/slow.want.sorted"
ok $? "the output bucket holds the 60 outputs, each once" ||
    diag "$(diff "$T/slow.want.sorted" "$T/slow.got" | head -n 20)"
ow_stop
ok $? "objwatch stops cleanly after the 503 phase"
