#!/bin/sh
# bench/lines-table.sh [MB=256]: nginx logs into a table, end to end.
#
#	OBJWATCH=./objwatch SRCDIR=. sh bench/lines-table.sh [MB]
#
# Writes MB megabytes of nginx combined log lines (varied addresses,
# paths, statuses, referers and agents, about 190 bytes a line) as FILES
# files (default 2, one per worker), starts a private PostgreSQL, drops
# them into a watched folder with the recipe `lines format=nginx` and
# `output = table:access`, and prints from the jobs' own timestamps:
#
#   MB/s    text bytes parsed, typed, checked and committed per second, from
#           the first job's start to the last one's end: against Vector's
#           published 13.2 MiB/s for regex parsing and Fluent Bit's 20.5
#           MiB/s (both 2 cores; the goal is ahead of both)
#   rows/s  rows committed per second
#   memory  objwatch's peak resident memory (VmHWM) against the input
#
# then the same over the files gzip-compressed. Figures, not pass/fail:
# not run by make check.
set -u
MB=${1:-256}
FILES=${FILES:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
OBJWATCH=${OBJWATCH:-$top/objwatch}
SRCDIR=${SRCDIR:-$top}
BUILDDIR=${BUILDDIR:-$top}
export OBJWATCH SRCDIR BUILDDIR
. "$SRCDIR/tests/lib.sh"
_lib_done=1	# no TAP plan: this prints figures

hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
# cpu_s PID: the user and system CPU seconds a process has used
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

pg_start || { echo "cannot start PostgreSQL" >&2; exit 1; }
mkdir -p "$T/in" "$T/stage"
lines=$((MB * 1024 * 1024 / 190 / FILES))
i=1
while [ "$i" -le "$FILES" ]; do
	awk -v n="$lines" -v f="$i" 'function rnd() {
		seed = (seed * 1103515245 + 12345) % 2147483648
		return seed / 2147483648 }
	BEGIN {
		seed = f
		split("GET GET GET GET POST PUT DELETE HEAD", m, " ")
		split("200 200 200 200 200 301 304 404 500 201", st, " ")
		split("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0|curl/7.88.1|Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15|Go-http-client/1.1", ua, "|")
		for (j = 0; j < n; j++) {
			t = j % 86400
			printf "10.%d.%d.%d - %s [02/Dec/2026:%02d:%02d:%02d +0000] \"%s /shop/item/%d?ref=%d HTTP/1.1\" %s %d \"https://shop.example/list/%d\" \"%s\"\n",
			    int(rnd() * 256), int(rnd() * 256), int(rnd() * 256),
			    rnd() < 0.1 ? "user" int(rnd() * 100) : "-",
			    int(t / 3600), int(t / 60) % 60, t % 60,
			    m[1 + int(rnd() * 8)], int(rnd() * 100000),
			    int(rnd() * 1000), st[1 + int(rnd() * 10)],
			    int(rnd() * 50000), int(rnd() * 500),
			    ua[1 + int(rnd() * 4)]
		}
	}' >"$T/stage/access-$i.log"
	i=$((i + 1))
done
bytes=$(cat "$T/stage"/access-*.log | wc -c)
nlines=$(cat "$T/stage"/access-*.log | wc -l)

write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = $FILES
max_input_bytes = 4294967296

[source.logs]
type = dir
path = in
recipes = access

[recipe.access]
steps = lines format=nginx follow=no
output = table:access
EOF

echo "objwatch lines benchmark: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, PostgreSQL $(sql 'SHOW server_version')"
printf 'input: %d files, %d lines, %.1f MiB of nginx combined log\n' "$FILES" \
    "$nlines" "$(echo "$bytes / 1048576" | bc -l)"

# run LABEL: drop the staged files, wait for their rows, print the figures
run() {
	sql "TRUNCATE objwatch.objects CASCADE" >/dev/null 2>&1
	sql "DROP TABLE IF EXISTS access" >/dev/null 2>&1
	ow_start "$T/ow.conf"
	wait_until 30 grep -q 'start-up scan' "$OW_LOG" || { ow_log; exit 1; }
	mv "$T/stage"/* "$T/in/"
	wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" \
	    "$FILES" 1800 || { ow_log; exit 1; }
	hwm=$(hwm_kb "$OW_PID")
	cpu=$(cpu_s "$OW_PID")
	ow_stop
	secs=$(sql "SELECT extract(epoch FROM max(finished_at) - min(started_at))
		FROM objwatch.jobs")
	rows=$(sql "SELECT sum(rows) FROM objwatch.loads")
	read_b=$(sql "SELECT sum(bytes) FROM objwatch.loads")
	printf '%-6s %6.1f MiB/s %8.0f rows/s %6.2f s  rows %s/%s  read %.1f MiB  objwatch CPU %s s (%.0f MiB/s a core)  peak RSS %.0f MiB\n' \
	    "$1" "$(echo "$bytes / 1048576 / $secs" | bc -l)" \
	    "$(echo "$rows / $secs" | bc -l)" "$secs" "$rows" "$nlines" \
	    "$(echo "$read_b / 1048576" | bc -l)" "$cpu" \
	    "$(echo "$bytes / 1048576 / $cpu" | bc -l)" "$(echo "$hwm / 1024" | bc -l)"
	mv "$T/in"/* "$T/stage/"
}

echo "reference: Vector 13.2 MiB/s (regex parse), Fluent Bit 20.5 MiB/s"
run plain
for f in "$T/stage"/*.log; do gzip -1 "$f"; done
run gzip
