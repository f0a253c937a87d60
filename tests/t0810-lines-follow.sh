#!/bin/sh
# A log file that grows is followed: each load goes on where the last one
# ended, a last line without its newline waits for it, and log rotation
# (rename and a new file; copytruncate) neither loses nor doubles a line.
# A SIGKILL in the middle of a large COPY leaves nothing half-loaded: the
# job runs again after the restart and every line is in the table once.
. "$SRCDIR/tests/lib.sh"
plan 21

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in/app" "$T/in/big" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s

[source.app]
type = dir
path = in/app
settle = 0.5s
recipes = app

[source.big]
type = dir
path = in/big
recipes = big

[recipe.app]
steps = lines format=regex pattern='^(?<file>[a-z]+) (?<n>[0-9]+) (?<pad>.*)$'
    columns="file,n:bigint,pad"
output = table:app_lines

[recipe.big]
steps = lines format=nginx
output = table:big_lines
EOF

# every line of app_lines, as "file n" in load order, one per line
loaded() {
	sql "SELECT count(*), count(DISTINCT (file, n)) FROM app_lines"
}
# wait until the loads of app say they have read N lines in all
wait_lines() {
	wait_for_sql "SELECT coalesce(sum(lines), 0) FROM objwatch.loads
		WHERE recipe = 'app'" "$1" 30
}
pad=$(printf '%050d' 0)
line() { printf '%s %d %s\n' "$1" "$2" "$pad"; }

ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || { ow_log; bail "no start"; }

for i in 1 2 3; do line app "$i"; done >"$T/in/app/app.log"
wait_lines 3
ok $? "a new log file's three lines are loaded" || ow_log

{ line app 4; line app 5; printf 'app 6 %s' "$pad"; } >>"$T/in/app/app.log"
wait_lines 5
ok $? "two appended lines are loaded" || ow_log
is "$(sql "SELECT string_agg(n::text, ' ' ORDER BY n) FROM app_lines")" \
    "1 2 3 4 5" "line 6, without its newline yet, waits"
is "$(sql "SELECT start_offset, first_line, end_line FROM objwatch.loads
	WHERE recipe = 'app' ORDER BY job_id DESC LIMIT 1")" "171|4|5" \
    "the second load went on at the byte and line where the first ended"

printf '\n' >>"$T/in/app/app.log"
wait_lines 6
ok $? "the newline completes line 6" || ow_log
is "$(sql "SELECT line_no, n FROM app_lines WHERE n = 6")" "6|6" \
    "line 6 is loaded once, with its line number in the file"

# Rotation by rename: two more lines, then app.log becomes app.log.1 and
# a new app.log starts, all while the daemon is stopped, so that it has
# not seen the two lines before the rename.
ow_stop
{ line app 7; line app 8; } >>"$T/in/app/app.log"
mv "$T/in/app/app.log" "$T/in/app/app.log.1"
{ line new 1; line new 2; } >"$T/in/app/app.log"
ow_start "$T/ow.conf"
wait_lines 10
ok $? "the renamed file's last two lines and the new file's two are loaded" ||
    ow_log
is "$(loaded)" "10|10" "ten lines, each once"
is "$(sql "SELECT o.key || ':' || string_agg(a.line_no || '=' || a.file || a.n,
	' ' ORDER BY a.line_no) FROM app_lines a JOIN objwatch.objects o
	ON o.id = a.object_id WHERE a.n >= 7 OR a.file = 'new' GROUP BY o.key
	ORDER BY o.key")" "app.log:1=new1 2=new2
app.log.1:7=app7 8=app8" \
    "each line is recorded under the file and line number it was read at"

# Rotation by copytruncate: the log is copied away and emptied in place.
for i in $(seq 1 40); do line svc "$i"; done >"$T/in/app/svc.log"
wait_lines 50
for i in 41 42 43; do line svc "$i"; done >>"$T/in/app/svc.log"
cp "$T/in/app/svc.log" "$T/in/app/svc.log.1"
: >"$T/in/app/svc.log"
{ line svc 44; line svc 45; } >>"$T/in/app/svc.log"
wait_for_sql "SELECT count(*) FROM app_lines WHERE file = 'svc'" 45 30
ok $? "copytruncate: the 45 lines are loaded" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT n), min(n), max(n) FROM app_lines
	WHERE file = 'svc'")" "45|45|1|45" "each of them once: the copy went on where the log had been read to"

# logrotate's compress: the rotated copy becomes svc.log.1.gz.
wait_for_sql "SELECT count(*) FROM objwatch.loads l JOIN objwatch.objects o
	ON o.id = l.object_id WHERE o.key = 'svc.log.1'" 1 30
gzip "$T/in/app/svc.log.1"
wait_for_sql "SELECT l.gzip FROM objwatch.loads l JOIN objwatch.objects o
	ON o.id = l.object_id WHERE o.key = 'svc.log.1.gz'" t 30
ok $? "the compressed copy is read" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT n) FROM app_lines WHERE file = 'svc'")" \
    "45|45" "and known by its first bytes: none of its lines is loaded again"

# A log its writer never closes (as nginx holds access.log): what it
# writes is loaded after each settle, while the file is still open.
exec 3>>"$T/in/app/live.log"
line live 1 >&3
line live 2 >&3
wait_for_sql "SELECT count(*) FROM app_lines WHERE file = 'live'" 2 30
ok $? "lines of a log held open by its writer are loaded" || ow_log
line live 3 >&3
wait_for_sql "SELECT count(*) FROM app_lines WHERE file = 'live'" 3 30
ok $? "and so is the next one it writes" || ow_log
exec 3>&-
is "$(sql "SELECT count(*), count(DISTINCT line_no) FROM app_lines
	WHERE file = 'live'")" "3|3" "each once"

# A SIGKILL while a large file is being copied into its table.
awk 'BEGIN { for (i = 1; i <= 300000; i++)
	printf "10.1.%d.%d - - [02/Dec/2026:23:59:59 +0000] \"GET /item/%d HTTP/1.1\" 200 %d \"-\" \"load test\"\n",
	    int(i / 256) % 256, i % 256, i, i % 1000 }' >"$T/stage/big.log"
mv "$T/stage/big.log" "$T/in/big/"
wait_for_sql "SELECT count(*) > 0 FROM pg_stat_activity
	WHERE query LIKE 'COPY \"big_lines\"%' AND state = 'active'" t 60
ok $? "the large COPY is under way" || ow_log
ow_kill
# Its session gone, the COPY was rolled back rather than still running.
wait_for_sql "SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE 'COPY \"big_lines\"%'" 0 30
ok $? "the killed daemon's COPY ends with its session" || ow_log
is "$(sql "SELECT count(*) FROM big_lines")" 0 \
    "killed in the middle, none of its rows stayed"
ow_start "$T/ow.conf"
wait_for_sql "SELECT j.state FROM objwatch.jobs j JOIN objwatch.objects o
	ON o.id = j.object_id WHERE o.key = 'big.log'" done 120
ok $? "after the restart the job runs again and is done" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT line_no), min(line_no), max(line_no),
	sum(bytes) FROM big_lines")" "300000|300000|1|300000|149850000" \
    "every line of the file is in the table once"
ow_stop
