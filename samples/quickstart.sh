#!/bin/sh
# The quickstart: run objwatch on samples/ with its embedded database, drop
# the sample images into the watched folder, and show the rows it made.
#
# On a terminal objwatch keeps running until Ctrl-C: drop more images into
# samples/incoming and query them with
#   ./objwatch -c samples/objwatch.conf db psql
# Without a terminal it stops once the rows are shown.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
objwatch="$top/objwatch"
conf="$top/samples/objwatch.conf"
cd "$top/samples"

[ -x "$objwatch" ] || { echo "quickstart: build objwatch first (make)" >&2; exit 1; }
mkdir -p incoming
"$objwatch" check -c "$conf" >/dev/null
cp images/* incoming/
want=$(( $(ls images | wc -l) * 3 ))	# three recipes

echo "== objwatch run -c samples/objwatch.conf"
"$objwatch" run -c "$conf" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM EXIT

# The embedded cluster starts with the daemon; wait for every row to finish.
i=0
while :; do
	n=$("$objwatch" -c "$conf" db psql -XAtq -c "SELECT count(*) FROM
	    objwatch.results WHERE state IN ('done', 'failed', 'dead')" \
	    2>/dev/null || echo 0)
	[ "$n" -ge "$want" ] && break
	i=$((i + 1))
	if [ $i -ge 600 ] || ! kill -0 $pid 2>/dev/null; then
		echo "quickstart: objwatch did not process the samples" >&2
		exit 1
	fi
	sleep 0.1
done

echo
echo "== objwatch db psql: SELECT ... FROM objwatch.results"
"$objwatch" -c "$conf" db psql -X -c "SELECT key, recipe, state, width,
    height, format, bytes, output FROM objwatch.results ORDER BY key, recipe"

echo "Thumbnails are in samples/var/out/; the database is samples/var/pg."
if [ -t 0 ]; then
	echo "objwatch keeps watching samples/incoming: drop images in, then"
	echo "  ./objwatch -c samples/objwatch.conf db psql"
	echo "Press Ctrl-C to stop."
	wait $pid
fi
