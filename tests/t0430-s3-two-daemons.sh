#!/bin/sh
# Two `objwatch run` on one database and one bucket: only one lists the
# bucket at any time (the advisory lock, seen in objwatch.pollers), the
# other stands by; both run jobs, and each object is processed exactly
# once. When the lister is killed, the other takes over the listing.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 12

pg_start || bail "cannot start PostgreSQL"
s3_start shared thumbs || bail "cannot start s3rver"

mkdir -p "$T/stage/x y"
for i in 1 2; do
	make_jpeg "$T/img$i.jpg" 1200 $((800 + i)) "$i" || bail "no image"
done
for j in $(seq 1 50); do
	cp "$T/img$((j % 2 + 1)).jpg" "$T/stage/x y/n $j.jpg"
	cp "$T/img$((j % 2 + 1)).jpg" "$T/stage/m+$j.jpg"
done
s3 putdir shared "$T/stage" || bail "cannot upload"

write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.shared]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = shared
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=160 | save format=jpeg
output = s3:thumbs/{key}
EOF2

# Migrate first, so the two do not race to create the schema.
"$OBJWATCH" db -c "$T/ow.conf" migrate >/dev/null 2>&1 || bail "cannot migrate"
LOG1=$T/one.log
LOG2=$T/two.log
"$OBJWATCH" run -c "$T/ow.conf" -v </dev/null >"$LOG1" 2>&1 &
P1=$!
stop_at_exit "$P1"
"$OBJWATCH" run -c "$T/ow.conf" -v </dev/null >"$LOG2" 2>&1 &
P2=$!
stop_at_exit "$P2"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 100 120
ok $? "100 objects are done" || { _lib_diag_file "$LOG1"; _lib_diag_file "$LOG2"; }
is "$(sql "SELECT count(*) FROM objwatch.pollers WHERE source = 'shared'")" 1 \
    "one session holds the poller lock of the source"
polls1=$(grep -c 'this process now polls' "$LOG1")
polls2=$(grep -c 'this process now polls' "$LOG2")
lists1=$(grep -c "source 'shared': listed" "$LOG1")
lists2=$(grep -c "source 'shared': listed" "$LOG2")
is "$polls1$polls2" "$( [ "$polls1" = 1 ] && echo 10 || echo 01)" \
    "exactly one process took the lock"
is "$( [ "$lists1" -eq 0 ] || [ "$lists2" -eq 0 ]; echo $?)" 0 \
    "only that process listed the bucket"
if [ "$polls1" = 1 ]; then
	LISTER=$P1 OTHER=$P2 OLOG=$LOG2
else
	LISTER=$P2 OTHER=$P1 OLOG=$LOG1
fi
like "$(cat "$OLOG")" "another process polls bucket 'shared'; standing by" \
    "the other stands by"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE attempts <> 1")" 0 \
    "each job ran once"
is "$(s3_stored thumbs)" 100 "each output was stored once (s3rver's log)"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE locked_by IS NOT NULL")" \
    0 "no job is left locked"
like "$(sql "SELECT count(DISTINCT object_id) FROM objwatch.jobs")" '^100$' \
    "one job per object"

# The lister dies: the other takes the lock and lists what comes next.
_lib_signal_wait "$LISTER" KILL 5
wait "$LISTER" 2>/dev/null
wait_until 30 grep -q 'this process now polls' "$OLOG"
ok $? "the other process takes over the listing" || _lib_diag_file "$OLOG"
mkdir -p "$T/late"
cp "$T/img1.jpg" "$T/late/later on.jpg"
s3 putdir shared "$T/late" || bail "cannot upload"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 101 60
ok $? "and an object put afterwards is processed" || _lib_diag_file "$OLOG"
is "$(s3_stored thumbs)" 101 "once"
