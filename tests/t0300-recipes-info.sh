#!/bin/sh
# Several recipes on one source each make their own output; an info-only
# recipe makes a done job with no output row; every object gets its info
# (header fields and EXIF) as jsonb, whatever its recipes, so it can be
# searched in SQL; an input over a recipe's max_pixels fails that recipe's
# job with class limit and a message naming the limit, the value and the
# key, while the object's other recipes still run.
. "$SRCDIR/tests/lib.sh"
plan 15

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
recipes = thumbs square meta

[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/thumbs/{stem}.{ext}
max_pixels = 1000000

[recipe.square]
steps = thumbnail width=200 height=200 fit=cover
	| watermark text="(c) Example" gravity=south-east margin=4
	| save format=webp
output = dir:out/square/{stem}.{ext}

[recipe.meta]
steps = info
EOF

"$OBJWATCH" check -c "$T/ow.conf" >/dev/null
ok $? "the config checks: info alone needs no output"

make_jpeg "$T/stage/plain.jpg" 600 400 1
"$BUILDDIR/tests/mkexif" "$T/stage/plain.jpg" "$T/stage/cam.jpg" \
	orientation=6 exif-ifd0-Make=Acme exif-ifd0-Model="Snap 1" \
	exif-ifd2-DateTimeOriginal="2024:05:01 12:34:56" \
	exif-ifd2-ISOSpeedRatings=200 exif-ifd3-GPSLatitudeRef=N \
	exif-ifd3-GPSLatitude="48/1 51/1 24/1" \
	exif-ifd3-GPSLongitudeRef=E exif-ifd3-GPSLongitude="2/1 21/1 0/1" ||
	bail "mkexif failed"
make_png "$T/stage/logo.png" 300 300 2
make_jpeg "$T/stage/big.jpg" 1200 1000 3

ow_start "$T/ow.conf"
for f in cam.jpg logo.png big.jpg; do cp "$T/stage/$f" "$T/in/"; done

wait_for_sql "SELECT count(*) FROM objwatch.results
	WHERE state IN ('done', 'failed')" 9
ok $? "nine jobs (three files, three recipes) are finished" || ow_log

is "$(sql "SELECT key, recipe, state, width, height, format
	FROM objwatch.results ORDER BY key, recipe")" \
"big.jpg|meta|done|||
big.jpg|square|done|200|200|webp
big.jpg|thumbs|failed|||
cam.jpg|meta|done|||
cam.jpg|square|done|200|200|webp
cam.jpg|thumbs|done|100|150|jpeg
logo.png|meta|done|||
logo.png|square|done|200|200|webp
logo.png|thumbs|done|100|100|jpeg" \
    "each recipe made its own result; the rotated photo is upright"
is "$(sql "SELECT count(*) FROM objwatch.outputs")" 5 \
    "five output rows: none for info, none for the failed job"
is "$(find "$T/out" -type f | wc -l)" 5 "five files written"

is "$(sql "SELECT error_class, error FROM objwatch.results
	WHERE key = 'big.jpg' AND recipe = 'thumbs'")" \
"limit|limit: 'big.jpg' is 1200000 pixels (1200x1000), over the limit max_pixels = 1000000 of recipe 'thumbs'; raise max_pixels in [recipe.thumbs] or [objwatch] to accept it" \
    "max_pixels: class limit, the value, the limit and its key"

is "$(sql "SELECT key FROM objwatch.objects WHERE info->>'model' = 'Snap 1'")" \
    "cam.jpg" "objects can be found by their camera model"
is "$(sql "SELECT info->>'make', info->>'taken_at', info->>'iso',
	info->>'orientation', info->>'latitude', info->>'longitude'
	FROM objwatch.objects WHERE key = 'cam.jpg'")" \
    "Acme|2024-05-01T12:34:56|200|6|48.856667|2.35" \
    "the EXIF subset: date taken, ISO, orientation, GPS as decimals"
is "$(sql "SELECT key, width, height, format, pages, colourspace, has_alpha
	FROM objwatch.images ORDER BY key")" \
"big.jpg|1200|1000|jpeg|1|srgb|f
cam.jpg|600|400|jpeg|1|srgb|f
logo.png|300|300|png|1|srgb|t" \
    "every object has its info, the failed one too (objwatch.images)"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE info ? 'model'")" 1 \
    "EXIF keys only where the file has them"

is "$(image_size "$T/out/thumbs/cam.jpg")" "100x150" \
    "the EXIF orientation 6 input gives an upright thumbnail on disk"
is "$(vipsheader -f vips-loader "$T/out/square/logo.webp")" "webpload" \
    "the square recipe wrote WebP"

ow_stop
ok $? "objwatch stops cleanly"

# objwatch process gives the daemon's bytes, watermark and all.
"$OBJWATCH" process -c "$T/ow.conf" square "$T/in/cam.jpg" "$T/p.webp" \
    2>/dev/null
cmp -s "$T/p.webp" "$T/out/square/cam.webp"
ok $? "process and the daemon write the same bytes for the square recipe"
json=$("$OBJWATCH" process -c "$T/ow.conf" meta "$T/in/logo.png" - 2>/dev/null)
is "$(sql "SELECT info = '$json'::jsonb FROM objwatch.objects
	WHERE key = 'logo.png'")" t "process of an info recipe prints the info"
