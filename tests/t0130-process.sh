#!/bin/sh
# objwatch process runs one recipe on one file with no database, and gives
# the same bytes as the daemon does for the same recipe and input.
. "$SRCDIR/tests/lib.sh"
plan 9

mkdir -p "$T/in" "$T/out"
# The database is unreachable: process must not need it.
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = postgresql://nobody@/nothing?host=$T/no-such-socket-dir
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=300 height=300 fit=cover | save format=webp quality=70
output = dir:out/{stem}.{ext}
EOF
make_jpeg "$T/photo.jpg" 1200 800 7
err=$("$OBJWATCH" process -c "$T/ow.conf" thumbs "$T/photo.jpg" "$T/p.webp" 2>&1)
ok $? "process exits 0"
is "$err" "$T/photo.jpg -> $T/p.webp: 300x300 webp, $(stat -c %s "$T/p.webp") bytes" \
    "it reports what it wrote"
is "$(image_size "$T/p.webp")" "300x300" "the output has the recipe's size"
"$OBJWATCH" process -c "$T/ow.conf" thumbs "$T/photo.jpg" - > "$T/stdout.webp" 2>/dev/null
cmp -s "$T/p.webp" "$T/stdout.webp"; ok $? "'-' writes the same bytes to standard output"

mkfifo "$T/fifo"
cat "$T/fifo" > "$T/from-fifo.webp" &
"$OBJWATCH" process -c "$T/ow.conf" thumbs "$T/photo.jpg" "$T/fifo" 2>/dev/null
wait
cmp -s "$T/p.webp" "$T/from-fifo.webp" && [ -p "$T/fifo" ]
ok $? "a fifo is written into, not replaced"
mkdir "$T/folder.webp"
err=$("$OBJWATCH" process -c "$T/ow.conf" thumbs "$T/photo.jpg" "$T/folder.webp" 2>&1)
is "$?:$err" "1:objwatch: '$T/folder.webp' exists and is not a regular file; not replacing it" \
    "a folder in the way is not replaced"

echo "not an image" > "$T/bad.jpg"
err=$("$OBJWATCH" process -c "$T/ow.conf" thumbs "$T/bad.jpg" "$T/x.webp" 2>&1)
is "$?:$err" "1:objwatch: decode: '$T/bad.jpg' is not an image objwatch reads (JPEG, PNG, WebP, TIFF, GIF, HEIF and AVIF are; PDF, SVG and others are blocked as untrusted)" \
    "a bad input exits 1 with its class and reason"
err=$("$OBJWATCH" process -c "$T/ow.conf" nope "$T/photo.jpg" "$T/x.webp" 2>&1)
is "$?:$err" "1:objwatch: no recipe 'nope' in '$T/ow.conf'" "an unknown recipe"

# The daemon, on the same input, with a real database.
pg_start || bail "cannot start PostgreSQL"
sed -i "s|^database = .*|database = $PGURL|" "$T/ow.conf"
cp "$T/photo.jpg" "$T/in/photo.jpg"
ow_start "$T/ow.conf"
wait_for_sql "SELECT state FROM objwatch.results" done || ow_log
ow_stop
cmp -s "$T/p.webp" "$T/out/photo.webp"
ok $? "the daemon's output is byte-identical to process's"
