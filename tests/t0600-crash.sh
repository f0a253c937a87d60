#!/bin/sh
# Crashes lose nothing and double nothing: files keep arriving while
# objwatch is SIGKILLed at random moments and restarted; at the end every
# file has exactly one done row and one output, and no temporary file is
# left. CRASH_FILES (200) and CRASH_KILLS (5) scale it up:
#   CRASH_FILES=1000 CRASH_KILLS=20 sh tests/t0600-crash.sh
. "$SRCDIR/tests/lib.sh"
FILES=${CRASH_FILES:-200}
KILLS=${CRASH_KILLS:-5}
plan 6

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out" "$T/stage"
write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
[source.photos]
type = dir
path = in
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=160 height=160 | save format=jpeg
output = dir:out/{dir}/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 1600 1000 1
make_jpeg "$T/b.jpg" 900 1400 2

# The files arrive in the background, in folders of 50, while the daemon
# is killed and restarted.
(
	i=0
	while [ "$i" -lt "$FILES" ]; do
		d=$((i / 50))
		mkdir -p "$T/in/d$d"
		if [ $((i % 2)) -eq 0 ]; then
			cp "$T/a.jpg" "$T/in/d$d/f$i.jpg"
		else
			cp "$T/b.jpg" "$T/stage/f$i.jpg" &&
			    mv "$T/stage/f$i.jpg" "$T/in/d$d/f$i.jpg"
		fi
		i=$((i + 1))
		sleep 0.0$(( (i * 7) % 10 ))
	done
) &
writer=$!
stop_at_exit $writer

k=0
ow_start "$T/ow.conf"
while [ "$k" -lt "$KILLS" ]; do
	# A pseudo-random moment between 0.2 and 1.9 s.
	sleep "$(awk -v k="$k" -v p="$$" 'BEGIN { srand(k * 7919 + p);
	    printf "%.1f", 0.2 + rand() * 1.7 }')"
	ow_kill
	k=$((k + 1))
	ow_start "$T/ow.conf"
done
wait $writer
diag "$KILLS kills while $FILES files arrived"

wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" \
    "$FILES" 300
ok $? "every file is done" || ow_log
is "$(sql "SELECT count(*), count(DISTINCT key) FROM objwatch.results")" \
    "$FILES|$FILES" "exactly one row per file"
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state <> 'done'")" 0 \
    "no job failed, died or was left behind"
is "$(sql "SELECT count(*) FROM objwatch.outputs")" "$FILES" \
    "one output row per file"
is "$(find "$T/out" -name '*.jpg' | wc -l)" "$FILES" "one output file per file"
is "$(find "$T/out" "$T/in" -name '*objwatch-tmp*' | wc -l)" 0 \
    "no temporary file is left"
ow_stop
