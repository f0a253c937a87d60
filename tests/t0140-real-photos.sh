#!/bin/sh
# 40 real photographs (Debian's wallpaper packages: JPEGs of 0.6 to 16 MB,
# up to 6028 px), half copied and half moved into the watched folder: 40
# done rows, 40 thumbnails that fit the box; restarting adds none.
. "$SRCDIR/tests/lib.sh"
plan 7

sh "$SRCDIR/tests/photos.sh" "$T/photos" 40 ||
    bail "cannot fetch the photographs (apt-get download)"
pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/stage"
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
steps = thumbnail width=256 height=256 | save format=jpeg quality=80
output = dir:out/{stem}.{ext}
EOF
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"

# mv needs the same file system: stage the moved half inside $T.
i=0
for f in "$T"/photos/*.jpg; do
	i=$((i + 1))
	if [ $((i % 2)) -eq 0 ]; then
		cp "$f" "$T/stage/" && mv "$T/stage/$(basename "$f")" "$T/in/"
	else
		cp "$f" "$T/in/"
	fi
done
start=$(date +%s.%N)
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" \
    40 120
ok $? "40 photographs are done" || ow_log
diag "last row committed $(echo "$(date +%s.%N) - $start" | bc) s after the last copy"

is "$(sql "SELECT count(*), count(DISTINCT key) FROM objwatch.results")" \
    "40|40" "exactly one row per photograph"
# Each thumbnail fits 256x256 and touches it on one side.
bad=0
for f in "$T"/out/*.jpg; do
	size=$(image_size "$f")
	w=${size%x*} h=${size#*x}
	if [ "$w" -gt 256 ] || [ "$h" -gt 256 ] ||
	    { [ "$w" -ne 256 ] && [ "$h" -ne 256 ]; }; then
		bad=$((bad + 1))
		diag "$f is $size"
	fi
done
is "$(find "$T/out" -name '*.jpg' | wc -l)/$bad" "40/0" \
    "40 thumbnails, each fitting the 256 box"
mismatch=0
for row in $(sql "SELECT output || '=' || width || 'x' || height
	FROM objwatch.results"); do
	[ "$(image_size "${row%=*}")" = "${row#*=}" ] ||
	    mismatch=$((mismatch + 1))
done
is "$mismatch" 0 "each row records its thumbnail's real size"
ow_stop

ow_start "$T/ow.conf"
wait_until 30 grep -q 'start-up scan: 40 files, 0 new jobs' "$OW_LOG"
ok $? "a restart finds 40 files and queues nothing" || ow_log
ow_stop
ok $? "and stops cleanly"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 40 "still 40 jobs"
