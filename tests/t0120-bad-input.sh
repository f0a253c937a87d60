#!/bin/sh
# Bad input fails its job with a class and a message a person can act on,
# and the daemon goes on with the next file.
. "$SRCDIR/tests/lib.sh"
plan 8

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=200 | save format=jpeg
output = dir:out/{key}.{ext}
EOF
make_jpeg "$T/good.jpg" 900 600 1
make_png "$T/good.png" 300 300 2
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"

echo "this is a shopping list, not a photo" > "$T/in/text.jpg"
head -c 20000 "$T/good.jpg" > "$T/in/truncated.jpg"
head -c 3000 "$T/good.png" > "$T/in/truncated.png"
: > "$T/in/empty.jpg"
printf '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>' \
    > "$T/in/drawing.png"
cp "$T/good.jpg" "$T/in/after.jpg"

wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state IN
	('done', 'failed')" 6
ok $? "every file reaches a final state" || ow_log
is "$(sql "SELECT key, state, error FROM objwatch.results ORDER BY key")" \
"after.jpg|done|
drawing.png|failed|limit: 'drawing.png' needs the loader 'svgload_buffer', which is blocked as untrusted (PDF, SVG, PPM, ImageMagick and other loaders with a large attack surface are)
empty.jpg|failed|decode: 'empty.jpg' is empty (0 bytes)
text.jpg|failed|decode: 'text.jpg' is not an image objwatch reads (JPEG, PNG, WebP, TIFF, GIF, HEIF and AVIF are; PDF, SVG and others are blocked as untrusted)
truncated.jpg|failed|decode: 'truncated.jpg' is truncated: the JPEG data ends before its end-of-image marker; it was cut short in transfer or is still being written
truncated.png|failed|decode: 'truncated.png' is truncated: the PNG data ends before its IEND chunk; it was cut short in transfer or is still being written" \
    "each bad file has a failed row with its reason"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'failed' AND
	run_after IS NULL AND attempts = 1")" 5 \
    "bad input is a permanent failure: tried once, not retried"
is "$(find "$T/out" -type f | sort | sed "s|^$T/||")" "out/after.jpg.jpg" \
    "only the good file has an output"
ow_alive; ok $? "the daemon is still running"

cp "$T/good.png" "$T/in/later.png"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'later.png'" done
ok $? "and processes the next file"
like "$(cat "$OW_LOG")" "job [0-9]+ \('truncated.jpg', recipe 'thumbs'\) failed \(not retried: objwatch retry requeues it\): decode: 'truncated.jpg' is truncated" \
    "the failure is logged with the job, key and recipe"
ow_stop
ok $? "it stops cleanly"
