#!/bin/bash
# bench/soak.sh: two hours of a busy, unlucky day in ten minutes.
#
#   sudo OBJWATCH=/path/to/build/objwatch bench/soak.sh
#   cd build && sudo SOAK_SECONDS=1200 PM_KILL_EVERY=20-40 ../src/bench/soak.sh
#
# Runs as root (the output folder is a small tmpfs that it fills and frees)
# and builds nothing: OBJWATCH is the binary to soak (default ./objwatch,
# as when run from a build dir). objwatch runs with its embedded PostgreSQL
# (no `database =`) and one watched folder with three recipes: a JPEG
# thumbnail, a WebP square crop, and info only.
#
# For SOAK_SECONDS (600), files are dropped continuously, at a rate that
# changes every 10 to 30 s (RATES, files per second), into nested folders:
# copied in, copied aside then moved in, whole folders moved in, some
# rewritten in place (new versions), a few deleted, and about one in a
# hundred is not an image at all (bad*.jpg, expected to fail with class
# decode). Meanwhile, each at a random interval within its range, seconds:
#
#   PM_KILL_EVERY  (60-90)    SIGKILL of the embedded postmaster; objwatch's
#                             supervisor must start it again
#   OW_KILL_EVERY  (100-140)  SIGKILL of objwatch, started again 0-3 s later
#   HUP_EVERY      (35-55)    SIGHUP, the config toggled between 2 and 3
#                             workers each time
#   FULL_EVERY     (130-170)  the output tmpfs filled to the last byte for
#                             FULL_HOLD (15-25) seconds, then freed
#
# A postmaster is killed only while objwatch is up, and objwatch only once
# the postmaster killed before is back, so that each postmaster kill is
# the supervisor's to repair; OVERLAP=1 lets them coincide.
#
# Every SAMPLE_EVERY (10) s it samples objwatch's VmRSS, open FDs and
# threads, the embedded cluster's processes and objwatch's backends, the
# queue and objwatch_database_restarts_total into samples.csv. When the
# chaos ends the drops stop and objwatch is left to drain (up to
# DRAIN_SECONDS, 600); then the final check, against what is on disk:
# every file there is a live object version in the ledger and every key
# gone is marked deleted; every object version has exactly one job per
# recipe; every job of a file as it is now is done (bad inputs: failed,
# decode); older versions' jobs are done or failed with io because their
# file changed or vanished first; no job is dead or still pending; every
# done writing job has exactly one outputs row, and nothing else has any;
# every output row's file exists, every output file has a row, and the
# file at each location is the newest version's; no .objwatch-tmp left;
# objwatch never exited by itself, the postmaster came back after each
# kill, and the last objwatch stops cleanly with its cluster.
#
# It prints a table (what happened, jobs, resources over the run after
# WARMUP (60) s, and per objwatch lifetime the RSS and FDs at 20% and at
# 100% of it), then PASS or FAIL with the failing rows. Everything lands
# in SOAK_OUT (./soak-YYYYmmdd-HHMMSS): summary.txt, samples.csv,
# events.log, drops.log, check.txt and objwatch.log; the temp dir is kept
# on a FAIL (or with KEEP=1). SOAK_SEED seeds the randomness (the drops
# and the schedule; what the machine does still varies). OUT_MB (256)
# sizes the tmpfs. Exit status: 0 PASS; 1 FAIL, or a set-up that failed
# ("Bail out!"); 2 not root, or no binary.
set -u
case ${1:-} in
-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
if [ "$(id -u)" != 0 ]; then
	echo "soak.sh: needs root: it mounts a small tmpfs as the output folder to fill it and free it (try: sudo OBJWATCH=$PWD/objwatch $0)" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
OBJWATCH=${OBJWATCH:-./objwatch}
[ -x "$OBJWATCH" ] || {
	echo "soak.sh: no objwatch binary at '$OBJWATCH': set OBJWATCH=path/to/objwatch (it builds nothing)" >&2
	exit 2
}
OBJWATCH=$(cd "$(dirname "$OBJWATCH")" && pwd)/$(basename "$OBJWATCH")
SRCDIR=$top
BUILDDIR=$(dirname "$OBJWATCH")
export OBJWATCH SRCDIR BUILDDIR
. "$top/tests/lib.sh"
_lib_done=1	# not a TAP test: no plan

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_SEED=${SOAK_SEED:-$$}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
WARMUP=${WARMUP:-60}
DRAIN_SECONDS=${DRAIN_SECONDS:-600}
PM_KILL_EVERY=${PM_KILL_EVERY:-60-90}
OW_KILL_EVERY=${OW_KILL_EVERY:-100-140}
HUP_EVERY=${HUP_EVERY:-35-55}
FULL_EVERY=${FULL_EVERY:-130-170}
FULL_HOLD=${FULL_HOLD:-15-25}
RATES=${RATES:-1 2 4 6 10 16}
OUT_MB=${OUT_MB:-256}
SOAK_OUT=${SOAK_OUT:-$PWD/soak-$(date +%Y%m%d-%H%M%S)}
RANDOM=$SOAK_SEED

mkdir -p "$SOAK_OUT" || bail "cannot make $SOAK_OUT"
SOAK_OUT=$(cd "$SOAK_OUT" && pwd)
CSV=$SOAK_OUT/samples.csv
EVENTS=$SOAK_OUT/events.log
: >"$EVENTS"

ms() { date +%s%3N; }
# rnd LO HI: an integer in [LO, HI]; range A-B: A B
rnd() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }
range_lo() { echo "${1%-*}"; }
range_hi() { echo "${1#*-}"; }
in_range() { rnd "$(range_lo "$1")" "$(range_hi "$1")"; }
START_MS=$(ms)
el() { echo $((($(ms) - START_MS) / 1000)); }
event() {
	printf '%6s  %s\n' "$(el)" "$*" >>"$EVENTS"
	[ "${SOAK_QUIET:-0}" = 1 ] || printf 'soak: %4ss %s\n' "$(el)" "$*" >&2
}

## The setup

IN=$T/in
OUT=$T/out
STAGE=$T/stage
POOL=$T/pool
CONF=$T/ow.conf
mkdir -p "$IN" "$OUT" "$STAGE" "$POOL" || bail "cannot make folders"
mount -t tmpfs -o size="${OUT_MB}m" objwatch-soak "$OUT" ||
    bail "cannot mount a tmpfs on $OUT"
# Kept (a FAIL, or KEEP=1): the outputs stay mounted, to be looked at.
_soak_umount() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "soak: $OUT is still mounted: umount it when done" >&2
	else
		umount "$OUT" 2>/dev/null
	fi
}
at_exit _soak_umount
PORT=$(_lib_free_ports 1) || bail "no free port"

WORKERS=2
write_conf() {
	cat >"$CONF.new" <<EOF
[objwatch]
state_dir = state
workers = $WORKERS
poll = 1s
lease = 2m
max_attempts = 5
listen = 127.0.0.1:$PORT
[source.drops]
type = dir
path = in
reconcile = 60s
recipes = thumb webp meta
[recipe.thumb]
steps = thumbnail width=160 | save format=jpeg quality=80
output = dir:out/thumb/{dir}/{stem}.{ext}
[recipe.webp]
steps = thumbnail width=240 height=240 fit=cover | save format=webp quality=70
output = dir:out/webp/{dir}/{stem}.{ext}
[recipe.meta]
steps = info
EOF
	mv "$CONF.new" "$CONF"
}
write_conf
"$OBJWATCH" check -c "$CONF" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out" >&2; bail "the soak's config does not check"; }

# The inputs: a pool of photo-like images of several sizes and formats.
echo "soak: making the image pool" >&2
i=0
for spec in 640x480 800x600 1024x768 1280x960 1600x1200 480x640 2048x1536 320x240; do
	i=$((i + 1))
	make_jpeg "$POOL/p$i.jpg" "${spec%x*}" "${spec#*x}" "$i" || bail "no image"
done
make_png "$POOL/p9.png" 400 300 9 || bail "no image"
make_png "$POOL/p10.png" 800 600 10 || bail "no image"
make_webp "$POOL/p11.webp" 900 600 11 || bail "no image"
make_webp "$POOL/p12.webp" 640 640 12 || bail "no image"

## objwatch, killed and started again

OW_STARTED_MS=0
OW_STARTS=0
OW_DOWN_UNTIL=	# set while objwatch is down on purpose
UNEXPECTED=0
ow_launch() {
	ow_start "$CONF"
	OW_STARTED_MS=$(ms)
	OW_STARTS=$((OW_STARTS + 1))
	OW_DOWN_UNTIL=
	event "objwatch started (pid $OW_PID, start $OW_STARTS)"
}
# Forget a pid the exit trap would otherwise signal: it may be reused.
ow_forget() { _lib_pids=${_lib_pids/ $1/}; }

ow_launch
if ! wait_until 120 grep -q 'start-up scan' "$OW_LOG"; then
	ow_log
	_lib_diag_file "$(find "$T/state" -name postgres.log | head -n 1)"
	KEEP=1
	bail "objwatch did not start"
fi
PGURL=$("$OBJWATCH" -c "$CONF" db url 2>/dev/null) || bail "no database URL"
export PGURL
PIDFILE=$(find "$T/state" -name postmaster.pid 2>/dev/null | head -n 1)
[ -n "$PIDFILE" ] || bail "no postmaster.pid under $T/state"
PGDATA_DIR=$(dirname "$PIDFILE")
q() {
	PGCONNECT_TIMEOUT=3 timeout 20 psql -X -A -t -q -v ON_ERROR_STOP=1 \
	    -d "$PGURL" -c "$1" 2>>"$T/psql.log"
}
postmaster() {
	_p=$(head -n 1 "$PIDFILE" 2>/dev/null)
	[ -n "$_p" ] && [ "$(cat "/proc/$_p/comm" 2>/dev/null)" = postgres ] &&
	    echo "$_p"
}

## The drops, in the background

# Relative paths of the good files there now, for rewrites and deletes.
dropper() {
	trap - EXIT INT TERM HUP
	RANDOM=$((SOAK_SEED + 7))
	local n=0 rate=4 interval=0.25 phase_end=0 alive=() r d src p k ext
	local jpgs=("$POOL"/*.jpg) pngs=("$POOL"/*.png) webps=("$POOL"/*.webp)
	local log=$T/drops.log
	pick() {	# pick EXT: a pool file of that format
		case $1 in
		png) src=${pngs[RANDOM % ${#pngs[@]}]} ;;
		webp) src=${webps[RANDOM % ${#webps[@]}]} ;;
		*) src=${jpgs[RANDOM % ${#jpgs[@]}]} ;;
		esac
	}
	newname() {
		n=$((n + 1))
		r=$((RANDOM % 100))
		if [ "$r" -lt 75 ]; then ext=jpg
		elif [ "$r" -lt 90 ]; then ext=png
		else ext=webp
		fi
		d=a$((RANDOM % 6))/b$((RANDOM % 4))
		[ $((RANDOM % 5)) -eq 0 ] && d=$d/c$((RANDOM % 3))
		p=$d/f$n.$ext
		pick "$ext"
	}
	while [ ! -e "$T/stop-drops" ]; do
		if [ "$SECONDS" -ge "$phase_end" ]; then
			local rates=($RATES)
			rate=${rates[RANDOM % ${#rates[@]}]}
			interval=$(awk -v r="$rate" 'BEGIN { printf "%.3f", 1 / r }')
			phase_end=$((SECONDS + 10 + RANDOM % 21))
			echo "$(date +%s%3N) rate $rate" >>"$log"
		fi
		r=$((RANDOM % 100))
		if [ "$r" -lt 50 ]; then		# copied in
			newname
			mkdir -p "$IN/$d" && cp "$src" "$IN/$p" &&
			    alive+=("$p") && echo "$(date +%s%3N) cp $p" >>"$log"
		elif [ "$r" -lt 75 ]; then	# copied aside, moved in
			newname
			mkdir -p "$IN/$d" && cp "$src" "$STAGE/f$n.$ext" &&
			    mv "$STAGE/f$n.$ext" "$IN/$p" && alive+=("$p") &&
			    echo "$(date +%s%3N) mv $p" >>"$log"
		elif [ "$r" -lt 85 ] && [ "${#alive[@]}" -gt 0 ]; then
			# rewritten in place: a new version, same inode
			k=$((RANDOM % ${#alive[@]}))
			p=${alive[k]}
			pick "${p##*.}"
			[ -e "$IN/$p" ] && cat "$src" >"$IN/$p" &&
			    echo "$(date +%s%3N) rewrite $p" >>"$log"
		elif [ "$r" -lt 90 ] && [ "${#alive[@]}" -gt 0 ]; then
			k=$((RANDOM % ${#alive[@]}))
			p=${alive[k]}
			alive[k]=${alive[${#alive[@]} - 1]}
			unset "alive[$((${#alive[@]} - 1))]"
			rm -f "$IN/$p" && echo "$(date +%s%3N) rm $p" >>"$log"
		elif [ "$r" -lt 93 ]; then	# a whole folder moved in
			newname
			local m=m$n files=()
			mkdir -p "$STAGE/$m" "$IN/$d"
			for k in 1 2 3 4; do
				pick jpg
				cp "$src" "$STAGE/$m/f${n}_$k.jpg" &&
				    files+=("$d/$m/f${n}_$k.jpg")
			done
			if mv "$STAGE/$m" "$IN/$d/$m"; then
				alive+=("${files[@]}")
				for k in "${files[@]}"; do
					echo "$(date +%s%3N) dirmv $k" >>"$log"
				done
			fi
		elif [ "$r" -lt 94 ]; then	# not an image
			newname
			p=$d/bad$n.jpg
			mkdir -p "$IN/$d" &&
			    printf 'not an image, drop %d\n' "$n" >"$IN/$p" &&
			    echo "$(date +%s%3N) bad $p" >>"$log"
		else
			newname
			mkdir -p "$IN/$d" && cp "$src" "$IN/$p" &&
			    alive+=("$p") && echo "$(date +%s%3N) cp $p" >>"$log"
		fi
		sleep "$interval"
	done
}
: >"$T/drops.log"
dropper &
DROPPER=$!
stop_at_exit "$DROPPER"
event "drops started (seed $SOAK_SEED, rates $RATES files/s)"

## Samples

echo "t_s,time,ow_pid,ow_up_s,rss_kb,fds,threads,postmaster,pg_procs,pg_backends,jobs_done,jobs_pending,jobs_waiting,db_restarts_metric,disk_full" >"$CSV"
DISK_FULL=0
sample() {
	local pid=${OW_PID:-} rss= fds= thr= up= pm procs=0 backends=0 p jobs rs
	if [ -n "$pid" ] && [ -z "$OW_DOWN_UNTIL" ] && _lib_alive "$pid"; then
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		thr=$(awk '/^Threads/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
		up=$((($(ms) - OW_STARTED_MS) / 1000))
	else
		pid=
	fi
	pm=$(postmaster)
	# The cluster's processes, orphans too: their cwd is its data dir.
	for p in $(find /proc -mindepth 2 -maxdepth 2 -name cwd \
	    -lname "$PGDATA_DIR" 2>/dev/null | cut -d/ -f3); do
		procs=$((procs + 1))
		case $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) in
		"postgres: objwatch objwatch"*) backends=$((backends + 1)) ;;
		esac
	done
	jobs=$(q "SELECT count(*) FILTER (WHERE state = 'done') || ',' ||
	    count(*) FILTER (WHERE state IN ('queued', 'running') OR
	        (state = 'failed' AND run_after IS NOT NULL)) || ',' ||
	    count(*) FILTER (WHERE state = 'failed' AND run_after IS NOT NULL
	        AND error_class = 'storage')
	    FROM objwatch.jobs") || jobs=,,
	rs=
	[ -n "$pid" ] && rs=$(metric_now)
	echo "$(el),$(date +%H:%M:%S),$pid,$up,$rss,$fds,$thr,$pm,$procs,$backends,$jobs,$rs,$DISK_FULL" >>"$CSV"
}

## The chaos

# Each restart counted by the metric of the lifetime it happened in: the
# last value read before that objwatch was killed.
METRIC_RESTARTS=0
metric_now() {
	curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" |
	    sed -n 's/^objwatch_database_restarts_total \([0-9]*\)$/\1/p'
}
last_metric() {
	awk -F, -v p="$1" '$3 == p && $14 != "" { v = $14 } END { print v + 0 }' "$CSV"
}

PM_KILLS=0 OW_KILLS=0 HUPS=0 FULLS=0 HUP_POSTPONED=0 PM_POSTPONED=0
PM_OLD= PM_KILL_MS=0 PM_NOT_BACK=0
FULL_UNTIL=0
: >"$T/pm-recovery"
next_pm=$(in_range "$PM_KILL_EVERY")
next_ow=$(in_range "$OW_KILL_EVERY")
next_hup=$(in_range "$HUP_EVERY")
next_full=$(in_range "$FULL_EVERY")
next_sample=0

# Whether objwatch is up and past its start (signals blocked, sources on).
ow_settled() {
	[ -n "${OW_PID:-}" ] && [ -z "$OW_DOWN_UNTIL" ] && _lib_alive "$OW_PID" &&
	    [ $(($(ms) - OW_STARTED_MS)) -ge 5000 ]
}

kill_postmaster() {
	local pm
	pm=$(postmaster)
	if [ -z "$pm" ] || [ -n "$PM_OLD" ] ||
	    { [ "${OVERLAP:-0}" != 1 ] && ! ow_settled; }; then
		PM_POSTPONED=$((PM_POSTPONED + 1))
		return 1
	fi
	kill -KILL "$pm" 2>/dev/null || return 1
	PM_KILLS=$((PM_KILLS + 1))
	PM_OLD=$pm
	PM_KILL_MS=$(ms)
	event "SIGKILL postmaster $pm (kill $PM_KILLS)"
}
# A killed postmaster: back under another pid?
check_postmaster() {
	local pm
	[ -n "$PM_OLD" ] || return 0
	pm=$(postmaster)
	if [ -n "$pm" ] && [ "$pm" != "$PM_OLD" ]; then
		echo "$(($(ms) - PM_KILL_MS))" >>"$T/pm-recovery"
		event "postmaster back as $pm after $(($(ms) - PM_KILL_MS)) ms"
		PM_OLD=
	elif [ $(($(ms) - PM_KILL_MS)) -gt 60000 ]; then
		PM_NOT_BACK=$((PM_NOT_BACK + 1))
		event "postmaster NOT back 60 s after kill $PM_KILLS"
		PM_OLD=
	fi
}

kill_objwatch() {
	[ -n "${OW_PID:-}" ] && [ -z "$OW_DOWN_UNTIL" ] || return 1
	# Unless OVERLAP=1, not while a killed postmaster is still down: each
	# postmaster kill is then the supervisor's to repair.
	[ -z "$PM_OLD" ] || [ "${OVERLAP:-0}" = 1 ] || return 1
	m=$(metric_now)
	METRIC_RESTARTS=$((METRIC_RESTARTS + ${m:-$(last_metric "$OW_PID")}))
	kill -KILL "$OW_PID" 2>/dev/null
	wait "$OW_PID" 2>/dev/null
	ow_forget "$OW_PID"
	OW_KILLS=$((OW_KILLS + 1))
	OW_DOWN_UNTIL=$(($(ms) + $(rnd 0 3000)))
	event "SIGKILL objwatch $OW_PID (kill $OW_KILLS)"
}
check_objwatch() {
	local st
	if [ -n "$OW_DOWN_UNTIL" ]; then
		[ "$(ms)" -ge "$OW_DOWN_UNTIL" ] && ow_launch
		return 0
	fi
	_lib_alive "$OW_PID" && return 0
	wait "$OW_PID" 2>/dev/null
	st=$?
	METRIC_RESTARTS=$((METRIC_RESTARTS + $(last_metric "$OW_PID")))
	ow_forget "$OW_PID"
	UNEXPECTED=$((UNEXPECTED + 1))
	event "objwatch $OW_PID EXITED BY ITSELF (status $st); starting it again"
	ow_launch
}

send_hup() {
	if ! ow_settled; then
		HUP_POSTPONED=$((HUP_POSTPONED + 1))
		return 1
	fi
	WORKERS=$((5 - WORKERS))	# 2 <-> 3
	write_conf
	kill -HUP "$OW_PID"
	HUPS=$((HUPS + 1))
	event "SIGHUP (workers = $WORKERS)"
}

fill_disk() {
	dd if=/dev/zero of="$OUT/.soak-filler" bs=1M 2>/dev/null
	dd if=/dev/zero of="$OUT/.soak-filler" bs=4k oflag=append \
	    conv=notrunc 2>/dev/null
	FULLS=$((FULLS + 1))
	DISK_FULL=1
	FULL_UNTIL=$(($(el) + $(in_range "$FULL_HOLD")))
	event "output disk full ($(df -k --output=avail "$OUT" | tail -n 1 | tr -d ' ') KiB free, $(du -sm --exclude=.soak-filler "$OUT" | cut -f1) MB of outputs) until ${FULL_UNTIL}s"
}
free_disk() {
	rm -f "$OUT/.soak-filler"
	DISK_FULL=0
	event "output disk freed"
}

echo "soak: $SOAK_SECONDS s of chaos; results in $SOAK_OUT (temp $T)" >&2
while :; do
	now=$(el)
	[ "$now" -lt "$SOAK_SECONDS" ] || break
	check_objwatch
	check_postmaster
	if [ "$now" -ge "$next_sample" ]; then
		sample
		next_sample=$((now + SAMPLE_EVERY))
	fi
	if [ "$now" -ge "$next_pm" ]; then
		if kill_postmaster; then
			next_pm=$((now + $(in_range "$PM_KILL_EVERY")))
		else
			next_pm=$((now + 3))
		fi
	fi
	if [ "$now" -ge "$next_ow" ]; then
		if kill_objwatch; then
			next_ow=$((now + $(in_range "$OW_KILL_EVERY")))
		else
			next_ow=$((now + 3))
		fi
	fi
	if [ "$now" -ge "$next_hup" ]; then
		if send_hup; then
			next_hup=$((now + $(in_range "$HUP_EVERY")))
		else
			next_hup=$((now + 3))
		fi
	fi
	if [ "$DISK_FULL" = 1 ] && [ "$now" -ge "$FULL_UNTIL" ]; then
		free_disk
	elif [ "$DISK_FULL" = 0 ] && [ "$now" -ge "$next_full" ]; then
		fill_disk
		next_full=$((now + $(in_range "$FULL_EVERY")))
	fi
	sleep 0.2
done
CHAOS_END=$(el)
event "chaos over; drops stop"
touch "$T/stop-drops"
wait "$DROPPER"
ow_forget "$DROPPER"
[ "$DISK_FULL" = 1 ] && free_disk

## The drain

# disk.tsv: key and version of every file in the source, as objwatch
# makes them (size:mtime_ns:inode); outf.tsv: every output file.
list_disk() {
	(cd "$IN" && find . -type f ! -name '.*' -printf '%P\t%s\t%T@\t%i\n') |
	    awk -F'\t' '{ split($3, t, "."); printf "%s\t%s:%s%s:%s\n", $1, $2,
	        t[1], substr(t[2] "000000000", 1, 9), $4 }' >"$T/disk.tsv"
	find "$OUT" -type f ! -name .soak-filler ! -name '*.objwatch-tmp' \
	    -printf '%p\t%s\n' >"$T/outf.tsv"
}
cat >"$T/load.sql" <<EOF
CREATE TEMP TABLE disk (key text PRIMARY KEY, version text NOT NULL);
\\copy disk FROM '$T/disk.tsv'
CREATE TEMP TABLE outf (path text PRIMARY KEY, size bigint NOT NULL);
\\copy outf FROM '$T/outf.tsv'
CREATE TEMP VIEW o AS SELECT * FROM objwatch.objects WHERE source = 'drops';
CREATE TEMP VIEW cur AS
    SELECT o.* FROM o JOIN disk d ON d.key = o.key AND d.version = o.version;
EOF
# What the drain waits for: nothing pending, nothing on disk unknown,
# nothing gone still live.
cat >"$T/drain.sql" <<'EOF'
SELECT (SELECT count(*) FROM objwatch.jobs WHERE state IN ('queued', 'running')
        OR (state = 'failed' AND run_after IS NOT NULL)) || ' ' ||
    (SELECT count(*) FROM disk d WHERE NOT EXISTS (SELECT 1 FROM o
        WHERE o.key = d.key AND o.version = d.version AND o.deleted_at IS NULL))
    || ' ' ||
    (SELECT count(*) FROM o WHERE o.deleted_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM disk d WHERE d.key = o.key));
EOF
qf() {	# qf FILE...: run SQL files in one session
	PGCONNECT_TIMEOUT=3 timeout 120 psql -X -A -t -q -v ON_ERROR_STOP=1 \
	    -d "$PGURL" $(printf -- '-f %s ' "$@") 2>>"$T/psql.log"
}
event "draining"
DRAIN_START=$(el)
DRAIN_TIMED_OUT=0
stable=0
FIRST_EMPTY=
while :; do
	now=$(el)
	check_objwatch
	check_postmaster
	if [ "$now" -ge "$next_sample" ]; then
		sample
		next_sample=$((now + SAMPLE_EVERY))
	fi
	list_disk
	st=$(qf "$T/load.sql" "$T/drain.sql" | tail -n 1)
	set -- $st
	if [ "${1:-x}" = 0 ] && [ -z "$FIRST_EMPTY" ]; then
		FIRST_EMPTY="$((now - DRAIN_START)) s (then $2 files not yet in the ledger, $3 gone but live)"
		event "queue empty after $FIRST_EMPTY"
	fi
	if [ "$st" = "0 0 0" ]; then
		stable=$((stable + 1))
		[ "$stable" -ge 2 ] && break
	else
		stable=0
	fi
	[ $((now - DRAIN_START)) -lt "$DRAIN_SECONDS" ] || {
		event "drain timed out: pending, unknown, gone-but-live = $st"
		DRAIN_TIMED_OUT=1
		break
	}
	sleep 5
done
DRAIN=$(($(el) - DRAIN_START))
event "drained in $DRAIN s"
sample
m=$(metric_now)
METRIC_RESTARTS=$((METRIC_RESTARTS + ${m:-$(last_metric "$OW_PID")}))

## The final check

list_disk
BAD="'(^|/)bad[0-9]+\\.jpg\$'"
cat >"$T/final.sql" <<EOF
-- Every file there is a live version in the ledger.
SELECT 'file-not-in-ledger', d.key || ' ' || d.version FROM disk d
WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.key = d.key
    AND o.version = d.version AND o.deleted_at IS NULL);
-- Every key gone from the folder is marked deleted.
SELECT 'gone-but-live', o.key || ' ' || o.version || ' object ' || o.id FROM o
WHERE o.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM disk d WHERE d.key = o.key);
-- Exactly one job per recipe for every object version.
SELECT 'jobs-per-recipe', o.key || ' object ' || o.id || ' recipe ' || r.recipe
    || ': ' || count(j.id) || ' jobs'
FROM o CROSS JOIN (VALUES ('thumb'), ('webp'), ('meta')) AS r(recipe)
LEFT JOIN objwatch.jobs j ON j.object_id = o.id AND j.recipe = r.recipe
GROUP BY o.id, o.key, r.recipe HAVING count(j.id) <> 1;
SELECT 'unknown-job', j.id || ' recipe ' || j.recipe FROM objwatch.jobs j
WHERE j.recipe NOT IN ('thumb', 'webp', 'meta');
-- The files as they are now: done; bad input: failed, decode, final.
SELECT 'current-not-done', c.key || ' ' || j.recipe || ' job ' || j.id || ' '
    || j.state || ' attempts ' || j.attempts || ' waits ' || j.waits
    || coalesce(' ' || j.error_class || ': ' || j.error, '')
FROM cur c JOIN objwatch.jobs j ON j.object_id = c.id
WHERE NOT (CASE WHEN c.key ~ $BAD
    THEN j.state = 'failed' AND j.error_class = 'decode' AND j.run_after IS NULL
    ELSE j.state = 'done' END);
-- Older versions and deleted files: done, or failed for having changed
-- or vanished before their turn.
SELECT 'old-version-job', o.key || ' object ' || o.id || ' ' || j.recipe
    || ' job ' || j.id || ' ' || j.state || ' attempts ' || j.attempts
    || coalesce(' ' || j.error_class || ': ' || j.error, '')
FROM o JOIN objwatch.jobs j ON j.object_id = o.id
WHERE NOT EXISTS (SELECT 1 FROM cur c WHERE c.id = o.id)
  AND NOT (j.state = 'done' OR (j.state = 'failed' AND j.run_after IS NULL
    AND ((j.error_class = 'io' AND (j.error LIKE '%changed after it was queued%'
            OR j.error LIKE '%no longer exists%'))
        OR (o.key ~ $BAD AND j.error_class = 'decode'))));
SELECT 'dead-job', j.id || ' ' || j.recipe || ' attempts ' || j.attempts
    || coalesce(' ' || j.error_class || ': ' || j.error, '')
FROM objwatch.jobs j WHERE j.state = 'dead';
SELECT 'pending-job', j.id || ' ' || j.state || ' ' || j.recipe
FROM objwatch.jobs j WHERE j.state IN ('queued', 'running')
    OR (j.state = 'failed' AND j.run_after IS NOT NULL);
-- One outputs row per done writing job, none for anything else.
SELECT 'outputs-per-job', 'job ' || j.id || ' ' || j.recipe || ' ' || j.state
    || ': ' || count(x.id) || ' output rows'
FROM objwatch.jobs j LEFT JOIN objwatch.outputs x ON x.job_id = j.id
GROUP BY j.id, j.recipe, j.state
HAVING count(x.id) <> CASE WHEN j.state = 'done' AND j.recipe <> 'meta'
    THEN 1 ELSE 0 END;
-- Every output row's file is there, every file there has a row.
SELECT 'output-file-missing', x.location || ' (job ' || x.job_id || ')'
FROM objwatch.outputs x WHERE NOT EXISTS (SELECT 1 FROM outf f
    WHERE f.path = x.location);
SELECT 'output-file-unrecorded', f.path FROM outf f
WHERE NOT EXISTS (SELECT 1 FROM objwatch.outputs x WHERE x.location = f.path);
-- The file at each location is what the newest version made.
SELECT 'output-file-stale', f.path || ': ' || f.size || ' bytes on disk, the '
    || 'newest version (object ' || n.object_id || ', job ' || n.job_id
    || ') wrote ' || n.bytes
FROM outf f JOIN (SELECT DISTINCT ON (x.location) x.location, x.bytes,
        x.job_id, j.object_id
    FROM objwatch.outputs x JOIN objwatch.jobs j ON j.id = x.job_id
    ORDER BY x.location, j.object_id DESC, x.id DESC) n ON n.location = f.path
WHERE f.size <> n.bytes;
-- The info recipe's output is the object's info.
SELECT 'no-info', c.key FROM cur c WHERE c.info IS NULL AND c.key !~ $BAD;
EOF
qf "$T/load.sql" "$T/final.sql" >"$T/check.rows" 2>"$T/check.err" ||
    { cat "$T/check.err" >>"$T/check.rows"; echo "sql|the check's SQL failed" >>"$T/check.rows"; }
find "$IN" "$OUT" -name '*.objwatch-tmp' -printf 'temp-file-left|%p\n' >>"$T/check.rows"
[ "$UNEXPECTED" -eq 0 ] ||
    echo "objwatch-exited|objwatch exited by itself $UNEXPECTED times (events.log)" >>"$T/check.rows"
[ "$PM_NOT_BACK" -eq 0 ] ||
    echo "postmaster-not-back|$PM_NOT_BACK kills not followed by a new postmaster within 60 s" >>"$T/check.rows"

# Figures, before objwatch stops.
stats=$(q "SELECT count(*) FILTER (WHERE state = 'done') || '|' ||
    count(*) FILTER (WHERE state = 'failed') || '|' ||
    count(*) FILTER (WHERE state = 'dead') || '|' ||
    coalesce(sum(waits), 0) || '|' || count(*) FILTER (WHERE waits > 0) || '|' ||
    coalesce(max(attempts), 0) || '|' || coalesce(max(waits), 0) || '|' ||
    count(*) FILTER (WHERE attempts > 1) || '|' || count(*)
    FROM objwatch.jobs")
failed_kinds=$(q "SELECT kind || ' ' || count(*) FROM (SELECT state || ' '
        || error_class || CASE
        WHEN error LIKE '%changed after it was queued%' THEN ' (changed first)'
        WHEN error LIKE '%no longer exists%' THEN ' (vanished first)'
        ELSE '' END AS kind
    FROM objwatch.jobs WHERE state IN ('failed', 'dead')) x
    GROUP BY kind ORDER BY kind" | paste -sd, | sed 's/,/, /g')
objstats=$(q "SELECT count(*) || '|' || count(DISTINCT key) || '|' ||
    count(DISTINCT key) FILTER (WHERE deleted_at IS NOT NULL) || '|' ||
    (SELECT count(*) FROM objwatch.outputs)
    FROM objwatch.objects")
IFS='|' read -r J_DONE J_FAILED J_DEAD WAITS WAITED MAX_ATT MAX_WAITS RETRIED J_ALL <<<"$stats"
IFS='|' read -r VERSIONS KEYS KEYS_DELETED OUTPUTS <<<"$objstats"

ow_stop "$OW_PID"
STOP_STATUS=$?
ow_forget "$OW_PID"
event "objwatch stopped (status $STOP_STATUS)"
[ "$STOP_STATUS" -eq 0 ] ||
    echo "unclean-stop|the last objwatch exited with status $STOP_STATUS on SIGTERM" >>"$T/check.rows"
sleep 1
[ -z "$(postmaster)" ] ||
    echo "cluster-left-running|postmaster $(postmaster) still runs after objwatch stopped" >>"$T/check.rows"

## The report

D=$T/drops.log
dcount() { grep -c " $1 " "$D"; }
N_CP=$(dcount cp) N_MV=$(dcount mv) N_DIRMV=$(dcount dirmv) N_BAD=$(dcount bad)
N_REWRITE=$(dcount rewrite) N_RM=$(dcount rm)
N_NEW=$((N_CP + N_MV + N_DIRMV + N_BAD))
LOGGED_RESTARTS=$(grep -c 'restarted the embedded PostgreSQL (restart' "$OW_LOG")
REUSED=$(grep -c 'using running PostgreSQL' "$OW_LOG")
rec=$(sort -n "$T/pm-recovery" | awk '{ v[NR] = $1 } END {
    if (NR) printf "back after %.1f-%.1f s, median %.1f", v[1] / 1000,
        v[NR] / 1000, v[int((NR + 1) / 2)] / 1000 }')
scans=$(sed -n "s/.*source 'drops': \(.*\) scan: [0-9]* files, \([0-9]*\) new jobs.*/\1|\2/p" \
    "$OW_LOG" | awk -F'|' '{ n[$1]++; j[$1] += $2 } END {
        for (k in n) { printf "%s%s %d (%d jobs)", s, k, n[k], j[k]; s = ", " } }')
OUT_USED=$(du -sm "$OUT" | cut -f1)

# Resources: the run after WARMUP; per lifetime, 20% and 100% of it.
res=$(awk -F, -v w="$WARMUP" 'NR > 1 && $1 >= w && $5 != "" {
	n++; r = $5 / 1024; f = $6; b = $10
	if (n == 1) { r1 = r; f1 = f; b1 = b }
	rl = r; fl = f; bl = b
	if (r > rm) rm = r; if (f > fm) fm = f; if (b > bm) bm = b
} END { printf "%.1f %.1f %.1f %d %d %d %d %d %d", r1, rl, rm, f1, fl, fm, b1, bl, bm }' "$CSV")
set -- $res
RSS1=$1 RSSL=$2 RSSM=$3 FD1=$4 FDL=$5 FDM=$6 BK1=$7 BKL=$8 BKM=$9
lifetimes=$(awk -F, 'NR > 1 && $3 != "" && $5 != "" {
	if (!($3 in first)) { order[++k] = $3; first[$3] = $1 }
	i = ++n[$3]; up[$3, i] = $4; rss[$3, i] = $5; fd[$3, i] = $6
	if ($5 > rm[$3]) rm[$3] = $5; if ($6 > fm[$3]) fm[$3] = $6
} END {
	for (x = 1; x <= k; x++) {
		p = order[x]; m = n[p]; life = up[p, m]
		for (i = 1; i <= m && up[p, i] < 0.2 * life; i++) ;
		if (i > m) i = m
		r20 = rss[p, i] / 1024; r100 = rss[p, m] / 1024
		# least-squares MB per minute from 20% to 100%
		sx = sy = sxx = sxy = 0; c = 0
		for (j = i; j <= m; j++) {
			c++; sx += up[p, j]; sy += rss[p, j] / 1024
			sxx += up[p, j] * up[p, j]; sxy += up[p, j] * rss[p, j] / 1024
		}
		d = c * sxx - sx * sx
		slope = (c >= 2 && d > 0) ? 60 * (c * sxy - sx * sy) / d : 0
		grew = "-"
		if (m >= 4) {
			grew = "flat"
			# the trend over the span, not two samples: RSS moves
			# by tens of MB with the images in hand
			trend = slope * (life - up[p, i]) / 60
			lim = r20 * 0.10 > 5 ? r20 * 0.10 : 5
			if (trend > lim) grew = sprintf("RSS grew %+.0f MB", trend)
			# FDs: the most held in the second half against the
			# first (a sample in a database outage holds fewer)
			f1 = f2 = 0
			for (j = 1; j <= m; j++) {
				if (j <= m / 2 && fd[p, j] > f1) f1 = fd[p, j]
				if (j > m / 2 && fd[p, j] > f2) f2 = fd[p, j]
			}
			if (f2 > f1 + 2) grew = (grew == "flat" ? "" : grew "+") "FDs grew"
		}
		printf "%-8s %7d %7d %5d %8.1f %8.1f %8.1f %7.2f %6d %6d %6d  %s\n",
		    p, first[p], life, m, r20, r100, rm[p] / 1024, slope, fd[p, i],
		    fd[p, m], fm[p], grew
	}
}' "$CSV")
GREW=$(echo "$lifetimes" | grep -c 'grew')

# The check's rows, by kind.
FAILS=$(grep -c . "$T/check.rows")
cp "$T/check.rows" "$SOAK_OUT/check.txt"

{
echo "objwatch soak: $(date -u +%Y-%m-%dT%H:%MZ), $SOAK_SECONDS s of chaos, seed $SOAK_SEED"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $OBJWATCH ($("$OBJWATCH" version | head -n 1))"
echo "intervals (s): postmaster kill $PM_KILL_EVERY, objwatch kill $OW_KILL_EVERY, SIGHUP $HUP_EVERY, disk full $FULL_EVERY for $FULL_HOLD; rates $RATES files/s"
echo
printf '%-40s %s\n' "WHAT HAPPENED" ""
printf '%-40s %s\n' "files dropped (new names)" "$N_NEW (cp $N_CP, mv $N_MV, in $((N_DIRMV / 4)) moved folders $N_DIRMV, not images $N_BAD)"
printf '%-40s %s\n' "rewritten in place / deleted" "$N_REWRITE / $N_RM"
printf '%-40s %s\n' "object versions in the ledger" "$VERSIONS ($KEYS keys, $KEYS_DELETED deleted)"
printf '%-40s %s\n' "postmaster SIGKILLs" "$PM_KILLS ($rec; $PM_NOT_BACK not back)"
printf '%-40s %s\n' "  restarts logged / in the metric" "$LOGGED_RESTARTS / $METRIC_RESTARTS"
printf '%-40s %s\n' "objwatch SIGKILLs (+ restart)" "$OW_KILLS ($REUSED starts reused the running postmaster)"
printf '%-40s %s\n' "objwatch exits by itself" "$UNEXPECTED"
printf '%-40s %s\n' "SIGHUPs (workers 2 <-> 3)" "$HUPS"
printf '%-40s %s\n' "disk-full episodes" "$FULLS (tmpfs $OUT_MB MB, $OUT_USED MB of outputs at the end)"
printf '%-40s %s\n' "scans (jobs they queued)" "$scans"
printf '%-40s %s\n' "drain after the chaos" "$DRAIN s (queue first empty after $FIRST_EMPTY)"
echo
printf '%-40s %s\n' "JOBS" ""
printf '%-40s %s\n' "done / failed / dead (of all)" "$J_DONE / $J_FAILED / $J_DEAD ($J_ALL)"
printf '%-40s %s\n' "failed or dead, by class" "${failed_kinds:-none}"
printf '%-40s %s\n' "waits total (jobs that waited, max)" "$WAITS ($WAITED, $MAX_WAITS)"
printf '%-40s %s\n' "max attempts (jobs past their first)" "$MAX_ATT ($RETRIED)"
printf '%-40s %s\n' "output rows" "$OUTPUTS"
echo
printf '%-40s %8s %8s %8s\n' "RESOURCES (after ${WARMUP} s)" "first" "last" "max"
printf '%-40s %8s %8s %8s\n' "objwatch RSS, MB" "$RSS1" "$RSSL" "$RSSM"
printf '%-40s %8s %8s %8s\n' "objwatch open FDs" "$FD1" "$FDL" "$FDM"
printf '%-40s %8s %8s %8s\n' "objwatch's PostgreSQL backends" "$BK1" "$BKL" "$BKM"
echo
echo "PER OBJWATCH LIFETIME (RSS in MB at 20% and 100% of it; MB/min: least squares over that part)"
printf '%-8s %7s %7s %5s %8s %8s %8s %7s %6s %6s %6s  %s\n' pid start_s life_s smpl \
    RSS@20% RSS@100% RSSmax MB/min FD@20% FD@100% FDmax verdict
echo "$lifetimes"
if [ "$GREW" -eq 0 ]; then
	echo "flat: in no lifetime of 4 samples or more did RSS trend up by more than 10% (at least 5 MB) from 20% to 100% of it, nor did the most FDs held in its second half exceed the first half's by 3"
else
	echo "NOT flat: $GREW lifetimes grew (see above)"
fi
echo
echo "LOG WARNINGS BY KIND (numbers as N, quoted names as '')"
grep ' warning: ' "$OW_LOG" | sed -E "s/^[^ ]* warning: //; s/'[^']*'/''/g;
    s/\"[^\"]*\"/\"\"/g; s/[0-9]+/N/g" | cut -c1-100 | sort | uniq -c |
    sort -rn | head -n 15
echo
if [ "$FAILS" -eq 0 ]; then
	echo "FINAL CHECK: PASS"
else
	echo "FINAL CHECK: FAIL, $FAILS rows"
	[ "$DRAIN_TIMED_OUT" = 0 ] || echo "  (the drain timed out: objwatch was still busy while the files were listed, so rows about output files may be jobs that finished meanwhile)"
	cut -d'|' -f1 "$T/check.rows" | sort | uniq -c | sed 's/^/  /'
	echo "  first rows of each kind:"
	awk -F'|' '{ if (++n[$1] <= 10) print "    " $0 }' "$T/check.rows"
fi
} | tee "$SOAK_OUT/summary.txt"

cp "$OW_LOG" "$SOAK_OUT/objwatch.log"
cp "$D" "$SOAK_OUT/drops.log"
if [ "$FAILS" -ne 0 ]; then
	KEEP=1
	echo "soak: kept $T for a look" >&2
	exit 1
fi
exit 0
