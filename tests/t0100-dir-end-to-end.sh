#!/bin/sh
# Files copied (cp) and moved (mv) into a watched folder, nested folders
# included, each give one done row in objwatch.results and a thumbnail that
# fits the box; names the source excludes or does not include give none.
. "$SRCDIR/tests/lib.sh"
plan 12

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/stage" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.photos]
type = dir
path = in
include = *.jpg *.jpeg *.png *.webp
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=256 height=256 | save format=jpeg quality=80
output = dir:out/{dir}/{stem}.{ext}
EOF

# Made before the start, outside the watched folder.
make_jpeg "$T/stage/wide.jpg" 1600 900 1
make_jpeg "$T/stage/tall.jpg" 600 1200 2
make_png "$T/stage/alpha.png" 800 800 3
make_webp "$T/stage/pic.webp" 1000 500 4
make_jpeg "$T/stage/small.jpg" 100 80 5
make_jpeg "$T/stage/upper.JPG" 1024 768 6

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

# Copied in, half of them into a folder made after the start.
cp "$T/stage/wide.jpg" "$T/in/"
cp "$T/stage/alpha.png" "$T/in/"
mkdir -p "$T/in/2024/trip"
cp "$T/stage/tall.jpg" "$T/in/2024/trip/"
# Moved in (a rename within one file system).
mv "$T/stage/pic.webp" "$T/in/"
mv "$T/stage/small.jpg" "$T/in/2024/"
mv "$T/stage/upper.JPG" "$T/in/2024/trip/"
# Names that must not be taken.
echo "notes" > "$T/in/notes.txt"
cp "$T/in/wide.jpg" "$T/in/.hidden.jpg"
cp "$T/in/wide.jpg" "$T/in/upload.jpg.part"
cp "$T/in/wide.jpg" "$T/in/wide.tmp"

wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 6
ok $? "six files are done" || ow_log

is "$(sql "SELECT key, recipe, state, width, height, format
	FROM objwatch.results ORDER BY key")" \
"2024/small.jpg|thumbs|done|100|80|jpeg
2024/trip/tall.jpg|thumbs|done|128|256|jpeg
2024/trip/upper.JPG|thumbs|done|256|192|jpeg
alpha.png|thumbs|done|256|256|jpeg
pic.webp|thumbs|done|256|128|jpeg
wide.jpg|thumbs|done|256|144|jpeg" \
    "one row per file with the thumbnail's size; small ones not enlarged"

is "$(sql "SELECT output FROM objwatch.results ORDER BY key" |
	sed "s|^$T/||")" \
"out/2024/small.jpg
out/2024/trip/tall.jpg
out/2024/trip/upper.jpg
out/alpha.jpg
out/pic.jpg
out/wide.jpg" "outputs are named by the template"

is "$(image_size "$T/out/wide.jpg") $(image_size "$T/out/2024/trip/tall.jpg")" \
    "256x144 128x256" "the thumbnails on disk have those sizes"
is "$(vipsheader -f vips-loader "$T/out/alpha.jpg" 2>/dev/null)" "jpegload" \
    "a PNG input is saved as the recipe's JPEG"
bad=0
for row in $(sql "SELECT output || ':' || bytes FROM objwatch.results"); do
	[ "$(stat -c %s "${row%:*}")" = "${row##*:}" ] || bad=$((bad + 1))
done
is "$bad" 0 "every output exists with the size its row records"
is "$(find "$T/out" -type f | wc -l)" 6 "six files in the output folder"
is "$(find "$T/out" -name '*objwatch-*' | wc -l)" 0 \
    "no temporary files are left"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key LIKE '%notes%'
	OR key LIKE '%.part' OR key LIKE '%.tmp' OR key LIKE '.%'")" 0 \
    "excluded and not included names are not recorded"
is "$(sql "SELECT count(*), count(DISTINCT (object_id, recipe))
	FROM objwatch.jobs")" "6|6" "one job per file and recipe"

# The same bytes again under a new name: a new object, a new job.
cp "$T/in/wide.jpg" "$T/in/again.jpg"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'again.jpg'" done
ok $? "a file added later is processed"
ow_stop
ok $? "objwatch stops cleanly on SIGTERM"
