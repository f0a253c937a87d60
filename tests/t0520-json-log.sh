#!/bin/sh
# log = json writes one JSON object per line: time, level, message, and
# for a job's lines its source, key and job id; quotes, backslashes and
# newlines in keys are escaped.
. "$SRCDIR/tests/lib.sh"
plan 5

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 1
log = json
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save
output = dir:out/{key}.{ext}
EOF
ow_start "$T/ow.conf"
wait_until 20 grep -q 'start-up scan' "$OW_LOG" || bail "no start"
printf 'text' > "$T/in/say \"cheese\"
\\now.jpg"
wait_for_sql "SELECT state FROM objwatch.results" failed || ow_log
ow_stop

# Every line objwatch wrote parses as JSON (psql does the parsing).
lines=$(grep -v '^--- objwatch run' "$OW_LOG")
bad=0
printf '%s\n' "$lines" > "$T/log.json"
while IFS= read -r l; do
	sql "SELECT \$j\$$l\$j\$::json" >/dev/null 2>&1 || bad=$((bad + 1))
done < "$T/log.json"
is "$bad" 0 "every line is one JSON object"
failed=$(grep '"level":"warning"' "$T/log.json" | grep 'failed (not retried' | head -1)
is "$(sql "SELECT j->>'source', j->>'key', j->>'recipe', j->>'error_class',
	(j->>'job')::int > 0 FROM (SELECT \$j\$$failed\$j\$::json AS j) x")" "photos|say \"cheese\"
\\now.jpg|thumbs|decode|t" "a job's failure carries its source, key (escaped), recipe, error class and job id"
like "$failed" '"time":"[0-9-]{10}T[0-9:.]{12}Z"' "with a UTC time in ms"
like "$failed" '"message":"job [0-9]+ \(' "and the message"
start=$(grep 'start-up scan' "$T/log.json")
case "$start" in
*'"job"'*) fail "lines outside a job carry no job fields" ;;
*) pass "lines outside a job carry no job fields" ;;
esac
