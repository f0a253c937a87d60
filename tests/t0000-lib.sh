#!/bin/sh
# The test library does what the other tests rely on: a private PostgreSQL
# cluster, SQL and waiting helpers, objwatch process control, image makers,
# and a cleanup that leaves nothing running when a test is interrupted.
. "$SRCDIR/tests/lib.sh"

plan 29

is "$(stat -c %a "$T")" 755 "the temp dir is reachable by the postgres user"

## PostgreSQL

pg_start
ok $? "pg_start makes and starts a cluster"
like "$PGURL" "^postgresql://objwatch@/objwatch\?host=$T/" \
	"PGURL names database objwatch on a socket under the temp dir"
is "$(sql 'SELECT current_user, current_database()')" "objwatch|objwatch" \
	"sql connects as objwatch to database objwatch"
is "$(sql "SELECT 1, 'a' UNION ALL SELECT 2, NULL ORDER BY 1")" "1|a
2|" "sql prints one row a line, columns joined by |, NULL as nothing"
is "$(sql "SHOW listen_addresses")" "" "the cluster listens on no TCP address"

sql 'SELECT no_such_column' 2>/dev/null
is $? 1 "sql fails on an SQL error"

sql 'CREATE TABLE t (n int)'
(sleep 0.5; sql 'INSERT INTO t VALUES (1)') &
wait_for_sql 'SELECT count(*) FROM t' 1 10
ok $? "wait_for_sql sees a row that arrives later"
wait
wait_for_sql 'SELECT count(*) FROM t' 2 1 2>/dev/null
is $? 1 "wait_for_sql gives up after its timeout"

pg_restart
ok $? "pg_restart restarts the cluster"
is "$(sql 'SELECT n FROM t')" 1 "data and PGURL survive a restart"

pg_stop
ok $? "pg_stop stops the cluster"
sql 'SELECT 1' >/dev/null 2>&1
is $? 2 "a stopped cluster refuses connections"

## Waiting

(sleep 0.3; touch "$T/late") &
wait_for_file "$T/late" 5
ok $? "wait_for_file sees a file that appears later"
wait
wait_for_file "$T/never" 1 2>/dev/null
is $? 1 "wait_for_file gives up after its timeout"

## objwatch processes, with a stand-in that runs until signalled

write_config "$T/stand-in" <<-'EOF2'
	#!/bin/sh
	echo "stand-in $*"
	exec sleep 600
EOF2
chmod +x "$T/stand-in"
OBJWATCH=$T/stand-in

ow_start "$T/objwatch.ini"
wait_until 5 grep -q "stand-in run -c $T/objwatch.ini" "$OW_LOG"
ok $? "ow_start runs 'objwatch run -c CONF' with its output in OW_LOG"
ow_alive
ok $? "ow_alive says a running objwatch is alive"
ow_stop
is $? 143 "ow_stop stops it with SIGTERM and returns its status"
ow_alive
is $? 1 "ow_alive says a stopped objwatch is not"

ow_start "$T/objwatch.ini"
ow_kill
ow_alive
is $? 1 "ow_kill kills it"

## Images

make_jpeg "$T/a.jpg" 640 427
is "$(image_size "$T/a.jpg") $(vipsheader -f vips-loader "$T/a.jpg")" \
	"640x427 jpegload" "make_jpeg makes a JPEG of the size asked"
deviation=$(vips deviate "$T/a.jpg")
is "$(echo "$deviation" | awk '{ print ($1 > 20) }')" 1 \
	"make_jpeg's image is not flat (deviation $deviation)"

make_png "$T/a.png" 300 200
is "$(image_size "$T/a.png") $(vipsheader -f bands "$T/a.png")" \
	"300x200 4" "make_png makes an RGBA PNG of the size asked"
vips extract_band "$T/a.png" "$T/alpha.v" 3
is "$(printf "%.0f %.0f" "$(vips min "$T/alpha.v")" "$(vips max "$T/alpha.v")")" "0 255" \
	"make_png's alpha runs from clear to opaque"

make_webp "$T/a.webp" 1024 768
is "$(image_size "$T/a.webp") $(vipsheader -f vips-loader "$T/a.webp")" \
	"1024x768 webpload" "make_webp makes a WebP of the size asked"

## Cleanup: an interrupted test leaves nothing running and no temp dir

write_config "$T/child.sh" <<-'EOF2'
	. "$SRCDIR/tests/lib.sh"
	plan 1
	pg_start || exit 1
	ow_start "$T/objwatch.ini"
	echo "$T $(sed -n 1p "$PG_DATA/postmaster.pid") $OW_PID" >"$INFO"
	# In the background, so that the shell takes the signal at once.
	sleep 600 &
	stop_at_exit $!
	wait $!
EOF2
INFO=$T/child.info sh "$T/child.sh" >"$T/child.out" 2>&1 &
child=$!
wait_for_file "$T/child.info" 20
read -r child_tmp child_pg child_ow <"$T/child.info"
kill -TERM "$child"
wait "$child"
is $? 143 "a test interrupted by SIGTERM exits 143"
ow_alive "$child_ow"
is $? 1 "its objwatch is stopped"
ow_alive "$child_pg"
is $? 1 "its cluster is stopped"
is "$(ls -d "$child_tmp" 2>/dev/null)" "" "its temp dir is removed"
