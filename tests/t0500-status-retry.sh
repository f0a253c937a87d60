#!/bin/sh
# objwatch status counts jobs by state and failures by class; objwatch
# retry requeues exactly the failed (and with --dead, dead) jobs its
# filters select, which then run again from their first attempt.
. "$SRCDIR/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs (a full disk)"
plan 16

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in/blocked" "$T/in/full" "$T/out/full"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
max_attempts = 1
poll = 1s
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/in/a.jpg" 400 300 1
echo "not a picture" > "$T/in/bad.jpg"
# full/c's output goes to a full disk (ENOSPC: the job waits for space,
# however many attempts it has); blocked/d's output folder is a file
# (ENOTDIR: permanent, failed).
cp "$T/in/a.jpg" "$T/in/full/c.jpg"
mount -t tmpfs -o size=64k tmpfs "$T/out/full" || bail "cannot mount tmpfs"
at_exit 'umount "$T/out/full" 2>/dev/null'
head -c 65536 /dev/zero > "$T/out/full/filler" 2>/dev/null
cp "$T/in/a.jpg" "$T/in/blocked/d.jpg"
echo "in the way" > "$T/out/blocked"

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done' OR
	(state = 'failed' AND (run_after IS NULL OR waits > 0))" 4
ok $? "all four jobs reach a final state, or wait" || ow_log
is "$(sql "SELECT r.key, r.state, r.error_class, j.waits > 0
	FROM objwatch.results r JOIN objwatch.jobs j ON j.id = r.job_id
	ORDER BY r.key")" \
"a.jpg|done||f
bad.jpg|failed|decode|f
blocked/d.jpg|failed|storage|f
full/c.jpg|failed|storage|t" "one done, two failed, one waiting for disk space"
# A job that used up its attempts, for status and retry --dead: made so
# in the ledger, since nothing here can fail for real over and over (a
# full disk is waited out; t0670).
ow_stop
sql "UPDATE objwatch.jobs SET state = 'dead', run_after = NULL WHERE
	object_id = (SELECT id FROM objwatch.objects WHERE key = 'full/c.jpg')" \
	>/dev/null
ow_start "$T/ow.conf"

out=$("$OBJWATCH" -c "$T/ow.conf" status)
like "$out" "^photos +thumbs +0 +0 +1 +2 +1 +4\.0/ +0\.8/ +0\.3 +-$" \
    "status: counts by state, rates per minute, no pending job"
like "$out" "^photos +thumbs +storage +2$" "status: storage failures"
like "$out" "^photos +thumbs +decode +1$" "status: decode failures"
json=$("$OBJWATCH" -c "$T/ow.conf" status --json)
is "$(sql "SELECT j->'queues'->0->>'done', j->'queues'->0->>'dead',
	j->'failures'->0->>'error_class', j->'failures'->0->>'jobs'
	FROM (SELECT '$json'::json AS j) x")" "1|1|storage|2" \
    "status --json says the same"

out=$("$OBJWATCH" -c "$T/ow.conf" retry --recipe nope)
is "$out" "requeued 0 jobs" "a filter that matches nothing requeues nothing"
out=$("$OBJWATCH" -c "$T/ow.conf" retry --class bogus 2>&1)
is "$?:$out" "2:objwatch: unknown error class 'bogus' (expected decode, limit, io, storage or config)" \
    "an unknown class is refused"

rm "$T/out/blocked"
out=$("$OBJWATCH" -c "$T/ow.conf" retry --class storage)
is "$out" "requeued 1 job" "retry --class storage takes the failed job, not the dead one"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'blocked/d.jpg'" done
ok $? "once its cause is fixed, the retried job is done"
is "$(sql "SELECT state FROM objwatch.results WHERE key = 'full/c.jpg'")" dead \
    "the dead job was left alone"

rm "$T/out/full/filler"
out=$("$OBJWATCH" -c "$T/ow.conf" retry --dead --source photos --since 1h)
is "$out" "requeued 2 jobs" "retry --dead takes the dead job and the failed one"
wait_for_sql "SELECT key, state, attempts FROM objwatch.results WHERE key
	IN ('bad.jpg', 'full/c.jpg') ORDER BY key" "bad.jpg|failed|1
full/c.jpg|done|1"
ok $? "each ran once more from its first attempt" || ow_log
is "$(image_size "$T/out/full/c.jpg")" "100x75" "the retried output is written"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 4 \
    "retrying adds no job rows"
out=$("$OBJWATCH" -c "$T/ow.conf" retry --key 'bad%')
is "$out" "requeued 1 job" "retry --key selects by key pattern"
ow_stop
