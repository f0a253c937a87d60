#!/bin/sh
# An unprivileged objwatch never takes a file another user is still
# writing. Without CAP_LEASE it cannot place a read lease on a file of
# another uid, and it cannot read the open files (/proc/PID/fd) of another
# uid's processes either: nothing tells it that such a writer is there. So
# a file of another user is taken once its writer closes it
# (IN_CLOSE_WRITE) or once it has been still (same size, mtime and ctime)
# for `settle`, and objwatch says so at start.
#
# Here objwatch runs as a user of its own and two slow writers run as
# nobody, each writing a JPEG through one open file in chunks 1.5 s apart:
# longer than a reconcile period (1 s), so every reconcile sees a file
# that did not change since the one before, and longer than the event
# loop's tick; shorter than settle (3 s), the one promise objwatch can keep
# about a writer it cannot see. One writer is half-way when objwatch starts
# (the start-up scan and the periodic reconciles meet it), the other starts
# afterwards (IN_CREATE, then the pending table and the reconciles).
# Each must end as one job, done, made from the whole image.
#
# What can be seen is used: a file of another user that objwatch's own
# user writes is found open in /proc/PID/fd, and waits however long its
# writer pauses; a file linked in by another user, which no close follows,
# is taken once still for settle.
. "$SRCDIR/tests/lib.sh"

[ "$(id -u)" -eq 0 ] ||
	skip_all "needs root: to run objwatch and a writer as two other users"
command -v setpriv >/dev/null 2>&1 || skip_all "needs setpriv (util-linux)"
plan 22

OWUSER=objwatch-t0260
if ! id -u "$OWUSER" >/dev/null 2>&1; then
	useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$OWUSER" ||
		bail "cannot make the user $OWUSER"
	at_exit "userdel '$OWUSER' 2>/dev/null"
fi
OWUID=$(id -u "$OWUSER")
OWGID=$(id -g "$OWUSER")
WUID=$(id -u nobody) || bail "no user nobody"
WGID=$(id -g nobody)
[ "$WUID" != "$OWUID" ] || bail "nobody and $OWUSER share a uid"

# setpriv execs (no process in between, so $OW_PID is objwatch's), and a
# root that changes its uid loses every capability.
AS_OW="setpriv --reuid=$OWUID --regid=$OWGID --clear-groups --"
AS_WRITER="setpriv --reuid=$WUID --regid=$WGID --clear-groups --"

pg_start || bail "cannot start PostgreSQL"
# The socket is 0777 in a 0755 folder under the 0755 $T: the user can
# reach it. Say so if that ever changes, rather than failing later.
$AS_OW test -w "$PG_SOCKDIR/.s.PGSQL.5432" ||
	bail "$OWUSER cannot reach the PostgreSQL socket in $PG_SOCKDIR"

# A folder both users write to, as an upload folder is; the outputs and
# the log belong to objwatch's user.
mkdir -p "$T/in" "$T/out" "$T/img" "$T/w"
chmod 777 "$T/in" "$T/w"
chown "$OWUID:$OWGID" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.up]
type = dir
path = in
settle = 3s
reconcile = 1s
recipes = thumbs

[recipe.thumbs]
steps = thumbnail width=100 height=100 | save format=png
output = dir:out/{stem}.{ext}
EOF
chmod 644 "$T/ow.conf"
make_jpeg "$T/img/early.jpg" 1200 900 1 || bail "cannot make a JPEG"
make_jpeg "$T/img/late.jpg" 900 1200 2 || bail "cannot make a JPEG"
make_jpeg "$T/img/own.jpg" 600 400 3 || bail "cannot make a JPEG"
make_jpeg "$T/img/linked.jpg" 400 600 4 || bail "cannot make a JPEG"
chmod 644 "$T"/img/*.jpg
touch "$OW_LOG"
chown "$OWUID:$OWGID" "$OW_LOG"

# slow_write AS N PAUSE SRC DST: as the user of AS, write SRC to DST in N
# chunks, PAUSE seconds apart, through one open file (the shell's
# redirection), so the only close, and IN_CLOSE_WRITE, comes at the end.
# $T/w/NAME counts the chunks written.
slow_write() {
	_chunk=$((($(stat -c %s "$4") + $2 - 1) / $2))
	$1 sh -c '
		exec >"$5"
		i=0
		while [ $i -lt $1 ]; do
			dd if="$3" bs="$4" skip=$i count=1 status=none
			i=$((i + 1))
			echo $i >"$6"
			if [ $i -lt $1 ]; then sleep "$2"; fi
		done' sh "$2" "$3" "$4" "$_chunk" "$5" "$T/w/$(basename "$5")"
}
# wrote NAME N: whether the writer of NAME wrote N chunks or more.
wrote() { [ "$(cat "$T/w/$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# The first writer is half-way when objwatch starts.
slow_write "$AS_WRITER" 6 1.5 "$T/img/early.jpg" "$T/in/early.jpg" &
early=$!
stop_at_exit "$early"
wait_until 10 wrote early.jpg 2 || bail "the writer did not start"
is "$(stat -c %u "$T/in/early.jpg")" "$WUID" "the upload belongs to nobody"

OBJWATCH_WRAPPER="$AS_OW ${OBJWATCH_WRAPPER:-}"
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
is "$(awk '/^Uid:/ { print $2 } /^CapEff:/ { print $2 }' "/proc/$OW_PID/status" |
    paste -sd ' ')" "$OWUID 0000000000000000" \
    "objwatch runs as $OWUSER with no capability (no CAP_LEASE)"
like "$(cat "$OW_LOG")" "source 'up': objwatch cannot take leases on files of other users \(no CAP_LEASE\): files of other users are taken once closed after writing \(IN_CLOSE_WRITE\) or still for 3s" \
    "at start it says how it tells that a file of another user is complete"

# The second writer starts now, while objwatch watches.
slow_write "$AS_WRITER" 6 1.5 "$T/img/late.jpg" "$T/in/late.jpg" &
late=$!
stop_at_exit "$late"

# Just before each writer's last chunk: several reconciles and settle
# checks have seen the file, unchanged for 1.5 s at a time.
wait_until 20 wrote early.jpg 5 || bail "the writer stalled"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key = 'early.jpg'")" 0 \
    "a file met half-written by the start-up scan is not taken while written"
wait_until 20 wrote late.jpg 5 || bail "the writer stalled"
is "$(sql "SELECT count(*) FROM objwatch.objects WHERE key = 'late.jpg'")" 0 \
    "nor a file made while watched, through reconciles every second"
wait "$early"
ok $? "the first writer finished"
wait "$late"
ok $? "the second writer finished"
cmp -s "$T/img/early.jpg" "$T/in/early.jpg" &&
	cmp -s "$T/img/late.jpg" "$T/in/late.jpg"
ok $? "both uploads are whole"

wait_for_sql "SELECT string_agg(key || '=' || state, ' ' ORDER BY key)
	FROM objwatch.results" "early.jpg=done late.jpg=done" 30
ok $? "both are processed once closed" || ow_log

# A file of nobody's (0666) that objwatch's own user writes: the lease is
# refused, but the writer's open file is in /proc, so the file waits
# through a pause longer than settle and the reconciles within it.
$AS_WRITER sh -c 'umask 0; : >"$1"' sh "$T/in/own.jpg"
slow_write "$AS_OW" 2 10 "$T/img/own.jpg" "$T/in/own.jpg" &
own=$!
stop_at_exit "$own"
wait_until 10 wrote own.jpg 1 || bail "the writer did not start"
# Four reconciles (1 s apart) after the first chunk: the last began after
# settle (3 s) had passed with the file unchanged, and saw it.
mark=$(grep -c "source 'up': periodic reconcile scan:" "$OW_LOG")
wait_until 20 sh -c "[ \$(grep -c \"source 'up': periodic reconcile scan:\" '$OW_LOG') -ge $((mark + 4)) ]"
ok $? "four reconciles run while the writer pauses" || ow_log
is "$(stat -c %U "$T/in/own.jpg") $(cat "$T/w/own.jpg") $(sql "SELECT count(*)
	FROM objwatch.objects WHERE key = 'own.jpg'")" "nobody 1 0" \
    "a file of another user written by objwatch's user waits longer than settle"
wait "$own"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'own.jpg'" done 30
ok $? "and is processed once closed" || ow_log

# No close follows a link: once still for settle, it is taken.
$AS_WRITER sh -c 'cp "$1" "$2/.up.jpg" && ln "$2/.up.jpg" "$2/linked.jpg" &&
	rm "$2/.up.jpg"' sh "$T/img/linked.jpg" "$T/in"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'linked.jpg'" \
    done 30
ok $? "a file another user links in is taken once still" || ow_log

is "$(sql "SELECT string_agg(key || ' ' || width || 'x' || height, ', '
	ORDER BY key) FROM objwatch.results")" \
    "early.jpg 100x75, late.jpg 75x100, linked.jpg 67x100, own.jpg 100x67" \
    "each from its whole image"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 4 "one job each"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE error IS NOT NULL")" 0 \
    "no job failed, even once (no 'decode: truncated')"
for f in early late own linked; do
	want=$(stat -c '%s %.9Y %i' "$T/in/$f.jpg" |
	    awk '{ split($2, t, "."); printf "%s:%s%s:%s", $1, t[1], t[2], $3 }')
	is "$(sql "SELECT count(*) || ' ' || max(version) || ' ' || max(size)
		FROM objwatch.objects WHERE key = '$f.jpg'")" \
	    "1 $want $(stat -c %s "$T/in/$f.jpg")" \
	    "$f.jpg: one version, the finished file's (size, mtime, inode)"
done
is "$(stat -c %U "$T"/out/*.png | sort -u)" "$OWUSER" \
    "the outputs are written by objwatch's user"

ow_stop
ok $? "objwatch stops cleanly" || ow_log
