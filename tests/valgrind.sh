#!/bin/sh
# tests/valgrind.sh [N=200]: run the worker path under valgrind's memcheck
# over N images (JPEG, PNG and WebP, some bad), then stop cleanly, and
# print valgrind's leak summary. Exits 1 on any definitely lost bytes or
# memory error. Not part of make check (it takes minutes):
#   OBJWATCH=$PWD/objwatch SRCDIR=$PWD sh tests/valgrind.sh 200
. "$SRCDIR/tests/lib.sh"
N=${1:-200}
plan 3

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
[source.photos]
type = dir
path = in
recipes = thumbs meta
[recipe.thumbs]
steps = thumbnail width=128 height=128 fit=cover | watermark text="(c)" | save format=webp
output = dir:out/{dir}/{stem}.{ext}
[recipe.meta]
steps = info
EOF
make_jpeg "$T/a.jpg" 1200 800 1
make_png "$T/b.png" 400 400 2
make_webp "$T/c.webp" 800 600 3
echo "not an image" > "$T/bad.jpg"
i=0
while [ $i -lt "$N" ]; do
	case $((i % 4)) in
	0) cp "$T/a.jpg" "$T/stage/f$i.jpg" ;;
	1) cp "$T/b.png" "$T/stage/f$i.png" ;;
	2) cp "$T/c.webp" "$T/stage/f$i.webp" ;;
	3) cp "$T/bad.jpg" "$T/stage/f$i.jpg" ;;
	esac
	i=$((i + 1))
done

# libvips' SIMD code paths are not understood by valgrind: plain C here.
VIPS_NOVECTOR=1
export VIPS_NOVECTOR
OBJWATCH_WRAPPER="valgrind --suppressions=$SRCDIR/tests/valgrind.supp --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$T/valgrind.log"
export OBJWATCH_WRAPPER
ow_start "$T/ow.conf"
wait_until 120 grep -q 'start-up scan' "$OW_LOG" || bail "no start"
mv "$T"/stage/* "$T/in/"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state IN ('done',
	'failed')" $((N * 2)) 1800
ok $? "$N images through two recipes under valgrind" || ow_log
ow_stop
st=$?
is "$st" 0 "objwatch exits 0: no memory error, no definitely lost bytes"
grep -E 'definitely lost|ERROR SUMMARY|in use at exit' "$T/valgrind.log" |
    sed 's/^==[0-9]*== //' >&2
like "$(cat "$T/valgrind.log")" "definitely lost: 0 bytes|no leaks are possible" \
    "valgrind's summary: 0 bytes definitely lost"
