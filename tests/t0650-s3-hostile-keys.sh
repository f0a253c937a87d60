#!/bin/sh
# S3 keys are not paths (and secrets are not data): '../', a leading '/',
# '//' and '.' in keys never take an output outside its root. A key that
# would climb above the root fails its job with class config, saying so,
# before anything is fetched: the answer is the key's, whatever the server
# holds. The others are folded into a name inside the root and fetched;
# s3rver cannot store such keys (it resolves '..' and refuses '//' in
# request paths), so for them the server answers 404 and the job fails with
# class io. tests/unit/t-template.c checks the folding of every such key;
# here events name them, and objwatch asks the server for exactly those keys.
# s3rver runs with --allow-mismatched-signatures (see s3_start in lib.sh).
. "$SRCDIR/tests/lib.sh"
plan 10

B=hostile
pg_start || bail "cannot start PostgreSQL"
s3_start "$B" || bail "cannot start s3rver"
mkdir -p "$T/out"
write_config "$T/ow.conf" <<EOF
[objwatch]
database = $PGURL
workers = 2
listen = 127.0.0.1:0
[source.bucket]
type = s3
endpoint = $S3_ENDPOINT
https = no
bucket = $B
access_key = env:OW_TEST_ACCESS
secret_key = env:OW_TEST_SECRET
poll = 1s
webhook_token = hostile-test-token-0123456789
recipes = thumbs
[recipe.thumbs]
steps = thumbnail width=64 | save format=jpeg
output = dir:out/thumbs/{dir}/{stem}.{ext}
EOF
OW_TEST_ACCESS=S3RVER OW_TEST_SECRET=S3RVER
export OW_TEST_ACCESS OW_TEST_SECRET
make_jpeg "$T/p.jpg" 400 300 1
s3 put "$B" ok.jpg "$T/p.jpg" image/jpeg >/dev/null || bail "cannot put"
ow_start "$T/ow.conf"
wait_until 30 grep -q 'listening on' "$OW_LOG" || { ow_log; bail "no start"; }
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OW_LOG")
wait_for_sql "SELECT state FROM objwatch.results WHERE key = 'ok.jpg'" done
ok $? "a plain key is done" || ow_log

# Events naming hostile keys, as a relay could send them (AWS encodes '/'
# in keys as itself and everything else as %XX).
for k in "..%2F..%2Fescape.jpg" "a%2F..%2F..%2Fup.jpg" "%2Fleading.jpg" \
    "x%2F%2Fy.jpg"; do
	sed -e "s/@BUCKET@/$B/g" -e "s/@SIZE@/100/g" -e "s/@ETAG@/0123abcd/g" \
	    -e "s|aws/IMG+0001+%281%29.jpg|$k|" "$SRCDIR/tests/events/aws.json" \
	    > "$T/ev.json"
	curl -s -o /dev/null -H "Authorization: Bearer hostile-test-token-0123456789" \
	    --data-binary "@$T/ev.json" "http://127.0.0.1:$PORT/events/bucket"
done
wait_for_sql "SELECT count(*) FROM objwatch.results WHERE state IN
	('done', 'failed', 'dead')" 5 60
ok $? "every hostile key reaches a final state" || ow_log
is "$(sql "SELECT key, state, error_class, attempts FROM objwatch.results
	WHERE key <> 'ok.jpg' ORDER BY key")" \
"../../escape.jpg|failed|config|1
/leading.jpg|failed|io|1
a/../../up.jpg|failed|config|1
x//y.jpg|failed|io|1" \
    "keys climbing above the root fail with class config, the others with io"
is "$(sql "SELECT error FROM objwatch.results
	WHERE error_class = 'config' ORDER BY key")" \
"config: recipe 'thumbs': cannot name the output for '../../escape.jpg': '../../escape.{ext}' climbs above its root with '..'
config: recipe 'thumbs': cannot name the output for 'a/../../up.jpg': 'a/../../up.{ext}' climbs above its root with '..'" \
    "saying which key climbs above the output root"
# s3rver logs each request it serves, by its path.
is "$(grep -c -e escape -e 'up\.jpg' "$T/s3rver.log")" 0 \
    "and the server was never asked for them"
is "$(sql "SELECT error FROM objwatch.results
	WHERE error_class = 'io' ORDER BY key")" \
"io: cannot get '/leading.jpg' in bucket '$B': 404: it was deleted before it was processed
io: cannot get 'x//y.jpg' in bucket '$B': 404: it was deleted before it was processed" \
    "the folded keys were fetched as named, and the server has no such object"
is "$(find "$T" -name '*.jpg' -newer "$T/p.jpg" ! -path "$T/out/thumbs/*" \
    ! -path "$T/s3/*" | wc -l)" 0 "nothing was written outside out/thumbs"
ow_alive; ok $? "the daemon is still running"
ow_stop
# Secrets: the S3 secret and the webhook token are in no log line and in
# no row (check output is tested in t0450).
grep -c -e S3RVER -e hostile-test-token "$OW_LOG" > "$T/n"
is "$(cat "$T/n")" 0 "neither the S3 secret nor the webhook token is logged"
is "$(sql "SELECT count(*) FROM objwatch.objects x WHERE x::text ~
	'S3RVER|hostile-test-token'") $(sql "SELECT count(*) FROM
	objwatch.jobs x WHERE x::text ~ 'S3RVER|hostile-test-token'")" "0 0" \
    "nor stored in the database"
