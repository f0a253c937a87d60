#!/bin/sh
# bench/s3-vs-dir.sh [N=40] [RUNS=3]: the S3 source's throughput against the
# folder source's, on Ceph RGW (goal: S3 within 20% of dir).
#
#	OBJWATCH=$PWD/objwatch sh SRCDIR/bench/s3-vs-dir.sh 40 3
#
# The same N real photographs (tests/photos.sh: Debian's wallpaper
# packages) and the same recipe as bench/bench.sh (`thumbnail width=256
# height=256 | save format=jpeg quality=80`), 2 workers (WORKERS), RUNS
# times each way:
#
#   dir  the photos already in a watched folder, outputs to a folder
#   s3   the photos already in an RGW bucket, outputs PUT to another
#        bucket, every request signed V4 (SSL=1: over https)
#
# Each run is timed from just before `objwatch run` starts until the last
# job's finished_at: the start-up scan or listing, every fetch, recipe,
# store and commit, not the copy or upload before, nor RGW's start-up.
# Both ways start with the same empty schema (migrated before the clock
# starts) and a synced disk, and they alternate which goes first. Figures,
# not pass/fail. Not run by `make check`.
#
# Beside each way's seconds and photos/s: job_ms, the mean job time
# (claimed to done); busy, how many workers were busy on average (2 when
# none idled: under 2, jobs waited unclaimed); first, the seconds from the
# start to the first claim. Below each run, what RGW itself spent
# answering the GETs and PUTs (its beast log's latency, counted in 4 ms
# ticks: a rough figure). SSL=1 uses https (the fixture's CA in ca_file);
# NODELAY=1, see below. Another load on the machine shows as job_ms.
set -u
N=${1:-40}
RUNS=${2:-3}
WORKERS=${WORKERS:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
OBJWATCH=${OBJWATCH:-$top/objwatch}
SRCDIR=$top
BUILDDIR=${BUILDDIR:-$(dirname "$OBJWATCH")}
export OBJWATCH SRCDIR BUILDDIR
. "$top/tests/lib.sh"
_lib_done=1	# not a TAP test: no plan

# settle QUERY EXPECTED TIMEOUT_S: as in bench.sh, asking once a second so
# that psql takes no CPU from what is measured; the figures come from the
# rows' timestamps, not from when this returns.
settle() {
	_deadline=$(($(date +%s) + $3))
	until [ "$(sql "$1" 2>/dev/null)" = "$2" ]; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 1
	done
}
ratio() { echo "$1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }
now_sql() { date -u +'%Y-%m-%d %H:%M:%S.%N+00'; }

echo "objwatch S3 source against dir source: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo |
	head -1)), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "libvips $(vips --version | sed 's/vips-//'), $(radosgw --version |
	sed 's/ (.*//'), $("$OBJWATCH" version | head -1)"

sh "$top/tests/photos.sh" "$T/photos" "$N" || bail "no photographs"
echo "corpus: $N JPEGs, $(du -cm "$T"/photos/*.jpg | awk 'END { print $1 }') MB"

pg_start || bail "cannot start PostgreSQL"
if [ "${SSL:-0}" = 1 ]; then
	rgw_start --ssl || bail "cannot start RGW"
	endpoint=$RGW_SSL_ENDPOINT
	tls="https = yes
ca_file = $RGW_CA_FILE"
	rgwc() { rgw --ssl "$@"; }
else
	rgw_start || bail "cannot start RGW"
	endpoint=$RGW_ENDPOINT
	tls="https = no"
	rgwc() { rgw "$@"; }
fi
# NODELAY=1: radosgw's beast frontend with tcp_nodelay=1. Without it, over
# https, each answer waits ~40 ms for the client's delayed ACK (Nagle: its
# TLS records go out in two writes); plain http is not affected.
if [ "${NODELAY:-0}" = 1 ]; then
	sed -i 's/^\([[:space:]]*rgw frontends = .*\)$/\1 tcp_nodelay=1/' \
	    "$RGW_CEPH_CONF" && rgw_stop_gateway && rgw_start_gateway ||
	    bail "cannot restart radosgw with tcp_nodelay=1"
fi
echo "rgw: $endpoint, signature v4$([ "${SSL:-0}" = 1 ] && echo ', https')$(
	[ "${NODELAY:-0}" = 1 ] && echo ', beast tcp_nodelay=1')"

# One upload for all runs (each run starts with an empty ledger, so the
# bucket is new to it): RGW keeps objects in RAM, 1 GiB at most.
{ rgwc mb bench-in && rgwc putdir bench-in "$T/photos"; } >/dev/null ||
    bail "cannot upload the photos"

STEPS="thumbnail width=256 height=256 | save format=jpeg quality=80"

# fresh: an empty, migrated schema, so no run sees another's ledger.
fresh() {
	sql "DROP SCHEMA IF EXISTS objwatch CASCADE" >/dev/null 2>&1
	"$OBJWATCH" db -c "$1" migrate >/dev/null 2>&1 || bail "cannot migrate"
}

# timed CONF LOG RESULT: run objwatch on CONF until N jobs are done; write
# to RESULT, as S|MS|BUSY|FIRST: the seconds from its start to the last
# finished_at, the mean job time in ms (claimed to done), how many workers
# were busy on average (the jobs' time over the run's: WORKERS when none
# ever idled) and the seconds from the start to the first claim.
timed() {
	sync
	OW_LOG=$2
	t0=$(now_sql)
	ow_start "$1" -v
	settle "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" "$N" 900 ||
	    { ow_log; bail "not all done: $(sql "SELECT state, count(*)
		FROM objwatch.jobs GROUP BY 1")"; }
	ow_stop >/dev/null
	sql "SELECT round(extract(epoch FROM max(finished_at) - t0)::numeric, 2),
	    round(avg(extract(epoch FROM finished_at - started_at)) * 1000),
	    round((sum(extract(epoch FROM finished_at - started_at)) /
		extract(epoch FROM max(finished_at) - t0))::numeric, 2),
	    round(extract(epoch FROM min(started_at) - t0)::numeric, 2)
	    FROM objwatch.jobs, (SELECT '$t0'::timestamptz AS t0) s
	    GROUP BY t0" >"$3"
}

run_dir() {
	d=$T/dir$1
	mkdir -p "$d/in" "$d/out"
	cp "$T"/photos/*.jpg "$d/in/"
	write_config "$d/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = $WORKERS
listen = 127.0.0.1:0
[source.photos]
type = dir
path = $d/in
recipes = thumbs
[recipe.thumbs]
steps = $STEPS
output = dir:$d/out/{dir}/{stem}.{ext}
EOF
	fresh "$d/ow.conf"
	timed "$d/ow.conf" "$d/objwatch.log" "$d/result"
	[ "$(find "$d/out" -type f | wc -l)" -eq "$N" ] ||
	    bail "dir run $1: not $N outputs"
}

run_s3() {
	d=$T/s3$1
	mkdir -p "$d"
	rgwc mb "bench-out-$1" >/dev/null || bail "cannot make a bucket"
	write_config "$d/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = $WORKERS
listen = 127.0.0.1:0
[source.photos]
type = s3
endpoint = $endpoint
$tls
bucket = bench-in
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
poll = 1s
recipes = thumbs
[recipe.thumbs]
steps = $STEPS
output = s3:bench-out-$1/{dir}/{stem}.{ext}
EOF
	fresh "$d/ow.conf"
	l0=$(wc -l <"$RGW_DIR/log/client.rgw.log")
	timed "$d/ow.conf" "$d/objwatch.log" "$d/result"
	[ "$(rgwc ls "bench-out-$1" | wc -l)" -eq "$N" ] ||
	    bail "s3 run $1: not $N outputs"
	# RGW's own time on this run's object GETs and PUTs, in ms.
	tail -n "+$((l0 + 1))" "$RGW_DIR/log/client.rgw.log" | awk '
		/beast:/ && /"GET \/bench-in\// { g += lat($0); ng++ }
		/beast:/ && /"PUT \/bench-out-/ { p += lat($0); np++ }
		function lat(s) { sub(/.*latency=/, "", s); return s + 0 }
		END { printf "%d GETs %.0f ms, %d PUTs %.0f ms\n",
		    ng, g * 1000, np, p * 1000 }' >"$d/rgw-time"
}

echo
fmt='%-4s %7s %8s %6s %4s %5s   %7s %8s %6s %4s %5s   %s\n'
printf "$fmt" run "dir s" photos/s job_ms busy first "s3 s" photos/s job_ms busy \
    first "S3/dir (target >= 0.80)"
: >"$T/ratios"
r=1
while [ "$r" -le "$RUNS" ]; do
	# Alternate which goes first: the page cache and the CPU's clock
	# should favour neither.
	if [ $((r % 2)) -eq 1 ]; then
		run_dir "$r"
		run_s3 "$r"
	else
		run_s3 "$r"
		run_dir "$r"
	fi
	dir=$(cat "$T/dir$r/result") s3=$(cat "$T/s3$r/result")
	ds=$(echo "$dir" | cut -d'|' -f1) ss=$(echo "$s3" | cut -d'|' -f1)
	rt=$(ratio "$ds" "$ss")
	echo "$rt" >>"$T/ratios"
	# shellcheck disable=SC2046,SC2086
	printf "$fmt" "$r" "$ds" "$(ratio "$N" "$ds")" \
	    $(echo "$dir" | cut -d'|' -f2- | tr '|' ' ') \
	    "$ss" "$(ratio "$N" "$ss")" $(echo "$s3" | cut -d'|' -f2- | tr '|' ' ') \
	    "$rt"
	echo "     rgw's own time on them: $(cat "$T/s3$r/rgw-time")"
	r=$((r + 1))
done
sort -n "$T/ratios" | awk '{ v[NR] = $1 } END {
	if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "S3/dir throughput: median %.2f, min %.2f, max %.2f over %d runs (target >= 0.80)\n", m, v[1], v[NR], NR }'
