# tests/lib.sh: the small library every shell test sources.
#
#	. "$SRCDIR/tests/lib.sh"
#
# A test plans, acts and checks with the helpers below, which print TAP for
# automake's tap-driver. Each test gets a temp dir $T of its own, and when it
# asks, a PostgreSQL cluster of its own (pg_start) and objwatch processes of
# its own (ow_start). An exit trap stops all of them whether the test passes,
# fails or is interrupted, then removes $T (kept when KEEP=1).
#
# A failed check does not stop the test: it prints "not ok" and the test goes
# on, so every planned result is printed. Tests should not `set -e`. The
# exit status is 0 once the plan is complete, pass or fail, because the
# driver already counts each "not ok"; it is non-zero when the test broke off
# (bail, a plan it did not finish, a signal).
#
# POSIX sh: tests run under dash as well as bash.
#
# Environment, set by `make check`: OBJWATCH (the built binary), SRCDIR and
# BUILDDIR (top of the source and build trees). Optional: KEEP=1 keeps $T,
# OBJWATCH_WRAPPER runs objwatch under a command (OBJWATCH_WRAPPER="valgrind
# --error-exitcode=99 --leak-check=full").

: "${OBJWATCH:?set OBJWATCH to the objwatch binary (make check does)}"
: "${SRCDIR:?set SRCDIR to the top of the source tree (make check does)}"
: "${BUILDDIR:=$SRCDIR}"
export OBJWATCH SRCDIR BUILDDIR

# A developer's libpq settings must not reach the objwatch under test.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE \
	PGSERVICEFILE PGPASSFILE PGOPTIONS PGDATA PGSSLMODE
# English messages to match, and UTF-8 names kept whole, on every machine.
LC_ALL=C.UTF-8
export LC_ALL
# In an --enable-asan build: leaks of the libraries we use are theirs.
# make check sets this already; a test run by hand gets it here.
case ${LSAN_OPTIONS-} in
*suppressions=*) ;;
*)	LSAN_OPTIONS="suppressions=$SRCDIR/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	export LSAN_OPTIONS ;;
esac

## TAP

_lib_planned=
_lib_ran=0
_lib_failed=0
_lib_done=

# plan N: say how many results this test will print; call it first.
plan() {
	_lib_planned=$1
	echo "1..$1"
}

# pass DESC: one passing result.
pass() {
	_lib_ran=$((_lib_ran + 1))
	echo "ok $_lib_ran - $*"
}

# fail DESC: one failing result.
fail() {
	_lib_ran=$((_lib_ran + 1))
	_lib_failed=$((_lib_failed + 1))
	echo "not ok $_lib_ran - $*"
}

# ok STATUS DESC: pass when STATUS is 0, as in `cmd; ok $? "cmd works"`.
# Returns STATUS, so `ok $? "..." || ow_log` shows the log on a failure.
ok() {
	_lib_status=$1
	shift
	if [ "$_lib_status" -eq 0 ]; then
		pass "$@"
	else
		fail "$@"
		diag "exit status $_lib_status"
	fi
	return "$_lib_status"
}

# is GOT WANT DESC: pass when the two strings are equal, else show both.
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3"
		diag "got:  '$1'"
		diag "want: '$2'"
		return 1
	fi
}

# like GOT REGEX DESC: pass when a line of GOT matches the extended REGEX.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3"
		diag "got:  '$1'"
		diag "want: a line matching /$2/"
	fi
}

# sanitized: whether $OBJWATCH is an --enable-asan build, whose RSS says
# little about its memory (ASan keeps freed memory in quarantine).
sanitized() {
	ldd "$OBJWATCH" 2>/dev/null | grep -q 'libasan'
}

# skip REASON: one result that counts as skipped, for a check that cannot
# run here.
skip() {
	_lib_ran=$((_lib_ran + 1))
	echo "ok $_lib_ran # SKIP $*"
}

# diag MSG...: a TAP comment on stderr, one per line of MSG, kept in the
# test's .log; stderr so that $(...) never captures it.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /' >&2
}

# skip_all REASON: the whole test cannot run here; call it instead of plan.
skip_all() {
	echo "1..0 # SKIP $*"
	_lib_done=1
	exit 0
}

# bail MSG: stop this test now, as an error (setup that cannot go on).
bail() {
	echo "Bail out! $*"
	_lib_done=1
	exit 1
}

## Processes stopped at exit

_lib_pids=

# stop_at_exit PID: have the exit trap stop PID (SIGTERM, then SIGKILL).
stop_at_exit() {
	_lib_pids="$_lib_pids $1"
}

# Whether PID is a live process: a child that exited stays a zombie until
# waited for, and kill -0 would still call it alive.
_lib_alive() {
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	case $(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) in
	Z | X | '') return 1 ;;
	esac
	return 0
}

# Send SIG to PID, wait up to SECONDS for it to go; 1 when it did not.
_lib_signal_wait() {
	kill "-$2" "$1" 2>/dev/null
	_lib_n=$(($3 * 10))
	while _lib_alive "$1"; do
		[ "$_lib_n" -gt 0 ] || return 1
		_lib_n=$((_lib_n - 1))
		sleep 0.1
	done
	return 0
}

# Stop PID politely, then not; reap it when it is our child.
_lib_stop_pid() {
	if _lib_alive "$1" && ! _lib_signal_wait "$1" TERM "$2"; then
		diag "pid $1 ignored SIGTERM for $2 s: killed"
		_lib_signal_wait "$1" KILL 5
	fi
	wait "$1" 2>/dev/null
}

## The temp dir and the exit trap

# /tmp, not $TMPDIR: a Unix socket path must stay under about 100 bytes.
T=$(mktemp -d "/tmp/objwatch-$(basename "$0" .sh).XXXXXX") ||
	bail "cannot make a temp dir under /tmp"
# The postgres user runs the cluster under $T and must be able to reach it.
chmod 755 "$T"

_lib_at_exit=

# at_exit CMD: have the exit trap run CMD (evaluated), after the test's
# processes are stopped and before $T is removed: to unmount, to restore a
# sysctl.
at_exit() {
	_lib_at_exit="$_lib_at_exit
$1"
}

_lib_exit() {
	_lib_status=$?
	trap - EXIT
	for _lib_p in $_lib_pids; do
		_lib_stop_pid "$_lib_p" 10
	done
	_lib_stop_clusters
	eval "$_lib_at_exit"
	# A sanitizer's report in any log of the test fails it, whatever its
	# checks said: a leak is only reported when a process exits.
	_lib_san=$(find "$T" -name '*.log' -type f -exec grep -l -E \
	    'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' {} + \
	    2>/dev/null)
	for _lib_f in $_lib_san; do
		diag "sanitizer report in $_lib_f:"
		grep -E -A 20 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		    "$_lib_f" | head -n 60 | sed "s|^|# |" >&2
		[ "$_lib_status" -ne 0 ] || _lib_status=1
	done
	if [ -z "$_lib_done" ]; then
		if [ -z "$_lib_planned" ]; then
			diag "no plan: the test stopped before plan"
		elif [ "$_lib_ran" -ne "$_lib_planned" ]; then
			diag "planned $_lib_planned results but printed $_lib_ran"
			[ "$_lib_status" -ne 0 ] || _lib_status=1
		fi
		[ "$_lib_failed" -eq 0 ] ||
			diag "failed $_lib_failed of $_lib_ran"
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		diag "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$_lib_status"
}
trap _lib_exit EXIT
# dash runs the EXIT trap on exit, not on a fatal signal: turn those into exits.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

## PostgreSQL

# Where the server binaries are: PG_BINDIR, else version 15, else the
# newest installed.
pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
	elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo /usr/lib/postgresql/15/bin
	else
		_lib_v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
		[ -n "$_lib_v" ] && [ -x "/usr/lib/postgresql/$_lib_v/bin/initdb" ] ||
			return 1
		echo "/usr/lib/postgresql/$_lib_v/bin"
	fi
}

# Run a server command as the cluster's owner: initdb and postgres refuse
# to run as root, so as root they run as the postgres user. From $T, so
# that they are not left in a directory that user cannot read.
_lib_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$T" && runuser -u postgres -- "$@")
	else
		(cd "$T" && "$@")
	fi
}

# Print FILE as diag lines, when there is one.
_lib_diag_file() {
	if [ -s "$1" ]; then
		sed "s|^|# $1: |" "$1" >&2
	fi
}

# pg_start: a private cluster in $T/pg, Unix socket only, with database
# objwatch owned by objwatch (trust auth). Sets and exports PGURL; sets
# PG_DATA (the data dir) and PG_SOCKDIR. 1 on failure, with the logs.
pg_start() {
	PG_BIN=$(pg_bindir) || {
		diag "no PostgreSQL server under /usr/lib/postgresql: run tools/deps.sh"
		return 1
	}
	PG_DATA=$T/pg/data
	PG_SOCKDIR=$T/pg/sock
	PG_LOG=$T/pg/server.log
	mkdir -p "$PG_SOCKDIR" || return 1
	[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$T/pg" || return 1
	# --no-sync and fsync=off: a test cluster need not survive a power cut,
	# and syncing is most of the time initdb and every commit take.
	if ! _lib_as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U objwatch \
		--auth=trust -E UTF8 --no-locale --no-sync \
		>"$T/pg/initdb.log" 2>&1; then
		_lib_diag_file "$T/pg/initdb.log"
		return 1
	fi
	cat >>"$PG_DATA/postgresql.conf" <<-EOF
		listen_addresses = ''
		unix_socket_directories = '$PG_SOCKDIR'
		fsync = off
		full_page_writes = off
		synchronous_commit = off
		log_min_messages = warning
		log_line_prefix = '%m [%p] '
	EOF
	_lib_pg_ctl start || return 1
	PGURL="postgresql://objwatch@/objwatch?host=$PG_SOCKDIR"
	export PGURL
	psql -X -q -v ON_ERROR_STOP=1 \
		-d "postgresql://objwatch@/postgres?host=$PG_SOCKDIR" \
		-c 'CREATE DATABASE objwatch' >/dev/null
}

_lib_pg_ctl() {
	if ! _lib_as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
		-m fast "$@" >"$T/pg/pg_ctl.log" 2>&1; then
		diag "pg_ctl $* failed"
		_lib_diag_file "$T/pg/pg_ctl.log"
		_lib_diag_file "$PG_LOG"
		return 1
	fi
}

# pg_stop: stop the test's cluster (fast shutdown: sessions are cut).
pg_stop() {
	_lib_pg_ctl stop
}

# pg_resume: start the test's cluster again after pg_stop.
pg_resume() {
	_lib_pg_ctl start
}

# pg_restart: stop and start the test's cluster; PGURL stays valid.
pg_restart() {
	_lib_pg_ctl restart
}

# Stop every cluster still running under $T: the test's own, and any that
# an objwatch started and could not stop. SIGQUIT is an immediate shutdown.
_lib_stop_clusters() {
	for _lib_pidfile in $(find "$T" -name postmaster.pid 2>/dev/null); do
		_lib_p=$(sed -n 1p "$_lib_pidfile")
		[ "$(cat "/proc/$_lib_p/comm" 2>/dev/null)" = postgres ] || continue
		_lib_signal_wait "$_lib_p" QUIT 10 ||
			_lib_signal_wait "$_lib_p" KILL 5
	done
}

# sql QUERY: run QUERY on $PGURL; rows one a line, columns joined by |,
# NULL as nothing. The status is psql's: non-zero on any SQL error.
sql() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -d "${PGURL:?call pg_start first}" \
		-c "$1"
}

# wait_for_sql QUERY EXPECTED [TIMEOUT_S=30]: poll QUERY every 0.1 s until
# its output is EXPECTED; 1 on timeout, with the last output as diag. An
# error (a table not made yet) counts as one more try.
wait_for_sql() {
	_lib_deadline=$(($(_lib_ms) + ${3:-30} * 1000))
	while :; do
		_lib_got=$(sql "$1" 2>"$T/.wait_for_sql.err")
		[ "$_lib_got" = "$2" ] && return 0
		[ "$(_lib_ms)" -lt "$_lib_deadline" ] || break
		sleep 0.1
	done
	diag "wait_for_sql: after ${3:-30} s, $1"
	diag "  got:  '$_lib_got'"
	diag "  want: '$2'"
	_lib_diag_file "$T/.wait_for_sql.err"
	return 1
}

## Waiting

# Milliseconds since the epoch (GNU date).
_lib_ms() {
	date +%s%3N
}

# wait_until TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds; 1
# on timeout. As in `wait_until 10 grep -q 'ready' "$OW_LOG"`.
wait_until() {
	_lib_deadline=$(($(_lib_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(_lib_ms)" -lt "$_lib_deadline" ] || return 1
		sleep 0.1
	done
}

# wait_for_file PATH [TIMEOUT_S=30]: wait until PATH exists; 1 on timeout.
wait_for_file() {
	wait_until "${2:-30}" test -e "$1" && return 0
	diag "wait_for_file: no $1 after ${2:-30} s"
	return 1
}

## objwatch

OW_LOG=$T/objwatch.log
OW_PID=

# write_config FILE: write stdin to FILE, as in `write_config c.ini <<EOF`.
write_config() {
	cat >"$1"
}

# ow_start CONF [ARGS...]: start `objwatch run -c CONF ARGS...` in the
# background; output goes to $OW_LOG (appended, so a restart keeps the
# first run's), its pid to $OW_PID. Stopped at exit if still running.
ow_start() {
	_lib_conf=$1
	shift
	echo "--- objwatch run -c $_lib_conf $*" >>"$OW_LOG"
	${OBJWATCH_WRAPPER:-} "$OBJWATCH" run -c "$_lib_conf" "$@" \
		</dev/null >>"$OW_LOG" 2>&1 &
	OW_PID=$!
	stop_at_exit "$OW_PID"
}

# ow_alive [PID]: whether objwatch (or PID) is still running.
ow_alive() {
	_lib_alive "${1:-$OW_PID}"
}

# ow_stop [PID]: SIGTERM, wait up to 20 s, then SIGKILL with a diag. The
# status is objwatch's exit status (143 or 137 when a signal ended it).
ow_stop() {
	_lib_p=${1:-$OW_PID}
	if _lib_alive "$_lib_p" && ! _lib_signal_wait "$_lib_p" TERM 20; then
		diag "objwatch (pid $_lib_p) still running 20 s after SIGTERM: killed"
		_lib_signal_wait "$_lib_p" KILL 5
	fi
	wait "$_lib_p" 2>/dev/null
}

# ow_kill [PID]: SIGKILL, as a crash would; waits for it to be gone.
ow_kill() {
	_lib_p=${1:-$OW_PID}
	_lib_signal_wait "$_lib_p" KILL 5
	wait "$_lib_p" 2>/dev/null
	return 0
}

# ow_log: objwatch's output so far, as diag lines (for a failing check).
ow_log() {
	_lib_diag_file "$OW_LOG"
}

## Health

# health_summary FILE: a /healthz or /readyz body (JSON) in one line:
# database=STATE SOURCE=STATE,ready|notready... workers=RUNNING/CONFIGURED
# status=ok|unhealthy ready=true|false.
health_summary() {
	node -e 'const h = JSON.parse(require("fs").readFileSync(process.argv[1]));
		const s = Object.keys(h.sources).sort().map((k) => k + "=" +
		    h.sources[k].state + "," + (h.sources[k].ready ? "ready" : "notready"));
		console.log(["database=" + h.database.state, ...s,
		    "workers=" + h.workers.running + "/" + h.workers.configured,
		    "status=" + h.status, "ready=" + h.ready].join(" "));' "$1"
}

## Images, made with the vips CLI

# Write a photo-like image of W x H to PATH: two fields of Perlin noise, one
# broad and one finer, and grain, mixed into colour by the matrix on stdin
# (one row per output band: broad, fine, constant). It is not flat, and it
# compresses like a photo. vips starts slowly (~70 ms), hence few calls.
_lib_image() {
	_lib_cell=$(( ($2 > $3 ? $2 : $3) / 4 + 1 ))
	# A scratch dir per call, so images can be made in parallel.
	_lib_d=$(mktemp -d "$T/.image.XXXXXX") || return 1
	cat >"$_lib_d/mix.mat" &&
	vips perlin "$_lib_d/broad.v" "$2" "$3" --cell-size "$_lib_cell" \
		--seed "$4" &&
	vips perlin "$_lib_d/fine.v" "$2" "$3" --cell-size "$((_lib_cell / 4 + 1))" \
		--seed "$(($4 + 1))" &&
	vips gaussnoise "$_lib_d/grain.v" "$2" "$3" --mean 1 --sigma 0.04 \
		--seed "$(($4 + 2))" &&
	vips bandjoin "$_lib_d/broad.v $_lib_d/fine.v $_lib_d/grain.v" \
		"$_lib_d/fields.v" &&
	vips recomb "$_lib_d/fields.v" "$_lib_d/mixed.v" "$_lib_d/mix.mat" &&
	vips cast "$_lib_d/mixed.v" "$1" uchar
	_lib_st=$?
	rm -rf "$_lib_d"
	return $_lib_st
}

# Rows for _lib_image: red, green and blue from the two fields, about a
# mid grey; and an alpha that is clear in places and opaque in others.
_lib_rgb='3 3
150 60 128
90 120 118
-60 110 100'
_lib_rgba='3 4
150 60 128
90 120 118
-60 110 100
-700 200 128'

# make_jpeg PATH W H [SEED=1]: a photo-like W x H JPEG; another SEED gives
# other pixels.
make_jpeg() {
	echo "$_lib_rgb" | _lib_image "$1[Q=85,strip]" "$2" "$3" "${4:-1}"
}

# make_webp PATH W H [SEED=1]: a photo-like W x H WebP.
make_webp() {
	echo "$_lib_rgb" | _lib_image "$1[Q=80,strip]" "$2" "$3" "${4:-1}"
}

# make_png PATH W H [SEED=1]: a W x H RGBA PNG whose alpha runs from clear
# to opaque.
make_png() {
	echo "$_lib_rgba" | _lib_image "$1[strip]" "$2" "$3" "${4:-1}"
}

# image_size PATH: print WxH, as read from the file's header.
image_size() {
	echo "$(vipsheader -f width "$1")x$(vipsheader -f height "$1")"
}

## S3 (s3rver, pinned by tests/package.json and package-lock.json)

S3_PID=
S3_PORT=
S3_ENDPOINT=
S3_DIR=$T/s3

# s3_start BUCKET...: start s3rver on a free port of 127.0.0.1 with the
# buckets made, installing it first (npm ci) when tests/node_modules lacks
# it. Sets S3_PORT, S3_ENDPOINT (127.0.0.1:PORT) and S3_PID; its data stays
# in $S3_DIR, so s3_stop then s3_start again serves the same objects. Keys
# are S3RVER/S3RVER.
#
# --allow-mismatched-signatures: libs3 2.0 signs bucket-level requests
# (listings) over "/bucket/" and s3rver computes "/bucket", so without it
# every listing fails with SignatureDoesNotMatch. The signatures are still
# checked for being well formed.
s3_start() {
	_lib_s3bin=$SRCDIR/tests/node_modules/.bin/s3rver
	[ -x "$_lib_s3bin" ] || _lib_s3bin=$BUILDDIR/tests/node_modules/.bin/s3rver
	if [ ! -x "$_lib_s3bin" ]; then
		_lib_s3_install || return 1
	fi
	mkdir -p "$S3_DIR"
	_lib_s3args=
	for _lib_b in "$@"; do
		_lib_s3args="$_lib_s3args --configure-bucket $_lib_b"
	done
	touch "$T/s3rver.log"
	_lib_s3n=$(grep -c 'listening on' "$T/s3rver.log")
	# the same port on a restart, so configs stay valid
	# shellcheck disable=SC2086
	node "$_lib_s3bin" -d "$S3_DIR" -a 127.0.0.1 -p "${S3_PORT:-0}" \
		--allow-mismatched-signatures $_lib_s3args \
		>>"$T/s3rver.log" 2>&1 &
	S3_PID=$!
	stop_at_exit "$S3_PID"
	wait_until 30 _lib_s3_up "$_lib_s3n" || {
		_lib_diag_file "$T/s3rver.log"
		return 1
	}
	S3_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		"$T/s3rver.log" | tail -n 1)
	S3_ENDPOINT=127.0.0.1:$S3_PORT
	export S3_ENDPOINT
}

# npm ci into the build tree (the source tree may be read-only), once:
# tests running in parallel wait on the same lock.
_lib_s3_install() {
	command -v npm >/dev/null 2>&1 || {
		diag "npm not found: run tools/deps.sh"
		return 1
	}
	mkdir -p "$BUILDDIR/tests" || return 1
	(
		flock 9 || exit 1
		[ -x "$BUILDDIR/tests/node_modules/.bin/s3rver" ] && exit 0
		if [ "$BUILDDIR" != "$SRCDIR" ]; then
			cp "$SRCDIR/tests/package.json" \
				"$SRCDIR/tests/package-lock.json" "$BUILDDIR/tests/" ||
				exit 1
		fi
		npm ci --prefix "$BUILDDIR/tests" --no-audit --no-fund \
			>"$T/npm.log" 2>&1
	) 9>"$BUILDDIR/tests/.npm.lock" || {
		_lib_diag_file "$T/npm.log"
		return 1
	}
}

_lib_s3_up() {
	[ "$(grep -c 'listening on' "$T/s3rver.log")" -gt "$1" ]
}

# s3_stop: stop s3rver (its data stays).
s3_stop() {
	_lib_stop_pid "$S3_PID" 10
}

# s3_stored BUCKET: how many times s3rver has stored an object in BUCKET
# (a PUT that succeeded), from its log.
s3_stored() {
	grep -c "in bucket \"$1\" successfully" "$T/s3rver.log"
}

# s3 COMMAND ARGS...: tests/s3cli.js on the running s3rver, an SDK-like
# client (RFC 3986 keys, Signature V4): put BUCKET KEY FILE, putdir BUCKET
# DIR, get BUCKET KEY FILE, head BUCKET KEY, ls BUCKET [PREFIX], rm BUCKET KEY.
s3() {
	node "$SRCDIR/tests/s3cli.js" "${S3_ENDPOINT:?call s3_start first}" "$@"
}

## RGW (Ceph RADOS Gateway, by tests/rgw.sh)

# A real S3 server: unlike s3rver it verifies Signature V4, answers with
# AWS's error codes, serves https and sends bucket notifications. Its
# cluster lives in $RGW_DIR, stopped by the exit trap.
RGW_DIR=$T/rgw
RGW_LOG=$T/rgw.log
RGW_ENDPOINT=
RGW_SSL_ENDPOINT=
_lib_rgw_trap=

# N free ports of 127.0.0.1, one a line, as the kernel hands them out: all
# held open at once, so they differ. Another process may take one before
# the caller binds it; rgw_start tries again when that happens.
_lib_free_ports() {
	node -e 'const net = require("net");
		const n = Number(process.argv[1]);
		const ss = [];
		const next = () => {
			if (ss.length === n) {
				for (const s of ss) console.log(s.address().port);
				for (const s of ss) s.close();
				return;
			}
			const s = net.createServer();
			ss.push(s);
			s.listen(0, "127.0.0.1", next);
		};
		next();' "$1"
}

# rgw_start [--ssl] [--sts] [BUCKET...]: start RGW on free ports with the
# buckets made. Sets and exports RGW_ENDPOINT (127.0.0.1:PORT),
# RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_DNS_NAME (virtual-host style is
# BUCKET.$RGW_DNS_NAME) and RGW_CEPH_CONF (radosgw-admin -c); with --ssl
# also RGW_SSL_ENDPOINT and RGW_CA_FILE, the CA that signed its
# certificate; with --sts, RGW serves STS too and RGW_ROLE_ARN names a role
# allowed s3:* that the keys may assume (`rgw assume-role`; sessions as
# short as 1 s). 1 on failure, with the log: a test should bail then, as
# without ceph installed.
rgw_start() {
	_lib_rgw_ssl=
	_lib_rgw_sts=
	while :; do
		case ${1:-} in
		--ssl) _lib_rgw_ssl=1 ;;
		--sts) _lib_rgw_sts=--sts ;;
		*) break ;;
		esac
		shift
	done
	command -v radosgw >/dev/null 2>&1 || {
		diag "radosgw not found: install ceph-mon ceph-osd radosgw ceph-common (tools/deps.sh)"
		return 1
	}
	# Before the start, so that a half-started cluster is stopped too.
	if [ -z "$_lib_rgw_trap" ]; then
		at_exit _lib_rgw_stop_all
		_lib_rgw_trap=1
	fi
	_lib_rgw_try=1
	while :; do
		_lib_rgw_ports=$(_lib_free_ports 2) || return 1
		_lib_rgw_port=$(echo "$_lib_rgw_ports" | sed -n 1p)
		_lib_rgw_sslport=
		[ -z "$_lib_rgw_ssl" ] ||
			_lib_rgw_sslport=$(echo "$_lib_rgw_ports" | sed -n 2p)
		echo "--- rgw.sh start (try $_lib_rgw_try)" >>"$RGW_LOG"
		sh "$SRCDIR/tests/rgw.sh" start $_lib_rgw_sts "$RGW_DIR" \
			"$_lib_rgw_port" $_lib_rgw_sslport >"$T/rgw.env" 2>>"$RGW_LOG" </dev/null
		_lib_rgw_st=$?
		[ "$_lib_rgw_st" -eq 0 ] && break
		# 2: a port was taken in the meantime; anything else is broken.
		if [ "$_lib_rgw_st" -ne 2 ] || [ "$_lib_rgw_try" -ge 3 ]; then
			diag "rgw.sh start failed (exit status $_lib_rgw_st)"
			_lib_diag_file "$RGW_LOG"
			return 1
		fi
		sh "$SRCDIR/tests/rgw.sh" stop "$RGW_DIR" 2>>"$RGW_LOG"
		rm -rf "$RGW_DIR"
		_lib_rgw_try=$((_lib_rgw_try + 1))
	done
	# rgw.sh prints NAME=VALUE lines whose values have no spaces or quotes.
	eval "$(grep -E '^RGW_[A-Z_]+=[^ ]*$' "$T/rgw.env")"
	export RGW_ENDPOINT RGW_ACCESS_KEY RGW_SECRET_KEY RGW_DNS_NAME RGW_CEPH_CONF
	[ -z "$_lib_rgw_ssl" ] || export RGW_SSL_ENDPOINT RGW_CA_FILE
	[ -z "$_lib_rgw_sts" ] || export RGW_ROLE_ARN
	for _lib_b in "$@"; do
		rgw mb "$_lib_b" || return 1
	done
}

_lib_rgw_stop_all() {
	[ -d "$RGW_DIR" ] || return 0
	sh "$SRCDIR/tests/rgw.sh" stop "$RGW_DIR" 2>>"$RGW_LOG"
}

# rgw_stop_gateway: stop radosgw only, as an outage of the S3 server: its
# ports refuse connections until rgw_start_gateway; the cluster behind it
# keeps running, so the objects stay.
rgw_stop_gateway() {
	sh "$SRCDIR/tests/rgw.sh" stop-gateway "$RGW_DIR" 2>>"$RGW_LOG" || {
		diag "rgw.sh stop-gateway failed"
		_lib_diag_file "$RGW_LOG"
		return 1
	}
}

# rgw_start_gateway: start radosgw again on the same ports; returns once
# it answers.
rgw_start_gateway() {
	sh "$SRCDIR/tests/rgw.sh" start-gateway "$RGW_DIR" 2>>"$RGW_LOG" </dev/null || {
		diag "rgw.sh start-gateway failed"
		_lib_diag_file "$RGW_LOG"
		return 1
	}
}

# rgw [--ssl] [--virtual] COMMAND ARGS...: tests/s3cli.js (see s3) on the
# running RGW with its keys; --ssl over https, trusting $RGW_CA_FILE only;
# --virtual with the bucket in the Host name (BUCKET.$RGW_DNS_NAME). Set
# RGW_SECRET_KEY or RGW_CA_FILE in a subshell to try wrong ones; set
# RGW_ACCESS_KEY, RGW_SECRET_KEY and RGW_SESSION_TOKEN to use temporary
# credentials (sent as x-amz-security-token).
rgw() {
	_lib_rgw_ep=${RGW_ENDPOINT:?call rgw_start first}
	_lib_rgw_https=
	_lib_rgw_virtual=
	while :; do
		case ${1:-} in
		--ssl)
			_lib_rgw_ep=${RGW_SSL_ENDPOINT:?call rgw_start --ssl first}
			_lib_rgw_https=1 ;;
		--virtual) _lib_rgw_virtual=1 ;;
		*) break ;;
		esac
		shift
	done
	S3_ACCESS_KEY=$RGW_ACCESS_KEY S3_SECRET_KEY=$RGW_SECRET_KEY \
	S3_SESSION_TOKEN=${RGW_SESSION_TOKEN-} \
	S3_HTTPS=$_lib_rgw_https S3_CA_FILE=${_lib_rgw_https:+${RGW_CA_FILE-}} \
	S3_VIRTUAL=$_lib_rgw_virtual S3_VHOST_DOMAIN=$RGW_DNS_NAME \
		node "$SRCDIR/tests/s3cli.js" "$_lib_rgw_ep" "$@"
}
