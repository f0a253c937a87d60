#!/bin/sh
# bench/dir-scale.sh: how a dir source copes with many files.
#
#	OBJWATCH=./objwatch SRCDIR=. sh bench/dir-scale.sh [FOLDERS [PER]]
#
# Builds FOLDERS leaf folders (default 1000, nested three deep: 10 x 10 x
# 10) holding PER files each (default 100: 100,000 files), hard links to
# PER copies of one tiny JPEG (a file system caps links per inode), and
# prints:
#   - the start-up reconcile time on a fresh tree (everything is new) and
#     on a tree already recorded (nothing is);
#   - objwatch's peak resident memory (VmHWM) after each;
#   - the time from writing one new file to its object row, in a folder
#     already watched and in a folder just made.
# Not run by make check: it takes minutes and prints figures, it does not
# pass or fail.
. "$SRCDIR/tests/lib.sh"
_lib_done=1	# no TAP plan: this prints figures

FOLDERS=${1:-1000}
PER=${2:-100}

pg_start || { echo "cannot start PostgreSQL" >&2; exit 1; }
mkdir -p "$T/in" "$T/out" "$T/leaf"
make_jpeg "$T/tiny.jpg" 16 16 1 || exit 1
i=1
while [ "$i" -le "$PER" ]; do
	cp "$T/tiny.jpg" "$T/leaf/f$i.jpg"
	i=$((i + 1))
done
n=0
a=0
while [ "$n" -lt "$FOLDERS" ]; do
	b=0
	while [ "$b" -lt 10 ] && [ "$n" -lt "$FOLDERS" ]; do
		c=0
		mkdir -p "$T/in/a$a/b$b"
		while [ "$c" -lt 10 ] && [ "$n" -lt "$FOLDERS" ]; do
			cp -al "$T/leaf" "$T/in/a$a/b$b/c$c"
			c=$((c + 1))
			n=$((n + 1))
		done
		b=$((b + 1))
	done
	a=$((a + 1))
done
files=$(find "$T/in" -type f | wc -l)
dirs=$(find "$T/in" -type d | wc -l)

write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 1
poll = 1s
[source.scale]
type = dir
path = in
include = *.jpg
recipes = tiny
[recipe.tiny]
steps = thumbnail width=8 height=8 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF

# Seconds of the last start-up scan, from its log line.
scan_seconds() {
	grep 'start-up scan' "$OW_LOG" | tail -n 1 |
		sed 's/.*, \([0-9.]*\) s$/\1/'
}
hwm() {
	sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$OW_PID/status"
}
# ms from writing $1 (a path under in/) to its object row.
notice_ms() {
	t0=$(_lib_ms)
	cp "$T/tiny.jpg" "$T/in/$1"
	while [ "$(sql "SELECT count(*) FROM objwatch.objects
		WHERE key = '$1'")" != 1 ]; do
		sleep 0.01
	done
	echo $(($(_lib_ms) - t0))
}

echo "machine: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' \
	/proc/cpuinfo | head -n 1), $(uname -r)"
echo "tree: $files files in $dirs folders"

ow_start "$T/ow.conf"
wait_until 3600 grep -q 'start-up scan' "$OW_LOG" || { ow_log; exit 1; }
echo "fresh tree: start-up reconcile $(scan_seconds) s, VmHWM $(hwm)"
grep 'start-up scan' "$OW_LOG" | tail -n 1 | sed 's/^/  /'
ow_stop

ow_start "$T/ow.conf"
second_scan() {
	[ "$(grep -c 'start-up scan' "$OW_LOG")" -ge 2 ]
}
wait_until 3600 second_scan || { ow_log; exit 1; }
echo "recorded tree: start-up reconcile $(scan_seconds) s, VmHWM $(hwm)"
grep 'start-up scan' "$OW_LOG" | tail -n 1 | sed 's/^/  /'

echo "notice a new file in a watched folder: $(notice_ms a0/b0/c0/new1.jpg) ms"
mkdir "$T/in/a0/b0/fresh"
echo "notice a new file in a new folder: $(notice_ms a0/b0/fresh/new2.jpg) ms"
echo "VmHWM at the end: $(hwm)"
ow_stop
