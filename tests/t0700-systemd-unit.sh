#!/bin/sh
# The systemd unit as `make install` installs it: the real paths in place of
# the placeholders, valid for systemd-analyze verify, and rated 2.5 or lower
# by systemd-analyze security. And what Type=notify asks of `objwatch run`:
# READY=1 once the first scan is done, RELOADING=1 and READY=1 around
# SIGHUP, STOPPING=1 on SIGTERM, watchdog pings, all from the main process,
# and nothing of it inherited by the embedded PostgreSQL; all of it under
# the kernel's W^X (the unit's MemoryDenyWriteExecute=) where Linux has it.
# tests/t0710 runs the packaged unit under a real systemd.
. "$SRCDIR/tests/lib.sh"
command -v systemd-analyze >/dev/null 2>&1 ||
	skip_all "systemd-analyze is not installed"
plan 22

# make install, as an admin would, into a folder of ours.
unset MAKEFLAGS MFLAGS MAKELEVEL
inst=$T/inst
make -s -C "$BUILDDIR" install DESTDIR="$inst" >"$T/install.log" 2>&1
ok $? "make install works" || _lib_diag_file "$T/install.log"
unit=$(find "$inst" -name objwatch.service -path '*/systemd/system/*')
[ -f "$unit" ]; ok $? "it installs objwatch.service in a systemd unit folder"
placeholders=$(grep -n '@[a-z_]*@' "$unit")
is "$placeholders" "" "the installed unit has no placeholder left"
bin=$(find "$inst" -type f -name objwatch -path '*/bin/*')
start=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit")
is "$inst$start" "$bin" "ExecStart= is the binary make install installed"
conf=$(sed -n 's/^ExecStart=.* -c \([^ ]*\) run$/\1/p' "$unit")
like "$("$bin" --help)" "else $conf\.\$" \
    "ExecStart= reads the config the binary reads by default"

# verify checks the commands exist: point them at where they are.
sed "s|^\(Exec[A-Za-z]*=\)$start |\1$inst$start |" "$unit" \
	>"$T/objwatch.service"
systemd-analyze verify --man=no "$T/objwatch.service" >"$T/verify.log" 2>&1
ok $? "systemd-analyze verify finds nothing wrong with it" ||
	_lib_diag_file "$T/verify.log"
systemd-analyze security --offline=yes "$unit" >"$T/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for objwatch.service: \([0-9.]*\) .*/\1/p' \
	"$T/security.log")
diag "systemd-analyze security: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.5) }'
ok $? "systemd-analyze security rates it 2.5 or lower (it says $score)" ||
	_lib_diag_file "$T/security.log"
for f in sysusers.d/objwatch.conf tmpfiles.d/objwatch.conf \
    bash-completion/completions/objwatch zsh/site-functions/_objwatch; do
	[ -n "$(find "$inst" -path "*/$f")" ] || missing="${missing-} $f"
done
is "${missing-}" "" "the user, its folders and the completions are installed"

# Type=notify: a stand-in for systemd's socket, and a file there at start.
# Under the kernel's W^X when it has it: libvips must not need to write
# code at run time (Orc is off), nor PostgreSQL (jit is off).
"$BUILDDIR/tests/notify-listen" "$T/notify.sock" >"$T/notify.out" \
	2>"$T/notify.err" &
stop_at_exit $!
wait_until 10 test -S "$T/notify.sock" || bail "notify-listen did not start"
mdwe=
if [ "$("$BUILDDIR/tests/mdwe-exec" "$BUILDDIR/tests/mdwe-exec" --check \
    2>/dev/null)" = refused ]; then
	mdwe=$BUILDDIR/tests/mdwe-exec
fi
mkdir -p "$T/in" "$T/out"
make_jpeg "$T/in/before.jpg" 640 480 1
make_webp "$T/in/before.webp" 320 240 2
write_config "$T/ow.conf" <<EOF
[objwatch]
state_dir = state
workers = 1
listen = 127.0.0.1:0
[source.photos]
type = dir
path = in
recipes = every
[recipe.every]
steps = thumbnail width=200 height=200 fit=cover crop=attention
	| crop ratio=4:3 | watermark text="<b>(c)</b> test" size=12
	| save format=webp
output = dir:out/{name}.{ext}
EOF
# As the unit runs it (PGOPTIONS too), with systemd's variables.
[ -z "${OBJWATCH_WRAPPER-}" ] || mdwe=	# valgrind writes code: no W^X
wrapper=${OBJWATCH_WRAPPER-}
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 PGOPTIONS='-c jit=off'
OBJWATCH_WRAPPER=${mdwe:-$wrapper}
export NOTIFY_SOCKET WATCHDOG_USEC PGOPTIONS
ow_start "$T/ow.conf"
unset NOTIFY_SOCKET WATCHDOG_USEC PGOPTIONS
OBJWATCH_WRAPPER=$wrapper
wait_until 60 grep -q 'READY=1' "$T/notify.out"
ok $? "READY=1 is sent" || { ow_log; _lib_diag_file "$T/notify.out"
	_lib_diag_file "$T/state/pg/postgres.log"; }
jobs=$("$OBJWATCH" -c "$T/ow.conf" db psql -XAtq -c \
	"SELECT count(*) FROM objwatch.jobs" 2>&1)
is "$jobs" 2 "by then the files there at start are queued"
like "$(grep 'READY=1' "$T/notify.out")" "STATUS=running: 1 sources, 1 recipes, 1 workers" \
    "with a STATUS= line for systemctl status"
wait_until 60 test -f "$T/out/before.jpg.webp" -a -f "$T/out/before.webp.webp"
ok $? "the daemon processes them${mdwe:+, under W^X}" || ow_log
# The embedded server inherited W^X, so its JIT cannot work there: what
# the unit's PGOPTIONS is for.
if [ -z "$mdwe" ]; then
	skip "this kernel has no PR_SET_MDWE: W^X not tried"
elif [ ! -f "$(pg_bindir)/../lib/llvmjit.so" ]; then
	skip "this PostgreSQL has no JIT"
else
	jit=$("$OBJWATCH" -c "$T/ow.conf" db psql -XAtq -c "SET jit = on;
	    SET jit_above_cost = 0; SELECT sum(g) FROM generate_series(1, 1000) g" 2>&1)
	like "$jit" "JIT|failed to look up symbol" \
	    "under W^X the embedded PostgreSQL cannot JIT (hence jit=off)"
fi

pings=$(grep -c ': WATCHDOG=1$' "$T/notify.out")
sleep 1
pings2=$(grep -c ': WATCHDOG=1$' "$T/notify.out")
[ "$pings2" -ge $((pings + 3)) ]
ok $? "WATCHDOG=1 every half WATCHDOG_USEC ($pings, then $pings2 a second later)"

# The server was started by objwatch with a clean environment.
leaked=
pidfile=$T/state/pg/data/postmaster.pid
for p in $(head -1 "$pidfile") $(pgrep -P "$(head -1 "$pidfile")"); do
	tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
	    grep -q '^NOTIFY_SOCKET=\|^WATCHDOG_' && leaked="$leaked $p"
done
is "$leaked" "" "postgres does not inherit NOTIFY_SOCKET or WATCHDOG_USEC"

kill -HUP "$OW_PID"
wait_until 30 sh -c "grep -A100 'RELOADING=1' '$T/notify.out' | grep -q 'READY=1'"
ok $? "SIGHUP: RELOADING=1, then READY=1 once the new config runs" ||
	_lib_diag_file "$T/notify.out"
like "$(grep 'RELOADING=1' "$T/notify.out")" "WATCHDOG_USEC=[0-9]+" \
    "a reload asks the watchdog to wait for the jobs in hand"

ow_stop
is $? 0 "SIGTERM: objwatch exits 0"
tail -n 1 "$T/notify.out" | grep -q 'STOPPING=1'
ok $? "STOPPING=1 is the last word" || _lib_diag_file "$T/notify.out"
others=$(grep -v "^$OW_PID: " "$T/notify.out")
is "$others" "" "every message comes from objwatch's main process"
# Nothing before READY=1 but the start timeout's extensions and pings.
before=$(sed '/READY=1/q' "$T/notify.out" | grep -v 'READY=1' |
	grep -v ': EXTEND_TIMEOUT_USEC=[0-9]* STATUS=first scan: [0-9] of 1 sources done$' |
	grep -v ': WATCHDOG=1$')
is "$before" "" "before READY=1: only EXTEND_TIMEOUT_USEC and pings"

# Outside systemd nothing of this happens: no socket, no message.
: >"$T/notify.out"
ow_start "$T/ow.conf"
wait_until 30 grep -q 'start-up scan' "$OW_LOG"
sleep 0.5
ow_stop
is "$(cat "$T/notify.out")" "" "without NOTIFY_SOCKET objwatch sends nothing"
