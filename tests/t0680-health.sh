#!/bin/sh
# /healthz, /readyz and `objwatch status` tell the truth, from live state:
# a folder that disappears, a bucket server that stops and a database that
# stops each show as what they are (503, the part, its last error), and
# as ok again once they are back; status lists each running process with
# its database, workers and sources, and forgets it when it stops.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 15

pg_start || bail "cannot start PostgreSQL"
s3_start shots || bail "cannot start s3rver"
mkdir -p "$T/in" "$T/out"
PORT=$(_lib_free_ports 1) || bail "no free port"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
poll = 1s
listen = 127.0.0.1:$PORT
[source.folder]
type = dir
path = in
reconcile = 1s
recipes = thumbs
[source.bucket]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = shots
access_key = S3RVER
secret_key = S3RVER
poll = 1s
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save format=jpeg
output = dir:out/{source}/{key}.{ext}
EOF
H=http://127.0.0.1:$PORT
# health WHICH: "CODE summary" of /healthz or /readyz.
health() {
	printf '%s ' "$(curl -s -o "$T/h.json" -w '%{http_code}' "$H/$1")"
	health_summary "$T/h.json"
}
# health_is WHICH WANT: whether health WHICH says WANT now.
health_is() { [ "$(health "$1")" = "$2" ]; }
# last_error SOURCE: the source's last error in the last body read.
last_error() {
	node -e 'const h = JSON.parse(require("fs").readFileSync(process.argv[1]));
		console.log(h.sources[process.argv[2]].last_error);' "$T/h.json" "$1"
}

ow_start "$T/ow.conf"
ALL_OK='200 database=ok bucket=ok,ready folder=ok,ready workers=2/2 status=ok ready=true'
wait_until 30 health_is healthz "$ALL_OK"
is "$(health healthz)" "$ALL_OK" "healthz: every part works" || ow_log
is "$(health readyz)" "$ALL_OK" "readyz: it can take work"

# The heartbeat, every 5 s, is what status shows of the process.
# status_line: the process line of `objwatch status`.
status_line() {
	"$OBJWATCH" -c "$T/ow.conf" status 2>&1 | grep -A1 '^PROCESS' | tail -n 1
}
sources_ok() { status_line | grep -q 'bucket ok; folder ok$'; }
wait_until 15 sources_ok
like "$(status_line)" \
    "^[^ ]+:$OW_PID +[0-9]+s +[0-9]+s  ok +2/2 \\(0 busy\\) +bucket ok; folder ok\$" \
    "status: this process, its database, workers and sources"

# A watched folder that disappears.
mv "$T/in" "$T/in.away"
wait_until 15 health_is healthz "503 database=ok bucket=ok,ready folder=failing,ready workers=2/2 status=unhealthy ready=true"
is "$(health healthz)" "503 database=ok bucket=ok,ready folder=failing,ready workers=2/2 status=unhealthy ready=true" \
    "a folder gone: 503, that source failing, still able to work"
is "$(last_error folder)" "cannot read folder '$T/in': No such file or directory" \
    "with its last error"
mv "$T/in.away" "$T/in"
wait_until 15 health_is healthz "$ALL_OK"
ok $? "the folder back: ok again"

# The bucket's server stopped.
s3_stop
wait_until 20 health_is healthz "503 database=ok bucket=failing,ready folder=ok,ready workers=2/2 status=unhealthy ready=true"
is "$(health healthz)" "503 database=ok bucket=failing,ready folder=ok,ready workers=2/2 status=unhealthy ready=true" \
    "the S3 server down: 503, the bucket source failing"
like "$(last_error bucket)" "^cannot list bucket 'shots' on $S3_ENDPOINT: .*Couldn't connect to server\$" \
    "with the listing's error"
s3_start || bail "cannot start s3rver again"
wait_until 60 health_is healthz "$ALL_OK"
ok $? "the server back: ok again" || diag "$(health healthz)"

# The database stopped: nothing can be recorded, so not ready either.
pg_stop
wait_until 20 sh -c "curl -s -o /dev/null -w '%{http_code}' '$H/readyz' | grep -q 503"
is "$(health healthz | cut -d' ' -f1,2)" "503 database=unavailable" \
    "the database down: healthz 503, the database unavailable"
is "$(health readyz | cut -d' ' -f1)" 503 "and readyz 503"
pg_resume || bail "cannot start PostgreSQL again"
wait_until 60 health_is healthz "$ALL_OK"
ok $? "the database back: ok again, by itself" || diag "$(health healthz)"

# Still working, for real: a file dropped now is processed.
make_jpeg "$T/in/after.jpg" 320 200 1 || bail "no image"
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'after.jpg'" done 60
ok $? "a file dropped after all that is processed" || ow_log

ow_stop
ok $? "objwatch stops cleanly"
is "$(sql "SELECT count(*) FROM objwatch.processes")" 0 \
    "a process that stops cleanly removes its heartbeat row"
