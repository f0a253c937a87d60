#!/bin/sh
# Files are taken once, complete, however they arrive: a hard link made and
# its old name removed (OpenSSH's sftp rename: IN_CREATE and nothing else),
# rsync's temporary name renamed into place, and a 50 MB file written in
# chunks with a pause longer than the settle time (taken after its writer
# closed it, never before: a file dropped in during the pause is done
# first).
. "$SRCDIR/tests/lib.sh"
plan 14

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.up]
type = dir
path = in
settle = 1s
reconcile = 1h
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=64 height=64 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 320 200 1 || bail "cannot make a JPEG"
make_jpeg "$T/b.jpg" 200 320 2 || bail "cannot make a JPEG"
make_jpeg "$T/c.jpg" 800 600 3 || bail "cannot make a JPEG"
# 50 MB: a JPEG followed by padding after its end marker.
cp "$T/c.jpg" "$T/big.jpg"
head -c $((52428800 - $(stat -c %s "$T/c.jpg"))) /dev/zero >>"$T/big.jpg"

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

# sftp: the upload lands under a name the source ignores, then link+unlink.
cp "$T/a.jpg" "$T/in/.upload-a.jpg"
ln "$T/in/.upload-a.jpg" "$T/in/a.jpg"
rm "$T/in/.upload-a.jpg"
wait_for_sql "SELECT key, state FROM objwatch.results" "a.jpg|done"
ok $? "a file made by link() alone is taken once it settles" || ow_log

# rsync: .NAME.XXXXXX written, then renamed.
cp "$T/b.jpg" "$T/in/.b.jpg.Xa81Qz"
mv "$T/in/.b.jpg.Xa81Qz" "$T/in/b.jpg"
wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE key = 'b.jpg' AND state = 'done'" 1
ok $? "rsync's temporary file renamed into place is taken" || ow_log

# A slow writer: 5 chunks of 10 MB through one open file, each after the
# test says go. While it holds the file open after its first chunk, d.jpg
# is dropped in and processed: it settled after big.jpg's last write, so a
# settle-only watcher would have taken big.jpg by then.
make_jpeg "$T/d.jpg" 240 160 4 || bail "cannot make a JPEG"
(
	i=0
	while [ "$i" -lt 5 ]; do
		dd if="$T/big.jpg" bs=1M skip=$((i * 10)) count=10 status=none
		i=$((i + 1))
		[ "$i" -lt 5 ] && while [ ! -e "$T/go" ]; do sleep 0.1; done
	done
) >"$T/in/big.jpg" &
writer=$!
wait_until 30 sh -c "[ \$(stat -c %s '$T/in/big.jpg') -eq 10485760 ]"
ok $? "the writer wrote its first 10 MB and holds the file open" || ow_log
cp "$T/d.jpg" "$T/in/d.jpg"
wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE key = 'd.jpg' AND state = 'done'" 1
ok $? "a file dropped in after that settles and is done" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key = 'big.jpg'")" 0 \
    "a file still being written is not taken after settle"
touch "$T/go"
wait "$writer"
is "$(stat -c %s "$T/in/big.jpg")" 52428800 "the writer wrote 50 MB"
wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE key = 'big.jpg' AND state = 'done'" 1 60
ok $? "the 50 MB file is processed once complete" || ow_log
is "$(sql "SELECT count(*) || '|' || max(size) FROM objwatch.objects
	WHERE key = 'big.jpg'")" "1|52428800" \
    "exactly one version of it, at its full size"
is "$(sql "SELECT width || 'x' || height FROM objwatch.results
	WHERE key = 'big.jpg'")" "64x48" "its thumbnail is right"

is "$(sql "SELECT key FROM objwatch.objects ORDER BY key")" \
"a.jpg
b.jpg
big.jpg
d.jpg" "temporary names were never recorded"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 4 "one job per file"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'")" 0 \
    "no failed or pending job"

# A restart finds nothing new: none of them was recorded half-written.
ow_stop
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan: 4 files, 0 new jobs' "$OW_LOG"
ok $? "a restart over the same files queues nothing" || ow_log
ow_stop
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 4 "and no job was added"
