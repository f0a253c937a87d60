#!/bin/sh
# objwatch scan backfills what is already in a folder, processing it with
# its own workers and reporting progress until it drains; scanning one
# source leaves the others alone. GET /metrics and /healthz report what a
# running daemon did.
. "$SRCDIR/tests/lib.sh"
plan 22

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/a" "$T/b" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
listen = 127.0.0.1:0
[source.alpha]
type = dir
path = a
recipes = thumbs
[source.beta]
type = dir
path = b
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=96 | save format=jpeg
output = dir:out/{source}/{stem}.{ext}
EOF
make_jpeg "$T/p.jpg" 1500 1000 1
i=0
while [ $i -lt 30 ]; do
	cp "$T/p.jpg" "$T/a/a$i.jpg"
	[ $i -lt 5 ] && cp "$T/p.jpg" "$T/b/b$i.jpg"
	i=$((i + 1))
done
echo "oops" > "$T/a/broken.jpg"

out=$("$OBJWATCH" -c "$T/ow.conf" scan alpha 2>&1)
is $? 1 "objwatch scan alpha exits 1 once the backfill drains, as a job failed"
is "$(sql "SELECT source, state, count(*) FROM objwatch.results
	GROUP BY 1, 2 ORDER BY 1, 2")" "alpha|done|30
alpha|failed|1" "every file of alpha is processed; beta is left alone"
like "$out" "^scan: [0-9]+/31 done, [0-9.]+/s, ETA" \
    "progress lines without a terminal: done/total, rate, ETA"
like "$out" "^scan: 31 jobs finished in [0-9.]+ s, 1 failed \(objwatch status shows why\)$" \
    "and a summary naming the failures"
out=$("$OBJWATCH" -c "$T/ow.conf" scan 2>&1)
is $? 0 "a scan whose jobs all end done exits 0"
like "$out" "^scan: 5 jobs finished in [0-9]+\.[0-9] s, 0 failed\$" \
    "a second scan of all sources does only beta's 5"
"$OBJWATCH" -c "$T/ow.conf" scan nope > "$T/nope.out" 2>&1
is "$?:$(cat "$T/nope.out")" "1:objwatch: no source 'nope' in '$T/ow.conf'" \
    "an unknown source is an error"

# The daemon's endpoint. A file that came while it was down is found by
# its start-up scan.
cp "$T/p.jpg" "$T/a/early.jpg"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'listening on' "$OW_LOG" || bail "no start"
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG")
scanned() {
	grep -q "source 'alpha': start-up scan: 32 files, 1 new jobs" "$OW_LOG" &&
	grep -q "source 'beta': start-up scan: 5 files, 0 new jobs" "$OW_LOG"
}
wait_until 20 scanned
ok $? "both sources scanned at start: early.jpg is new" || ow_log
cp "$T/p.jpg" "$T/a/new.jpg"
echo "oops" > "$T/b/bad.jpg"
wait_for_sql "SELECT key, state FROM objwatch.results WHERE key IN
	('early.jpg', 'new.jpg', 'bad.jpg') ORDER BY key" "bad.jpg|failed
early.jpg|done
new.jpg|done"
ok $? "the new files: two done, one failed" || ow_log
m=$(curl -s "http://127.0.0.1:$PORT/metrics")
like "$m" '^objwatch_jobs_finished_total\{recipe="thumbs",outcome="done"\} 2$' \
    "metrics: jobs finished by outcome"
like "$m" '^objwatch_jobs_finished_total\{recipe="thumbs",outcome="failed"\} 1$' \
    "metrics: failures counted apart"
like "$m" '^objwatch_job_duration_seconds_count\{recipe="thumbs"\} 3$' \
    "metrics: a duration histogram per recipe"
# alpha: early.jpg by the scan, new.jpg by an event; beta: bad.jpg.
is "$(printf '%s\n' "$m" | grep -E '^objwatch_(events|jobs_queued)_total\{')" \
'objwatch_events_total{source="alpha"} 2
objwatch_events_total{source="beta"} 1
objwatch_jobs_queued_total{source="alpha"} 2
objwatch_jobs_queued_total{source="beta"} 1' \
    "metrics: objects noticed and jobs queued per source, scans included"
like "$m" '^objwatch_reconcile_runs_total\{source="beta"\} 1$' \
    "metrics: one start-up reconcile per source"
like "$m" '^objwatch_queue_depth\{recipe="thumbs"\} 0$' \
    "metrics: the queue depth from the database"
like "$m" '^objwatch_jobs_finished_total\{recipe="thumbs",outcome="dead"\} 0$' \
    "metrics: counters exist at 0 before anything happens to them"
like "$m" '^objwatch_queue_wait_seconds_count\{recipe="thumbs"\} 3$' \
    "metrics: the queue wait, a histogram per recipe"
like "$m" '^objwatch_end_to_end_seconds_count\{recipe="thumbs"\} 2$' \
    "metrics: seen to done, for the jobs that were done"
ver=$("$OBJWATCH" version | sed -n '1s/^objwatch //p')
like "$m" "^objwatch_build_info\\{version=\"$ver\",libvips=\"[0-9.]+\"\\} 1\$" \
    "metrics: objwatch_build_info with the versions"
like "$m" '^process_open_fds [1-9][0-9]*$' "metrics: the process's open files"
like "$m" '^process_resident_memory_bytes [1-9][0-9]*$' "and its memory"
is "$(curl -s -o "$T/health.json" -w '%{http_code} ' "http://127.0.0.1:$PORT/healthz"
    health_summary "$T/health.json")" \
    '200 database=ok alpha=ok,ready beta=ok,ready workers=2/2 status=ok ready=true' \
    "healthz: the database, each source and the workers are ok"
ow_stop
