#!/bin/sh
# Hostile files (14): empty, truncated JPEG and PNG, text named .jpg, a
# decompression bomb (a 50,000 x 50,000 PNG of 300 kB), a 1,000-frame GIF,
# SVG, PDF and PPM (their loaders are blocked as untrusted), and names with
# newlines, quotes, backslashes, ';', '$(...)', 255 bytes and a Latin-1
# byte that is not UTF-8. Each gives a failed row with a clear message or a
# correct output inside its output root; nothing is written outside it; the
# daemon stays up and its memory bounded.
. "$SRCDIR/tests/lib.sh"
plan 13

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/x"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
[source.photos]
type = dir
path = in
include = *
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=100 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/x/good.jpg" 800 600 1
make_png "$T/x/good.png" 300 300 2
node "$SRCDIR/tests/mkbomb.js" "$T/x/bomb.png" 50000 50000 ||
    bail "cannot make the bomb"
node "$SRCDIR/tests/mkgif.js" "$T/x/frames.gif" 10 10 1000 ||
    bail "cannot make the GIF"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"
rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$OW_PID/status")

cd "$T/in" || bail "no $T/in"
: > empty.jpg
head -c 20000 ../x/good.jpg > truncated.jpg
head -c 3000 ../x/good.png > truncated.png
echo "a shopping list" > text.jpg
cp ../x/bomb.png bomb.png
cp ../x/frames.gif frames.gif
printf '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>' > drawing.svg
printf '%%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' > doc.pdf
printf 'P6\n1 1\n255\n\0\0\0' > img.ppm
cp ../x/good.jpg "new
line.jpg"
cp ../x/good.jpg "quote\"s 'and' back\\slash.jpg"
cp ../x/good.jpg 'semi;colon $(touch pwned) `id`.jpg'
cp ../x/good.jpg "$(printf 'latin1-caf\351.jpg')"
long=$(printf '%0251d' 0 | tr 0 a).jpg
cp ../x/good.jpg "$long"
cd "$T" || bail "no $T"

wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state IN
	('done', 'failed')" 14 60
ok $? "all 14 files reach a final state" ||
    { sql "SELECT key, state FROM objwatch.results ORDER BY key" >&2; ow_log; }
is "$(sql "SELECT key, state, error_class FROM objwatch.results
	WHERE state = 'failed' ORDER BY key")" \
"bomb.png|failed|limit
doc.pdf|failed|limit
drawing.svg|failed|limit
empty.jpg|failed|decode
img.ppm|failed|limit
text.jpg|failed|decode
truncated.jpg|failed|decode
truncated.png|failed|decode" "each hostile input fails with its class"
is "$(sql "SELECT error FROM objwatch.results WHERE key = 'bomb.png'")" \
    "limit: 'bomb.png' is 2500000000 pixels (50000x50000), over the limit max_pixels = 50000000 of recipe 'thumbs'; raise max_pixels in [recipe.thumbs] or [objwatch] to accept it" \
    "the bomb is refused from its header, naming the limit and its key"
is "$(sql "SELECT state, width, height FROM objwatch.results
	WHERE key = 'frames.gif'")" "done|10|10" \
    "the 1,000-frame GIF gives its first frame"
is "$(sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'")" 6 \
    "the oddly named copies of a good photo and the GIF are done"
like "$(sql "SELECT output FROM objwatch.results WHERE key LIKE 'semi%'")" \
    "^$T/out/semi;colon \\\$\\(touch pwned\\) \`id\`\\.jpg\$" \
    "a name with shell syntax is only a name"
[ ! -e "$T/pwned" ] && [ ! -e "$T/in/pwned" ] && [ ! -e "$T/out/pwned" ]
ok $? "and nothing ran it"
# Every file objwatch wrote is inside out/.
is "$(find "$T" -newer "$T/ow.conf" -type f ! -path "$T/out/*" \
    ! -path "$T/in/*" ! -path "$T/x/*" ! -path "$T/pg/*" \
    ! -name 'objwatch.log' ! -name '.*' | wc -l)" 0 \
    "nothing was written outside the output root"
# Byte 0xe9 (octal 351) is recorded as U+EFE9 (UTF-8 ee bf a9, octal 356
# 277 251); its output has the input name's own bytes.
is "$(sql "SELECT state, width, height FROM objwatch.results
	WHERE key = E'latin1-caf\\uefe9.jpg'")" "done|100|75" \
    "a name that is not UTF-8 is processed, its stray byte in the key as U+EFE9"
is "$(sql "SELECT output FROM objwatch.results
	WHERE key = E'latin1-caf\\uefe9.jpg'")" \
    "$T/out/$(printf 'latin1-caf\356\277\251.jpg')" \
    "its output row holds the same text"
is "$(image_size "$T/out/$(printf 'latin1-caf\351.jpg')") $(ls "$T/out" |
    LC_ALL=C grep -c "$(printf '\356\277\251')")" "100x75 0" \
    "its output file is named with the input's own bytes, not the key's"
is "$(grep -c "('latin1-caf\\\\xe9.jpg', recipe '[a-z]*') done" "$OW_LOG")" 1 \
    "the log shows its name's stray byte as \\xe9"
rss1=$(awk '/^VmRSS/ { print $2 }' "/proc/$OW_PID/status")
diag "RSS $rss0 kB before, $rss1 kB after"
ow_alive && [ "$rss1" -lt 400000 ]
ok $? "the daemon is up, under 400 MB"
ow_stop
