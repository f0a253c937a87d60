#!/bin/sh
# A chain of three recipes (a, b after a, c after b) under SIGKILL: the
# daemon is killed while jobs of the chain are running, three times, and
# restarted. At the end every file has exactly three done jobs, one per
# recipe, each with one output row; every b and c job has the right parent
# and reads its output; no job is lost or doubled. CHAIN_FILES (60) scales
# it: CHAIN_FILES=300 sh tests/t0945-chain-crash.sh
. "$SRCDIR/tests/lib.sh"
FILES=${CHAIN_FILES:-60}
plan 10

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
[source.photos]
type = dir
path = in
recipes = a
[recipe.a]
steps = thumbnail width=2400 height=2400 | save format=jpeg quality=90
output = dir:out/a/{stem}.{ext}
[recipe.b]
after = a
steps = thumbnail width=1600 height=1600 | save format=webp
output = dir:out/b/{stem}.{ext}
[recipe.c]
after = b
steps = crop width=800 height=800 | save format=png
output = dir:out/c/{stem}.{ext}
EOF
# Large enough that a job of b or c takes a while (a WebP of 1600 pixels,
# a PNG of 800): a kill finds one running.
make_jpeg "$T/x.jpg" 4000 3000 1
make_jpeg "$T/y.jpg" 3000 4000 2
i=0
while [ "$i" -lt "$FILES" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		cp "$T/x.jpg" "$T/in/f$i.jpg"
	else
		cp "$T/y.jpg" "$T/in/f$i.jpg"
	fi
	i=$((i + 1))
done

# Whether a job of b or c is running and at least $1 jobs are done.
chain_in_flight() {
	[ "$(sql "SELECT count(*) FILTER (WHERE state = 'running'
		AND recipe IN ('b', 'c')) > 0 AND count(*) FILTER (WHERE
		state = 'done') >= $1 FROM objwatch.jobs" 2>/dev/null)" = t ]
}

total=$((FILES * 3))
kills=0
ow_start "$T/ow.conf"
for at in $((total / 6)) $((total / 3)) $((total / 2)); do
	if wait_until 120 chain_in_flight "$at"; then
		ow_kill
		kills=$((kills + 1))
	fi
	ow_start "$T/ow.conf"
done
is "$kills" 3 "killed three times while b or c jobs were running"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" \
    "$total" 300
ok $? "every job of the chain is done" || ow_log
is "$(sql "SELECT count(*) FROM (SELECT object_id FROM objwatch.jobs
	GROUP BY object_id HAVING count(*) = 3 AND bool_and(state = 'done')
	AND count(DISTINCT recipe) = 3) x")" "$FILES" \
    "each file has exactly three done jobs, one per recipe"
is "$(sql "SELECT recipe, count(*) FROM objwatch.jobs GROUP BY 1
	ORDER BY 1")" "a|$FILES
b|$FILES
c|$FILES" "no job lost, none doubled"
is "$(sql "SELECT count(*), count(DISTINCT location), count(DISTINCT job_id)
	FROM objwatch.outputs")" "$total|$total|$total" \
    "one output row per job, each location once"
is "$(sql "SELECT p.recipe || '>' || j.recipe, count(*)
	FROM objwatch.jobs j JOIN objwatch.jobs p ON p.id = j.parent_job_id
	JOIN objwatch.outputs po ON po.job_id = p.id
	WHERE p.object_id = j.object_id AND po.location = j.input_location
	GROUP BY 1 ORDER BY 1")" "a>b|$FILES
b>c|$FILES" "every b and c job has the right parent and reads its output"
again=$(sql "SELECT count(*) FROM objwatch.jobs WHERE attempts > 1
	AND recipe IN ('b', 'c')")
diag "$again jobs of b or c ran again after a kill"
ok "$([ "$again" -ge 1 ]; echo $?)" "the kills interrupted jobs of b or c"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE (recipe = 'a') <>
	(parent_job_id IS NULL)")" 0 "no orphan: only a's jobs have no parent"
is "$(find "$T/out/a" -name '*.jpg' | wc -l) $(find "$T/out/b" -name '*.webp' |
	wc -l) $(find "$T/out/c" -name '*.png' | wc -l)" "$FILES $FILES $FILES" \
    "one file per recipe and input on disk"
is "$(find "$T/out" -name '*objwatch-tmp*' | wc -l)" 0 \
    "no temporary file is left"
ow_stop
