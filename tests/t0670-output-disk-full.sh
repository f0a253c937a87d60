#!/bin/sh
# A full output disk is a wait, not a failure of the jobs: on an 8 MiB
# tmpfs filled to the last bytes, jobs whose outputs do not fit wait with
# backoff (no attempt counted: max_attempts = 2 would make them dead
# otherwise) and say why; once space is freed they finish by themselves,
# each output written once.
. "$SRCDIR/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "mounting a small tmpfs needs root"
plan 9

pg_start || bail "cannot start PostgreSQL"
mkdir -p "$T/in" "$T/out"
mount -t tmpfs -o size=8m objwatch-t0670 "$T/out" ||
    bail "cannot mount a tmpfs on $T/out"
_t0670_umount() { umount "$T/out" 2>/dev/null; }
at_exit _t0670_umount

write_config "$T/ow.conf" <<EOF
[objwatch]
listen = 127.0.0.1:0
database = $PGURL
workers = 2
poll = 1s
max_attempts = 2
[source.photos]
type = dir
path = in
recipes = big
[recipe.big]
steps = thumbnail width=300 | save format=png
output = dir:out/{stem}.{ext}
EOF
make_jpeg "$T/a.jpg" 800 600 1 || bail "no image"
# Fill the disk but for a few KiB: no 300 px PNG fits.
dd if=/dev/zero of="$T/out/filler" bs=4k 2>/dev/null
rm -f "$T/out/filler"
dd if=/dev/zero of="$T/out/filler" bs=4k count=$(( $(df -k --output=avail "$T/out" | tail -n 1) / 4 - 2 )) 2>/dev/null
diag "free on the output disk: $(df -k --output=avail "$T/out" | tail -n 1) KiB"

ow_start "$T/ow.conf"
for i in $(seq 1 10); do cp "$T/a.jpg" "$T/in/p$i.jpg"; done
wait_for_sql "SELECT count(*) >= 10 FROM objwatch.jobs WHERE waits > 0" t 60
ok $? "jobs whose outputs do not fit wait" || ow_log
is "$(sql "SELECT DISTINCT state || ' ' || error_class FROM objwatch.jobs
	WHERE waits > 0")" "failed storage" "recorded as a storage failure"
like "$(sql "SELECT error FROM objwatch.jobs WHERE waits > 0 LIMIT 1")" \
    "^cannot (write|flush|create) '$T/out/.*': No space left on device; waiting for space\$" \
    "that says the disk is full and that it waits"
# Several backoffs pass while the disk stays full (1 s, 2 s, 4 s ...).
wait_for_sql "SELECT count(*) > 0 FROM objwatch.jobs WHERE waits >= 3" t 60
ok $? "jobs wait again and again while the disk stays full" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'dead' OR attempts > 1")" 0 \
    "no job is dead or past its first attempt however long it waits"

rm -f "$T/out/filler"
wait_for_sql "SELECT count(*) FROM objwatch.jobs WHERE state = 'done'" 10 90
ok $? "once space is freed every job finishes by itself" || ow_log
is "$(sql "SELECT count(*) FROM objwatch.jobs WHERE attempts = 1")" 10 \
    "each on its first counted attempt"
is "$(ls -A "$T/out" | LC_ALL=C sort | tr '\n' ' ')" \
    "$(for i in $(seq 1 10); do echo "p$i.png"; done | LC_ALL=C sort | tr '\n' ' ')" \
    "ten outputs, and no temporary file left"
ow_stop
ok $? "objwatch stops cleanly"
