#!/bin/sh
# What a schedule's run leaves: rows appended to its `into` table (made from
# the result's columns), an export in CSV (RFC 4180) or JSON (an array, or
# one object a line), exact to the byte; an SQL error recorded with its
# message while the daemon and the other schedules carry on. At start,
# each schedule whose last run is older than the current period catches up
# once (the current period only), a run left unfinished by a dead process
# is taken over after its lease, and a restart catches up nothing more.
# objwatch status shows every schedule; objwatch check names bad keys.
. "$SRCDIR/tests/lib.sh"
plan 18

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/sql"
sql "CREATE TABLE trades (ts timestamptz, account text, symbol text,
	qty integer, price numeric(10, 2));
INSERT INTO trades VALUES
	('2026-12-01 10:00Z', 'alice', 'ACME', 10, 12.50),
	('2026-12-01 11:00Z', 'bob', 'GLOBX', 100, 3.25),
	('2026-12-01 12:00Z', 'ACME, \"Inc\"', 'ACME', 4, 50.00),
	('2026-12-01 13:00Z', 'alice', 'GLOBX', 20, 3.00),
	('2026-12-01 14:00Z', 'carol', 'ACME', 1, 1.00)" >/dev/null ||
	bail "cannot fill trades"
cat >"$T/sql/top.sql" <<EOF
-- the top 3 volumes
SELECT account, sum(qty * price) AS volume FROM trades
GROUP BY account ORDER BY volume DESC LIMIT 3;
EOF
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
[schedule.top]
every = 1d
sql_file = sql/top.sql
into = report.top_volumes
output = dir:out/{schedule}-{start}.csv
[schedule.topjson]
every = 1d
sql_file = sql/top.sql
output = dir:out/{schedule}-{start}.json
[schedule.topnd]
cron = "0 0 * * *"
sql_file = sql/top.sql
output = dir:out/{date}/{schedule}.ndjson
[schedule.broken]
every = 1d
sql = SELECT * FROM no_such_table
[schedule.again]
every = 1d
sql = UPDATE trades SET qty = qty WHERE account = 'alice'
EOF
"$OBJWATCH" db -c "$T/ow.conf" migrate >/dev/null 2>&1 || bail "cannot migrate"
sql "CREATE SCHEMA report" >/dev/null
# Each ran yesterday; 'again' was running today's when its process died.
sql "INSERT INTO objwatch.schedule_runs (schedule, period_start, started_at,
	finished_at, rows, host, lease_until)
	SELECT s, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
	    - interval '1 day', now() - interval '1 day',
	    now() - interval '1 day', 0, 'earlier', now() - interval '1 day'
	FROM unnest(ARRAY['top', 'topjson', 'topnd', 'broken']) s;
INSERT INTO objwatch.schedule_runs (schedule, period_start, host, lease_until)
	VALUES ('again', date_trunc('day', now() AT TIME ZONE 'UTC')
	    AT TIME ZONE 'UTC', 'dead', now() - interval '1 second')" >/dev/null
today=$(date -u +%Y%m%dT000000Z)
day=$(date -u +%Y-%m-%d)

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.schedule_runs
	WHERE period_start = date_trunc('day', now() AT TIME ZONE 'UTC')
	    AT TIME ZONE 'UTC' AND finished_at IS NOT NULL" 5 30
ok $? "each schedule caught up today's run" || ow_log

printf 'account,volume\r\nbob,325.00\r\n"ACME, ""Inc""",200.00\r\nalice,185.00\r\n' \
    >"$T/want.csv"
cmp -s "$T/want.csv" "$T/out/top-$today.csv"
ok $? "the CSV export, header and quoting exact" ||
	diag "$(od -c "$T/out/top-$today.csv" | head -20)"
printf '%s\n' '[' '{"account":"bob","volume":325.00},' \
    '{"account":"ACME, \"Inc\"","volume":200.00},' \
    '{"account":"alice","volume":185.00}' ']' >"$T/want.json"
cmp -s "$T/want.json" "$T/out/topjson-$today.json"
ok $? "the JSON export: one array, an object a line" ||
	diag "$(cat "$T/out/topjson-$today.json")"
printf '%s\n' '{"account":"bob","volume":325.00}' \
    '{"account":"ACME, \"Inc\"","volume":200.00}' \
    '{"account":"alice","volume":185.00}' >"$T/want.ndjson"
cmp -s "$T/want.ndjson" "$T/out/$day/topnd.ndjson"
ok $? "the NDJSON export of a cron schedule, in a folder of the day" ||
	diag "$(ls -R "$T/out")"
is "$(find "$T/out" -name '.*' | wc -l)" 0 "no temporary file left"
is "$(sql "SELECT account, volume FROM report.top_volumes ORDER BY volume DESC")" \
    "bob|325.00
ACME, \"Inc\"|200.00
alice|185.00" "into: the rows in a table made from the result's columns"
is "$(sql "SELECT string_agg(column_name || ' ' || data_type, ', '
	ORDER BY ordinal_position) FROM information_schema.columns
	WHERE table_schema = 'report' AND table_name = 'top_volumes'")" \
    "account text, volume numeric" "with the result's column types"
is "$(sql "SELECT rows, error FROM objwatch.schedule_runs WHERE schedule = 'top'
	ORDER BY period_start")" "0|
3|" "the run's row says 3 rows"
is "$(sql "SELECT rows IS NULL, error FROM objwatch.schedule_runs
	WHERE schedule = 'broken' ORDER BY period_start DESC LIMIT 1")" \
    "t|relation \"no_such_table\" does not exist" \
    "an SQL error is recorded with its message"
like "$(cat "$OW_LOG")" \
    "schedule 'broken': the run of $today failed: relation \"no_such_table\" does not exist" \
    "and logged"
is "$(sql "SELECT host <> 'dead', takeovers, rows, error IS NULL
	FROM objwatch.schedule_runs WHERE schedule = 'again'")" "t|1|2|t" \
    "the dead process's run was taken over, once, and finished"
ow_alive; ok $? "the daemon carries on after the failed run"

status=$("$OBJWATCH" status -c "$T/ow.conf" 2>&1)
like "$status" "^top +$(date -u +%Y-%m-%d) [0-9:]{8} +3 +[0-9.]+s  $(date -u -d tomorrow +%Y-%m-%d) 00:00:00  $" \
    "objwatch status: last run, rows, duration, next run"
like "$status" "^broken .* relation \"no_such_table\" does not exist$" \
    "and the error of the last run"
is "$("$OBJWATCH" status --json -c "$T/ow.conf" | node -e '
	const s = JSON.parse(require("fs").readFileSync(0)).schedules;
	console.log(s.map((x) => x.schedule + ":" + x.last_rows).join(" "))')" \
    "again:2 broken:null top:3 topjson:3 topnd:3" "and in --json"

# A restart finds every period done: nothing runs again.
ow_stop
ow_start "$T/ow.conf"
wait_until 30 sh -c "[ \$(grep -c 'next run at' '$OW_LOG') -ge 10 ]"
ok $? "restarted: every schedule waits for tomorrow" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.schedule_runs")" 9 \
    "no catch-up twice: nine runs, yesterday's four and today's five"
ow_stop

write_config "$T/bad.conf" <<EOF
[schedule.a]
cron = 0 */12 * * mon-fry
sql = SELECT 1
[schedule.b]
every = 12 hours
sql = SELECT 1
[schedule.c]
every = 1h
sql_file = missing.sql
[schedule.d]
every = 1h
sql = SELECT 1
output = dir:out/{schedule}.xml
EOF
out=$("$OBJWATCH" check -c "$T/bad.conf" 2>&1)
is "$out" "$T/bad.conf:5: 'every' must be a duration such as 500ms, 30s, 5m or 1h, not '12 hours'
$T/bad.conf:2: schedule 'a': cron \"0 */12 * * mon-fry\": character 16: day of week: 'fry' is not a number or a name
$T/bad.conf:4: schedule 'b': needs 'every' (such as 12h) or 'cron' (such as \"0 */12 * * *\")
$T/bad.conf:9: schedule 'c': sql_file: cannot open '$T/missing.sql': No such file or directory
$T/bad.conf:13: schedule 'd': output 'dir:out/{schedule}.xml' must end in .csv, .json or .ndjson (the format)" \
    "objwatch check: the cron error's position, every's units, a missing sql file"
