#!/bin/sh
# steps = copy: new files in a folder archived as they are (or gzipped) in
# a folder and in a bucket, streamed. A copy is byte-identical (cmp) and
# its SHA-256, and its input's, are recorded; gzip=yes gives a gzip file
# zcat reads back; an object of a bucket goes to a folder; a 1 GiB file
# goes to the bucket through a multipart upload (64 parts) with the
# daemon's peak RSS staying flat; a bucket that does not exist fails the
# job as storage with the server's reason; output = table: is refused.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 33

pg_start || bail "cannot start PostgreSQL"
s3_start inbox archive || bail "cannot start s3rver"

mkdir -p "$T/in/logs" "$T/big" "$T/lost" "$T/out" "$T/stage"
# text that compresses, with a line that does not repeat
seq 1 200000 | sed 's/^/line /' >"$T/in/logs/app.log"
head -c 3000000 /dev/urandom >"$T/in/logs/blob"
printf 'hello from the bucket\n' >"$T/hello.txt"
s3 put inbox docs/hello.txt "$T/hello.txt" text/plain ||
	bail "cannot upload"
printf 'nowhere to go\n' >"$T/lost/orphan.txt"

OW_SECRET=S3RVER
export OW_SECRET
write_config "$T/ow.conf" <<EOF2
[objwatch]
database = $PGURL
workers = 1
poll = 1s
listen = 127.0.0.1:0

[source.files]
type = dir
path = in
recipes = plain, zipped, tobucket

[source.big]
type = dir
path = big
recipes = archive

[source.lost]
type = dir
path = lost
recipes = lost

[source.inbox]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = inbox
access_key = S3RVER
secret_key = env:OW_SECRET
poll = 1s
recipes = fetched

[recipe.plain]
steps = copy
output = dir:out/plain/{key}

[recipe.zipped]
steps = copy gzip=yes level=9
output = dir:out/zipped/{dir}/{stem}.{ext}

[recipe.tobucket]
steps = copy
output = s3:archive/files/{key}

[recipe.archive]
steps = copy
output = s3:archive/big/{key}

[recipe.lost]
steps = copy
output = s3:nosuchbucket/{key}

[recipe.fetched]
steps = copy
output = dir:out/fetched/{key}
EOF2

ow_start "$T/ow.conf" -v
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state IN ('done',
    'failed', 'dead')" 8 60
ok $? "the eight small jobs finished" || ow_log

sha() { sha256sum "$1" | cut -d' ' -f1; }
row() {
	sql "SELECT state, format, mime, bytes, sha256, input_sha256
	    FROM objwatch.outputs o JOIN objwatch.jobs j ON j.id = o.job_id
	    JOIN objwatch.objects b ON b.id = j.object_id
	    WHERE j.recipe = '$1' AND b.key = '$2'"
}

# folder -> folder, as it is
cmp "$T/in/logs/app.log" "$T/out/plain/logs/app.log"
ok $? "the plain copy of a log is byte-identical"
cmp "$T/in/logs/blob" "$T/out/plain/logs/blob"
ok $? "the plain copy of random bytes is byte-identical"
a=$(sha "$T/in/logs/app.log")
is "$(row plain logs/app.log)" \
    "done|log|text/plain|$(wc -c <"$T/in/logs/app.log")|$a|$a" \
    "its output row: format and type by extension, bytes, sha256 of both sides"
b=$(sha "$T/in/logs/blob")
is "$(row plain logs/blob)" "done|data|application/octet-stream|3000000|$b|$b" \
    "a name without extension: data, application/octet-stream"
is "$(sql "SELECT sha256 = input_sha256, output FROM objwatch.results
    WHERE recipe = 'plain' AND key = 'logs/app.log'")" \
    "t|$T/out/plain/logs/app.log" "objwatch.results shows the checksums"
is "$(find "$T/out" -name '.*objwatch-tmp' | wc -l)" 0 \
    "no temporary file is left"

# folder -> folder, gzip: {ext} is the input's extension and .gz
zcat "$T/out/zipped/logs/app.log.gz" | cmp - "$T/in/logs/app.log"
ok $? "the gzip copy decompresses to the input"
gzip -t "$T/out/zipped/logs/app.log.gz"
ok $? "gzip -t takes it"
z=$(sha "$T/out/zipped/logs/app.log.gz")
is "$(row zipped logs/app.log)" \
    "done|gzip|application/gzip|$(wc -c <"$T/out/zipped/logs/app.log.gz")|$z|$a" \
    "its row: gzip, the sha256 of the gzip file and of the input"
test "$(wc -c <"$T/out/zipped/logs/app.log.gz")" -lt \
    $(($(wc -c <"$T/in/logs/app.log") / 4))
ok $? "level=9 compresses the log to under a quarter"
zcat "$T/out/zipped/logs/blob.gz" | cmp - "$T/in/logs/blob"
ok $? "a name without extension gets .gz alone"

# folder -> bucket, one PUT
s3 get archive files/logs/app.log "$T/back.log" || bail "cannot get"
cmp "$T/back.log" "$T/in/logs/app.log"
ok $? "the object in the bucket is the file"
is "$(s3 head archive files/logs/app.log | cut -f1,2,3,4)" \
    "200	text/plain	$(md5sum <"$T/in/logs/app.log" | cut -d' ' -f1)	files" \
    "sent whole (its ETag is its MD5), typed, marked as objwatch's"
is "$(row tobucket logs/app.log)" \
    "done|log|text/plain|$(wc -c <"$T/in/logs/app.log")|$a|$a" \
    "its row has the sha256"

# bucket -> folder
cmp "$T/hello.txt" "$T/out/fetched/docs/hello.txt"
ok $? "an object of a bucket is copied to a folder"
h=$(sha "$T/hello.txt")
is "$(row fetched docs/hello.txt)" "done|txt|text/plain|22|$h|$h" \
    "its row has the sha256"
is "$(find "$T/var" -name 'copy-*' 2>/dev/null | wc -l)" 0 \
    "nothing is left in the state directory"

# a bucket that does not exist
is "$(sql "SELECT state, error_class, error FROM objwatch.jobs
    WHERE recipe = 'lost'")" \
    "failed|storage|cannot put 'orphan.txt' in bucket 'nosuchbucket': bucket 'nosuchbucket' does not exist on $S3_ENDPOINT" \
    "a missing bucket fails the job as storage, saying so"
like "$(cat "$OW_LOG")" \
    "recipe 'lost'\) failed \(not retried: objwatch retry requeues it\): storage: cannot put 'orphan.txt' in bucket 'nosuchbucket'" \
    "and the log says it is not retried"

# 1 GiB through a multipart upload, with flat memory
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$OW_PID/status"; }
hwm0=$(hwm)
head -c 1073741824 /dev/urandom >"$T/stage/big.bin" || bail "no big file"
big=$(sha "$T/stage/big.bin")
t0=$(date +%s%3N)
mv "$T/stage/big.bin" "$T/big/big.bin"
wait_for_sql "SELECT state FROM objwatch.jobs WHERE recipe = 'archive'" \
    done 300
ok $? "the 1 GiB file is archived" || ow_log
t1=$(date +%s%3N)
hwm1=$(hwm)
diag "1 GiB archived in $((t1 - t0)) ms ($((1024 * 1000 / (t1 - t0 + 1))) MiB/s); VmHWM $hwm0 kB before, $hwm1 kB after"
is "$(row archive big.bin)" \
    "done|bin|application/octet-stream|1073741824|$big|$big" \
    "its row has the size and the sha256 of the file"
is "$(grep -c "big/big.bin?partNumber=[0-9]*&uploadId=.* 200 " \
    "$T/s3rver.log")" 64 "it went up in 64 parts of 16 MiB"
curl -sf "http://$S3_ENDPOINT/archive/big/big.bin" -o "$T/big.back"
ok $? "it can be fetched back"
is "$(sha "$T/big.back")" "$big" "what the bucket holds is the file"
rm -f "$T/big.back"
# A 1 MiB piece is read at a time and curl sends from the file (512 KiB
# buffer), so a copy adds a few MiB to the daemon (43 MiB here, libvips,
# libpq and libcurl loaded); one that held the file, or a 16 MiB part, in
# memory would show it here. 128 MiB is the bound whatever the machine.
if sanitized; then
	skip "an ASan build's RSS says little"
	skip "an ASan build's RSS says little"
else
	test "$((hwm1 - hwm0))" -lt 8192
	ok $? "peak RSS grew by under 8 MiB ($hwm0 kB to $hwm1 kB)"
	test "$hwm1" -lt 131072
	ok $? "peak RSS stayed under 128 MiB ($hwm1 kB)"
fi
is "$(find "$T/var" -name 'copy-*' 2>/dev/null | wc -l)" 0 \
    "nothing is left in the state directory"

ow_stop
is "$(grep -c 'cannot abort' "$OW_LOG")" 0 "no upload was left to abort"

# output = table: is for lines
write_config "$T/bad.conf" <<EOF2
[objwatch]
listen = 127.0.0.1:0
[source.files]
type = dir
path = in
recipes = plain
[recipe.plain]
steps = copy
output = table:archive
EOF2
out=$("$OBJWATCH" check -c "$T/bad.conf" 2>&1)
ok $((! $?)) "objwatch check refuses a copy into a table"
like "$out" "recipe 'plain': output 'table:archive' is for a recipe whose step is lines \(text into rows\); copy writes the input's bytes as they are, to a file or an object: dir: or s3:" \
    "and says why"

write_config "$T/bad2.conf" <<EOF2
[objwatch]
listen = 127.0.0.1:0
[source.files]
type = dir
path = in
recipes = plain
[recipe.plain]
steps = copy level=3
output = dir:out/x/{key}
EOF2
out=$("$OBJWATCH" check -c "$T/bad2.conf" 2>&1)
ok $((! $?)) "objwatch check refuses level without gzip"
like "$out" "step 'copy': parameter 'level' is the gzip level: it needs gzip=yes" \
    "and says why"
