#!/bin/sh
# A recipe whose steps changed is run again at start on what it already
# made, with new job rows at its new hash (the old rows stay), only when it
# says reprocess = yes; a recipe without it is left alone, and a restart
# with nothing changed queues nothing. Also: [objwatch] max_input_bytes is
# every recipe's default, and refuses with class limit before reading.
. "$SRCDIR/tests/lib.sh"
plan 14

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
conf() {
	write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
max_input_bytes = 200k

[source.photos]
type = dir
path = in
recipes = again once

[recipe.again]
steps = thumbnail width=$1 | save format=jpeg
output = dir:out/again/{stem}.{ext}
reprocess = yes

[recipe.once]
steps = thumbnail width=$1 | save format=png
output = dir:out/once/{stem}.{ext}
EOF
}
conf 64
make_jpeg "$T/in/x.jpg" 400 300 1
make_jpeg "$T/in/y.jpg" 300 400 2
head -c 300000 /dev/urandom > "$T/noise"
make_jpeg "$T/big.jpg" 200 200 3
cat "$T/big.jpg" "$T/noise" > "$T/in/big.jpg"
size=$(stat -c %s "$T/in/big.jpg")

ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.jobs
	WHERE state IN ('done', 'failed')" 6
ok $? "first run: six jobs finished" || ow_log
ow_stop
is "$(sql "SELECT error FROM objwatch.results
	WHERE key = 'big.jpg' AND recipe = 'again'")" \
    "limit: 'big.jpg' is $size bytes, over the limit max_input_bytes = 204800 of recipe 'again'; raise max_input_bytes in [recipe.again] or [objwatch] to accept it" \
    "max_input_bytes from [objwatch] refuses a larger input"
is "$(sql "SELECT key, info IS NULL FROM objwatch.objects ORDER BY key")" \
"big.jpg|t
x.jpg|f
y.jpg|f" "on its listed size, before it is read: no info was taken from it"
old=$(sql "SELECT DISTINCT recipe_hash FROM objwatch.jobs WHERE recipe = 'again'")

# The same recipes with other steps.
conf 32
ow_start "$T/ow.conf"
wait_for_sql "SELECT count(*) FROM objwatch.jobs
	WHERE recipe = 'again' AND state IN ('done', 'failed')" 6
ok $? "reprocess = yes: every object queued again and finished" || ow_log
grep -q "recipe 'again': 3 objects made with an older hash queued again" \
    "$OW_LOG"
ok $? "the start says how many were queued again"
ow_stop

is "$(sql "SELECT key, width, height FROM objwatch.results
	WHERE recipe = 'again' AND state = 'done' ORDER BY key")" \
"x.jpg|32|24
y.jpg|32|43" "the results are the new recipe's"
is "$(sql "SELECT count(*), count(DISTINCT recipe_hash) FROM objwatch.jobs
	WHERE recipe = 'again'")" "6|2" "the old job rows stay beside the new"
is "$(sql "SELECT count(*) FROM objwatch.outputs o
	JOIN objwatch.jobs j ON j.id = o.job_id WHERE j.recipe = 'again'
	AND j.recipe_hash = '$old'")" 2 "and so do their output rows"
is "$(sql "SELECT count(*), min(recipe_hash) = max(recipe_hash)
	FROM objwatch.jobs WHERE recipe = 'once'")" "3|t" \
    "reprocess = no (the default): nothing queued again"
is "$(image_size "$T/out/once/x.png")" "64x48" \
    "and its outputs are the old recipe's"

# Reprocessing is decided before the sources start: once the third
# start-up scan is logged, whatever this start would queue is queued.
scans() { [ "$(grep -c 'start-up scan' "$OW_LOG")" -eq 3 ]; }
ow_start "$T/ow.conf"
wait_until 20 scans
ok $? "a third start scans the folder" || ow_log
ow_stop
is "$(grep 'start-up scan' "$OW_LOG" | sed -n '3s/.*: start-up scan: \([^,]*, [^,]*\),.*/\1/p')" \
    "3 files, 0 new jobs" "it finds the same 3 files and no new job"
is "$(grep -c 'queued again' "$OW_LOG")" 1 \
    "only the second start queued anything again"
is "$(sql "SELECT count(*) FROM objwatch.jobs")" 9 \
    "a restart with nothing changed queues nothing"
