#!/bin/sh
# A SIGHUP while the database is down does not strand the jobs in hand:
# the stopping workers keep trying to record them (for up to 30 s), so
# once the database is back they are done, each on its first attempt,
# rather than held by their lease (here 5 minutes) and run again.
. "$SRCDIR/tests/lib.sh"
plan 5

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
lease = 5m
[source.photos]
type = dir
path = in
recipes = big
[recipe.big]
steps = thumbnail width=1200 | save format=png
output = dir:out/{stem}.{ext}
EOF
make_jpeg "$T/big.jpg" 3000 2000 1 || bail "no image"
ow_start "$T/ow.conf"
wait_until 30 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
for i in 1 2 3 4 5 6; do cp "$T/big.jpg" "$T/in/p$i.jpg"; done
running() { [ "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'running'")" -ge 1 ]; }
wait_until 30 running || { ow_log; bail "no job started"; }
# The database goes away with jobs in hand, and a reload comes at once.
pg_stop
kill -HUP "$OW_PID"
# The outage lasts until the reload has begun and a worker with a job in
# hand has found the database gone.
outage_seen() {
	grep -q 'SIGHUP: reloading' "$OW_LOG" &&
	grep -q '; reconnecting$' "$OW_LOG"
}
wait_until 30 outage_seen
ok $? "the reload begins and a worker loses the database with a job in hand" ||
	ow_log
pg_resume || bail "cannot start PostgreSQL again"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 6 90
ok $? "every job is done within 90 s, well inside its 5-minute lease" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE attempts <> 1")" 0 \
    "each on its first attempt: none was left leased and run again"
is "$(ls "$T/out" | wc -l | tr -d ' ')" 6 "six outputs"
ow_stop
ok $? "objwatch stops cleanly"
