#!/bin/sh
# bench/bench.sh [N=40]: what objwatch costs over libvips itself, end to end.
#
# Run from a built tree (after make). It fetches N real photographs once
# (tests/photos.sh: Debian's wallpaper packages, 0.6 to 16 MB, up to
# 6028 px), starts a private PostgreSQL, and prints one table:
#
#   throughput  N photos dropped into a watched folder until the last row is
#               committed, recipe `thumbnail width=256 height=256 | save
#               format=jpeg quality=80`, beside vipsthumbnail over the same
#               files in one process with the same settings, and beside
#               ImageMagick's convert -thumbnail, one process per file
#   latency     one small image dropped into an idle daemon until its row is
#               committed: p50 and p99 over LATENCY_DROPS (200) drops
#   memory      peak RSS over the photos, and RSS after 500 and after 5,000
#               small images
#
# Figures, not pass/fail: the targets are printed beside them. WORKERS
# (2), LATENCY_DROPS (200), S3=0 (skip the S3 run) and MEMORY=0 (skip the
# 5,000 images) adjust it; VIPS_CONCURRENCY reaches libvips as usual.
set -u
N=${1:-40}
LATENCY_DROPS=${LATENCY_DROPS:-200}
top=$(cd "$(dirname "$0")/.." && pwd)
OBJWATCH=${OBJWATCH:-$top/objwatch}
SRCDIR=$top
BUILDDIR=$top
export OBJWATCH SRCDIR BUILDDIR
. "$top/tests/lib.sh"
_lib_done=1	# not a TAP test: no plan

now() { date +%s.%N; }
# settle QUERY EXPECTED TIMEOUT_S: wait_for_sql, asking once a second. Each
# psql is a process and a server backend, ~10 ms of CPU: at wait_for_sql's
# ten a second they would take part of a CPU from what is being measured.
# The figures come from the rows' own timestamps, not from when this
# returns.
settle() {
	_deadline=$(($(date +%s) + $3))
	until [ "$(sql "$1" 2>/dev/null)" = "$2" ]; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 1
	done
}
secs() { echo "$1 - $2" | bc -l | awk '{ printf "%.2f", $1 }'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

echo "objwatch benchmark: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo |
	head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' \
	/proc/meminfo), $(uname -sr)"
echo "libvips $(vips --version | sed 's/vips-//'), $(convert -version |
	sed -n 's/^Version: \(ImageMagick [^ ]*\).*/\1/p'), $("$OBJWATCH" version |
	head -1)"
echo

sh "$top/tests/photos.sh" "$T/photos" "$N" || bail "no photographs"
total_mb=$(du -cm "$T"/photos/*.jpg | awk 'END { print $1 }')
echo "corpus: $N JPEGs, $total_mb MB"

# vipsthumbnail: one process over all files, the same settings.
mkdir -p "$T/vt"
t0=$(now)
vipsthumbnail --size 256x256 -o "$T/vt/%s.jpg[Q=80,strip,optimize_coding]" \
    "$T"/photos/*.jpg 2>/dev/null
vt=$(secs "$(now)" "$t0")

# ImageMagick: what many run today, one convert per file.
mkdir -p "$T/im"
t0=$(now)
for f in "$T"/photos/*.jpg; do
	# Its warnings on some photos' XMP go to a log, not into the table.
	convert "$f" -thumbnail 256x256 -quality 80 "$T/im/$(basename "$f")" \
	    2>>"$T/convert.log" || bail "convert failed on $f"
done
im=$(secs "$(now)" "$t0")

# objwatch: from the copy until the last row is committed.
pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = ${WORKERS:-2}
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=256 height=256 | save format=jpeg quality=80
output = dir:out/{dir}/{stem}.{ext}
EOF
ow_start "$T/ow.conf"
wait_until 30 grep -q 'start-up scan' "$OW_LOG" || bail "objwatch did not start"
# The runs before left ~200 MB for the kernel to write back; an fsync of
# objwatch's would wait behind it.
sync
t0=$(now)
t0_sql=$(date -u +'%Y-%m-%d %H:%M:%S.%N+00')
cp "$T"/photos/*.jpg "$T/in/"
settle "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" "$N" 600 ||
    bail "objwatch did not finish"
ow=$(sql "SELECT round(extract(epoch FROM max(finished_at) -
	'$t0_sql'::timestamptz)::numeric, 2) FROM objwatch.jobs")
peak_mb=$(( $(hwm_kb "$OW_PID") / 1024 ))

ratio() { echo "$1 / $2" | bc -l | awk '{ printf "%.2f", $1 }'; }
echo
printf '%-34s %10s %10s  %s\n' "THROUGHPUT ($N photos)" "seconds" "photos/s" "ratio"
printf '%-34s %10s %10s  %s\n' "vipsthumbnail, one process" "$vt" \
    "$(ratio "$N" "$vt")" "1.00"
printf '%-34s %10s %10s  %s\n' "objwatch, dir source, ${WORKERS:-2} workers" "$ow" \
    "$(ratio "$N" "$ow")" "$(ratio "$vt" "$ow") x vipsthumbnail (target >= 0.90)"
printf '%-34s %10s %10s  %s\n' "ImageMagick convert -thumbnail" "$im" \
    "$(ratio "$N" "$im")" "objwatch is $(ratio "$im" "$ow") x faster (target >= 5)"

# The same photos through an S3 source on s3rver: uploaded, then listed
# (poll = 1s, so up to a second of the figure is the poll interval).
# One daemon at a time: each knows only its own recipes.
ow_stop >/dev/null
if [ "${S3:-1}" = 1 ] && s3_start bench thumbs >/dev/null 2>&1; then
	write_config "$T/s3.conf" <<EOF
[objwatch]
database = $PGURL
workers = ${WORKERS:-2}
listen = 127.0.0.1:0
[source.bucket]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = bench
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = s3thumbs
[recipe.s3thumbs]
steps = thumbnail width=256 height=256 | save format=jpeg quality=80
output = s3:thumbs/{dir}/{stem}.{ext}
EOF
	mkdir -p "$T/s3up"
	cp "$T"/photos/*.jpg "$T/s3up/"
	s3 putdir bench "$T/s3up" >/dev/null || bail "cannot upload"
	t0_sql=$(date -u +'%Y-%m-%d %H:%M:%S.%N+00')
	ow_log_saved=$OW_LOG
	OW_LOG=$T/s3.log
	ow_start "$T/s3.conf"
	s3pid=$OW_PID
	settle "SELECT count(*) FROM objwatch.jobs WHERE recipe = 's3thumbs'
	    AND state = 'done'" "$N" 600 || bail "the S3 run did not finish"
	s3t=$(sql "SELECT round(extract(epoch FROM max(finished_at) -
		'$t0_sql'::timestamptz)::numeric, 2) FROM objwatch.jobs
		WHERE recipe = 's3thumbs'")
	ow_stop "$s3pid" >/dev/null
	OW_LOG=$ow_log_saved
	printf '%-34s %10s %10s  %s\n' "objwatch, S3 source (s3rver)" "$s3t" \
	    "$(ratio "$N" "$s3t")" "$(ratio "$vt" "$s3t") x vipsthumbnail"
fi
ow_start "$T/ow.conf"
wait_until 30 sh -c "[ \$(grep -c 'start-up scan' '$OW_LOG') -ge 2 ]"

# Latency: one small image at a time into the idle daemon. Nothing of the
# benchmark runs while a drop is processed: each drop's instant goes to a
# file, the next comes 0.25 s later (a job takes 0.02 to 0.05 s; the
# table says if any drop found the daemon still busy with the one before),
# and the rows are read once all are done. The instant is taken before mv starts,
# so the figure includes starting mv (about 1 ms).
# An idle machine too: what the runs before wrote is on disk first (without
# this, the write-back of the photos held up 2 or 3 of 200 outputs' fsyncs
# for 130 to 170 ms).
make_jpeg "$T/small.jpg" 640 480 9
sync
: >"$T/lat.sql"
i=0
while [ "$i" -lt "$LATENCY_DROPS" ]; do
	i=$((i + 1))
	cp "$T/small.jpg" "$T/stage/l$i.jpg"
	sleep 0.05	# the copy's writes done before the clock starts
	ts=$(date -u +'%Y-%m-%d %H:%M:%S.%N+00')
	mv "$T/stage/l$i.jpg" "$T/in/l$i.jpg"
	echo "INSERT INTO lat VALUES ('l$i.jpg', '$ts');" >>"$T/lat.sql"
	sleep 0.25
done
settle "SELECT count(*) FROM objwatch.results WHERE key LIKE 'l%.jpg' AND
    state = 'done'" "$LATENCY_DROPS" 60 || bail "the drops were not all done"
sql "CREATE TABLE lat (key text, dropped timestamptz)" &&
    psql -X -q -v ON_ERROR_STOP=1 -d "$PGURL" -f "$T/lat.sql" ||
    bail "cannot record the drops"
# Idle means idle: no drop may have started before the one before it ended.
overlap=$(sql "SELECT count(*) FROM (SELECT started_at, lag(finished_at)
	OVER (ORDER BY started_at) AS prev FROM objwatch.jobs j
	JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key LIKE 'l%.jpg') x WHERE started_at < prev")
# pctl FROM TO: p50|p99 in ms between two instants of each drop (l.dropped,
# j.created_at, j.started_at, j.finished_at).
pctl() {
	sql "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
	    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
	    FROM (SELECT extract(epoch FROM $2 - $1) * 1000 AS ms
	    FROM lat l JOIN objwatch.objects o ON o.key = l.key
	    JOIN objwatch.jobs j ON j.object_id = o.id) x"
}
lat=$(pctl l.dropped j.finished_at)
echo
printf '%-34s %10s %10s\n' "LATENCY ($LATENCY_DROPS drops, 640x480)" "p50 ms" "p99 ms"
printf '%-34s %10s %10s  %s\n' "drop to row committed" "${lat%|*}" "${lat#*|}" \
    "(targets 15 / 50)"
[ "$overlap" = 0 ] || echo "  ($overlap drops started before the one before them ended)"
# Where it goes (each phase's own percentiles: they do not add up).
# created_at is the start of the enqueuing transaction, started_at the
# claim's, finished_at the completion's.
for phase in "drop to job queued|l.dropped|j.created_at" \
    "queued to claimed|j.created_at|j.started_at" \
    "claimed to done (the job itself)|j.started_at|j.finished_at"; do
	p=$(pctl "$(echo "$phase" | cut -d'|' -f2)" "$(echo "$phase" | cut -d'|' -f3)")
	printf '  %-32s %10s %10s\n' "${phase%%|*}" "${p%|*}" "${p#*|}"
done

# Queue: an info-only recipe over 2,000 small files, jobs per second
# from the first queued to the last finished.
mkdir -p "$T/info" "$T/stage/info"
make_jpeg "$T/tiny.jpg" 64 48 5
i=0
while [ $i -lt 2000 ]; do
	ln "$T/tiny.jpg" "$T/stage/info/i$i.jpg" 2>/dev/null ||
	    cp "$T/tiny.jpg" "$T/stage/info/i$i.jpg"
	i=$((i + 1))
done
write_config "$T/info.conf" <<EOF
[objwatch]
database = $PGURL
workers = ${WORKERS:-2}
listen = 127.0.0.1:0
[source.infos]
type = dir
path = info
recipes = meta
[recipe.meta]
steps = info
EOF
ow_stop >/dev/null
ow_log_saved=$OW_LOG
OW_LOG=$T/info.log
ow_start "$T/info.conf"
infopid=$OW_PID
wait_until 30 grep -q 'start-up scan' "$T/info.log"
mv "$T"/stage/info/* "$T/info/"
settle "SELECT count(*) FROM objwatch.jobs WHERE recipe = 'meta' AND
	state = 'done'" 2000 600 || bail "the info run did not finish"
jps=$(sql "SELECT round(count(*) / extract(epoch FROM max(finished_at) -
	min(created_at))::numeric, 0) FROM objwatch.jobs WHERE recipe = 'meta'")
ow_stop "$infopid" >/dev/null
OW_LOG=$ow_log_saved
ow_start "$T/ow.conf"
wait_until 30 sh -c "[ \$(grep -c 'start-up scan' '$OW_LOG') -ge 3 ]"
echo
printf '%-34s %10s  %s\n' "QUEUE (info only, 2,000 files)" "jobs/s" ""
printf '%-34s %10s  %s\n' "queued to done, ${WORKERS:-2} workers" "$jps" \
    "(target >= 500)"

[ "${MEMORY:-1}" = 0 ] && { ow_stop >/dev/null; exit 0; }

# Memory: many small images; RSS after 500 and after 5,000.
make_jpeg "$T/mem.jpg" 1200 800 3
batch() {
	from=$1 to=$2
	j=$from
	mkdir -p "$T/stage/m$from"
	while [ "$j" -le "$to" ]; do
		ln "$T/mem.jpg" "$T/stage/m$from/m$j.jpg" 2>/dev/null ||
		    cp "$T/mem.jpg" "$T/stage/m$from/m$j.jpg"
		j=$((j + 1))
	done
	mv "$T/stage/m$from" "$T/in/m$from"
}
base=$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'")
batch 1 500
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" \
    $((base + 500)) 600 || bail "500 not done"
rss500=$(( $(rss_kb "$OW_PID") / 1024 ))
batch 501 5000
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" \
    $((base + 5000)) 1800 || bail "5000 not done"
rss5000=$(( $(rss_kb "$OW_PID") / 1024 ))
echo
printf '%-34s %10s\n' "MEMORY (${WORKERS:-2} workers)" "MB"
printf '%-34s %10s  %s\n' "peak RSS over the $N photos" "$peak_mb" "(target < 300)"
printf '%-34s %10s\n' "RSS after 500 images" "$rss500"
printf '%-34s %10s  %s\n' "RSS after 5,000 images" "$rss5000" "(target: no growth)"
printf '%-34s %10s\n' "peak RSS over the whole run" "$(( $(hwm_kb "$OW_PID") / 1024 ))"
ow_stop >/dev/null
