#!/bin/sh
# Limits fail loudly:
# - a source path that is missing, not a folder or unreadable is an error
#   at `check` and at `run`;
# - when inotify watches run out, one warning per reconcile names the
#   sysctl and a folder, and the periodic reconcile still processes the
#   files in the folders it could not watch. The limit is lowered inside a
#   user namespace of its own (/proc/sys/user/max_inotify_watches), so the
#   rest of the machine keeps its own.
. "$SRCDIR/tests/lib.sh"
plan 11

mkdir -p "$T/conf/in" "$T/conf/out"
echo "not a folder" >"$T/conf/file"
conf() {
	write_config "$T/conf/$1.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = postgresql://nobody@/none?host=$T/nosock
[source.photos]
type = dir
path = $2
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save format=jpeg
output = dir:out/{key}.{ext}
EOF
}

conf file file
out=$("$OBJWATCH" check -c "$T/conf/file.conf" 2>&1)
ok $(( $? != 1 )) "check: a path that is a file fails"
is "$out" "$T/conf/file.conf:6: source 'photos': path '$T/conf/file' is not a folder" \
    "check: it says the path is not a folder"

conf missing gone
out=$("$OBJWATCH" run -c "$T/conf/missing.conf" 2>&1)
ok $(( $? != 1 )) "run: a missing path stops it at start"
is "$out" "$T/conf/missing.conf:6: source 'photos': path '$T/conf/gone': No such file or directory" \
    "run: it names the source, the path and why"

mkdir -m 700 "$T/conf/private"
conf private private
chmod 755 "$T/conf"
# the outputs' folder is nobody's to write too: only the source is wrong
chmod 1777 "$T/conf/out"
if [ "$(id -u)" -eq 0 ] && runuser -u nobody -- "$OBJWATCH" version \
	>/dev/null 2>&1; then
	out=$(runuser -u nobody -- "$OBJWATCH" check -c "$T/conf/private.conf" 2>&1)
	ok $(( $? != 1 )) "check: an unreadable path fails"
	is "$out" "$T/conf/private.conf:6: source 'photos': path '$T/conf/private' is not readable: Permission denied" \
	    "check: it says the path is not readable and why"
elif [ "$(id -u)" -ne 0 ]; then
	out=$("$OBJWATCH" check -c "$T/conf/private.conf" 2>&1)
	ok $? "check: a folder of ours is readable"
	skip "needs root to try a user that cannot read it"
else
	skip "user nobody cannot run $OBJWATCH"
	skip "user nobody cannot run $OBJWATCH"
fi

## Watches running out
if ! unshare -U -r sh -c 'echo 5 >/proc/sys/user/max_inotify_watches' \
	2>/dev/null; then
	i=0
	while [ "$i" -lt 5 ]; do
		skip "cannot lower the inotify watch limit in a user namespace"
		i=$((i + 1))
	done
	exit 0
fi
pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
i=1
while [ "$i" -le 10 ]; do
	mkdir "$T/in/d$i"
	i=$((i + 1))
done
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
[source.many]
type = dir
path = in
settle = 1s
reconcile = 2s
recipes = tiny
[recipe.tiny]
steps = thumbnail width=8 height=8 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
# 5 watches for 11 folders: the top one and 4 others get one.
cat >"$T/limited.sh" <<'EOF'
exec unshare -U -r sh -c 'echo 5 >/proc/sys/user/max_inotify_watches &&
	exec "$@"' sh "$@"
EOF
make_jpeg "$T/tiny.jpg" 24 16 1 || bail "cannot make a JPEG"
OBJWATCH_WRAPPER="sh $T/limited.sh" ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

is "$(sed -n '/start-up scan/q;/cannot watch/p' "$OW_LOG" |
	sed 's/.*warning: //; s|/d[0-9]*|/dN|')" \
    "source 'many': cannot watch '$T/in/dN' and 5 more folders: the limit of inotify watches is reached; raise the sysctl fs.inotify.max_user_watches (now $(cat /proc/sys/fs/inotify/max_user_watches)); until then changes there are found by the reconcile every 2s" \
    "one warning for the whole start-up, naming the sysctl and a folder"
i=1
while [ "$i" -le 10 ]; do
	cp "$T/tiny.jpg" "$T/in/d$i/f.jpg"
	i=$((i + 1))
done
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state = 'done'" 10
ok $? "files in watched and unwatched folders are all processed" || ow_log
is "$(sql "SELECT count(*) || '/' || count(DISTINCT key)
	FROM objwatch.objects")" "10/10" "each once"
# Stopped, so that no reconcile is between its warning and its scan line.
ow_stop
grep -c "source 'many': periodic reconcile scan:" "$OW_LOG" >"$T/n"
[ "$(cat "$T/n")" -ge 1 ]
ok $? "the periodic reconcile ran ($(cat "$T/n") times)"
# Each reconcile (and the start-up scan) warns once, the same warning.
scans=$(grep -c "source 'many': .*scan:" "$OW_LOG")
is "$(grep "source 'many': cannot watch" "$OW_LOG" |
	sed 's/.*warning: //; s|/d[0-9]*|/dN|' | sort | uniq -c |
	sed 's/^ *//')" \
    "$scans source 'many': cannot watch '$T/in/dN' and 5 more folders: the limit of inotify watches is reached; raise the sysctl fs.inotify.max_user_watches (now $(cat /proc/sys/fs/inotify/max_user_watches)); until then changes there are found by the reconcile every 2s" \
    "one warning per reconcile, $scans for $scans scans"
