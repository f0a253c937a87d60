#!/bin/sh
# A database restart in the middle of a run: workers and the folder watcher
# reconnect with backoff and listen again; every file, whether it arrived
# before, during or after the restart, is done exactly once.
. "$SRCDIR/tests/lib.sh"
plan 6

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 30s
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=120 | save format=jpeg
output = dir:out/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 2400 1600 1
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"

for i in 1 2 3 4 5 6 7 8 9 10; do cp "$T/a.jpg" "$T/in/before$i.jpg"; done
pg_restart || bail "cannot restart PostgreSQL"
for i in 1 2 3 4 5; do cp "$T/a.jpg" "$T/in/during$i.jpg"; done
wait_until 30 grep -q 'database connection is back' "$OW_LOG"
ok $? "objwatch notices and reconnects" || ow_log

# The 15 files of before and during are done on new connections: the
# watcher recorded them and the workers that did them connected again
# (and LISTENed, first thing). Then they are idle.
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 15 60
ok $? "the files from before and during the restart are done" || ow_log
# poll is 30 s: idle workers take the new files in time only if they
# LISTEN again.
for i in 1 2 3 4 5; do cp "$T/a.jpg" "$T/in/after$i.jpg"; done
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 20 25
ok $? "every file is done, the last ones woken by NOTIFY" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT key) FROM objwatch.results")" \
    "20|20" "exactly one row per file"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'")" 0 \
    "nothing failed"
ow_stop
ok $? "objwatch stops cleanly"
