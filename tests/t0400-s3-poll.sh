#!/bin/sh
# An S3 bucket polled with libs3: 200 objects put the way SDKs name them
# (spaces, unicode, '+', nested prefixes) give 200 rows and 200 outputs in
# the output bucket, once; a restart enqueues nothing; overwriting one
# object gives exactly one new job; deleting one records deleted_at.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh):
# libs3 2.0 signs listings over "/bucket/", s3rver computes "/bucket".
. "$SRCDIR/tests/lib.sh"
plan 17

pg_start || bail "cannot start PostgreSQL"
s3_start incoming outputs || bail "cannot start s3rver"

# 200 keys from four photos; every awkward character S3 keys carry.
mkdir -p "$T/stage"
for i in 1 2 3 4; do
	make_jpeg "$T/img$i.jpg" 640 $((400 + i * 20)) "$i" || bail "no image"
done
n=0
for dir in "2024/trip" "été/café" "a+b/c d" "日本/写真" "plain"; do
	mkdir -p "$T/stage/$dir"
	for j in $(seq 1 40); do
		n=$((n + 1))
		case $((j % 4)) in
		0) name="IMG $j.jpg" ;;
		1) name="photo+$j.jpg" ;;
		2) name="naïve ü $j.jpg" ;;
		3) name="x$j.jpg" ;;
		esac
		cp "$T/img$((j % 4 + 1)).jpg" "$T/stage/$dir/$name"
	done
done
echo notes >"$T/notes.txt"
(cd "$T/stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$T/keys"
s3 putdir incoming "$T/stage" || bail "cannot upload"
s3 put incoming notes.txt "$T/notes.txt" text/plain || bail "cannot upload"

OW_SECRET=S3RVER
export OW_SECRET
write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:0

[source.uploads]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = incoming
access_key = S3RVER
secret_key = env:OW_SECRET
poll = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=256 height=256 | save format=jpeg quality=80
output = s3:outputs/thumbs/{dir}/{stem}.{ext}
EOF2

ow_start "$T/ow.conf" -v
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" \
    200 120
ok $? "200 objects are done" || ow_log

is "$(sql "SELECT key FROM objwatch.objects ORDER BY key COLLATE \"C\"")" \
    "$(cat "$T/keys")" "the ledger holds exactly the 200 keys, decoded"
is "$(sql "SELECT count(*), count(DISTINCT object_id) FROM objwatch.jobs")" \
    "200|200" "one job per object"
is "$(sql "SELECT count(*) FROM objwatch.outputs")" 200 "200 output rows"
s3 ls outputs >"$T/out.ls" || bail "cannot list the output bucket"
is "$(wc -l <"$T/out.ls")" 200 "200 objects in the output bucket"
is "$(cut -f1 "$T/out.ls" | LC_ALL=C sort)" \
    "$(sed 's|^\(.*\)\.jpg$|thumbs/\1.jpg|' "$T/keys" | LC_ALL=C sort)" \
    "outputs are named by the template, spaces and '+' kept"
is "$(sql "SELECT count(*) FROM objwatch.objects o WHERE version = etag
	AND size > 0 AND mtime IS NOT NULL")" 200 \
    "each object's version is its ETag, with size and time"
is "$(s3 head outputs 'thumbs/a+b/c d/IMG 4.jpg' | cut -f1,2,4)" \
    "$(printf '200\timage/jpeg\tuploads')" \
    "an output has its Content-Type and x-amz-meta-objwatch-source"
s3 get outputs 'thumbs/日本/写真/naïve ü 2.jpg' "$T/got.jpg"
is "$(image_size "$T/got.jpg")" "256x$(( (420 + 3 * 20 - 20) * 256 / 640 ))" \
    "an output is the thumbnail" 2>/dev/null
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key LIKE '%notes%'")" \
    0 "a key the source does not include is not recorded"

# A restart lists the bucket again and writes nothing.
ow_stop
ow_start "$T/ow.conf" -v
wait_until 30 sh -c "sed -n '/^--- objwatch run/h; /^--- objwatch run/!H; \${x;p}' '$OW_LOG' |
	grep -q 'listed 200 objects in 1 requests, nothing new'"
ok $? "after a restart the bucket is listed and nothing is new" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 200 \
    "a restart enqueues nothing"

# Overwrite one object with other bytes: one new version, one new job.
make_jpeg "$T/new.jpg" 300 200 9
s3 put incoming 'plain/IMG 4.jpg' "$T/new.jpg" || bail "cannot overwrite"
wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE key = 'plain/IMG 4.jpg' AND state = 'done'" 2 60
ok $? "the overwritten object is processed again" || ow_log
# Two more listings after it, each with nothing new: still exactly one
# new job.
mark=$(grep -c 'listed 200 objects in 1 requests, nothing new' "$OW_LOG")
wait_until 30 sh -c "[ \$(grep -c 'listed 200 objects in 1 requests, nothing new' '$OW_LOG') -ge $((mark + 2)) ]"
ok $? "two more listings of the 200 objects find nothing new" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 201 \
    "overwriting one object gives exactly one new job"

# Delete one: recorded, not forgotten.
s3 rm incoming 'plain/x3.jpg'
wait_for_sql "SELECT count(*) FROM objwatch.objects
	WHERE key = 'plain/x3.jpg' AND deleted_at IS NOT NULL" 1 30
ok $? "a deleted object gets deleted_at" || ow_log
ow_stop
ok $? "objwatch stops cleanly"
