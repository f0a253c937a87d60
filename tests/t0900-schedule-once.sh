#!/bin/sh
# A schedule runs once per period however many processes run it: two
# objwatch processes on one database, `every = 2s`, each period claimed by
# one of them (its row in objwatch.schedule_runs), none twice, none skipped,
# and what each run returned appended to its `into` table once.
. "$SRCDIR/tests/lib.sh"
plan 8

pg_start || bail "cannot start PostgreSQL"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
[schedule.tick]
every = 2s
sql = SELECT current_setting('objwatch.period_start')::timestamptz AS period,
    current_setting('objwatch.schedule') AS schedule
into = ticks
EOF
ow_start "$T/ow.conf"; p1=$OW_PID
ow_start "$T/ow.conf"; p2=$OW_PID
wait_for_sql "SELECT count(*) >= 8 FROM objwatch.schedule_runs
	WHERE finished_at IS NOT NULL" t 60
ok $? "eight periods ran" || ow_log
ow_stop "$p1"; ow_stop "$p2"

runs=$(sql "SELECT count(*) FROM objwatch.schedule_runs")
is "$(sql "SELECT count(DISTINCT period_start) FROM objwatch.schedule_runs")" \
    "$runs" "no period ran twice ($runs runs)"
is "$(sql "SELECT (extract(epoch FROM max(period_start) - min(period_start))
	/ 2 + 1)::int FROM objwatch.schedule_runs")" "$runs" \
    "no period between the first and the last was skipped"
is "$(sql "SELECT count(*) FROM objwatch.schedule_runs
	WHERE extract(epoch FROM period_start)::bigint % 2 <> 0")" 0 \
    "periods start on 2 s boundaries from the epoch"
is "$(sql "SELECT count(*) FROM objwatch.schedule_runs WHERE finished_at IS NULL
	OR error IS NOT NULL OR rows <> 1 OR takeovers <> 0")" 0 \
    "every run finished, with its one row and no error"
is "$(sql "SELECT count(*), count(DISTINCT period) FROM ticks")" "$runs|$runs" \
    "each run appended its row to ticks once"
is "$(sql "SELECT count(*) FROM ticks t JOIN objwatch.schedule_runs r
	ON r.period_start = t.period WHERE t.schedule = 'tick'")" "$runs" \
    "each row says its period and schedule"
hosts=$(sql "SELECT count(DISTINCT host) FROM objwatch.schedule_runs")
is "$(grep -c "schedule 'tick': ran for" "$OW_LOG")" "$runs" \
    "the log says each run once ($hosts process(es) ran them)"
