#!/bin/sh
# Log files dropped into watched folders become rows of tables: nginx
# combined (plain and gzip), csv with a header, comments, a filter and a
# default, NDJSON with nested fields and an epoch time. Each table is
# created from the declared columns; every row carries its object and line
# number; lines that do not parse are rows of objwatch.rejects with the
# reason, and objwatch.loads counts what each file gave.
. "$SRCDIR/tests/lib.sh"
plan 29

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in/web" "$T/in/trades" "$T/in/events" "$T/in/other" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.web]
type = dir
path = in/web
recipes = access

[source.trades]
type = dir
path = in/trades
recipes = trades

[source.events]
type = dir
path = in/events
recipes = events

[source.other]
type = dir
path = in/other
recipes = other

[recipe.other]
steps = lines format=csv columns="n:bigint,extra:text"
output = table:mine.counts

[recipe.access]
steps = lines format=nginx
output = table:access_log

[recipe.trades]
steps = lines format=csv header=yes delimiter='|' comment='#' follow=no
    columns="day:timestamptz,item:text,qty:bigint,price:numeric"
    default.price=9.99 drop_if="qty = 0"
output = table:trades

[recipe.events]
steps = lines format=json time_format=epoch from.user_id=user.id
    from.name=user.name
    columns="ts:timestamptz,user_id:bigint,name:text,ok:boolean,amount:numeric,tags:jsonb"
output = table:public.events
EOF

cat >"$T/stage/access.log" <<'EOF'
192.0.2.1 - - [03/Dec/2026:08:00:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/7.88.1"
192.0.2.2 - alice [03/Dec/2026:09:30:15 +0100] "POST /api/buy?item=7 HTTP/1.1" 201 48 "https://shop.example/cart" "Mozilla/5.0 (X11; Linux x86_64)"
2001:db8::5 - - [03/Dec/2026:08:01:02 +0000] "GET /missing HTTP/2.0" 404 0 "-" "-"
this is not an access log line
198.51.100.7 - - [03/Dec/2026:08:02:03 +0000] "-" 400 157 "-" "-"
EOF
# 1000 lines, gzip-compressed, named as logrotate names them.
awk 'BEGIN { for (i = 1; i <= 1000; i++)
	printf "10.0.%d.%d - - [02/Dec/2026:23:%02d:%02d +0000] \"GET /p/%d HTTP/1.1\" %d %d \"-\" \"bench\"\n",
	    int(i / 250), i % 250, int(i / 60) % 60, i % 60, i, (i % 10 == 0) ? 500 : 200, i }' |
	gzip -9 >"$T/stage/access.log.1.gz"
cat >"$T/stage/trades.csv" <<'EOF'
# exported 2026-12-03
day|item|qty|price
2026-12-01|apple|3|0.50
2026-12-01|pear|0|1.25
2026-12-02|plum|4x4|2.00
2026-12-02T10:00:00+02:00|"fig|dried"|2|
EOF
cat >"$T/stage/events.json" <<'EOF'
{"ts": 1764748800, "user": {"id": 7, "name": "ann"}, "ok": true, "amount": 12.5, "tags": ["a", "b"]}
{"ts": 1764748801.25, "user": {"id": 8}, "ok": false, "amount": 3, "tags": []}
[1, 2, 3]
{"ts": "soon", "user": {"id": 9}}

{broken
EOF

# A table of the user's own, that does not fit the recipe.
sql "CREATE SCHEMA mine; CREATE TABLE mine.counts (object_id bigint,
	line_no bigint, n integer)"

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }
mv "$T/stage/access.log" "$T/stage/access.log.1.gz" "$T/in/web/"
mv "$T/stage/trades.csv" "$T/in/trades/"
mv "$T/stage/events.json" "$T/in/events/"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 4 60
ok $? "the four files' jobs are done" || ow_log

is "$(sql "SELECT line_no, remote_addr, coalesce(remote_user, 'NULL'),
	extract(epoch FROM time)::bigint, coalesce(method, 'NULL'),
	coalesce(path, 'NULL'), coalesce(protocol, 'NULL'), status, bytes,
	coalesce(referer, 'NULL'), coalesce(user_agent, 'NULL')
	FROM access_log a JOIN objwatch.objects o ON o.id = a.object_id
	WHERE o.key = 'access.log' ORDER BY line_no")" \
"1|192.0.2.1|NULL|1796284800|GET|/index.html|HTTP/1.1|200|512|NULL|curl/7.88.1
2|192.0.2.2|alice|1796286615|POST|/api/buy?item=7|HTTP/1.1|201|48|https://shop.example/cart|Mozilla/5.0 (X11; Linux x86_64)
3|2001:db8::5|NULL|1796284862|GET|/missing|HTTP/2.0|404|0|NULL|NULL
5|198.51.100.7|NULL|1796284923|NULL|NULL|NULL|400|157|NULL|NULL" \
    "nginx lines are typed rows with their line numbers; '-' is NULL"
is "$(sql "SELECT r.line_no, r.reason, r.line, r.truncated
	FROM objwatch.rejects r JOIN objwatch.objects o ON o.id = r.object_id
	WHERE o.key = 'access.log'")" \
    "4|the line does not match the nginx format|this is not an access log line|f" \
    "the line that is not an access log is a reject, with its text"
is "$(sql "SELECT count(*), sum(bytes), count(*) FILTER (WHERE status = 500),
	min(line_no), max(line_no)
	FROM access_log a JOIN objwatch.objects o ON o.id = a.object_id
	WHERE o.key = 'access.log.1.gz'")" "1000|500500|100|1|1000" \
    "a gzip file is read by its magic bytes: all 1000 lines, exact"
is "$(sql "SELECT o.key, l.lines, l.rows, l.dropped, l.rejected, l.rejects_kept,
	l.gzip, l.text_bytes > l.bytes
	FROM objwatch.loads l JOIN objwatch.objects o ON o.id = l.object_id
	WHERE l.recipe = 'access' ORDER BY o.key")" \
"access.log|5|4|0|1|1|f|f
access.log.1.gz|1000|1000|0|0|0|t|t" \
    "objwatch.loads counts each file's lines, rows and rejects"
is "$(sql "SELECT column_name || ':' || data_type FROM information_schema.columns
	WHERE table_name = 'access_log' ORDER BY ordinal_position" | tr '\n' ' ')" \
    "object_id:bigint line_no:bigint remote_addr:inet remote_user:text time:timestamp with time zone method:text path:text protocol:text status:bigint bytes:bigint referer:text user_agent:text " \
    "the table was created from the preset's columns"
is "$(sql "SELECT string_agg(a.attname, ',' ORDER BY k.n)
	FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(att, n),
	pg_attribute a WHERE i.indrelid = 'access_log'::regclass AND i.indisprimary
	AND a.attrelid = i.indrelid AND a.attnum = k.att")" "object_id,line_no" \
    "its key is (object_id, line_no): a line cannot be loaded twice"

is "$(sql "SELECT line_no, extract(epoch FROM day)::bigint, item, qty, price
	FROM trades ORDER BY line_no")" \
"3|1796083200|apple|3|0.50
6|1796198400|fig|dried|2|9.99" \
    "csv: header mapped by name, quoted delimiter kept, empty price takes the default"
is "$(sql "SELECT line_no, reason FROM objwatch.rejects WHERE recipe = 'trades'")" \
    "5|column 'qty': '4x4' is not a bigint" \
    "csv: a value that does not convert rejects its line, saying which and why"
is "$(sql "SELECT lines, rows, dropped, rejected FROM objwatch.loads
	WHERE recipe = 'trades'")" "6|2|3|1" \
    "csv: comment, header and the drop_if line are dropped, not rejected"

is "$(sql "SELECT line_no, extract(epoch FROM ts)::float8, user_id,
	coalesce(name, 'NULL'), ok, amount, tags FROM events ORDER BY line_no")" \
"1|1764748800|7|ann|t|12.5|[\"a\", \"b\"]
2|1764748801.25|8|NULL|f|3|[]" \
    "json: nested paths, epoch times with a fraction, booleans, jsonb"
is "$(sql "SELECT line_no || ': ' || reason FROM objwatch.rejects
	WHERE recipe = 'events' ORDER BY line_no")" \
"3: not a JSON object
4: column 'ts': 'soon' is not a time in the format epoch
6: not JSON: string or '}' expected near 'broken' at column 7" \
    "json: each line that is not a usable object is a reject saying why"
is "$(sql "SELECT lines, rows, dropped, rejected FROM objwatch.loads
	WHERE recipe = 'events'")" "6|2|1|3" "json: the blank line is dropped"

is "$(sql "SELECT count(*) FROM objwatch.results WHERE recipe = 'access'
	AND state = 'done' AND output = 'table:access_log' AND format = 'rows'")" 2 \
    "objwatch.results shows each file done, its output the table"

is "$("$OBJWATCH" status -c "$T/ow.conf" | sed -n '/^LINES/,$p' |
	awk '{ print $1, $2, $3, $4, $5, $6, $7 }')" \
"LINES TABLE FILES LINES ROWS DROPPED REJECTED
access access_log 2 1005 1004 0 1
events public.events 1 6 2 1 3
trades trades 1 6 2 3 1" \
    "objwatch status shows what each lines recipe has loaded"

# A file written again (follow=no): its rows are replaced, not added to.
cat >"$T/stage/trades.csv" <<'EOF'
day|item|qty|price
2026-12-03|kiwi|5|0.20
EOF
mv "$T/stage/trades.csv" "$T/in/trades/trades.csv"
wait_for_sql "SELECT count(*) FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'trades.csv' AND j.state = 'done'" 2 30
ok $? "the new version of trades.csv is loaded" || ow_log
is "$(sql "SELECT line_no, item, qty FROM trades")" "2|kiwi|5" \
    "the new version replaced the old one's rows"
is "$(sql "SELECT count(*) FROM objwatch.rejects WHERE recipe = 'trades'")" 0 \
    "and its rejects"

# Bad input: a binary file, a gzip cut short, bad lines among good ones.
make_png "$T/stage/pic.png" 64 64 1
mv "$T/stage/pic.png" "$T/in/web/"
awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "line %d of a file cut short\n", i }' |
	gzip -1 | head -c 20000 >"$T/stage/cut.log.gz"
mv "$T/stage/cut.log.gz" "$T/in/web/"
{
	awk 'BEGIN { for (i = 1; i <= 200; i++)
		printf "192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] \"GET /%d HTTP/1.1\" 200 1 \"-\" \"x\"\n", i }'
	printf '192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] "GET /\000 HTTP/1.1" 200 1 "-" "x"\n'
	printf '192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] "GET /caf\351 HTTP/1.1" 200 1 "-" "x"\n'
	printf '192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] "GET /last HTTP/1.1" 200 1 "-" "x"'
} >"$T/stage/mixed.log"
mv "$T/stage/mixed.log" "$T/in/web/"
wait_for_sql "SELECT count(*) FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key IN ('pic.png', 'cut.log.gz', 'mixed.log')
	AND j.state IN ('done', 'failed', 'dead')" 3 30
ok $? "the three bad files have final jobs" || ow_log
is "$(sql "SELECT o.key, j.state, j.error_class, j.error FROM objwatch.jobs j
	JOIN objwatch.objects o ON o.id = j.object_id
	WHERE o.key IN ('pic.png', 'cut.log.gz') ORDER BY o.key" |
	sed 's/(after [0-9]* uncompressed bytes)/(after N uncompressed bytes)/')" \
"cut.log.gz|failed|decode|'cut.log.gz': truncated gzip: the compressed stream ends early (after N uncompressed bytes)
pic.png|failed|decode|'pic.png': binary input (NUL bytes): not lines of text" \
    "a binary file and a cut gzip fail as decode errors, saying why"
is "$(sql "SELECT count(*) FROM access_log a JOIN objwatch.objects o
	ON o.id = a.object_id WHERE o.key IN ('pic.png', 'cut.log.gz')")" 0 \
    "and load nothing, not even the lines before the cut"
is "$(sql "SELECT l.lines, l.rows, l.rejected, (SELECT max(line_no) FROM access_log a
	WHERE a.object_id = l.object_id) FROM objwatch.loads l
	JOIN objwatch.objects o ON o.id = l.object_id WHERE o.key = 'mixed.log'")" \
    "202|200|2|200" \
    "mixed.log: its good lines load; the last, with no newline yet, waits for one"
is "$(sql "SELECT r.line_no, r.reason, r.line, encode(substr(r.raw, 50, 4), 'hex')
	FROM objwatch.rejects r JOIN objwatch.objects o ON o.id = r.object_id
	WHERE o.key = 'mixed.log' ORDER BY r.line_no")" \
"201|binary line (NUL byte at byte 50)|192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] \"GET /� HTTP/1.1\" 200 1 \"-\" \"x\"|00204854
202|invalid UTF-8 at byte 53|192.0.2.9 - - [03/Dec/2026:10:00:00 +0000] \"GET /caf� HTTP/1.1\" 200 1 \"-\" \"x\"|636166e9" \
    "a NUL and invalid UTF-8 are rejects: readable text, raw bytes kept"

printf '1,a\n' >"$T/stage/one.csv"
mv "$T/stage/one.csv" "$T/in/other/"
wait_for_sql "SELECT state || '|' || error_class FROM objwatch.jobs
	WHERE recipe = 'other'" "failed|config" 30
ok $? "a table that does not fit fails its job as a config error" || ow_log
is "$(sql "SELECT error FROM objwatch.jobs WHERE recipe = 'other'")" \
    "table \"mine\".\"counts\" does not fit recipe 'other'; column 'n' is integer and the recipe declares bigint; it has no column 'extra' (ALTER TABLE \"mine\".\"counts\" ADD COLUMN \"extra\" text)" \
    "saying what differs and how to fix it"
ow_stop

# A line of 100 MB between two good ones: a reject with its first 4 KiB.
ow_start "$T/ow.conf"
{
	echo '192.0.2.7 - - [03/Dec/2026:11:00:00 +0000] "GET /before HTTP/1.1" 200 1 "-" "x"'
	head -c 100000000 /dev/zero | tr '\0' 'a'
	echo
	echo '192.0.2.7 - - [03/Dec/2026:11:00:01 +0000] "GET /after HTTP/1.1" 200 1 "-" "x"'
} >"$T/stage/huge.log"
mv "$T/stage/huge.log" "$T/in/web/"
wait_for_sql "SELECT l.rows || '|' || l.rejected FROM objwatch.loads l
	JOIN objwatch.objects o ON o.id = l.object_id WHERE o.key = 'huge.log'" "2|1" 60
ok $? "a 100 MB line: the lines around it load" || ow_log
is "$(sql "SELECT r.line_no, r.reason, length(r.raw), r.truncated, length(r.line)
	FROM objwatch.rejects r JOIN objwatch.objects o ON o.id = r.object_id
	WHERE o.key = 'huge.log'")" \
    "2|the line is longer than max_line (1048576 bytes)|4096|t|4096" \
    "and it is a reject, its first 4 KiB kept"
ow_stop
rm -f "$T/in/web/huge.log"

# objwatch process: the rows a table would get, without a database.
printf 'day|item|qty|price\n2026-12-03|kiwi|5|0.20\n2026-12-03|lime|x|1\n' >"$T/p.csv"
is "$("$OBJWATCH" process -c "$T/ow.conf" trades "$T/p.csv" - 2>"$T/p.err")" \
    "2	2026-12-03 00:00:00+00	kiwi	5	0.20" \
    "process prints each row with its line number, as COPY reads it"
is "$(cat "$T/p.err")" "line 3: column 'qty': 'x' is not a bigint
$T/p.csv -> -: 3 lines, 1 rows, 1 dropped, 1 rejected" \
    "and each reject, then what the file gave, on standard error"
